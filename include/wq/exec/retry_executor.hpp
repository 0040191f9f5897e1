// RetryExecutor: submits work to an inner executor and submits it again, after a backoff, while
// the retry policy says so. The returned future resolves only with the final attempt's outcome
// (done callbacks included).
//
// Semantics (more-executors'): the first attempt is submitted at once from submit(); later ones
// from this executor's timer thread. Cancel succeeds between attempts, or if the current
// attempt can be cancelled; any cancel request — successful or not — stops further retries.
// Fixed defects: an attempt cancelled from inside resolves the future as cancelled; shutdown
// resolves futures waiting for a retry with their last attempt's outcome.
//
// Threading: a cheap shared handle, thread-safe. One timer thread per executor, named `name`.
// Policies run on the thread that completed an attempt. Futures hold the executor weakly.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "wq/exec/composable.hpp"
#include "wq/exec/executor_stats.hpp"
#include "wq/exec/future.hpp"
#include "wq/exec/retry_policy.hpp"
#include "wq/exec/timer_thread.hpp"

namespace wq::exec {
namespace detail {

// True for a policy that declares it never retries a successful attempt (retry_policy.hpp).
template <class Policy>
concept RetriesOnlyFailures = requires { requires Policy::kRetriesOnlyFailures; };

template <class Inner>
struct RetryShared {
  RetryShared(Inner i, std::string n) : inner(std::move(i)), name(std::move(n)), timer(name) {}
  Inner inner;
  const std::string name;
  TimerThread timer;
  ShutdownFlag flag;
  Counters counters;
};

// Call: a callable Inner& -> Future<R> submitting one attempt.
template <class R, class Inner, class Policy, class Call>
class RetryState final : public State<R>, public TimerEntry {
 public:
  RetryState(std::weak_ptr<RetryShared<Inner>> shared, Policy policy, Call call)
      : State<R>(true), shared_(std::move(shared)), policy_(std::move(policy)),
        call_(std::move(call)) {}

  // Submits the first attempt on the caller's thread; throws what the inner submit throws.
  static Future<R> start(std::shared_ptr<RetryState> self, Inner& inner) {
    auto attempt = self->call_(inner).release_state();
    // No other thread knows `self` before watch() hands it to the attempt: no lock needed.
    self->attempts_ = 1;
    self->delegate_ = attempt;
    self->watch(self, attempt);
    return Future<R>(std::move(self));
  }

  bool fire() override {
    auto self = std::static_pointer_cast<RetryState>(this->shared_from_this());
    auto shared = shared_.lock();
    {
      std::lock_guard lock(this->mu_);
      if (!waiting_ || this->done()) return false;
      waiting_ = false;
      submitting_ = true;
    }
    if (!shared || shared->flag.is_down()) {
      finish_with(*last_);
      return false;
    }
    try {
      follow(self, call_(shared->inner));
    } catch (...) {
      {
        std::lock_guard lock(this->mu_);
        submitting_ = false;
      }
      this->set_exception(std::current_exception());
    }
    return true;
  }

  void abandon() override {
    {
      std::lock_guard lock(this->mu_);
      if (!waiting_) return;
      waiting_ = false;
    }
    finish_with(*last_);
  }

  bool obsolete() const override { return this->done(); }

 protected:
  bool cancel_delegate() override {
    std::shared_ptr<StateBase> attempt;
    {
      std::lock_guard lock(this->mu_);
      if (waiting_) {
        waiting_ = false;
        return true;
      }
      if (submitting_) return false;  // an attempt is starting: it can no longer be stopped
      attempt = this->delegate_;
    }
    return attempt && attempt->cancel();
  }

  // An attempt being submitted may already run.
  bool delegate_running() const override {
    std::shared_ptr<StateBase> attempt;
    {
      std::lock_guard lock(this->mu_);
      if (submitting_) return true;
      attempt = this->delegate_;
    }
    return attempt && (attempt->running() || attempt->done());
  }

 private:
  void follow(const std::shared_ptr<RetryState>& self, Future<R> attempt) {
    auto state = std::move(attempt).release_state();
    {
      std::lock_guard lock(this->mu_);
      ++attempts_;
      submitting_ = false;
      last_.reset();
      this->delegate_ = state;
    }
    watch(self, state);
  }

  void watch(const std::shared_ptr<RetryState>& self, const std::shared_ptr<State<R>>& attempt) {
    attempt->add_callback([self](StateBase& s) {
      self->on_attempt_done(self, static_cast<State<R>&>(s));
    });
  }

