// TimeoutExecutor: wraps an executor so that every future not done `timeout` after submission
// gets one cancel() attempt (which, as any cancel, may fail if the work cannot be stopped).
// A future cancelled this way is cancelled, like any other, and counted in stats().timeouts.
//
// Threading: a cheap shared handle, thread-safe. One timer thread per executor, named `name`,
// which runs the cancels (and so the cancelled futures' callbacks). Shutdown stops the timer:
// futures then complete normally, without a deadline.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <utility>

#include "wq/exec/composable.hpp"
#include "wq/exec/executor_stats.hpp"
#include "wq/exec/future.hpp"
#include "wq/exec/timer_thread.hpp"

namespace wq::exec {
namespace detail {

// `future` itself, which the timer cancels at `deadline` unless it is done by then or the
// timer has stopped. No second future: a timeout costs one timer entry.
template <class T>
Future<T> with_deadline(TimerThread& timer, Future<T> future, Clock::time_point deadline) {
  if (!future.done()) timer.schedule_cancel(deadline, future.state());
  return future;
}

}  // namespace detail

template <class Inner>
class TimeoutExecutor : public Composable<TimeoutExecutor<Inner>> {
 public:
  TimeoutExecutor(Inner inner, Seconds timeout, std::string name = "wq-timeout")
      : impl_(std::make_shared<Impl>(std::move(inner), timeout, std::move(name))) {}

  template <class F, class... A>
  auto submit(F&& f, A&&... args) {
    return submit_timeout(impl_->timeout, std::forward<F>(f), std::forward<A>(args)...);
  }

  // As submit(), with this future's own timeout. Throws ShutdownError after shutdown(), or
  // what the inner submit throws.
  template <class F, class... A>
  auto submit_timeout(Seconds timeout, F&& f, A&&... args) {
    impl_->flag.ensure_alive(impl_->name);
    const auto deadline = detail::deadline_after(
        std::chrono::duration_cast<std::chrono::nanoseconds>(timeout));
    auto inner = impl_->inner.submit(std::forward<F>(f), std::forward<A>(args)...);
    detail::Counters::bump(impl_->counters.futures);
    return detail::with_deadline(impl_->timer, std::move(inner), deadline);
  }

  // Stops accepting work and the timer; propagates to the inner executor. Idempotent.
  void shutdown(bool wait = true) {
    impl_->flag.begin();
    impl_->timer.stop(wait);
    impl_->inner.shutdown(wait);
  }

  ExecutorStats stats() const {
    auto s = impl_->counters.snapshot(impl_->name);
    s.timeouts = impl_->timer.fired();
    return s;
  }

 private:
  struct Impl {
    Impl(Inner i, Seconds t, std::string n)
        : inner(std::move(i)), timeout(t), name(std::move(n)), timer(name) {}
    Inner inner;
    const Seconds timeout;
    const std::string name;
    detail::TimerThread timer;
    detail::ShutdownFlag flag;
    detail::Counters counters;
  };
  std::shared_ptr<Impl> impl_;
};

}  // namespace wq::exec
