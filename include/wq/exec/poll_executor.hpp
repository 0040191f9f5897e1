// PollExecutor: submits work to an inner executor, then resolves each future by polling. The
// inner future's value (say, a remote task id) becomes a PollDescriptor; one thread per
// executor calls the poll function with every outstanding descriptor at once, and the poll
// function resolves the ones it can with yield_result / yield_exception.
//
// Poll function: `R poll_fn(std::vector<PollDescriptor<In, Out>>&)`, called with zero or more
// descriptors. If it returns a number (seconds), a std::optional of one, or a chrono duration,
// that is the delay to the next poll; otherwise the default interval applies. If it throws,
// every future of that batch fails with the exception, and polling goes on. notify() polls
// now; so does every future that enters polling.
//
// Cancel function: `bool cancel_fn(const In&)`, called when a future being polled is
// cancelled; it returns whether the remote work was stopped. A throwing cancel function is
// logged and counts as false. Before polling starts, cancel goes to the inner future.
//
// Shutdown (a fixed defect of more-executors): futures still being polled, or reaching the
// poll stage later, fail with ShutdownError — none stays pending forever.
//
// Threading: a cheap shared handle, thread-safe. One poll thread per executor, named `name`;
// poll and cancel functions must not hold a handle to this executor (that would keep it alive
// until shutdown() is called explicitly). Futures hold the executor weakly.
#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "wq/exec/composable.hpp"
#include "wq/exec/executor_stats.hpp"
#include "wq/exec/future.hpp"
#include "wq/exec/named_thread.hpp"

namespace wq::exec {

template <class In, class Out>
class PollDescriptor;

namespace detail {

struct NoCancelFn {};

template <class In, class Out>
class PollState;

// What a polled future needs from its executor.
template <class In, class Out>
class PollRegistry {
 public:
  virtual ~PollRegistry() = default;
  // False if the executor shut down.
  virtual bool add(std::shared_ptr<PollState<In, Out>> state) = 0;
  // The cancel function's verdict (true without one).
  virtual bool run_cancel_fn(const In& value) = 0;
};

template <class In, class Out>
class PollState final : public State<Out> {
 public:
  explicit PollState(std::weak_ptr<PollRegistry<In, Out>> registry)
      : State<Out>(true), registry_(std::move(registry)) {}

  template <class R>
  static Future<Out> attach(std::shared_ptr<PollState> self,
                            const std::shared_ptr<State<R>>& inner) {
    self->set_delegate(inner);
    inner->add_callback([self](StateBase& s) mutable {
      self->on_inner_done(self, static_cast<State<R>&>(s));
    });
    return Future<Out>(std::move(self));
  }

  // REQUIRES: polling started (only descriptors call this).
  const In& input() const noexcept { return *input_; }

 protected:
  bool cancel_delegate() override {
    std::shared_ptr<StateBase> inner;
    bool polling;
    {
      std::lock_guard lock(this->mu_);
      inner = this->delegate_;
      polling = polling_;
    }
    if (inner) return inner->cancel();
    if (!polling) return false;
    auto registry = registry_.lock();
    return !registry || registry->run_cancel_fn(*input_);
  }

  bool delegate_running() const override {
    auto inner = this->delegate();
    return inner && inner->running();
  }

 private:
  template <class R>
  void on_inner_done(const std::shared_ptr<PollState>& self, State<R>& inner) {
    if (inner.status() != Status::finished) {
      this->take_delegate();
      if (inner.cancelled()) {
        this->set_cancelled();
      } else {
        this->set_exception(inner.error());
      }
      return;
    }
    try {
      std::lock_guard lock(this->mu_);
      input_.emplace(inner.value());
      polling_ = true;
      this->delegate_.reset();
    } catch (...) {
      this->take_delegate();
      this->set_exception(std::current_exception());
      return;
    }
    auto registry = registry_.lock();
    if (!registry || !registry->add(self)) {
      this->set_exception(std::make_exception_ptr(
          ShutdownError("poll executor shut down before the future was resolved")));
    }
  }

