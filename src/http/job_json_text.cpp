#include "http/job_json_text.hpp"

#include <charconv>

#include "core/json_text.hpp"

namespace wq::http {
namespace {

// Each key comes with its separator and colon as one literal (",\"task\":"): appending the
// three pieces per key was ~1k of the ~7k instructions of a submit's answer (callgrind,
// HTTP-W1).

void integer(std::int64_t v, std::string& out) {
  char buf[24];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, end);
}

void integer(std::uint64_t v, std::string& out) {
  char buf[24];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, end);
}

void text(const std::optional<std::string>& s, std::string& out) {
  if (s) {
    append_json_string(*s, out);
  } else {
    out += "null";
  }
}

void time(const std::optional<TimePoint>& t, std::string& out) {
  if (t) {
    integer(t->time_since_epoch().count(), out);
  } else {
    out += "null";
  }
}

}  // namespace

std::string job_json_text(const Job& job, std::int64_t n_ahead_in_queue) {
  std::string out;
  out.reserve(448 + job.key.size());
  out += "{\"id\":";
  append_json_string(job.id, out);
  out += ",\"task\":";
  append_json_string(job.task, out);
  out += ",\"params\":";
  append_json_text(job.params, out);
  out += ",\"key\":";
  append_json_string(job.key, out);
  out += ",\"priority\":";
  integer(std::int64_t{job.priority}, out);
  out += ",\"max_attempts\":";
  integer(std::int64_t{job.max_attempts}, out);
  out += ",\"timeout\":";
  if (job.timeout) {
    append_json_text(boost::json::value(job.timeout->count() / 1000.0), out);
  } else {
    out += "null";
  }
  out += ",\"run_at\":";
  integer(job.run_at.time_since_epoch().count(), out);
  out += ",\"attempt\":";
  integer(std::int64_t{job.attempt}, out);
  out += ",\"created_at\":";
  integer(job.created_at.time_since_epoch().count(), out);
  out += ",\"started_at\":";
  time(job.started_at, out);
  out += ",\"finished_at\":";
  time(job.finished_at, out);
  out += ",\"state\":";
  append_json_string(to_string(job.state), out);
  out += ",\"seq\":";
  integer(std::uint64_t{job.seq}, out);
  out += ",\"fraction\":";
  append_json_text(boost::json::value(is_terminal(job.state) ? 1.0 : job.fraction), out);
  out += ",\"message\":";
  text(job.message, out);
  out += ",\"returncode\":";
  if (job.returncode) {
    integer(std::int64_t{*job.returncode}, out);
  } else {
    out += "null";
  }
  out += ",\"error\":";
  text(job.error, out);
  out += ",\"result_size\":";
  if (job.result_size) {
    integer(std::uint64_t{*job.result_size}, out);
  } else {
    out += "null";
  }
  out += ",\"n_ahead_in_queue\":";
  integer(n_ahead_in_queue, out);
  out += '}';
  return out;
}

}  // namespace wq::http
