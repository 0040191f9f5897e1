#include "wq/exec/future_state.hpp"

namespace wq::exec::detail {

Clock::time_point deadline_after(std::chrono::nanoseconds timeout) noexcept {
  const auto now = Clock::now();
  if (timeout <= std::chrono::nanoseconds::zero()) return now;
  if (timeout >= Clock::time_point::max() - now) return Clock::time_point::max();
  return now + std::chrono::duration_cast<Clock::duration>(timeout);
}

StateBase::~StateBase() = default;

bool StateBase::running() const {
  const Status s = status();
  if (s >= Status::finished) return false;
  if (!delegating_) return s == Status::running;
  return delegate_running();
}

bool StateBase::cancel() {
  {
    std::unique_lock lock(mu_);
    const Status s = status_.load(std::memory_order_acquire);
    if (s == Status::cancelled) return true;
    if (s >= Status::finished) return false;
    cancel_requested_ = true;
    if (!delegating_) {
      // set_running() moves pending → running without the lock; the CAS settles the race.
      Status expected = Status::pending;
      if (!status_.compare_exchange_strong(expected, Status::cancelled,
                                           std::memory_order_acq_rel)) {
        return false;
      }
      release(lock);
      return true;
    }
  }
  if (cancel_delegate()) set_cancelled();
  return cancelled();
}

bool StateBase::cancel_requested() const {
  std::lock_guard lock(mu_);
  return cancel_requested_;
}

void StateBase::wait() const {
  if (done()) return;
  std::unique_lock lock(mu_);
  ++waiters_;
  cv_.wait(lock, [this] { return done(); });
  --waiters_;
}

bool StateBase::wait_until(Clock::time_point deadline) const {
  if (done()) return true;
  std::unique_lock lock(mu_);
  ++waiters_;
  const bool ok = cv_.wait_until(lock, deadline, [this] { return done(); });
  --waiters_;
  return ok;
}

void StateBase::add_callback(DoneCallback cb) {
  {
    std::lock_guard lock(mu_);
    if (!done()) {
      if (!first_callback_) {
        first_callback_ = std::move(cb);
      } else {
        more_callbacks_.push_back(std::move(cb));
      }
      return;
    }
  }
  invoke(cb, *this);
}

bool StateBase::set_running() noexcept {
  Status expected = Status::pending;
  if (status_.compare_exchange_strong(expected, Status::running, std::memory_order_acq_rel)) {
    return true;
  }
  return expected == Status::running;
}

bool StateBase::set_exception(std::exception_ptr error) {
  std::unique_lock lock(mu_);
  if (done()) return false;
  error_ = std::move(error);
  finish(lock, Status::failed);
  return true;
}

bool StateBase::set_cancelled() {
  std::unique_lock lock(mu_);
  if (done()) return false;
  finish(lock, Status::cancelled);
  return true;
}

void StateBase::rethrow_if_unsuccessful() const {
  switch (status()) {
    case Status::failed:
      std::rethrow_exception(error_);
    case Status::cancelled:
      throw CancelledError();
    default:
      return;
  }
}

void StateBase::set_delegate(std::shared_ptr<StateBase> delegate) {
  std::lock_guard lock(mu_);
  delegate_ = std::move(delegate);
}

std::shared_ptr<StateBase> StateBase::delegate() const {
  std::lock_guard lock(mu_);
  return delegate_;
}

std::shared_ptr<StateBase> StateBase::take_delegate() {
  std::lock_guard lock(mu_);
  return std::exchange(delegate_, nullptr);
}

bool StateBase::cancel_delegate() {
  const auto d = delegate();
  return d && d->cancel();
}

bool StateBase::delegate_running() const {
  const auto d = delegate();
  return d && (d->running() || d->done());
}

void StateBase::finish(std::unique_lock<std::mutex>& lock, Status to) {
  // A pending/running → terminal move; only ever made under mu_, so it cannot be lost.
  Status current = status_.load(std::memory_order_relaxed);
  while (!status_.compare_exchange_weak(current, to, std::memory_order_acq_rel)) {
  }
  release(lock);
}

void StateBase::release(std::unique_lock<std::mutex>& lock) {
  // Moved out: a callback may drop the last reference to this state.
  DoneCallback first = std::move(first_callback_);
  auto more = std::move(more_callbacks_);
  // delegate_ stays: a done delegate holds no reference back (its callbacks ran and were
  // dropped), and keeping it means the whole chain is freed by whoever drops this future —
  // usually the thread that allocated it — rather than piecemeal on worker threads, which
  // costs glibc malloc a locked cross-thread free per state.
  if (waiters_ > 0) cv_.notify_all();
  lock.unlock();
  if (!first) return;
  invoke(first, *this);
  for (auto& cb : more) invoke(cb, *this);
}

void StateBase::invoke(DoneCallback& cb, StateBase& state) noexcept {
  try {
    cb(state);
  } catch (...) {
    log_exception("done callback threw", std::current_exception());
  }
}

}  // namespace wq::exec::detail