  const std::weak_ptr<PollRegistry<In, Out>> registry_;
  std::optional<In> input_;  // written once under mu_ before polling_, then read-only
  bool polling_ = false;     // guarded by mu_
};

template <class T>
struct PollListTypes;
template <class In, class Out>
struct PollListTypes<std::vector<PollDescriptor<In, Out>>> {
  using in = In;
  using out = Out;
};

template <class M>
struct PollFnArg;
template <class R, class C, class A>
struct PollFnArg<R (C::*)(A)> {
  using type = A;
};
template <class R, class C, class A>
struct PollFnArg<R (C::*)(A) const> {
  using type = A;
};
template <class R, class A>
struct PollFnArg<R (*)(A)> {
  using type = A;
};

template <class PollFn>
struct PollFnSignature : PollFnArg<decltype(&PollFn::operator())> {};
template <class R, class A>
struct PollFnSignature<R (*)(A)> : PollFnArg<R (*)(A)> {};

template <class In, class Out, class PollFn>
struct PollTypes {
  using in = In;
  using out = std::conditional_t<std::is_void_v<Out>, In, Out>;
};
template <class PollFn>
struct PollTypes<void, void, PollFn>
    : PollListTypes<std::remove_cvref_t<typename PollFnSignature<PollFn>::type>> {};

template <class In, class Out, class PollFn, class CancelFn>
class PollShared final : public PollRegistry<In, Out> {
 public:
  PollShared(PollFn poll_fn, CancelFn cancel_fn, Seconds interval, std::string name)
      : poll_fn_(std::move(poll_fn)), cancel_fn_(std::move(cancel_fn)), interval_(interval),
        name_(std::move(name)) {}

  bool add(std::shared_ptr<PollState<In, Out>> state) override {
    {
      std::lock_guard lock(mu_);
      if (stopping_) return false;
      polling_.push_back(std::move(state));
      wake_ = true;
    }
    cv_.notify_one();
    return true;
  }

  bool run_cancel_fn(const In& value) override {
    if constexpr (std::is_same_v<CancelFn, NoCancelFn>) {
      (void)value;
      return true;
    } else {
      try {
        return static_cast<bool>(cancel_fn_(value));
      } catch (...) {
        log_exception("Exception during cancel in " + name_, std::current_exception());
        return false;
      }
    }
  }

  void notify() {
    {
      std::lock_guard lock(mu_);
      wake_ = true;
    }
    cv_.notify_one();
  }

  void stop() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_one();
  }

  void run() {
    std::unique_lock lock(mu_);
    while (!stopping_) {
      std::erase_if(polling_, [](const auto& s) { return s->done(); });
      std::vector<PollDescriptor<In, Out>> batch(polling_.begin(), polling_.end());
      wake_ = false;
      lock.unlock();
      const Seconds delay = poll(batch);
      batch.clear();
      lock.lock();
      cv_.wait_for(lock, delay, [this] { return stopping_ || wake_; });
    }
    auto left = std::move(polling_);
    polling_.clear();
    lock.unlock();
    const auto error = std::make_exception_ptr(
        ShutdownError("poll executor shut down before the future was resolved"));
    for (auto& state : left) state->set_exception(error);
  }

  Counters counters;

 private:
  Seconds poll(std::vector<PollDescriptor<In, Out>>& batch) {
    Counters::bump(counters.polls);
    try {
      using Ret = std::invoke_result_t<PollFn&, std::vector<PollDescriptor<In, Out>>&>;
      if constexpr (std::is_void_v<Ret>) {
        poll_fn_(batch);
        return interval_;
      } else {
        return delay_from(poll_fn_(batch));
      }
    } catch (...) {
      const auto error = std::current_exception();
      for (auto& d : batch) d.yield_exception(error);
      return interval_;
    }
  }

