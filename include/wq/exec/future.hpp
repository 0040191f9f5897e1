// Future<T>: a shared handle to the outcome of asynchronous work, with the semantics of
// Python's concurrent.futures.Future as extended by more-executors. Promise<T>: the producer
// side, for code that completes a future itself.
//
// Threading: Future and Promise are cheap handles (one shared_ptr); copies share one state.
// Every member may be called concurrently from any thread. Done callbacks run on the thread
// that completes the future (or at once on the caller's thread if it is already done).
#pragma once

#include <chrono>
#include <exception>
#include <memory>
#include <type_traits>
#include <utility>

#include "wq/exec/future_state.hpp"

namespace wq::exec {

template <class T>
class Future {
 public:
  using value_type = T;

  // An invalid future (valid() == false); only assignment and valid() may be used.
  Future() = default;
  // Wraps a state; used by executors and combinators that build their own states.
  explicit Future(std::shared_ptr<detail::State<T>> state) noexcept : state_(std::move(state)) {}

  bool valid() const noexcept { return state_ != nullptr; }

  // True once finished, failed or cancelled.
  bool done() const noexcept { return state_->done(); }
  // True while the work runs and can no longer be cancelled.
  bool running() const { return state_->running(); }
  bool cancelled() const noexcept { return state_->cancelled(); }

  // Attempts to cancel; true if the future is cancelled after the call. Cancellation
  // propagates inward through executor wrappers and succeeds only if the innermost work can
  // be stopped. After it returns true: cancelled() && done() && !running().
  bool cancel() { return state_->cancel(); }

  // Blocks until done. Returns the value (a reference valid while any handle to this future
  // lives), or throws the stored exception, or CancelledError.
  decltype(auto) result() const {
    state_->wait();
    return get();
  }
  // As result(), but throws TimeoutError if not done within `timeout`.
  decltype(auto) result(std::chrono::nanoseconds timeout) const {
    if (!state_->wait_until(detail::deadline_after(timeout))) throw TimeoutError();
    return get();
  }

  // Blocks until done. Returns the stored exception, or null if the future succeeded;
  // throws CancelledError if it was cancelled.
  std::exception_ptr exception() const {
    state_->wait();
    return get_exception();
  }
  // As exception(), but throws TimeoutError if not done within `timeout`.
  std::exception_ptr exception(std::chrono::nanoseconds timeout) const {
    if (!state_->wait_until(detail::deadline_after(timeout))) throw TimeoutError();
    return get_exception();
  }

  void wait() const { state_->wait(); }
  // False if `timeout` passed before the future was done.
  bool wait_for(std::chrono::nanoseconds timeout) const {
    return state_->wait_until(detail::deadline_after(timeout));
  }

  // Calls `fn(const Future<T>&)` exactly once when the future is done (at once if it already
  // is). An exception from `fn` is reported with log_error and affects nothing else.
  template <class Fn>
    requires std::is_invocable_v<std::decay_t<Fn>&, const Future<T>&>
  void add_done_callback(Fn&& fn) const {
    state_->add_callback(
        [fn = std::forward<Fn>(fn)](detail::StateBase& s) mutable {
          fn(Future<T>(std::static_pointer_cast<detail::State<T>>(s.shared_from_this())));
        });
  }

  // A future of fn(value) (fn() for Future<void>), computed on the completing thread. A failure
  // or cancellation of this future passes through; cancelling the result cancels this future.
  // Same as f_map(*this, fn).
  template <class Fn>
  auto then(Fn fn) const;

  // The shared state, for executors and combinators.
  const std::shared_ptr<detail::State<T>>& state() const noexcept { return state_; }
  // Moves the state out, leaving this future invalid (saves a reference-count round trip).
  std::shared_ptr<detail::State<T>> release_state() && noexcept { return std::move(state_); }

  friend bool operator==(const Future& a, const Future& b) noexcept {
    return a.state_ == b.state_;
  }

 private:
  decltype(auto) get() const {
    state_->rethrow_if_unsuccessful();
    if constexpr (std::is_void_v<T>) {
      return;
    } else {
      return static_cast<const T&>(state_->value());
    }
  }
  std::exception_ptr get_exception() const {
    switch (state_->status()) {
      case detail::Status::cancelled:
        throw CancelledError();
      case detail::Status::failed:
        return state_->error();
      default:
        return nullptr;
    }
  }

  std::shared_ptr<detail::State<T>> state_;
};

// The producing side of a future. Its future starts pending and can be cancelled until
// set_running() (or an outcome) is called.
//
// Threading: all members are thread-safe; set_* race benignly (the first outcome wins).
template <class T>
class Promise {
 public:
  Promise() : state_(std::make_shared<detail::State<T>>()) {}

  Future<T> future() const { return Future<T>(state_); }

  // Marks the work as started (no longer cancellable). False if it was cancelled first.
  bool set_running() noexcept { return state_->set_running(); }

  // Each returns false, changing nothing, if the future is already done.
  template <class... A>
  bool set_value(A&&... value) {
    return state_->set_value(std::forward<A>(value)...);
  }
  bool set_exception(std::exception_ptr error) { return state_->set_exception(std::move(error)); }
  template <class E>
    requires(!std::is_same_v<std::decay_t<E>, std::exception_ptr>)
  bool set_exception(E&& error) {
    return state_->set_exception(std::make_exception_ptr(std::forward<E>(error)));
  }
  bool set_cancelled() { return state_->set_cancelled(); }

 private:
  std::shared_ptr<detail::State<T>> state_;
};

// The Future type an executor returns for a callable F invoked with Args (decayed copies).
template <class F, class... Args>
using InvokeResult = std::remove_cvref_t<std::invoke_result_t<std::decay_t<F>&, std::decay_t<Args>...>>;

template <class X>
struct IsFuture : std::false_type {};
template <class T>
struct IsFuture<Future<T>> : std::true_type {};

}  // namespace wq::exec

#include "wq/exec/map_state.hpp"  // Future::then
