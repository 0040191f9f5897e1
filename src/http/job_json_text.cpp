#include "http/job_json_text.hpp"

#include <charconv>

#include "core/json_text.hpp"

namespace wq::http {
namespace {

void key(std::string_view name, std::string& out) {
  out += out.size() > 1 ? ",\"" : "\"";
  out += name;
  out += "\":";
}

void integer(std::int64_t v, std::string& out) {
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
  out.reserve(384 + job.key.size());
  out += '{';
  key("id", out);
  append_json_string(job.id, out);
  key("task", out);
  append_json_string(job.task, out);
  key("params", out);
  append_json_text(job.params, out);
  key("key", out);
  append_json_string(job.key, out);
  key("priority", out);
  integer(job.priority, out);
  key("max_attempts", out);
  integer(job.max_attempts, out);
  key("timeout", out);
  if (job.timeout) {
    append_json_text(boost::json::value(job.timeout->count() / 1000.0), out);
  } else {
    out += "null";
  }
  key("run_at", out);
  integer(job.run_at.time_since_epoch().count(), out);
  key("attempt", out);
  integer(job.attempt, out);
  key("created_at", out);
  integer(job.created_at.time_since_epoch().count(), out);
  key("started_at", out);
  time(job.started_at, out);
  key("finished_at", out);
  time(job.finished_at, out);
  key("state", out);
  append_json_string(to_string(job.state), out);
  key("seq", out);
  append_json_text(boost::json::value(job.seq), out);
  key("fraction", out);
  append_json_text(boost::json::value(is_terminal(job.state) ? 1.0 : job.fraction), out);
  key("message", out);
  text(job.message, out);
  key("returncode", out);
  if (job.returncode) {
    integer(*job.returncode, out);
  } else {
    out += "null";
  }
  key("error", out);
  text(job.error, out);
  key("result_size", out);
  if (job.result_size) {
    append_json_text(boost::json::value(*job.result_size), out);
  } else {
    out += "null";
  }
  key("n_ahead_in_queue", out);
  integer(n_ahead_in_queue, out);
  out += '}';
  return out;
}

}  // namespace wq::http