  template <class D>
  Seconds delay_from(const D& d) const {
    if constexpr (std::is_arithmetic_v<D>) {
      return std::max(Seconds(static_cast<double>(d)), Seconds(0));
    } else if constexpr (requires { d.has_value(); }) {
      return d.has_value() ? delay_from(*d) : interval_;
    } else if constexpr (requires { std::chrono::duration_cast<Seconds>(d); }) {
      return std::max(std::chrono::duration_cast<Seconds>(d), Seconds(0));
    } else {
      return interval_;
    }
  }

  PollFn poll_fn_;
  [[no_unique_address]] CancelFn cancel_fn_;
  const Seconds interval_;
  const std::string name_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::shared_ptr<PollState<In, Out>>> polling_;  // guarded by mu_
  bool wake_ = false;                                          // guarded by mu_
  bool stopping_ = false;                                      // guarded by mu_
};

}  // namespace detail

// One outstanding future, as the poll function sees it. Copyable; yielding to a future that
// is already done (say, cancelled meanwhile) does nothing.
template <class In, class Out>
class PollDescriptor {
 public:
  explicit PollDescriptor(std::shared_ptr<detail::PollState<In, Out>> state)
      : state_(std::move(state)) {}

  // The inner future's value, which drives the poll.
  const In& result() const noexcept { return state_->input(); }

  template <class... V>
  void yield_result(V&&... value) const {
    state_->set_value(std::forward<V>(value)...);
  }
  void yield_exception(std::exception_ptr error) const { state_->set_exception(std::move(error)); }
  template <class E>
    requires(!std::is_same_v<std::decay_t<E>, std::exception_ptr>)
  void yield_exception(E&& error) const {
    state_->set_exception(std::make_exception_ptr(std::forward<E>(error)));
  }

 private:
  std::shared_ptr<detail::PollState<In, Out>> state_;
};

template <class Inner, class In, class Out, class PollFn, class CancelFn>
class PollExecutor : public Composable<PollExecutor<Inner, In, Out, PollFn, CancelFn>> {
  using Shared = detail::PollShared<In, Out, PollFn, CancelFn>;

 public:
  PollExecutor(Inner inner, PollFn poll_fn, CancelFn cancel_fn, Seconds default_interval,
               std::string name = "wq-poll")
      : impl_(std::make_shared<Impl>(std::move(inner), std::move(poll_fn), std::move(cancel_fn),
                                     default_interval, std::move(name))) {}

  // The inner future's value must convert to In. Throws ShutdownError after shutdown(), or
  // what the inner submit throws.
  template <class F, class... A>
  Future<Out> submit(F&& f, A&&... args) {
    impl_->flag.ensure_alive(impl_->name);
    auto inner = impl_->inner.submit(std::forward<F>(f), std::forward<A>(args)...);
    auto state = std::make_shared<detail::PollState<In, Out>>(impl_->shared);
    detail::Counters::bump(impl_->shared->counters.futures);
    return detail::PollState<In, Out>::attach(std::move(state), inner.state());
  }

  // Polls as soon as possible instead of at the end of the current interval.
  void notify() { impl_->shared->notify(); }

  // Stops accepting work and polling, shuts the inner executor down, and fails what is left
  // to poll with ShutdownError. Idempotent.
  void shutdown(bool wait = true) {
    impl_->flag.begin();
    impl_->inner.shutdown(wait);
    impl_->shared->stop();
    if (wait) impl_->join();
  }

  ExecutorStats stats() const { return impl_->shared->counters.snapshot(impl_->name); }

 private:
  struct Impl {
    Impl(Inner i, PollFn p, CancelFn c, Seconds interval, std::string n)
        : inner(std::move(i)),
          name(std::move(n)),
          shared(std::make_shared<Shared>(std::move(p), std::move(c), interval, name)),
          thread(name, [s = shared] { s->run(); }) {}
    ~Impl() {
      flag.begin();
      shared->stop();
      join();
    }
    void join() {
      std::lock_guard lock(join_mu);
      thread.join();
    }
    Inner inner;
    const std::string name;
    std::shared_ptr<Shared> shared;
    detail::ShutdownFlag flag;
    std::mutex join_mu;
    detail::NamedThread thread;
  };
  std::shared_ptr<Impl> impl_;
};

}  // namespace wq::exec
