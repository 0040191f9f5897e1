#include "core/log.hpp"

#include "core/json_text.hpp"

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>

namespace wq::log {
namespace {

constexpr std::string_view kLevelNames[] = {"debug", "info", "warn", "error"};

Level level_from_env() {
  const char* env = std::getenv("WQ_LOG_LEVEL");
  if (env == nullptr) return Level::info;
  for (int i = 0; i < 4; ++i) {
    if (kLevelNames[i] == env) return static_cast<Level>(i);
  }
  return Level::info;
}

std::atomic<Level> g_level{level_from_env()};
std::mutex g_sink_mutex;
Sink g_sink;  // guarded by g_sink_mutex

// All of `text` to stderr, in as many write(2)s as it takes. A failed write drops the rest:
// there is nowhere left to report it.
void write_stderr(std::string_view text) {
  while (!text.empty()) {
    const ssize_t n = ::write(STDERR_FILENO, text.data(), text.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    text.remove_prefix(static_cast<std::size_t>(n));
  }
}

// The lines of info_batched(), gathered and written to stderr together: by the next line of
// any other kind (first, so that lines stay in order), once kMaxBytes gather, by a flusher
// thread kDelay after the first of them, or at exit. One write(2) a line to a log file was
// ~30% of the server's CPU in HTTP-GET (15.2-16.9 against 10.3-12.1 us a request with request
// lines off) and 4-8 us of 67-78 a job in HTTP-W1.
// Threading: every method under mu_, which also orders the writes; the flusher thread runs
// for the rest of the process (the object is never destroyed: a thread may log during exit).
class Batch {
 public:
  static Batch& get() {
    static Batch* const batch = new Batch;
    return *batch;
  }

  void add(std::string_view line) {
    std::unique_lock lock(mu_);
    if (exited_) {
      write_stderr(line);
      return;
    }
    const bool first = pending_.empty();
    pending_ += line;
    if (pending_.size() >= kMaxBytes) {
      write_pending_locked();
      return;
    }
    if (!first) return;
    if (!flusher_started_) {
      flusher_started_ = true;
      std::thread([this] { flush_loop(); }).detach();
      std::atexit([] { Batch::get().exit(); });
    }
    lock.unlock();
    cv_.notify_one();
  }

  // Writes what is gathered, then `line` (may be empty).
  void write_through(std::string_view line) {
    std::lock_guard lock(mu_);
    write_pending_locked();
    write_stderr(line);
  }

 private:
  static constexpr std::size_t kMaxBytes = 32 * 1024;
  static constexpr auto kDelay = std::chrono::milliseconds(50);

  void flush_loop() {
    pthread_setname_np(pthread_self(), "wq-log");
    std::unique_lock lock(mu_);
    for (;;) {
      cv_.wait(lock, [&] { return !pending_.empty(); });
      // Written by another line meanwhile: nothing left to wait for.
      cv_.wait_for(lock, kDelay, [&] { return pending_.empty(); });
      write_pending_locked();
    }
  }

  void exit() {
    std::lock_guard lock(mu_);
    write_pending_locked();
    exited_ = true;
  }

  void write_pending_locked() {
    if (pending_.empty()) return;
    write_stderr(pending_);
    pending_.clear();
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::string pending_;           // guarded by mu_
  bool flusher_started_ = false;  // guarded by mu_
  bool exited_ = false;           // guarded by mu_: past exit, lines are written at once
};

std::string format_line(Level level, std::string_view msg, std::initializer_list<Field> fields) {
  // Whole seconds, formatted once per second per thread: fmt's chrono formatting was ~1k of
  // the ~7k instructions of a line (callgrind; wqd logs one line per HTTP request).
  const auto now = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
  thread_local std::chrono::sys_seconds ts_of{};
  thread_local std::string ts;
  if (ts.empty() || now != ts_of) {
    ts = fmt::format("{:%FT%T}Z", now);
    ts_of = now;
  }
  std::string line;
  line.reserve(256);
  line += "{\"ts\":\"";
  line += ts;
  line += "\",\"level\":\"";
  line += kLevelNames[static_cast<int>(level)];
  line += "\",\"msg\":";
  append_json_string(msg, line);
  for (const auto& [key, value] : fields) {
    line += ',';
    append_json_string(key, line);
    line += ':';
    append_json_text(value, line);
  }
  line += "}\n";
  return line;
}

// The sink's, if one is set (true); else the caller writes the line.
bool to_sink(Level level, std::string_view msg, const std::string& line) {
  std::lock_guard lock(g_sink_mutex);
  if (!g_sink) return false;
  g_sink(level, msg, line);
  return true;
}

}  // namespace

void set_level(Level level) { g_level.store(level); }

void set_sink(Sink sink) {
  Batch::get().write_through({});  // lines gathered before go where they were headed
  std::lock_guard lock(g_sink_mutex);
  g_sink = std::move(sink);
}

void write(Level level, std::string_view msg, std::initializer_list<Field> fields) {
  if (level < g_level.load(std::memory_order_relaxed)) return;
  const std::string line = format_line(level, msg, fields);
  if (!to_sink(level, msg, line)) Batch::get().write_through(line);
}

void info_batched(std::string_view msg, std::initializer_list<Field> fields) {
  if (Level::info < g_level.load(std::memory_order_relaxed)) return;
  const std::string line = format_line(Level::info, msg, fields);
  if (!to_sink(Level::info, msg, line)) Batch::get().add(line);
}

}  // namespace wq::log
