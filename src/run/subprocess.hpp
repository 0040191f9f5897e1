// A child process started without a shell (DESIGN §2): its own process group, killed when the
// spawning thread dies (PR_SET_PDEATHSIG), every descriptor but stdin/stdout/stderr closed,
// signal dispositions reset (but for an ignored real-time signal, which stays ignored where
// clone3 is available) and the signal mask cleared. Spawning does not wait for the exec
// (clone with CLONE_VM, no CLONE_VFORK): a program that cannot be executed, or a working
// directory that cannot be entered, shows once the child is reaped (start_error()).
//
// Threading: a Subprocess is not synchronised; one thread uses it at a time. spawn() may be
// called from any thread, but PR_SET_PDEATHSIG fires when the *thread* that spawned the child
// exits, so spawn from a thread that lives as long as the children (CommandRunner's run threads).
#pragma once

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "wq/error.hpp"

namespace wq::run {

// Owns one file descriptor; closes it on destruction.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) noexcept : fd_(fd) {}
  ~UniqueFd() { reset(); }
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  int get() const noexcept { return fd_; }
  int release() noexcept { return std::exchange(fd_, -1); }
  void reset(int fd = -1) noexcept;
  explicit operator bool() const noexcept { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

struct SpawnOptions {
  // argv[0] is the program: a path (relative paths resolve against `cwd`), or a bare name
  // looked up in PATH (the child's PATH if `env` sets one, else ours, else /usr/bin:/bin).
  std::vector<std::string> argv;
  // Extra "NAME=value" entries; the child gets our environment plus these, which win.
  std::vector<std::string> env;
  std::string cwd;            // empty: inherit ours
  bool pipe_stdin = false;    // false: stdin is /dev/null
};

// How a reaped child ended: exactly one of `code` (exited) or `signal` (killed) is meaningful.
struct ExitStatus {
  int code = 0;
  int signal = 0;  // non-zero: killed by this signal; `code` is then 0
};

class Subprocess {
 public:
  // Starts the program. Fails (Errc::bad_input, the detail says why) when no child could be
  // made (pipes, clone). A child that cannot execute the program or enter `cwd` exits at once
  // with code 127, never running anything of ours; start_error() then says why. Needs
  // Linux >= 5.9 (CLONE_PIDFD, close_range).
  static Result<Subprocess> spawn(SpawnOptions options);

  Subprocess(Subprocess&& other) noexcept;
  Subprocess& operator=(Subprocess&& other) noexcept;
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;
  // Unless reaped: SIGKILL to the process group, then reaps the child (waits for it to die).
  ~Subprocess();

  pid_t pid() const noexcept { return pid_; }  // also the process group id
  // Becomes readable (poll/epoll) when the child exits. Owned by this object.
  int pidfd() const noexcept { return pidfd_.get(); }

  // Our ends of the pipes, non-blocking and close-on-exec; each may be taken once. stdin is
  // empty unless SpawnOptions::pipe_stdin.
  UniqueFd take_stdin() noexcept { return std::move(stdin_); }
  UniqueFd take_stdout() noexcept { return std::move(stdout_); }
  UniqueFd take_stderr() noexcept { return std::move(stderr_); }

  // Sends `sig` to the child's whole process group. No effect once reaped: after that the
  // group id may belong to someone else. Killing the group while the child is an unreaped
  // zombie is safe (the zombie pins the id) and takes down whatever it left behind.
  void signal_group(int sig) noexcept;

  // True if the child has exited (it may not be reaped yet). Never blocks.
  bool exited() const noexcept;

  // Waits for the child to exit (returns at once if it has) and reaps it. Only once.
  ExitStatus wait();

  bool reaped() const noexcept { return reaped_; }

  // Once reaped: why the child could not start the program, e.g. "cannot start program
  // '/no/such': No such file or directory" or "cannot enter directory '/x': ..."; else empty.
  const std::optional<std::string>& start_error() const noexcept { return start_error_; }

 private:
  struct Launch;  // what the child reads until it execs

  Subprocess();

  pid_t pid_ = -1;
  bool reaped_ = false;
  std::unique_ptr<Launch> launch_;  // until reaped
  std::optional<std::string> start_error_;
  UniqueFd pidfd_;
  UniqueFd stdin_;
  UniqueFd stdout_;
  UniqueFd stderr_;
};

}  // namespace wq::run
