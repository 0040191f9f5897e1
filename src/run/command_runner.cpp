#include "run/command_runner.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "core/log.hpp"
#include "run/subprocess.hpp"

namespace wq::run {
namespace {

namespace asio = boost::asio;
using Descriptor = asio::posix::stream_descriptor;
using ErrorCode = boost::system::error_code;

constexpr std::size_t kReadChunk = 64 * 1024;
constexpr std::size_t kReadsPerTurn = 16;         // then yield, so one flood cannot starve others
constexpr std::size_t kMaxLineBytes = 64 * 1024;  // a longer stdout line keeps only its head
constexpr std::size_t kFinalDrainBytes = 4 << 20;
constexpr std::size_t kLoggedLineBytes = 200;
constexpr std::size_t kStatusFileBytes = 4096;
constexpr int kSpawnerThreads = 4;
constexpr int kCannotStart = 127;
constexpr int kOutputProblem = -999;
constexpr std::string_view kInvalidProgram =
    "invalid program: it should have written to its output file";

enum class Stream { out, err };
enum class KillReason { none, cancelled, timed_out, shutdown };
enum class ReadState { would_block, more, closed };

std::string signal_name(int sig) {
  if (const char* abbrev = sigabbrev_np(sig)) return std::string("SIG") + abbrev;
  return fmt::format("signal {}", sig);
}

std::string format_duration(std::chrono::milliseconds d) {
  const auto ms = d.count();
  if (ms % 1000 == 0) return fmt::format("{}s", ms / 1000);
  if (ms < 1000) return fmt::format("{}ms", ms);
  return fmt::format("{}s", static_cast<double>(ms) / 1000.0);
}

CommandResult failed(int returncode, std::string error) {
  return CommandResult{CommandResult::Kind::failed, returncode, std::move(error), 0};
}

CommandResult output_problem(std::string_view why) {
  return failed(kOutputProblem,
                fmt::format("Exited with code {}\nstderr:\n{}", kOutputProblem, why));
}

// A reading from a read end we own: `fd` is a non-blocking pipe.
ssize_t read_retrying(int fd, char* buffer, std::size_t size) {
  ssize_t n;
  do {
    n = ::read(fd, buffer, size);
  } while (n < 0 && errno == EINTR);
  return n;
}

// The reactor thread takes no asynchronous signals: the application's handlers run elsewhere,
// and a write to a closed stdin pipe yields EPIPE (plus a pending SIGPIPE we discard) rather
// than killing the process.
void block_async_signals() {
  sigset_t set;
  sigfillset(&set);
  for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGABRT}) sigdelset(&set, sig);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

void discard_pending_sigpipe() {
  sigset_t pipe_only;
  sigemptyset(&pipe_only);
  sigaddset(&pipe_only, SIGPIPE);
  const timespec no_wait{0, 0};
  sigtimedwait(&pipe_only, nullptr, &no_wait);
}

struct Run {
  Run(asio::io_context& ioc, std::uint64_t run_id, CommandSpec command,
      CommandRunner::ProgressFn on_progress, CommandRunner::DoneFn on_done)
      : id(run_id),
        spec(std::move(command)),
        progress(std::move(on_progress)),
        done(std::move(on_done)),
        exit_watch(ioc),
        out(ioc),
        err(ioc),
        in(ioc),
        deadline(ioc),
        grace(ioc),
        status_poll(ioc) {}
  // exit_watch borrows the Subprocess's pidfd; it must never close it.
  ~Run() {
    if (exit_watch.is_open()) exit_watch.release();
  }

