// TimerThread: one named thread that runs TimerEntry::fire() at each entry's time, earliest
// first (ties in scheduling order), or cancels a future's state at its deadline.
// RetryExecutor uses it for backoffs, TimeoutExecutor and f_timeout for deadlines. Stopping abandons the entries still waiting: each gets abandon() instead of fire(),
// so whoever scheduled it can resolve its future rather than leave it pending.
//
// Threading: schedule/stop/fired from any thread. fire() and abandon() run on the timer thread
// without any lock held and may call schedule(). Entries whose obsolete() is true (their future
// finished some other way) are dropped in batches, so finished futures do not pile up.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "wq/exec/named_thread.hpp"

namespace wq::exec::detail {

class StateBase;

class TimerEntry {
 public:
  virtual ~TimerEntry() = default;
  // The entry's time came. The return value is counted by TimerThread::fired().
  virtual bool fire() = 0;
  // The timer stopped before the entry's time.
  virtual void abandon() {}
  // True if firing would do nothing; such entries may be dropped early.
  virtual bool obsolete() const { return false; }
};

class TimerThread {
 public:
  explicit TimerThread(std::string name);
  TimerThread(const TimerThread&) = delete;
  TimerThread& operator=(const TimerThread&) = delete;
  // stop(true).
  ~TimerThread();

  // False (and the entry is untouched) once stop() was called.
  bool schedule(std::chrono::steady_clock::time_point when, std::shared_ptr<TimerEntry> entry);
  // Calls state->cancel() at `when` unless the state is done by then (a successful cancel
  // counts in fired()). Nothing happens to it if the timer stops first. False once stopped.
  bool schedule_cancel(std::chrono::steady_clock::time_point when,
                       std::shared_ptr<StateBase> state);

  // Stops the thread and abandons waiting entries; with `wait`, returns after both. Idempotent.
  void stop(bool wait);

  // How many fire() calls returned true.
  std::uint64_t fired() const noexcept;

 private:
  struct Shared;
  std::shared_ptr<Shared> shared_;
  NamedThread thread_;
};

}  // namespace wq::exec::detail
