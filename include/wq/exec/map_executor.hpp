// MapExecutor and FlatMapExecutor: wrap an executor so each future's value passes through a
// function — fn(value) for map, a future-returning fn(value) that is then followed for
// flat_map. An optional error function turns a failure (std::exception_ptr) into a value
// (map) or a future (flat_map), or throws to fail differently.
//
// Threading: no threads of their own; the functions run on whichever thread completes the
// inner future, once per future, unlocked. Handles are cheap and shared; all members are
// thread-safe. Cancelling a returned future cancels the inner one (map_state.hpp).
//
// Chained maps fuse: `ex.with_map(f).with_map(g)` makes one future per submit, whose function
// applies f then g with exactly the semantics of two layers (g's error function sees f's
// throw; f's error function's value goes on to g), rather than one future per layer. Maps
// directly over a ThreadPool fuse into the pool's task the same way.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include "wq/exec/composable.hpp"
#include "wq/exec/executor_stats.hpp"
#include "wq/exec/map_state.hpp"

namespace wq::exec {
namespace detail {

// An executor whose submit_then(fn, error_fn, f, args...) runs a map layer's functions as part
// of its own future: map executors (chained maps fuse) and ThreadPool (the map runs in the task).
template <class E>
concept FusesMaps = requires { requires E::kFusesMaps; };

// One map layer's step after `produce()` computed the layer below's value (Mid) or threw: fn
// on the value; error_fn (if any) on the throw, which otherwise propagates.
template <class Mid, class Fn, class ErrFn, class Produce>
decltype(auto) continue_map(Fn& fn, ErrFn& error_fn, Produce&& produce) {
  using Mid0 = std::conditional_t<std::is_void_v<Mid>, bool, Mid>;
  std::optional<Mid0> mid;
  try {
    if constexpr (std::is_void_v<Mid>) {
      produce();
      mid.emplace(true);
    } else {
      mid.emplace(produce());
    }
  } catch (...) {
    if constexpr (std::is_same_v<ErrFn, NoErrorFn>) {
      throw;
    } else {
      return MapResult<Fn, Mid>(error_fn(std::current_exception()));
    }
  }
  if constexpr (std::is_void_v<Mid>) {
    return MapResult<Fn, Mid>(std::invoke(fn));
  } else {
    return MapResult<Fn, Mid>(std::invoke(fn, *mid));
  }
}

// The functions of a map layer (Fn, ErrFn over values Mid) composed after the layer below
// (F1, E1 over values In).
template <class In, class F1, class E1, class F2, class E2>
auto fuse_maps(F1 f1, E1 e1, F2 f2, E2 e2) {
  using Mid = MapResult<F1, In>;
  auto fn = [f1 = std::move(f1), f2, e2](const auto&... value) mutable -> decltype(auto) {
    return continue_map<Mid>(f2, e2, [&]() -> decltype(auto) { return std::invoke(f1, value...); });
  };
  if constexpr (std::is_same_v<E1, NoErrorFn>) {
    // The lower layer passes failures through: they reach the upper error function directly.
    return std::pair{std::move(fn), std::move(e2)};
  } else {
    auto err = [e1 = std::move(e1), f2 = std::move(f2), e2 = std::move(e2)](
                   const std::exception_ptr& error) mutable -> decltype(auto) {
      return continue_map<Mid>(f2, e2, [&]() -> decltype(auto) { return e1(error); });
    };
    return std::pair{std::move(fn), std::move(err)};
  }
}

}  // namespace detail

// MapExecutor and FlatMapExecutor (aliases in composable.hpp) differ only in how a value
// passes through fn.
template <class Inner, class Fn, class ErrFn, Transform Kind>
class TransformExecutor : public Composable<TransformExecutor<Inner, Fn, ErrFn, Kind>> {
 public:
  TransformExecutor(Inner inner, Fn fn, ErrFn error_fn,
                    std::string name = Kind == Transform::map ? "map" : "flat_map")
      : impl_(std::make_shared<Impl>(std::move(inner), std::move(fn), std::move(error_fn),
                                     std::move(name))) {}

  // Throws ShutdownError after shutdown(), or whatever the inner submit throws.
  template <class F, class... A>
  auto submit(F&& f, A&&... args) {
    impl_->flag.ensure_alive(impl_->name);
    if constexpr (Kind == Transform::flat_map) {
      auto inner = impl_->inner.submit(std::forward<F>(f), std::forward<A>(args)...);
      detail::Counters::bump(impl_->counters.futures);
      return detail::flat_map_future(inner, impl_->fn, impl_->error_fn);
    } else if constexpr (detail::FusesMaps<Inner>) {
      auto future = impl_->inner.submit_then(impl_->fn, impl_->error_fn, std::forward<F>(f),
                                             std::forward<A>(args)...);
      detail::Counters::bump(impl_->counters.futures);
      return future;
    } else {
      auto inner = impl_->inner.submit(std::forward<F>(f), std::forward<A>(args)...);
      detail::Counters::bump(impl_->counters.futures);
      return detail::map_future(std::move(inner), impl_->fn, impl_->error_fn);
    }
  }

  // For the map layer above this one (map executors only): submits f(args...) mapped through
  // this layer and then through (next_fn, next_error_fn), as one future.
  template <class NextFn, class NextErrFn, class F, class... A>
  auto submit_then(NextFn next_fn, NextErrFn next_error_fn, F&& f, A&&... args) {
    static_assert(Kind == Transform::map);
    impl_->flag.ensure_alive(impl_->name);
    using In = typename decltype(std::declval<Inner&>().submit(std::declval<F>(),
                                                               std::declval<A>()...))::value_type;
    auto [fn, err] = detail::fuse_maps<In>(impl_->fn, impl_->error_fn, std::move(next_fn),
                                           std::move(next_error_fn));
    if constexpr (detail::FusesMaps<Inner>) {
      auto future = impl_->inner.submit_then(std::move(fn), std::move(err), std::forward<F>(f),
                                             std::forward<A>(args)...);
      detail::Counters::bump(impl_->counters.futures);
      return future;
    } else {
      auto inner = impl_->inner.submit(std::forward<F>(f), std::forward<A>(args)...);
      detail::Counters::bump(impl_->counters.futures);
      return detail::map_future(std::move(inner), std::move(fn), std::move(err));
    }
  }

  // Stops accepting work and shuts the inner executor down. Idempotent.
  void shutdown(bool wait = true) {
    impl_->flag.begin();
    impl_->inner.shutdown(wait);
  }

  ExecutorStats stats() const { return impl_->counters.snapshot(impl_->name); }

  static constexpr bool kFusesMaps = Kind == Transform::map;

 private:
  struct Impl {
    Impl(Inner i, Fn f, ErrFn e, std::string n)
        : inner(std::move(i)), fn(std::move(f)), error_fn(std::move(e)), name(std::move(n)) {}
    Inner inner;
    Fn fn;
    [[no_unique_address]] ErrFn error_fn;
    const std::string name;
    detail::ShutdownFlag flag;
    detail::Counters counters;
  };
  std::shared_ptr<Impl> impl_;
};

}  // namespace wq::exec
