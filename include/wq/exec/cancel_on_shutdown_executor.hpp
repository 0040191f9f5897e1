// CancelOnShutdownExecutor: wraps an executor and, when shut down (or dropped), calls cancel()
// once on every future it returned that is not yet done — running ones included, which
// executors such as PollExecutor can stop. It returns the inner futures themselves.
//
// Threading: a cheap shared handle, thread-safe; no threads of its own. The cancels run on the
// thread calling shutdown(), outside any lock of this executor.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "wq/exec/composable.hpp"
#include "wq/exec/executor_stats.hpp"
#include "wq/exec/future.hpp"

namespace wq::exec {
namespace detail {

// The not-yet-done futures of one executor, held weakly.
class LiveFutures {
 public:
  void add(const std::shared_ptr<StateBase>& state) {
    std::lock_guard lock(mu_);
    live_.emplace(state.get(), state);
  }
  void remove(const StateBase* state) {
    std::lock_guard lock(mu_);
    live_.erase(state);
  }
  std::vector<std::shared_ptr<StateBase>> snapshot() const {
    std::vector<std::shared_ptr<StateBase>> out;
    std::lock_guard lock(mu_);
    out.reserve(live_.size());
    for (const auto& [_, weak] : live_) {
      if (auto s = weak.lock()) out.push_back(std::move(s));
    }
    return out;
  }

 private:
  mutable std::mutex mu_;
  std::unordered_map<const StateBase*, std::weak_ptr<StateBase>> live_;
};

}  // namespace detail

template <class Inner>
class CancelOnShutdownExecutor : public Composable<CancelOnShutdownExecutor<Inner>> {
 public:
  CancelOnShutdownExecutor(Inner inner, std::string name = "wq-cancel-on-shutdown")
      : impl_(std::make_shared<Impl>(std::move(inner), std::move(name))) {}

  // Throws ShutdownError after shutdown(), or what the inner submit throws.
  template <class F, class... A>
  auto submit(F&& f, A&&... args) {
    impl_->flag.ensure_alive(impl_->name);
    auto future = impl_->inner.submit(std::forward<F>(f), std::forward<A>(args)...);
    detail::Counters::bump(impl_->counters.futures);
    const auto& state = future.state();
    impl_->live->add(state);
    state->add_callback([live = std::weak_ptr<detail::LiveFutures>(impl_->live)](
                            detail::StateBase& s) {
      if (auto l = live.lock()) l->remove(&s);
    });
    // A shutdown that began during this submit may have missed the new future.
    if (impl_->flag.is_down()) state->cancel();
    return future;
  }

  // Cancels every unfinished future once, then shuts the inner executor down. Idempotent.
  void shutdown(bool wait = true) {
    if (impl_->flag.begin()) impl_->cancel_all();
    impl_->inner.shutdown(wait);
  }

  ExecutorStats stats() const { return impl_->counters.snapshot(impl_->name); }

 private:
  struct Impl {
    Impl(Inner i, std::string n)
        : inner(std::move(i)), name(std::move(n)),
          live(std::make_shared<detail::LiveFutures>()) {}
    ~Impl() {
      if (flag.begin()) cancel_all();
    }
    void cancel_all() {
      for (auto& state : live->snapshot()) state->cancel();
    }
    Inner inner;
    const std::string name;
    std::shared_ptr<detail::LiveFutures> live;
    detail::ShutdownFlag flag;
    detail::Counters counters;
  };
  std::shared_ptr<Impl> impl_;
};

}  // namespace wq::exec
