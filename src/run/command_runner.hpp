// Runs command tasks (DESIGN §2): spawns programs without a shell, drains their pipes, parses
// progress, enforces timeouts, kills on cancel, and reports one outcome per run.
//
// Threading: one reactor thread (an Asio io_context) owns every child: it spawns them (so the
// PR_SET_PDEATHSIG parent thread lives as long as the runner), reads their pipes, watches
// status files, runs timers and reaps exits via pidfds. start() and cancel() may be called
// from any thread; the callbacks run on the reactor thread and must not block.
#pragma once

#include "wq/config.hpp"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace wq::run {

struct CommandSpec {
  std::string job_id;                    // for log lines only
  std::vector<std::string> argv;         // expanded; argv[0] is the program
  std::vector<std::string> env;          // extra "NAME=value" entries (secrets via env)
  std::optional<std::string> stdin_data; // secrets via stdin; otherwise stdin is /dev/null
  std::filesystem::path cwd;             // the job directory
  std::filesystem::path output;          // {output}: exists, empty, the program overwrites it
  std::filesystem::path status_file;     // {status_file}, watched under the status_file protocol
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
  int returncode = 0;        // exit code; -999 for output problems; -N for signal N
  std::string error;         // the Overview texts: "Exited with code N\nstderr:\n<tail>", ...
  std::uint64_t output_size = 0;  // succeeded with output: its size in bytes
};

class CommandRunner {
 public:
  using ProgressFn = std::function<void(double fraction, std::optional<std::string> message)>;
  using DoneFn = std::function<void(CommandResult)>;

  CommandRunner();
  ~CommandRunner();  // kills every child (SIGKILL to its process group) and reaps it
  CommandRunner(const CommandRunner&) = delete;
  CommandRunner& operator=(const CommandRunner&) = delete;

  // Starts the program; `done` is called exactly once, even when it cannot be started.
  // Returns a run id for cancel().
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

// Parses a status file: an integer percent 0..100, or the progress-line form.
std::optional<ProgressLine> parse_status_file(std::string_view content);

}  // namespace wq::run
