// Synchronisation helpers for the wq::exec tests: gates, counters and an ErrorLog capture.
// Nothing here sleeps; every wait has a generous upper bound so a broken build fails instead
// of hanging.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <optional>
#include <exception>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>

#include "wq/exec/errors.hpp"

namespace wq::exec::test {

// Upper bound for any wait in tests (never reached unless something is broken).
inline constexpr std::chrono::seconds kWait{60};

using Job = std::function<int()>;

class SimulatedError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

inline std::string message_of(const std::exception_ptr& e) { return describe(e); }

// A one-shot event.
class Gate {
 public:
  // Notifies under the lock: a waiter may destroy the gate as soon as it sees it open.
  void open() {
    std::lock_guard lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  // True once open; false if kWait passed first.
  bool wait() {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, kWait, [&] { return open_; });
  }
  bool is_open() {
    std::lock_guard lock(mu_);
    return open_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

// A counter one can wait on.
class Counter {
 public:
  void add(int n) {
    std::lock_guard lock(mu_);
    value_ += n;
    cv_.notify_all();
  }
  int value() {
    std::lock_guard lock(mu_);
    return value_;
  }
  bool wait_for_at_least(int n) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, kWait, [&] { return value_ >= n; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int value_ = 0;
};

// A FIFO whose pop() waits for an item.
template <class T>
class BlockingQueue {
 public:
  void push(T value) {
    std::lock_guard lock(mu_);
    items_.push_back(std::move(value));
    cv_.notify_one();
  }
  // The next item; nullopt if kWait passed first.
  std::optional<T> pop() {
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, kWait, [&] { return !items_.empty(); })) return std::nullopt;
    T value = std::move(items_.front());
    items_.pop_front();
    return value;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<T> items_;
};

// Captures log_error messages for its lifetime (one at a time).
class ErrorLogCapture {
 public:
  ErrorLogCapture() {
    {
      std::lock_guard lock(mu_);
      count_ = 0;
      last_.clear();
    }
    previous_ = set_error_log(&record);
  }
  ~ErrorLogCapture() { set_error_log(previous_); }
  int count() const {
    std::lock_guard lock(mu_);
    return count_;
  }
  std::string last() const {
    std::lock_guard lock(mu_);
    return last_;
  }
  // A callback's failure is logged after the callback returns control: wait for it.
  bool wait_for_count(int n) const {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, kWait, [&] { return count_ >= n; });
  }

 private:
  static void record(std::string_view message) {
    std::lock_guard lock(mu_);
    last_ = std::string(message);
    ++count_;
    cv_.notify_all();
  }
  static inline int count_ = 0;
  static inline std::mutex mu_;
  static inline std::condition_variable cv_;
  static inline std::string last_;
  ErrorLog previous_;
};

}  // namespace wq::exec::test
