// ThrottleExecutor: wraps an executor so that at most `count` of its futures are in flight
// (submitted to the inner executor and not done) at once. Work beyond that waits in a FIFO
// queue and is submitted, by this executor's thread, as in-flight futures finish. The count may
// be a function, re-evaluated at every decision (nullopt: no limit). With `block`, submit()
// waits while `count` futures are queued or in flight instead of queueing without bound.
//
// Cancel succeeds while a future is queued, and is forwarded to the inner future afterwards.
// Shutdown stops accepting work, still submits everything queued (as ThreadPool runs what is
// queued), then shuts the inner executor down — no queued future is left pending.
//
// Threading: a cheap shared handle, thread-safe. One thread per executor, named `name`. The
// count function runs under this executor's lock: it must be quick and must not use this
// executor.
#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "wq/exec/composable.hpp"
#include "wq/exec/executor_stats.hpp"
#include "wq/exec/future.hpp"
#include "wq/exec/named_thread.hpp"

namespace wq::exec {
namespace detail {

template <class Inner>
class ThrottleJob {
 public:
  virtual ~ThrottleJob() = default;
  // Submits to the inner executor; called once, on the throttle thread.
  virtual void start(Inner& inner) = 0;
};

template <class Inner>
class ThrottleShared {
 public:
  using Count = std::function<std::optional<std::size_t>()>;

  ThrottleShared(Inner i, Count count, bool block)
      : inner(std::move(i)), count_(std::move(count)), block_(block) {}

  // Queues `job`; false if shutting down. With `block`, first waits for room.
  bool enqueue(std::shared_ptr<ThrottleJob<Inner>> job) {
    {
      std::unique_lock lock(mu_);
      if (block_) {
        room_.wait(lock, [&] { return stopping_ || has_room(queue_.size() + in_flight_); });
      }
      if (stopping_) return false;
      queue_.push_back(std::move(job));
    }
    wake_.notify_one();
    return true;
  }

  // True if `job` was still queued (it will never start).
  bool remove(const ThrottleJob<Inner>* job) {
    {
      std::lock_guard lock(mu_);
      auto it = std::find_if(queue_.begin(), queue_.end(),
                             [&](const auto& j) { return j.get() == job; });
      if (it == queue_.end()) return false;
      queue_.erase(it);
    }
    room_.notify_all();
    return true;
  }

  // An in-flight future finished.
  void finished() {
    {
      std::lock_guard lock(mu_);
      --in_flight_;
    }
    wake_.notify_one();
    room_.notify_all();
  }

  // `propagate`: shut the inner executor down once drained (an explicit shutdown, not a drop).
  void stop(bool propagate) {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
      propagate_ = propagate_ || propagate;
    }
    wake_.notify_one();
    room_.notify_all();
  }

  // The thread body: submits while there is room; after stop(), drains the queue, then shuts
  // the inner executor down if asked (without waiting; shutdown(true) waits on it afterwards).
  void run() {
    std::unique_lock lock(mu_);
    for (;;) {
      std::vector<std::shared_ptr<ThrottleJob<Inner>>> batch;
      while (!queue_.empty() && has_room(in_flight_)) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
        ++in_flight_;
      }
      if (!batch.empty()) {
        lock.unlock();
        for (auto& job : batch) job->start(inner);
        batch.clear();
        room_.notify_all();
        lock.lock();
        continue;
      }
      if (stopping_ && queue_.empty()) break;
      // A count function may raise the limit without any event: look again now and then.
      wake_.wait_for(lock, std::chrono::seconds(1));
    }
    const bool propagate = propagate_;
    lock.unlock();
    if (propagate) inner.shutdown(false);
  }

  Inner inner;
  Counters counters;

 private:
  // REQUIRES: mu_ held.
  bool has_room(std::size_t used) const {
    std::optional<std::size_t> limit;
    try {
      limit = count_();
    } catch (...) {
      log_exception("Error evaluating throttle count", std::current_exception());
      limit = last_limit_;
    }
    last_limit_ = limit;
    return !limit || used < *limit;
  }

  const Count count_;
  const bool block_;
  std::mutex mu_;
  std::condition_variable wake_;
  std::condition_variable room_;
  std::deque<std::shared_ptr<ThrottleJob<Inner>>> queue_;  // guarded by mu_
  std::size_t in_flight_ = 0;                                // guarded by mu_
  bool stopping_ = false;                                    // guarded by mu_
  bool propagate_ = false;                                   // guarded by mu_
  mutable std::optional<std::size_t> last_limit_;            // guarded by mu_
};

