// Starts a real `wqd` for a test: writes the given TOML to a fresh temporary directory, runs
// `wqd --config DIR/wqd.toml --listen 127.0.0.1:0 --data-dir DIR/data`, and learns the port
// from its "listening" log line (no fixed ports, no sleeps). Its stderr is kept line by line
// for assertions about the logs.
//
// Threading: use from one thread; a reader thread collects stderr.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace wq::test {

// A run_at (Unix ms) that keeps a job queued for the whole test.
inline std::int64_t a_day_from_now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             (std::chrono::system_clock::now() + std::chrono::hours(24)).time_since_epoch())
      .count();
}

// A [tasks] section for tests: count (examples/tasks/count.sh, params n and delay) and hold
// (sleeps `ms` milliseconds, writes nothing).
std::string test_tasks_toml();

// The SHA-256 hex of `token`, for [server] tokens.
std::string sha256_of(const std::string& token);

class WqdProcess {
 public:
  // Starts wqd and waits until it listens or exits. `extra_args` go after the defaults and may
  // override them (a later --listen wins).
  explicit WqdProcess(const std::string& config_toml, std::vector<std::string> extra_args = {});
  ~WqdProcess();  // SIGKILL if still running, then reap; removes the directory
  WqdProcess(const WqdProcess&) = delete;
  WqdProcess& operator=(const WqdProcess&) = delete;

  // 0 if it exited before listening.
  unsigned short port() const { return port_; }
  pid_t pid() const { return pid_; }
  // Sends SIGTERM and waits for the exit status (the code, or 128+signal).
  int terminate();
  // Waits for the process to exit on its own.
  int wait_exit();
  std::vector<std::string> log_lines();
  // Blocks until a stderr line satisfies `pred` (true) or stderr closes (false).
  bool wait_for_log(const std::function<bool(const std::string&)>& pred);

 private:
  void read_stderr(int fd);

  std::filesystem::path dir_;
  pid_t pid_ = -1;
  unsigned short port_ = 0;
  std::optional<int> status_;
  std::thread reader_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<std::string> lines_;  // guarded by mutex_
  bool stderr_closed_ = false;      // guarded by mutex_
};

}  // namespace wq::test
