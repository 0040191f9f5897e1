// DoneCallback: a move-only `void(StateBase&)` callable with 32 bytes of inline storage, so the
// callbacks executors chain onto inner futures (one shared_ptr and a pointer) never allocate.
// Larger callables go to the heap.
//
// Threading: a value type; not synchronised. The owning future state guards it with its mutex.
#pragma once

#include <cstddef>
#include <new>
#include <type_traits>
#include <utility>

namespace wq::exec::detail {

class StateBase;

class DoneCallback {
 public:
  DoneCallback() noexcept = default;

  template <class F>
    requires(!std::is_same_v<std::remove_cvref_t<F>, DoneCallback> &&
             std::is_invocable_v<std::decay_t<F>&, StateBase&>)
  DoneCallback(F&& f) {  // NOLINT(google-explicit-constructor): callables convert implicitly
    using D = std::decay_t<F>;
    if constexpr (kFitsInline<D>) {
      ::new (static_cast<void*>(buf_)) D(std::forward<F>(f));
      ops_ = &kInlineOps<D>;
    } else {
      ::new (static_cast<void*>(buf_)) D*(new D(std::forward<F>(f)));
      ops_ = &kHeapOps<D>;
    }
  }

  DoneCallback(DoneCallback&& other) noexcept { take(other); }
  DoneCallback& operator=(DoneCallback&& other) noexcept {
    if (this != &other) {
      reset();
      take(other);
    }
    return *this;
  }
  DoneCallback(const DoneCallback&) = delete;
  DoneCallback& operator=(const DoneCallback&) = delete;
  ~DoneCallback() { reset(); }

  explicit operator bool() const noexcept { return ops_ != nullptr; }

  // REQUIRES: non-empty.
  void operator()(StateBase& state) { ops_->call(buf_, state); }

 private:
  static constexpr std::size_t kSize = 32;

  template <class D>
  static constexpr bool kFitsInline = sizeof(D) <= kSize &&
                                      alignof(D) <= alignof(std::max_align_t) &&
                                      std::is_nothrow_move_constructible_v<D>;

  struct Ops {
    void (*call)(void* buf, StateBase& state);
    void (*move)(void* from, void* to) noexcept;  // leaves `from` destroyed
    void (*destroy)(void* buf) noexcept;
  };

  template <class D>
  static constexpr Ops kInlineOps{
      [](void* buf, StateBase& s) { (*static_cast<D*>(buf))(s); },
      [](void* from, void* to) noexcept {
        ::new (to) D(std::move(*static_cast<D*>(from)));
        static_cast<D*>(from)->~D();
      },
      [](void* buf) noexcept { static_cast<D*>(buf)->~D(); }};

  template <class D>
  static constexpr Ops kHeapOps{
      [](void* buf, StateBase& s) { (**static_cast<D**>(buf))(s); },
      [](void* from, void* to) noexcept { ::new (to) D*(*static_cast<D**>(from)); },
      [](void* buf) noexcept { delete *static_cast<D**>(buf); }};

  void take(DoneCallback& other) noexcept {
    if (other.ops_) {
      other.ops_->move(other.buf_, buf_);
      ops_ = std::exchange(other.ops_, nullptr);
    }
  }
  void reset() noexcept {
    if (ops_) std::exchange(ops_, nullptr)->destroy(buf_);
  }

  alignas(std::max_align_t) unsigned char buf_[kSize];
  const Ops* ops_ = nullptr;
};

}  // namespace wq::exec::detail
