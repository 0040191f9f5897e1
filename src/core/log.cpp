#include "core/log.hpp"

#include "core/json_text.hpp"

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <mutex>
#include <string>

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

}  // namespace

void set_level(Level level) { g_level.store(level); }

void set_sink(Sink sink) {
  std::lock_guard lock(g_sink_mutex);
  g_sink = std::move(sink);
}

void write(Level level, std::string_view msg, std::initializer_list<Field> fields) {
  if (level < g_level.load(std::memory_order_relaxed)) return;
  const auto now = std::chrono::time_point_cast<std::chrono::milliseconds>(
      std::chrono::system_clock::now());
  std::string line = fmt::format("{{\"ts\":\"{:%FT%T}Z\",\"level\":\"{}\",\"msg\":", now,
                                 kLevelNames[static_cast<int>(level)]);
  append_json_text(boost::json::value(msg), line);
  for (const auto& [key, value] : fields) {
    line += ',';
    append_json_text(boost::json::value(key), line);
    line += ':';
    append_json_text(value, line);
  }
  line += "}\n";
  {
    std::lock_guard lock(g_sink_mutex);
    if (g_sink) {
      g_sink(level, msg, line);
      return;
    }
  }
  // One write(2) per line keeps lines whole across threads and processes.
  [[maybe_unused]] auto n = ::write(STDERR_FILENO, line.data(), line.size());
}

}  // namespace wq::log
