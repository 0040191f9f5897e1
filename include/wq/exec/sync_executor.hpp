// Sync: an executor that runs each callable at once, on the submitting thread, and returns a
// future that is already done. Useful as the innermost executor in tests and to apply
// wrappers (retry, poll, map…) to work that is cheap to start.
//
// Threading: a cheap shared handle; submit runs on the caller's thread; safe from any thread.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "wq/exec/composable.hpp"
#include "wq/exec/executor_stats.hpp"
#include "wq/exec/future.hpp"

namespace wq::exec {

class Sync : public Composable<Sync> {
 public:
  explicit Sync(std::string name = "sync") : impl_(std::make_shared<Impl>(std::move(name))) {}

  // Runs f(args...) (on decayed copies) now. Throws ShutdownError after shutdown().
  template <class F, class... A>
  Future<InvokeResult<F, A...>> submit(F&& f, A&&... args) {
    using R = InvokeResult<F, A...>;
    impl_->flag.ensure_alive(impl_->name);
    detail::Counters::bump(impl_->counters.futures);
    auto state = std::make_shared<detail::State<R>>();
    state->set_running();
    std::decay_t<F> fn(std::forward<F>(f));
    detail::resolve_by_calling(*state, [&]() -> decltype(auto) {
      return std::invoke(fn, std::decay_t<A>(std::forward<A>(args))...);
    });
    return Future<R>(std::move(state));
  }

  // Stops accepting work. Idempotent; there is nothing to wait for.
  void shutdown(bool wait = true) {
    (void)wait;
    impl_->flag.begin();
  }

  ExecutorStats stats() const { return impl_->counters.snapshot(impl_->name); }
  const std::string& name() const { return impl_->name; }

 private:
  struct Impl {
    explicit Impl(std::string n) : name(std::move(n)) {}
    const std::string name;
    detail::ShutdownFlag flag;
    detail::Counters counters;
  };
  std::shared_ptr<Impl> impl_;
};

}  // namespace wq::exec
