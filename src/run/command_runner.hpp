// Runs command tasks (DESIGN §2): spawns programs without a shell, drains their pipes, parses
// progress, enforces timeouts, kills on cancel, and reports one outcome per run.
//
// Threading: each run has a thread of its own while it lasts, as a posix_spawn + waitpid loop
// would: it spawns the child (clone + exec; the runner's threads live as long as the runner,
// so PR_SET_PDEATHSIG ties each child to it), drains its pipes, watches its status file, runs
// its timers, kills and reaps it, all from one poll(2) on the pipes, the pidfd and an eventfd
// for cancel(). Threads are made as concurrency needs them and kept for the next runs; a run
// started while a thread is in a done callback is left for that thread, so a job's end
// starting the next wakes no other thread. start() and cancel() may be called from any
// thread. A run's callbacks run on its thread: `progress` should return quickly (the pipes
// wait meanwhile); `done` may block briefly, e.g. to record the outcome (a run started
// meanwhile may wait for it), but must not wait for another run. The runner's threads block
// the asynchronous signals, so the application's handlers run on its other threads; all but
// SIGCHLD, which their own children's exits send them and which, left at its default, the
// kernel then drops at once.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "wq/config.hpp"

namespace wq::run {

struct CommandSpec {
  std::string job_id;                     // for log lines only
  std::vector<std::string> argv;          // expanded; argv[0] is the program
  std::vector<std::string> env;           // extra "NAME=value" entries (secrets via env)
  std::optional<std::string> stdin_data;  // secrets via stdin; otherwise stdin is /dev/null
  std::string cwd;                        // the job directory
  std::string output;                     // {output}: exists, empty, the program overwrites it
  std::string status_file;                // {status_file}, watched under the status_file protocol
  ProgressProtocol protocol = ProgressProtocol::stdout_lines;
  std::optional<std::chrono::milliseconds> timeout;
  std::chrono::milliseconds kill_grace{5000};
  std::size_t stderr_tail_bytes = 64 * 1024;
  bool produces_output = true;
  std::uint64_t max_output_bytes = std::uint64_t{1} << 30;
};

struct CommandResult {
  enum class Kind { succeeded, failed, cancelled, timed_out };
  Kind kind = Kind::failed;
  int returncode = 0;             // exit code; -999 for output problems; -N for signal N
  std::string error;              // the Overview texts: "Exited with code N\nstderr:\n<tail>", ...
  std::uint64_t output_size = 0;  // succeeded with output: its size in bytes
};

class CommandRunner {
 public:
  using ProgressFn = std::function<void(double fraction, std::optional<std::string> message)>;
  using DoneFn = std::function<void(CommandResult)>;

  CommandRunner();
  // Kills every child (SIGKILL to its process group), reaps it and calls its `done` with
  // cancelled ("cancelled: the command runner shut down"), on the run's thread, before
  // returning. Must not be called from a callback, nor concurrently with start().
  ~CommandRunner();
  CommandRunner(const CommandRunner&) = delete;
  CommandRunner& operator=(const CommandRunner&) = delete;

  // Starts the program; `done` is called exactly once, even when it cannot be started
  // (failed, returncode 127, error "cannot start program 'P': REASON" or "cannot enter
  // directory 'D': REASON"). Returns a run id for cancel(). When the program exits, whatever
  // is left in its process group is killed. `progress` is called with each new value: the
  // newest complete stdout line of each read (stdout_lines), or each changed status-file
  // reading (status_file: read every kStatusPollInterval and once more at exit); invalid
  // lines are logged as warnings and ignored. Outcomes and their errors:
  //   exit 0 (with a non-empty output unless !produces_output)  succeeded, returncode 0
  //   exit N != 0        failed, N,   "Exited with code N\nstderr:\n<tail>"
  //   signal S           failed, -S,  "Killed by signal S (SIGNAME)\nstderr:\n<tail>"
  //   output missing/empty, unreadable, or over max_output_bytes
  //                      failed, -999, "Exited with code -999\nstderr:\n<why>"
  //   timeout            timed_out, the exit's code, "timed out after 2s"
  //   cancel()           cancelled, the exit's code, "cancelled"
  // The stderr tail is the last stderr_tail_bytes, made valid UTF-8.
  std::uint64_t start(CommandSpec spec, ProgressFn progress, DoneFn done);

  // SIGTERM to the run's process group, SIGKILL after its kill_grace; its outcome becomes
  // cancelled. No effect on a run that already ended.
  void cancel(std::uint64_t run_id);

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

// Parses one progress line "F" or "F\tMESSAGE" with F a decimal in [0,1]; nullopt if invalid.
struct ProgressLine {
  double fraction;
  std::optional<std::string> message;
};
std::optional<ProgressLine> parse_progress_line(std::string_view line);

// Parses a status file: an integer percent 0..100 (so "1" is 1%), or the progress-line form.
// Only the last non-empty line counts; surrounding whitespace is ignored.
std::optional<ProgressLine> parse_status_file(std::string_view content);

// `text` with every invalid UTF-8 sequence replaced by U+FFFD: messages and stderr tails end
// up in JSON.
std::string valid_utf8(std::string_view text);

inline constexpr std::chrono::milliseconds kStatusPollInterval{100};

}  // namespace wq::run