  void on_attempt_done(const std::shared_ptr<RetryState>& self, State<R>& attempt) {
    if (attempt.cancelled()) {
      this->set_cancelled();
      return;
    }
    if constexpr (RetriesOnlyFailures<Policy>) {
      if (attempt.status() == Status::finished) {
        finish_with(attempt);  // the common case, without asking the policy
        return;
      }
    }
    int attempts;
    bool stop;
    {
      std::lock_guard lock(this->mu_);
      attempts = attempts_;
      stop = this->cancel_requested_;
    }
    if (!stop && should_retry(attempt, attempts)) {
      auto shared = shared_.lock();
      bool retry = shared && !shared->flag.is_down();
      if (retry) {
        std::lock_guard lock(this->mu_);
        // A cancel during should_retry() stops the retry (more-executors issue #150).
        retry = !this->cancel_requested_;
        if (retry) {
          waiting_ = true;
          this->delegate_.reset();
          last_ = std::static_pointer_cast<State<R>>(attempt.shared_from_this());
        }
      }
      if (retry) {
        Counters::bump(shared->counters.retries);
        const auto when = Clock::now() + std::chrono::duration_cast<Clock::duration>(sleep_);
        if (!shared->timer.schedule(when, self)) abandon();
        return;
      }
    }
    finish_with(attempt);
  }

  // Asks the policy; a throwing policy is logged and means "no". Sets sleep_ when retrying.
  bool should_retry(State<R>& attempt, int attempts) {
    const Future<R> done(std::static_pointer_cast<State<R>>(attempt.shared_from_this()));
    try {
      if (!policy_.should_retry(attempts, done)) return false;
      sleep_ = policy_.sleep_time(attempts, done);
      return true;
    } catch (...) {
      log_exception("Exception while evaluating retry policy", std::current_exception());
      return false;
    }
  }

  void finish_with(const State<R>& attempt) { resolve_from<R>(*this, attempt); }

  const std::weak_ptr<RetryShared<Inner>> shared_;
  const Policy policy_;
  Call call_;
  // Guarded by mu_:
  int attempts_ = 0;
  bool waiting_ = false;     // between attempts, in the timer
  bool submitting_ = false;  // the timer thread is submitting the next attempt
  std::shared_ptr<State<R>> last_;  // the failed attempt while waiting_
  Seconds sleep_{0};  // written and read by the thread that completed the attempt
};

}  // namespace detail

template <class Inner, class Policy>
class RetryExecutor : public Composable<RetryExecutor<Inner, Policy>> {
 public:
  RetryExecutor(Inner inner, Policy policy, std::string name = "wq-retry")
      : impl_(std::make_shared<Impl>(std::move(inner), std::move(policy), std::move(name))) {}

  // submit_retry with this executor's policy.
  template <class F, class... A>
  auto submit(F&& f, A&&... args) {
    return submit_retry(impl_->policy, std::forward<F>(f), std::forward<A>(args)...);
  }

  // Submits f(args...) (copies, invoked once per attempt) retried under `policy`. Throws
  // ShutdownError after shutdown(), or what the inner submit throws for the first attempt.
  template <class P, class F, class... A>
  auto submit_retry(P policy, F&& f, A&&... args) {
    auto& shared = impl_->shared;
    shared->flag.ensure_alive(shared->name);
    auto call = [f = std::decay_t<F>(std::forward<F>(f)),
                 ... a = std::decay_t<A>(std::forward<A>(args))](Inner& inner) {
      return inner.submit(f, a...);
    };
    using R = typename std::invoke_result_t<decltype(call)&, Inner&>::value_type;
    using State = detail::RetryState<R, Inner, P, decltype(call)>;
    auto state = std::make_shared<State>(shared, std::move(policy), std::move(call));
    auto future = State::start(std::move(state), shared->inner);
    detail::Counters::bump(shared->counters.futures);
    return future;
  }

  // Stops accepting work; futures waiting for a retry resolve with their last attempt's
  // outcome; attempts in flight resolve as they finish, without retry. Propagates to the inner
  // executor. Idempotent.
  void shutdown(bool wait = true) {
    impl_->shared->flag.begin();
    impl_->shared->timer.stop(wait);
    impl_->shared->inner.shutdown(wait);
  }

  ExecutorStats stats() const { return impl_->shared->counters.snapshot(impl_->shared->name); }

 private:
  struct Impl {
    Impl(Inner inner, Policy p, std::string name)
        : shared(std::make_shared<detail::RetryShared<Inner>>(std::move(inner), std::move(name))),
          policy(std::move(p)) {}
    ~Impl() {
      shared->flag.begin();
      shared->timer.stop(true);
    }
    std::shared_ptr<detail::RetryShared<Inner>> shared;
    Policy policy;
  };
  std::shared_ptr<Impl> impl_;
};

}  // namespace wq::exec
