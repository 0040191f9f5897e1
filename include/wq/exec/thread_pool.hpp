// ThreadPool: runs submitted callables on a fixed set of named threads, in submission order.
// A future can be cancelled until its callable starts. shutdown() stops new submissions; work
// already queued still runs (as Python's ThreadPoolExecutor); shutdown(true) then joins the
// threads. Dropping the last handle does shutdown(true).
//
// Threading: a cheap shared handle; submit/shutdown/stats from any thread. Threads are named
// "<name>-<index>" (truncated to 15 characters). Futures never keep the pool alive.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include "wq/exec/composable.hpp"
#include "wq/exec/executor_stats.hpp"
#include "wq/exec/future.hpp"

namespace wq::exec {
namespace detail {

// A queued unit of work. run() is called exactly once, on a pool thread.
class Runnable {
 public:
  virtual ~Runnable() = default;
  virtual void run() noexcept = 0;
};

// The future's state and its work in one allocation.
template <class R, class Fn>
class TaskState final : public State<R>, public Runnable {
 public:
  explicit TaskState(Fn fn) : fn_(std::move(fn)) {}

  void run() noexcept override {
    if (this->set_running()) resolve_by_calling(*this, *fn_);
    fn_.reset();  // release what the callable captured as soon as it has run
  }

 private:
  std::optional<Fn> fn_;
};

template <class F, class... A>
auto make_task(F&& f, A&&... a) {
  using R = InvokeResult<F, A...>;
  auto fn = [f = std::decay_t<F>(std::forward<F>(f)),
             ... a = std::decay_t<A>(std::forward<A>(a))]() mutable -> decltype(auto) {
    return std::invoke(f, std::move(a)...);
  };
  return std::make_shared<TaskState<R, decltype(fn)>>(std::move(fn));
}

}  // namespace detail

class ThreadPool : public Composable<ThreadPool> {
 public:
  // REQUIRES: threads >= 1.
  explicit ThreadPool(std::size_t threads = default_size(), std::string name = "wq-pool");

  // Queues f(args...) (decayed copies, invoked once). Throws ShutdownError after shutdown().
  template <class F, class... A>
  Future<InvokeResult<F, A...>> submit(F&& f, A&&... args) {
    auto task = detail::make_task(std::forward<F>(f), std::forward<A>(args)...);
    Future<InvokeResult<F, A...>> future(task);
    enqueue(std::move(task));
    return future;
  }

  // For a map layer directly above the pool (MapExecutor): queues f(args...) followed, on the
  // same pool thread, by the map's function (or its error function on a throw), as one task
  // and one future. The map layer's callback would run on that thread right after f anyway.
  template <class Fn, class ErrFn, class F, class... A>
  auto submit_then(Fn fn, ErrFn error_fn, F&& f, A&&... args) {
    using In = InvokeResult<F, A...>;
    auto call = [fn = std::move(fn), error_fn = std::move(error_fn),
                 f = std::decay_t<F>(std::forward<F>(f)),
                 ... a = std::decay_t<A>(std::forward<A>(args))]() mutable -> decltype(auto) {
      return detail::continue_map<In>(fn, error_fn, [&]() -> decltype(auto) {
        return std::invoke(f, std::move(a)...);
      });
    };
    using R = detail::MapResult<Fn, In>;
    auto task = std::make_shared<detail::TaskState<R, decltype(call)>>(std::move(call));
    Future<R> future(task);
    enqueue(std::move(task));
    return future;
  }
  static constexpr bool kFusesMaps = true;

  // Stops accepting work; queued work still runs. With `wait`, returns once every thread has
  // finished. Idempotent; safe to call from a pool thread (that thread is not waited for).
  void shutdown(bool wait = true);

  ExecutorStats stats() const;
  const std::string& name() const;
  std::size_t size() const;

  static std::size_t default_size() noexcept;

 private:
  class Impl;
  void enqueue(std::shared_ptr<detail::Runnable> task);

  std::shared_ptr<Impl> impl_;
};

}  // namespace wq::exec
