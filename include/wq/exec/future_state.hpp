// The shared state behind every Future: its status, outcome and done callbacks, plus the
// delegation hooks composable executors use to forward cancel() and running() inward.
//
// Threading: every member is safe to call from any thread. One mutex per state guards the
// outcome, the callback list and the delegate; `status_` is atomic so done()/result() on a
// finished future take no lock. Callbacks run on the thread that completes the state, after the
// mutex is released, so a callback may freely use this or any other future.
//
// Lock rule (hazard): a state never holds its own mutex while calling into another state.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include "wq/exec/done_callback.hpp"
#include "wq/exec/errors.hpp"

namespace wq::exec::detail {

// pending → running → finished | failed | cancelled; pending → cancelled. Terminal states are
// final. Delegating states stay pending until resolved; their running() asks the delegate.
enum class Status : std::uint8_t { pending, running, finished, failed, cancelled };

using Clock = std::chrono::steady_clock;

// A deadline `timeout` from now that does not overflow for huge timeouts.
Clock::time_point deadline_after(std::chrono::nanoseconds timeout) noexcept;

class StateBase : public std::enable_shared_from_this<StateBase> {
 public:
  StateBase(const StateBase&) = delete;
  StateBase& operator=(const StateBase&) = delete;
  virtual ~StateBase();

  Status status() const noexcept { return status_.load(std::memory_order_acquire); }
  bool done() const noexcept { return status() >= Status::finished; }
  bool cancelled() const noexcept { return status() == Status::cancelled; }

  // A leaf is running between set_running() and its outcome. A delegating state is running
  // while its current delegate runs or has finished but not yet resolved this state.
  bool running() const;

  // Python semantics: true if the state is (now) cancelled, false if it finished otherwise or
  // cannot be stopped. A leaf can be cancelled only while pending. A delegating state forwards
  // to cancel_delegate() and is cancelled if that succeeds. Every call records
  // cancel_requested() first, even when it fails (retry executors stop retrying on it).
  bool cancel();
  bool cancel_requested() const;

  void wait() const;
  // False if `deadline` passed first.
  bool wait_until(Clock::time_point deadline) const;

  // Runs `cb(*this)` exactly once, when the state is done; at once (on this thread) if it is
  // already done. A throwing callback is reported with log_error and affects nothing else.
  void add_callback(DoneCallback cb);

  // pending → running. False if the state was cancelled (or otherwise done) first; the caller
  // must then not run the work. Lock-free.
  bool set_running() noexcept;

  // Resolve the state; each returns false (and changes nothing) if it is already done.
  bool set_exception(std::exception_ptr error);
  bool set_cancelled();

  // REQUIRES: status() == failed.
  const std::exception_ptr& error() const noexcept { return error_; }

  // REQUIRES: done(). Throws CancelledError or the stored exception; returns if finished.
  void rethrow_if_unsuccessful() const;

 protected:
  explicit StateBase(bool delegating) noexcept : delegating_(delegating) {}

  // The current inner state cancel()/running() are forwarded to (delegating states only).
  void set_delegate(std::shared_ptr<StateBase> delegate);
  std::shared_ptr<StateBase> delegate() const;
  std::shared_ptr<StateBase> take_delegate();

  // Called without the lock on a delegating state; true if the work is certainly stopped.
  // Default: cancel the current delegate (false if there is none).
  virtual bool cancel_delegate();
  // Default: the delegate is running or done.
  virtual bool delegate_running() const;

  // REQUIRES: lock holds mu_ and the state is not done. Moves to `to` (a terminal status),
  // wakes waiters, releases the lock and runs the callbacks.
  void finish(std::unique_lock<std::mutex>& lock, Status to);

  mutable std::mutex mu_;
  bool cancel_requested_ = false;         // guarded by mu_
  std::shared_ptr<StateBase> delegate_;  // guarded by mu_

 private:
  // The second half of finish(), after the status became terminal.
  void release(std::unique_lock<std::mutex>& lock);
  static void invoke(DoneCallback& cb, StateBase& state) noexcept;

  mutable std::condition_variable cv_;
  std::atomic<Status> status_{Status::pending};
  const bool delegating_;
  mutable int waiters_ = 0;
  std::exception_ptr error_;
  // The first callback inline (the one an executor layer adds), any others after it.
  DoneCallback first_callback_;
  std::vector<DoneCallback> more_callbacks_;
};

// A state with a value of type T (T = void: no value).
template <class T>
class State : public StateBase {
 public:
  using value_type = T;

  State() noexcept : StateBase(false) {}

  // False if already done. If constructing T throws, the state is unchanged and it propagates.
  template <class... A>
  bool set_value(A&&... args) {
    std::unique_lock lock(mu_);
    if (done()) return false;
    value_.emplace(std::forward<A>(args)...);
    finish(lock, Status::finished);
    return true;
  }

  // REQUIRES: status() == finished. Valid for as long as the state lives.
  const T& value() const noexcept { return *value_; }

 protected:
  explicit State(bool delegating) noexcept : StateBase(delegating) {}

 private:
  std::optional<T> value_;
};

template <>
class State<void> : public StateBase {
 public:
  using value_type = void;

  State() noexcept : StateBase(false) {}

  bool set_value() {
    std::unique_lock lock(mu_);
    if (done()) return false;
    finish(lock, Status::finished);
    return true;
  }
  void value() const noexcept {}

 protected:
  explicit State(bool delegating) noexcept : StateBase(delegating) {}
};

// Resolves `to` with the outcome of the done state `from` (same value type).
template <class T>
void resolve_from(State<T>& to, const State<T>& from) {
  switch (from.status()) {
    case Status::finished:
      try {
        if constexpr (std::is_void_v<T>) {
          to.set_value();
        } else {
          to.set_value(from.value());
        }
      } catch (...) {
        to.set_exception(std::current_exception());
      }
      return;
    case Status::failed:
      to.set_exception(from.error());
      return;
    default:
      to.set_cancelled();
      return;
  }
}

// Runs `fn(args...)` and stores its result or exception in `state` (value or void).
template <class T, class Fn>
void resolve_by_calling(State<T>& state, Fn&& fn) noexcept {
  try {
    if constexpr (std::is_void_v<T>) {
      std::forward<Fn>(fn)();
      state.set_value();
    } else {
      state.set_value(std::forward<Fn>(fn)());
    }
  } catch (...) {
    state.set_exception(std::current_exception());
  }
}

}  // namespace wq::exec::detail
