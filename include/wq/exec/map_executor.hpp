// MapExecutor and FlatMapExecutor: wrap an executor so each future's value passes through a
// function — fn(value) for map, a future-returning fn(value) that is then followed for
// flat_map. An optional error function turns a failure (std::exception_ptr) into a value
// (map) or a future (flat_map), or throws to fail differently.
//
// Threading: no threads of their own; the functions run on whichever thread completes the
// inner future, once per future, unlocked. Handles are cheap and shared; all members are
// thread-safe. Cancelling a returned future cancels the inner one (map_state.hpp).
#pragma once

#include <memory>
#include <string>
#include <utility>

#include "wq/exec/composable.hpp"
#include "wq/exec/executor_stats.hpp"
#include "wq/exec/map_state.hpp"

namespace wq::exec {

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
    auto inner = impl_->inner.submit(std::forward<F>(f), std::forward<A>(args)...);
    detail::Counters::bump(impl_->counters.futures);
    if constexpr (Kind == Transform::map) {
      return detail::map_future(std::move(inner), impl_->fn, impl_->error_fn);
    } else {
      return detail::flat_map_future(inner, impl_->fn, impl_->error_fn);
    }
  }

  // Stops accepting work and shuts the inner executor down. Idempotent.
  void shutdown(bool wait = true) {
    impl_->flag.begin();
    impl_->inner.shutdown(wait);
  }

  ExecutorStats stats() const { return impl_->counters.snapshot(impl_->name); }

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