// Call: Inner& -> Future<R>, submitting the work.
template <class R, class Inner, class Call>
class ThrottleState final : public State<R>, public ThrottleJob<Inner> {
 public:
  ThrottleState(std::weak_ptr<ThrottleShared<Inner>> shared, Call call)
      : State<R>(true), shared_(std::move(shared)), call_(std::move(call)) {}

  void start(Inner& inner) override {
    auto self = std::static_pointer_cast<ThrottleState>(this->shared_from_this());
    {
      std::lock_guard lock(this->mu_);
      started_ = true;
    }
    Future<R> future;
    try {
      future = call_(inner);
    } catch (...) {
      this->set_exception(std::current_exception());
      if (auto shared = shared_.lock()) shared->finished();
      return;
    }
    this->set_delegate(future.state());
    future.state()->add_callback([self](StateBase& s) {
      resolve_from<R>(*self, static_cast<State<R>&>(s));
      if (auto shared = self->shared_.lock()) shared->finished();
    });
  }

 protected:
  bool cancel_delegate() override {
    if (auto inner = this->delegate()) return inner->cancel();
    auto shared = shared_.lock();
    return shared && shared->remove(this);
  }

  // Between leaving the queue and getting its inner future the work may already run.
  bool delegate_running() const override {
    std::shared_ptr<StateBase> inner;
    {
      std::lock_guard lock(this->mu_);
      if (!this->delegate_) return started_;
      inner = this->delegate_;
    }
    return inner->running() || inner->done();
  }

 private:
  const std::weak_ptr<ThrottleShared<Inner>> shared_;
  Call call_;
  bool started_ = false;  // guarded by mu_
};

}  // namespace detail

template <class Inner>
class ThrottleExecutor : public Composable<ThrottleExecutor<Inner>> {
  using Shared = detail::ThrottleShared<Inner>;

 public:
  ThrottleExecutor(Inner inner, typename Shared::Count count, bool block = false,
                   std::string name = "wq-throttle")
      : impl_(std::make_shared<Impl>(std::move(inner), std::move(count), block,
                                     std::move(name))) {}

  // Throws ShutdownError after shutdown(). Blocks first if the executor was made with `block`.
  template <class F, class... A>
  auto submit(F&& f, A&&... args) {
    impl_->flag.ensure_alive(impl_->name);
    auto call = [f = std::decay_t<F>(std::forward<F>(f)),
                 ... a = std::decay_t<A>(std::forward<A>(args))](Inner& inner) mutable {
      return inner.submit(std::move(f), std::move(a)...);
    };
    using R = typename std::invoke_result_t<decltype(call)&, Inner&>::value_type;
    using State = detail::ThrottleState<R, Inner, decltype(call)>;
    auto state = std::make_shared<State>(impl_->shared, std::move(call));
    if (!impl_->shared->enqueue(state)) {
      throw ShutdownError("cannot submit after shutdown (" + impl_->name + ")");
    }
    detail::Counters::bump(impl_->shared->counters.futures);
    return Future<R>(std::move(state));
  }

  // Stops accepting work; what is queued is still submitted, then the inner executor is shut
  // down. With `wait`, returns when all of that and the inner shutdown are done. Idempotent.
  void shutdown(bool wait = true) {
    impl_->flag.begin();
    impl_->shared->stop(true);
    if (!wait) return;
    impl_->join();
    impl_->shared->inner.shutdown(true);
  }

  ExecutorStats stats() const { return impl_->shared->counters.snapshot(impl_->name); }

 private:
  struct Impl {
    Impl(Inner inner, typename Shared::Count count, bool block, std::string n)
        : name(std::move(n)),
          shared(std::make_shared<Shared>(std::move(inner), std::move(count), block)),
          thread(name, [s = shared] { s->run(); }) {}
    ~Impl() {
      flag.begin();
      shared->stop(false);
      join();
    }
    void join() {
      std::lock_guard lock(join_mu);
      thread.join();
    }
    const std::string name;
    std::shared_ptr<Shared> shared;
    detail::ShutdownFlag flag;
    std::mutex join_mu;
    detail::NamedThread thread;
  };
  std::shared_ptr<Impl> impl_;
};

}  // namespace wq::exec
