// Structured logs: one JSON object per line on stderr, e.g.
//   {"ts":"2026-11-22T10:00:00.123Z","level":"warn","msg":"…","job":"…"}
// Never pass secrets (tokens, secret params, argv of secret-bearing tasks) as fields.
// Thread-safe: lines reach stderr whole and in order; a sink can be swapped for tests.
#pragma once

#include <boost/json/value.hpp>
#include <boost/json/value_from.hpp>

#include <functional>
#include <initializer_list>
#include <string_view>
#include <utility>

namespace wq::log {

enum class Level { debug = 0, info, warn, error };

// A key and any value boost::json::value_from accepts (strings, numbers, bools, …).
struct Field {
  template <class T>
  Field(std::string_view k, const T& v) : key(k), value(boost::json::value_from(v)) {}
  std::string_view key;
  boost::json::value value;
};

void write(Level level, std::string_view msg, std::initializer_list<Field> fields = {});
inline void debug(std::string_view m, std::initializer_list<Field> f = {}) { write(Level::debug, m, f); }
inline void info(std::string_view m, std::initializer_list<Field> f = {}) { write(Level::info, m, f); }
inline void warn(std::string_view m, std::initializer_list<Field> f = {}) { write(Level::warn, m, f); }
inline void error(std::string_view m, std::initializer_list<Field> f = {}) { write(Level::error, m, f); }
// An info line of a kind that comes by the thousand a second (one per HTTP request): gathered
// and written with others, at most 50 ms later, and before any line of the other functions
// (and at exit), so that lines stay in order. Lost if the process crashes within those 50 ms;
// warnings and errors never wait.
void info_batched(std::string_view m, std::initializer_list<Field> f = {});

// Lines below `level` are dropped (default info; WQ_LOG_LEVEL=debug|info|warn|error).
void set_level(Level level);

// Replaces the stderr sink (tests capture warnings); nullptr restores stderr. The sink gets the
// level, the message and the full JSON line.
using Sink = std::function<void(Level, std::string_view msg, std::string_view line)>;
void set_sink(Sink sink);

}  // namespace wq::log
