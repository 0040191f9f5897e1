// What every executor shares: a name, counters readable as ExecutorStats, and the one-way
// "shut down" flag behind "submit after shutdown throws" and "shutdown is idempotent".
//
// Threading: counters are relaxed atomics (a snapshot may mix moments); the flag is atomic.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

#include "wq/exec/errors.hpp"

namespace wq::exec {

// A snapshot of an executor's counters. Counters that do not apply to an executor stay 0.
// A counter is updated just after the event it counts, so it may briefly lag a future that
// an observer already sees resolved.
struct ExecutorStats {
  std::string name;
  std::uint64_t futures = 0;   // futures returned by submit()
  std::uint64_t polls = 0;     // poll function calls (PollExecutor)
  std::uint64_t retries = 0;   // attempts started after a failed one (RetryExecutor)
  std::uint64_t timeouts = 0;  // futures cancelled at their deadline (TimeoutExecutor)
};

namespace detail {

struct Counters {
  std::atomic<std::uint64_t> futures{0};
  std::atomic<std::uint64_t> polls{0};
  std::atomic<std::uint64_t> retries{0};
  std::atomic<std::uint64_t> timeouts{0};

  static void bump(std::atomic<std::uint64_t>& c) noexcept {
    c.fetch_add(1, std::memory_order_relaxed);
  }

  ExecutorStats snapshot(std::string name) const {
    return ExecutorStats{std::move(name), futures.load(std::memory_order_relaxed),
                         polls.load(std::memory_order_relaxed),
                         retries.load(std::memory_order_relaxed),
                         timeouts.load(std::memory_order_relaxed)};
  }
};

class ShutdownFlag {
 public:
  // Throws ShutdownError if shutdown has begun.
  void ensure_alive(std::string_view executor) const {
    if (down_.load(std::memory_order_acquire)) {
      throw ShutdownError(std::string("cannot submit after shutdown (") + std::string(executor) +
                          ")");
    }
  }
  // True for the first caller only.
  bool begin() noexcept { return !down_.exchange(true, std::memory_order_acq_rel); }
  bool is_down() const noexcept { return down_.load(std::memory_order_acquire); }

 private:
  std::atomic<bool> down_{false};
};

}  // namespace detail
}  // namespace wq::exec
