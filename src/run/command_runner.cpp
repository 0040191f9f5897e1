#include "run/command_runner.hpp"

#include "run/batch_policy.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <limits>
#include <mutex>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <unordered_map>

#include "core/log.hpp"
#include "run/subprocess.hpp"

namespace wq::run {
namespace {

using SteadyClock = std::chrono::steady_clock;

constexpr std::size_t kReadChunk = 64 * 1024;
constexpr std::size_t kReadsPerTurn = 16;         // then look at the exit and the timers again
constexpr std::size_t kMaxLineBytes = 64 * 1024;  // a longer stdout line keeps only its head
constexpr std::size_t kFinalDrainBytes = 4 << 20;
constexpr std::size_t kLoggedLineBytes = 200;
constexpr std::size_t kStatusFileBytes = 4096;
constexpr int kExitLooks = 32;  // the exit usually shows at the first or second look
constexpr int kCannotStart = 127;
constexpr int kOutputProblem = -999;
constexpr std::string_view kInvalidProgram =
    "invalid program: it should have written to its output file";

enum class KillReason { none, cancelled, timed_out, shutdown };

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

// The runner's threads take no asynchronous signals but SIGCHLD: the application's handlers
// run elsewhere, and a write to a closed stdin pipe yields EPIPE (plus a pending SIGPIPE we
// discard) rather than killing the process. SIGCHLD, which a child's exit sends to the thread
// that spawned it, stays unblocked: under the default disposition the kernel then drops it at
// once, where blocked it was queued for another thread, woken only to discard it (a run
// alone: 0.9 context switches and ~12 us of CPU). An application that handles SIGCHLD may
// now see its handler run here too.
void block_async_signals() {
  sigset_t set;
  sigfillset(&set);
  for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGABRT, SIGCHLD}) {
    sigdelset(&set, sig);
  }
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

void discard_pending_sigpipe() {
  sigset_t pipe_only;
  sigemptyset(&pipe_only);
  sigaddset(&pipe_only, SIGPIPE);
  const timespec no_wait{0, 0};
  sigtimedwait(&pipe_only, nullptr, &no_wait);
}

// One run of a program. Its thread owns everything but `cancel_requested` and `wake_fd`.
struct Run {
  Run(std::uint64_t run_id, CommandSpec command, CommandRunner::ProgressFn on_progress,
      CommandRunner::DoneFn on_done)
      : id(run_id),
        spec(std::move(command)),
        progress(std::move(on_progress)),
        done(std::move(on_done)) {}

  const std::uint64_t id;
  CommandSpec spec;
  CommandRunner::ProgressFn progress;
  CommandRunner::DoneFn done;
  std::optional<Subprocess> process;
  UniqueFd out, err, in;    // our non-blocking ends; reset once closed
  std::string out_partial;  // stdout since its last newline
  std::string err_tail;     // at most 2 * stderr_tail_bytes; trimmed on use
  std::size_t stdin_written = 0;
  std::optional<ProgressLine> last_status;
  KillReason kill_reason = KillReason::none;
  std::optional<SteadyClock::time_point> deadline, grace_end, next_status_poll;
  bool finished = false;
  // Guarded by the runner's mutex: a cancel() to act on, and the eventfd that wakes the
  // thread running it (-1 until a thread takes it and after it finished).
  bool cancel_requested = false;
  int wake_fd = -1;
};
using RunPtr = std::shared_ptr<Run>;

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
  // One thread from the start, so a run always has a thread that will take it.
  Impl() {
    std::lock_guard lock(mutex_);
    if (auto made = add_worker(); !made) {
      throw std::runtime_error("command runner: " + made.error().detail);
    }
  }