  const std::uint64_t id;
  CommandSpec spec;
  CommandRunner::ProgressFn progress;
  CommandRunner::DoneFn done;
  std::optional<Subprocess> process;
  Descriptor exit_watch, out, err, in;
  asio::steady_timer deadline, grace, status_poll;
  std::string out_partial;  // stdout since its last newline
  std::string err_tail;     // at most 2 * stderr_tail_bytes; trimmed on use
  std::size_t stdin_written = 0;
  std::optional<ProgressLine> last_status;
  KillReason kill_reason = KillReason::none;
  bool cancel_requested = false;  // cancel() came while it was being spawned
  bool finished = false;
};
using RunPtr = std::shared_ptr<Run>;

struct SpawnRequest {
  RunPtr run;
  SpawnOptions options;
};

bool adopt(Descriptor& d, UniqueFd fd, ErrorCode& ec) {
  d.assign(fd.get(), ec);
  if (ec) return false;
  fd.release();
  return true;
}

bool watch_exit(Descriptor& d, int pidfd, ErrorCode& ec) {
  d.assign(pidfd, ec);
  return !ec;
}

void call_progress(Run& run, double fraction, std::optional<std::string> message) {
  if (!run.progress) return;
  try {
    run.progress(fraction, std::move(message));
  } catch (const std::exception& e) {
    log::error("command runner: progress callback threw",
               {{"job", run.spec.job_id.c_str()}, {"what", e.what()}});
  }
}

void report_stdout_line(Run& run, std::string_view line) {
  if (auto p = parse_progress_line(line))
    return call_progress(run, p->fraction, std::move(p->message));
  if (line.size() > kLoggedLineBytes) line = line.substr(0, kLoggedLineBytes);
  log::warn(fmt::format("invalid program: stdout must look like '0.25\\tmessage'; got '{}'",
                        valid_utf8(line)),
            {{"job", run.spec.job_id.c_str()}});
}

void append_bounded(std::string& to, std::string_view data, std::size_t cap) {
  if (to.size() < cap) to.append(data.substr(0, cap - to.size()));
}

// Only the newest complete line of each chunk counts: a burst of lines costs one callback.
void consume_stdout(Run& run, std::string_view data) {
  if (run.spec.protocol != ProgressProtocol::stdout_lines) return;
  const auto last = data.rfind('\n');
  if (last == std::string_view::npos) return append_bounded(run.out_partial, data, kMaxLineBytes);
  const auto before = last == 0 ? std::string_view::npos : data.rfind('\n', last - 1);
  if (before == std::string_view::npos) {
    append_bounded(run.out_partial, data.substr(0, last), kMaxLineBytes);
    report_stdout_line(run, run.out_partial);
  } else {
    report_stdout_line(run, data.substr(before + 1, std::min(last - before - 1, kMaxLineBytes)));
  }
  run.out_partial.clear();
  append_bounded(run.out_partial, data.substr(last + 1), kMaxLineBytes);
}

void consume_stderr(Run& run, std::string_view data) {
  const std::size_t cap = run.spec.stderr_tail_bytes;
  if (data.size() >= cap) {
    run.err_tail.assign(data.substr(data.size() - cap));
    return;
  }
  run.err_tail.append(data);
  if (run.err_tail.size() > 2 * cap) run.err_tail.erase(0, run.err_tail.size() - cap);
}

std::string stderr_tail(const Run& run) {
  std::string_view tail = run.err_tail;
  if (tail.size() > run.spec.stderr_tail_bytes)
    tail.remove_prefix(tail.size() - run.spec.stderr_tail_bytes);
  // The cut may split a character: drop its continuation bytes rather than print U+FFFD.
  for (int i = 0;
       i < 3 && !tail.empty() && (static_cast<unsigned char>(tail.front()) & 0xC0) == 0x80; ++i) {
    tail.remove_prefix(1);
  }
  return valid_utf8(tail);
}

void poll_status_file(Run& run) {
  UniqueFd fd(::open(run.spec.status_file.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (!fd) return;  // not written yet: not an error
  std::array<char, kStatusFileBytes> buffer;
  std::size_t size = 0;
  while (size < buffer.size()) {
    ssize_t n = read_retrying(fd.get(), buffer.data() + size, buffer.size() - size);
    if (n <= 0) break;
    size += static_cast<std::size_t>(n);
  }
  auto reading = parse_status_file(std::string_view(buffer.data(), size));
  if (!reading) return;  // torn or empty: the next poll will see the whole write
  if (run.last_status && run.last_status->fraction == reading->fraction &&
      run.last_status->message == reading->message) {
    return;
  }
  run.last_status = reading;
  call_progress(run, reading->fraction, reading->message);
}

CommandResult check_output(const Run& run) {
  struct stat st {};
  if (::stat(run.spec.output.c_str(), &st) != 0) {
    if (errno != ENOENT)
      return output_problem(fmt::format("Failed to stat output file: {}", std::strerror(errno)));
    log::warn(kInvalidProgram, {{"job", run.spec.job_id.c_str()}});
    return output_problem(kInvalidProgram);
  }
  if (!S_ISREG(st.st_mode)) return output_problem("the output is not a regular file");
  const auto size = static_cast<std::uint64_t>(st.st_size);
  if (size == 0) {
    log::warn(kInvalidProgram, {{"job", run.spec.job_id.c_str()}});
    return output_problem(kInvalidProgram);
  }
  if (size > run.spec.max_output_bytes) {
    return output_problem(
        fmt::format("the output is {} bytes, over the limit of {} bytes (max_result_size)", size,
                    run.spec.max_output_bytes));
  }
  return CommandResult{CommandResult::Kind::succeeded, 0, {}, size};
}

CommandResult classify(const Run& run, ExitStatus status) {
  const int returncode = status.signal != 0 ? -status.signal : status.code;
  switch (run.kill_reason) {
    case KillReason::cancelled:
      return CommandResult{CommandResult::Kind::cancelled, returncode, "cancelled", 0};
    case KillReason::timed_out:
      return CommandResult{CommandResult::Kind::timed_out, returncode,
                           "timed out after " + format_duration(run.spec.timeout.value_or(
                                                    std::chrono::milliseconds(0))),
                           0};
    case KillReason::shutdown:
      return CommandResult{CommandResult::Kind::cancelled, returncode,
                           "cancelled: the command runner shut down", 0};
    case KillReason::none:
      break;
  }
  if (status.signal != 0) {
    return failed(returncode, fmt::format("Killed by signal {} ({})\nstderr:\n{}", status.signal,
                                          signal_name(status.signal), stderr_tail(run)));
  }
  if (status.code != 0) {
    return failed(returncode,
                  fmt::format("Exited with code {}\nstderr:\n{}", status.code, stderr_tail(run)));
  }
  if (!run.spec.produces_output) return CommandResult{CommandResult::Kind::succeeded, 0, {}, 0};
  return check_output(run);
}

}  // namespace

class CommandRunner::Impl {
 public:
  Impl() : work_(asio::make_work_guard(ioc_)), thread_([this] { run_reactor(); }) {
    for (int i = 0; i < kSpawnerThreads; ++i) spawners_.emplace_back([this] { run_spawner(); });
  }

  // Spawning stops first, so every child spawned is posted to the reactor before shut_down
  // is; the spawner threads exit last, as their exit SIGKILLs their children (PDEATHSIG) and
  // that must not overtake shut_down's own kill.
  ~Impl() {
    {
      std::unique_lock lock(spawn_mutex_);
      spawning_stopped_ = true;
      spawn_idle_.wait(lock, [&] { return spawns_in_flight_ == 0; });
    }
    asio::post(ioc_, [this] { shut_down(); });
    thread_.join();
    {
      std::lock_guard lock(spawn_mutex_);
      spawners_exit_ = true;
    }
    spawn_wanted_.notify_all();
    for (auto& t : spawners_) t.join();
  }

  std::uint64_t start(CommandSpec spec, ProgressFn progress, DoneFn done) {
    const std::uint64_t id = next_id_.fetch_add(1, std::memory_order_relaxed);
    auto run =
        std::make_shared<Run>(ioc_, id, std::move(spec), std::move(progress), std::move(done));
    SpawnOptions options;
    options.argv = std::move(run->spec.argv);
    options.env = std::move(run->spec.env);
    options.cwd = run->spec.cwd;
    options.pipe_stdin = run->spec.stdin_data.has_value();
    {
      std::lock_guard lock(mutex_);
      runs_.emplace(id, run);
    }
    {
      std::lock_guard lock(spawn_mutex_);
      spawn_queue_.push_back(SpawnRequest{std::move(run), std::move(options)});
    }
    spawn_wanted_.notify_one();
    return id;
  }

  void cancel(std::uint64_t id) {
    RunPtr run;
    {
      std::lock_guard lock(mutex_);
      auto it = runs_.find(id);
      if (it == runs_.end()) return;
      run = it->second;
    }
    asio::post(ioc_, [this, run] {
      if (run->finished) return;
      if (!run->process) {
        run->cancel_requested = true;
      } else {
        begin_kill(run, KillReason::cancelled);
      }
    });
  }

 private:
  void run_reactor() {
    block_async_signals();
    for (;;) {
      try {
        ioc_.run();
        return;
      } catch (const std::exception& e) {
        log::error("command runner: unexpected exception on the reactor thread",
                   {{"what", e.what()}});
      }
    }
  }

  // A spawn blocks its thread until the child has exec'd, which takes a scheduler slice or
  // more on a busy machine; several spawner threads keep that latency off the reactor and let
  // spawns overlap. They live as long as the runner, as PR_SET_PDEATHSIG requires.
  void run_spawner() {
    block_async_signals();
    for (;;) {
      SpawnRequest request;
      {
        std::unique_lock lock(spawn_mutex_);
        spawn_wanted_.wait(
            lock, [&] { return spawners_exit_ || (!spawning_stopped_ && !spawn_queue_.empty()); });
        if (spawners_exit_) return;
        request = std::move(spawn_queue_.front());
        spawn_queue_.pop_front();
        ++spawns_in_flight_;
      }
      Result<Subprocess> spawned = spawn(request.options);
      asio::post(ioc_,
                 [this, run = std::move(request.run), spawned = std::move(spawned)]() mutable {
                   on_spawned(run, std::move(spawned));
                 });
      std::lock_guard lock(spawn_mutex_);
      if (--spawns_in_flight_ == 0 && spawning_stopped_) spawn_idle_.notify_all();
    }
  }

  static Result<Subprocess> spawn(const SpawnOptions& options) {
    try {
      return Subprocess::spawn(options);
    } catch (const std::exception& e) {
      return make_error(Errc::bad_input, fmt::format("cannot start program '{}': {}",
                                                     options.argv.front(), e.what()));
    }
  }

  void on_spawned(const RunPtr& run, Result<Subprocess> spawned) {
    if (run->finished) return;  // a Subprocess dropped here is killed and reaped
    if (!spawned) return finish(run, failed(kCannotStart, spawned.error().detail));
    Subprocess& process = run->process.emplace(std::move(*spawned));
    const bool pipe_stdin = run->spec.stdin_data.has_value();
    ErrorCode ec;
    const bool watched = adopt(run->out, process.take_stdout(), ec) &&
                         adopt(run->err, process.take_stderr(), ec) &&
                         (!pipe_stdin || adopt(run->in, process.take_stdin(), ec)) &&
                         watch_exit(run->exit_watch, process.pidfd(), ec);
    if (!watched) {
      process.signal_group(SIGKILL);
      process.wait();
      return finish(
          run, failed(kCannotStart, fmt::format("cannot watch the program: {}", ec.message())));
    }
    wait_readable(run, Stream::out);
    wait_readable(run, Stream::err);
    if (pipe_stdin) write_stdin(run);
    if (run->spec.timeout) {
      run->deadline.expires_after(*run->spec.timeout);
      run->deadline.async_wait([this, run](const ErrorCode& e) {
        if (!e) begin_kill(run, KillReason::timed_out);
      });
    }
    if (run->spec.protocol == ProgressProtocol::status_file) schedule_status_poll(run);
    run->exit_watch.async_wait(Descriptor::wait_read, [this, run](const ErrorCode& e) {
      if (!e && !run->finished) on_exit(run);
    });
    if (run->cancel_requested) begin_kill(run, KillReason::cancelled);
  }

  Descriptor& pipe_of(Run& run, Stream which) { return which == Stream::out ? run.out : run.err; }

  void wait_readable(const RunPtr& run, Stream which) {
    pipe_of(*run, which).async_wait(Descriptor::wait_read, [this, run, which](const ErrorCode& e) {
      if (!e && !run->finished) pump(run, which);
    });
  }

  // Edge-triggered readiness: read until EAGAIN before waiting again, or the wake-up is lost.
  void pump(const RunPtr& run, Stream which) {
    switch (read_some(*run, which, kReadsPerTurn)) {
      case ReadState::would_block:
        return wait_readable(run, which);
      case ReadState::more:
        return asio::post(ioc_, [this, run, which] {
          if (!run->finished) pump(run, which);
        });
      case ReadState::closed:
        return;
    }
  }

  ReadState read_some(Run& run, Stream which, std::size_t max_reads) {
    Descriptor& d = pipe_of(run, which);
    for (std::size_t i = 0; i < max_reads; ++i) {
      ssize_t n = read_retrying(d.native_handle(), buffer_.data(), buffer_.size());
      if (n > 0) {
        std::string_view data(buffer_.data(), static_cast<std::size_t>(n));
        which == Stream::out ? consume_stdout(run, data) : consume_stderr(run, data);
        continue;
      }
      if (n < 0 && errno == EAGAIN) return ReadState::would_block;
      if (n < 0)
        log::warn("command runner: reading the program's output failed",
                  {{"job", run.spec.job_id.c_str()}, {"error", std::strerror(errno)}});
      ErrorCode ignored;  // closing a pipe we own cannot fail in a way we could act on
      d.close(ignored);
      return ReadState::closed;
    }
    return ReadState::more;
  }

  void write_stdin(const RunPtr& run) {
    const std::string& data = *run->spec.stdin_data;
    while (run->stdin_written < data.size()) {
      ssize_t n = ::write(run->in.native_handle(), data.data() + run->stdin_written,
                          data.size() - run->stdin_written);
      if (n > 0) {
        run->stdin_written += static_cast<std::size_t>(n);
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else if (n < 0 && errno == EAGAIN) {
        return run->in.async_wait(Descriptor::wait_write, [this, run](const ErrorCode& e) {
          if (!e && !run->finished) write_stdin(run);
        });
      } else {
        if (errno == EPIPE) discard_pending_sigpipe();
        break;  // the program closed its stdin early; its exit tells the rest
      }
    }
    ErrorCode ignored;
    run->in.close(ignored);
  }

  void schedule_status_poll(const RunPtr& run) {
    run->status_poll.expires_after(kStatusPollInterval);
    run->status_poll.async_wait([this, run](const ErrorCode& e) {
      if (e || run->finished) return;
      poll_status_file(*run);
      schedule_status_poll(run);
    });
  }

  void begin_kill(const RunPtr& run, KillReason reason) {
    if (run->finished || !run->process || run->kill_reason != KillReason::none) return;
    if (run->process->exited()) return;  // too late: its exit is about to be reported
    run->kill_reason = reason;
    run->process->signal_group(SIGTERM);
    run->grace.expires_after(run->spec.kill_grace);
    run->grace.async_wait([run](const ErrorCode& e) {
      if (!e && !run->finished) run->process->signal_group(SIGKILL);
    });
  }

  void on_exit(const RunPtr& run) {
    Subprocess& process = *run->process;
    process.signal_group(SIGKILL);  // leftovers in its group, while the zombie pins the id
    run->exit_watch.release();
    const ExitStatus status = process.wait();
    // Everything the program wrote is in the pipes now. The group is dead, but a process that
    // left it could keep writing, so the drain is bounded.
    for (Stream which : {Stream::out, Stream::err}) {
      if (pipe_of(*run, which).is_open()) read_some(*run, which, kFinalDrainBytes / kReadChunk);
    }
    if (run->spec.protocol == ProgressProtocol::status_file) poll_status_file(*run);
    finish(run, classify(*run, status));
  }

  void finish(const RunPtr& run, CommandResult result) {
    run->finished = true;
    run->deadline.cancel();
    run->grace.cancel();
    run->status_poll.cancel();
    ErrorCode ignored;
    run->out.close(ignored);
    run->err.close(ignored);
    run->in.close(ignored);
    if (run->exit_watch.is_open()) run->exit_watch.release();
    run->process.reset();
    if (run->spec.stdin_data) {
      std::fill(run->spec.stdin_data->begin(), run->spec.stdin_data->end(), '\0');
      run->spec.stdin_data.reset();
    }
    {
      std::lock_guard lock(mutex_);
      runs_.erase(run->id);
    }
    auto done = std::move(run->done);
    run->progress = nullptr;
    try {
      done(std::move(result));
    } catch (const std::exception& e) {
      log::error("command runner: done callback threw",
                 {{"job", run->spec.job_id.c_str()}, {"what", e.what()}});
    }
  }

  void shut_down() {
    std::vector<RunPtr> runs;
    {
      std::lock_guard lock(mutex_);
      for (auto& [id, run] : runs_) runs.push_back(run);
    }
    for (auto& run : runs) {
      if (run->finished) continue;
      if (run->process) {
        run->kill_reason = KillReason::shutdown;
        on_exit(run);  // SIGKILLs the group first, so its wait is short
      } else {
        finish(run, CommandResult{CommandResult::Kind::cancelled, 0,
                                  "cancelled: the command runner shut down", 0});
      }
    }
    work_.reset();
    ioc_.stop();
  }

  asio::io_context ioc_{1};
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::atomic<std::uint64_t> next_id_{1};
  std::mutex mutex_;
  std::unordered_map<std::uint64_t, RunPtr> runs_;  // guarded by mutex_; the runs not finished
  std::array<char, kReadChunk> buffer_;             // reactor thread only
  std::mutex spawn_mutex_;
  std::condition_variable spawn_wanted_;
  std::condition_variable spawn_idle_;
  std::deque<SpawnRequest> spawn_queue_;  // guarded by spawn_mutex_
  int spawns_in_flight_ = 0;              // guarded by spawn_mutex_
  bool spawning_stopped_ = false;         // guarded by spawn_mutex_
  bool spawners_exit_ = false;            // guarded by spawn_mutex_
  std::vector<std::thread> spawners_;
  std::thread thread_;  // last: starts once the rest exists
};

CommandRunner::CommandRunner() : impl_(std::make_unique<Impl>()) {}
CommandRunner::~CommandRunner() = default;

std::uint64_t CommandRunner::start(CommandSpec spec, ProgressFn progress, DoneFn done) {
  return impl_->start(std::move(spec), std::move(progress), std::move(done));
}

void CommandRunner::cancel(std::uint64_t run_id) { impl_->cancel(run_id); }

}  // namespace wq::run
