// DoneFlag: set once by one thread, waited for by another, which sleeps on a futex at once.
// std::atomic<bool>::wait (libstdc++ 12) first spins, and its last four rounds call
// sched_yield: a writer blocked on its store commit (~0.1-0.5 ms) yielded the CPU four times
// before sleeping, each time a context switch on a busy machine (W1: ~8 involuntary context
// switches a job, from the submitters and the function workers waiting on their writes).
//
// Threading: set() once from any thread; wait() from one other thread. set() may be the last
// use of the flag by its setter: the waiter may destroy it as soon as wait() returns.
#pragma once

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>

namespace wq {

class DoneFlag {
 public:
  void set() noexcept {
    if (state_.exchange(kSet, std::memory_order_release) == kSleeping) {
      // The waiter may return and destroy the flag once it sees kSet; FUTEX_WAKE only uses
      // the address as a key, never reads freed memory.
      ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&state_), FUTEX_WAKE_PRIVATE, 1,
                nullptr, nullptr, 0);
    }
  }

  void wait() noexcept {
    std::uint32_t s = state_.load(std::memory_order_acquire);
    if (s == kSet) return;
    if (s == kUnset && !state_.compare_exchange_strong(s, kSleeping, std::memory_order_acquire)) {
      if (s == kSet) return;
    }
    while (state_.load(std::memory_order_acquire) != kSet) {
      ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&state_), FUTEX_WAIT_PRIVATE,
                kSleeping, nullptr, nullptr, 0);
    }
  }

  bool is_set() const noexcept { return state_.load(std::memory_order_acquire) == kSet; }

 private:
  static constexpr std::uint32_t kUnset = 0, kSleeping = 1, kSet = 2;
  std::atomic<std::uint32_t> state_{kUnset};
  static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t));
};

}  // namespace wq