  // No start() may come in from outside meanwhile (the contract); one from a done callback
  // is taken by its own thread, which finds the runner stopping and cancels it.
  ~Impl() {
    std::vector<Worker*> workers;
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
      for (auto& w : workers_) {
        workers.push_back(w.get());
        if (w->current) wake(*w);
      }
    }
    work_.notify_all();
    for (Worker* w : workers) w->thread.join();
  }

  std::uint64_t start(CommandSpec spec, ProgressFn progress, DoneFn done) {
    const std::uint64_t id = next_id_.fetch_add(1, std::memory_order_relaxed);
    auto run = std::make_shared<Run>(id, std::move(spec), std::move(progress), std::move(done));
    bool notify = false;
    {
      std::lock_guard lock(mutex_);
      runs_.emplace(id, run);
      pending_.push_back(run);
      if (in_done_ > promised_) {
        ++promised_;  // a thread in a done callback takes it when that returns
      } else if (idle_ > wakes_) {
        ++wakes_;
        notify = true;
      } else if (!stopping_) {
        if (auto made = add_worker(); !made) {
          log::warn("command runner: no thread for a new run; it waits for a busy one",
                    {{"job", run->spec.job_id.c_str()}, {"error", made.error().detail}});
        }
      }
    }
    if (notify) work_.notify_one();
    return id;
  }

  void cancel(std::uint64_t id) {
    std::lock_guard lock(mutex_);
    auto it = runs_.find(id);
    if (it == runs_.end()) return;
    it->second->cancel_requested = true;
    if (it->second->wake_fd >= 0) signal_eventfd(it->second->wake_fd);
  }

 private:
  // A thread that runs one program at a time: spawns it (so PR_SET_PDEATHSIG ties the child to
  // a thread that lives as long as the runner), then waits in poll(2) on its pipes, its pidfd
  // and an eventfd for cancel and shutdown, with the nearest timer as the timeout.
  struct Worker {
    UniqueFd wake;  // eventfd: cancel() or shutdown wants a look
    std::thread thread;
    RunPtr current;  // guarded by mutex_
    std::array<char, kReadChunk> buffer;
  };

  static void signal_eventfd(int fd) {
    const std::uint64_t one = 1;
    ssize_t n;
    do {
      n = ::write(fd, &one, sizeof one);
    } while (n < 0 && errno == EINTR);
    // EAGAIN: the counter is saturated, so a wake-up is pending anyway.
  }
  static void wake(Worker& w) { signal_eventfd(w.wake.get()); }

  // REQUIRES: mutex_ held, !stopping_.
  Result<void> add_worker() {
    UniqueFd fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!fd) return make_error(Errc::bad_input, fmt::format("eventfd: {}", std::strerror(errno)));
    auto w = std::make_unique<Worker>();
    w->wake = std::move(fd);
    Worker* raw = w.get();
    try {
      raw->thread = std::thread([this, raw] { work(*raw); });
    } catch (const std::system_error& e) {
      return make_error(Errc::bad_input, fmt::format("cannot create a thread: {}", e.what()));
    }
    workers_.push_back(std::move(w));
    return {};
  }

  void work(Worker& w) {
    pthread_setname_np(pthread_self(), "wq-run");
    // Under SCHED_BATCH, and so are the programs it starts (run/batch_policy.hpp). W3, four
    // interleaved pairs: 0.741-0.763 -> 0.779-0.878, parent CPU 171-182 -> 154-175 us a job;
    // with the programs set back to the normal policy, 0.69-0.78 against 0.71-0.78, no gain.
    run_as_batch();
    block_async_signals();
    worker_of = this;
    for (;;) {
      RunPtr run;
      bool shut = false;
      {
        std::unique_lock lock(mutex_);
        // Another thread may have taken the run this one was to pick up: then wait as usual.
        if (!std::exchange(takes_next, false) || pending_.empty()) {
          ++idle_;
          work_.wait(lock, [&] { return stopping_ || !pending_.empty(); });
          --idle_;
          if (wakes_ > 0) --wakes_;
        }
        if (pending_.empty()) return;  // stopping, and nothing left to cancel
        run = std::move(pending_.front());
        pending_.pop_front();
        w.current = run;
        run->wake_fd = w.wake.get();
        shut = stopping_;
      }
      try {
        if (shut) {
          finish(*run, CommandResult{CommandResult::Kind::cancelled, 0,
                                     "cancelled: the command runner shut down", 0});
        } else {
          execute(*run, w);
        }
      } catch (const std::exception& e) {
        log::error("command runner: unexpected exception on a run's thread",
                   {{"job", run->spec.job_id.c_str()}, {"what", e.what()}});
        if (!run->finished) {
          finish(*run, failed(kCannotStart, fmt::format("command runner error: {}", e.what())));
        }
      }
      std::lock_guard lock(mutex_);
      w.current.reset();
    }
  }

  static Result<Subprocess> spawn(SpawnOptions options) {
    const std::string program = options.argv.empty() ? std::string() : options.argv.front();
    try {
      return Subprocess::spawn(std::move(options));
    } catch (const std::exception& e) {
      return make_error(Errc::bad_input,
                        fmt::format("cannot start program '{}': {}", program, e.what()));
    }
  }

  void execute(Run& run, Worker& w) {
    SpawnOptions options;
    options.argv = std::move(run.spec.argv);
    options.env = std::move(run.spec.env);
    options.cwd = std::move(run.spec.cwd);
    options.pipe_stdin = run.spec.stdin_data.has_value();
    Result<Subprocess> spawned = spawn(std::move(options));
    if (!spawned) return finish(run, failed(kCannotStart, spawned.error().detail));
    Subprocess& process = run.process.emplace(std::move(*spawned));
    run.out = process.take_stdout();
    run.err = process.take_stderr();
    run.in = process.take_stdin();
    const auto now = SteadyClock::now();
    if (run.spec.timeout) run.deadline = now + *run.spec.timeout;
    if (run.spec.protocol == ProgressProtocol::status_file) {
      run.next_status_poll = now + kStatusPollInterval;
    }
    if (run.in) write_stdin(run);
    // A cancel() may have come before this thread took the run: look once without a wake-up.
    bool requests = true, woken = false;
    for (;;) {
      if (requests && take_requests(run, w, woken)) return;
      std::array<pollfd, 5> fds{};
      std::size_t n = 0;
      fds[n++] = pollfd{w.wake.get(), POLLIN, 0};
      fds[n++] = pollfd{process.pidfd(), POLLIN, 0};
      const std::size_t first_pipe = n;
      if (run.out) fds[n++] = pollfd{run.out.get(), POLLIN, 0};
      if (run.err) fds[n++] = pollfd{run.err.get(), POLLIN, 0};
      if (run.in) fds[n++] = pollfd{run.in.get(), POLLOUT, 0};
      const bool had_outputs = run.out || run.err;
      if (::poll(fds.data(), n, poll_timeout_ms(run)) < 0 && errno != EINTR) {
        throw std::system_error(errno, std::generic_category(), "poll");
      }
      for (std::size_t i = first_pipe; i < n; ++i) {
        if (fds[i].revents == 0) continue;
        if (fds[i].fd == run.in.get()) {
          write_stdin(run);
        } else {
          UniqueFd& fd = fds[i].fd == run.out.get() ? run.out : run.err;
          // Hung up with nothing to read: the end of it, without a read to say so.
          if (fds[i].revents == POLLHUP) {
            fd.reset();
          } else {
            read_some(run, fd, kReadsPerTurn, w.buffer);
          }
        }
      }
      fire_timers(run);
      if (fds[1].revents != 0) return on_exit(run, w);
      if (had_outputs && !run.out && !run.err && exits_soon(process)) return on_exit(run, w);
      requests = woken = fds[0].revents != 0;
    }
  }

  // Acts on cancel() and shutdown; true if the run is over (shut down). `woken`: the eventfd
  // is readable, and is reset here.
  bool take_requests(Run& run, Worker& w, bool woken) {
    std::uint64_t counter;
    if (woken) (void)::read(w.wake.get(), &counter, sizeof counter);
    bool cancel, shut;
    {
      std::lock_guard lock(mutex_);
      cancel = std::exchange(run.cancel_requested, false);
      shut = stopping_;
    }
    if (shut) {
      run.kill_reason = KillReason::shutdown;
      on_exit(run, w);  // SIGKILLs the group first, so its wait is short
      return true;
    }
    if (cancel) begin_kill(run, KillReason::cancelled);
    return false;
  }

  // Whether a program that just closed its last output pipe has exited, looking a few times.
  // That is how a program usually ends: the kernel closes a dying process's files a few
  // microseconds before its exit shows on the pidfd, so poll(2) woke for the hang-up and
  // would sleep again for the exit. Yielding lets the dying process finish if it shares our
  // CPU; a look costs less than the second sleep and wake-up (W3: ~2.1 -> ~1.0 poll(2)
  // sleeps a job). A program that closed its outputs and goes on is polled as before.
  static bool exits_soon(const Subprocess& process) {
    for (int look = 0; look < kExitLooks; ++look) {
      if (process.exited()) return true;
      sched_yield();
    }
    return false;
  }

  static int poll_timeout_ms(const Run& run) {
    std::optional<SteadyClock::time_point> next;
    for (const auto& t : {run.deadline, run.grace_end, run.next_status_poll}) {
      if (t && (!next || *t < *next)) next = t;
    }
    if (!next) return -1;
    const auto left = *next - SteadyClock::now();
    if (left <= SteadyClock::duration::zero()) return 0;
    // Rounded up: waking before the timer is due would only poll again.
    const auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
    return static_cast<int>(std::min<std::int64_t>(ms, std::numeric_limits<int>::max()));
  }

  void fire_timers(Run& run) {
    const auto now = SteadyClock::now();
    if (run.deadline && *run.deadline <= now) {
      run.deadline.reset();
      begin_kill(run, KillReason::timed_out);
    }
    if (run.grace_end && *run.grace_end <= now) {
      run.grace_end.reset();
      run.process->signal_group(SIGKILL);
    }
    if (run.next_status_poll && *run.next_status_poll <= now) {
      poll_status_file(run);
      run.next_status_poll = now + kStatusPollInterval;
    }
  }

  // Reads until EAGAIN, EOF (closes `fd`) or `max_reads` chunks.
  static void read_some(Run& run, UniqueFd& fd, std::size_t max_reads,
                        std::array<char, kReadChunk>& buffer) {
    const bool is_out = &fd == &run.out;
    for (std::size_t i = 0; i < max_reads; ++i) {
      ssize_t n = read_retrying(fd.get(), buffer.data(), buffer.size());
      if (n > 0) {
        std::string_view data(buffer.data(), static_cast<std::size_t>(n));
        is_out ? consume_stdout(run, data) : consume_stderr(run, data);
        continue;
      }
      if (n < 0 && errno == EAGAIN) return;
      if (n < 0)
        log::warn("command runner: reading the program's output failed",
                  {{"job", run.spec.job_id.c_str()}, {"error", std::strerror(errno)}});
      fd.reset();
      return;
    }
  }

  static void write_stdin(Run& run) {
    const std::string& data = *run.spec.stdin_data;
    while (run.stdin_written < data.size()) {
      ssize_t n = ::write(run.in.get(), data.data() + run.stdin_written,
                          data.size() - run.stdin_written);
      if (n > 0) {
        run.stdin_written += static_cast<std::size_t>(n);
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else if (n < 0 && errno == EAGAIN) {
        return;  // poll says when there is room again
      } else {
        if (errno == EPIPE) discard_pending_sigpipe();
        break;  // the program closed its stdin early; its exit tells the rest
      }
    }
    run.in.reset();
  }

  static void begin_kill(Run& run, KillReason reason) {
    if (run.kill_reason != KillReason::none) return;
    if (run.process->exited()) return;  // too late: its exit is about to be reported
    run.kill_reason = reason;
    run.process->signal_group(SIGTERM);
    run.grace_end = SteadyClock::now() + run.spec.kill_grace;
  }

  void on_exit(Run& run, Worker& w) {
    Subprocess& process = *run.process;
    process.signal_group(SIGKILL);  // leftovers in its group, while the zombie pins the id
    const ExitStatus status = process.wait();
    if (process.start_error()) return finish(run, failed(kCannotStart, *process.start_error()));
    // Everything the program wrote is in the pipes now. The group is dead, but a process that
    // left it could keep writing, so the drain is bounded.
    for (UniqueFd* fd : {&run.out, &run.err}) {
      if (*fd) read_some(run, *fd, kFinalDrainBytes / kReadChunk, w.buffer);
    }
    if (run.spec.protocol == ProgressProtocol::status_file) poll_status_file(run);
    finish(run, classify(run, status));
  }

  void finish(Run& run, CommandResult result) {
    run.finished = true;
    run.out.reset();
    run.err.reset();
    run.in.reset();
    run.process.reset();
    if (run.spec.stdin_data) {
      std::fill(run.spec.stdin_data->begin(), run.spec.stdin_data->end(), '\0');
      run.spec.stdin_data.reset();
    }
    const bool on_worker = worker_of == this;
    {
      std::lock_guard lock(mutex_);
      runs_.erase(run.id);
      run.wake_fd = -1;
      if (on_worker) ++in_done_;
    }
    auto done = std::move(run.done);
    run.progress = nullptr;
    try {
      done(std::move(result));
    } catch (const std::exception& e) {
      log::error("command runner: done callback threw",
                 {{"job", run.spec.job_id.c_str()}, {"what", e.what()}});
    }
    if (on_worker) {
      std::lock_guard lock(mutex_);
      if (promised_ > --in_done_) {
        --promised_;
        takes_next = true;
      }
    }
  }

  // A run started while one of our threads is in a done callback is taken by that thread when
  // the callback returns: no other thread needs waking. That is the common case: a job's end
  // lets the queue start the next, from the callback or from the store's writer meanwhile.
  static thread_local const Impl* worker_of;
  static thread_local bool takes_next;

  std::atomic<std::uint64_t> next_id_{1};
  std::mutex mutex_;
  std::condition_variable work_;
  std::unordered_map<std::uint64_t, RunPtr> runs_;  // guarded by mutex_; the runs not finished
  std::deque<RunPtr> pending_;                      // guarded by mutex_; not taken by a thread
  std::vector<std::unique_ptr<Worker>> workers_;    // guarded by mutex_; never shrinks
  int idle_ = 0;                                    // guarded by mutex_; workers waiting
  int wakes_ = 0;                                   // guarded by mutex_; notified, not yet up
  int in_done_ = 0;   // guarded by mutex_; threads in a done callback
  int promised_ = 0;  // guarded by mutex_; pending runs those threads take next (<= in_done_)
  bool stopping_ = false;                           // guarded by mutex_
};

thread_local const CommandRunner::Impl* CommandRunner::Impl::worker_of = nullptr;
thread_local bool CommandRunner::Impl::takes_next = false;

CommandRunner::CommandRunner() : impl_(std::make_unique<Impl>()) {}
CommandRunner::~CommandRunner() = default;

std::uint64_t CommandRunner::start(CommandSpec spec, ProgressFn progress, DoneFn done) {
  return impl_->start(std::move(spec), std::move(progress), std::move(done));
}

void CommandRunner::cancel(std::uint64_t run_id) { impl_->cancel(run_id); }

}  // namespace wq::run
