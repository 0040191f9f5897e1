#include "wq/job.hpp"

#include <array>
#include <random>

namespace wq {
namespace {

constexpr std::array<std::string_view, 5> kStateNames = {"queued", "running", "succeeded",
                                                         "failed", "cancelled"};

boost::json::value opt_string(const std::optional<std::string>& s) {
  return s ? boost::json::value(*s) : boost::json::value(nullptr);
}

boost::json::value opt_int(const std::optional<int>& i) {
  return i ? boost::json::value(*i) : boost::json::value(nullptr);
}

boost::json::value opt_time(const std::optional<TimePoint>& t) {
  return t ? boost::json::value(t->time_since_epoch().count()) : boost::json::value(nullptr);
}

}  // namespace

std::string_view to_string(JobState s) noexcept { return kStateNames[static_cast<size_t>(s)]; }

std::optional<JobState> parse_job_state(std::string_view s) noexcept {
  for (size_t i = 0; i < kStateNames.size(); ++i) {
    if (kStateNames[i] == s) return static_cast<JobState>(i);
  }
  return std::nullopt;
}

Snapshot snapshot_of(const Job& job) {
  Snapshot s;
  s.id = job.id;
  s.seq = job.seq;
  s.state = job.state;
  s.fraction = is_terminal(job.state) ? 1.0 : job.fraction;
  s.message = job.message;
  s.returncode = job.returncode;
  s.error = job.error;
  return s;
}

boost::json::object to_json(const Job& job) {
  boost::json::object o;
  o["id"] = job.id;
  o["task"] = job.task;
  o["params"] = job.params;
  o["key"] = job.key;
  o["priority"] = job.priority;
  o["max_attempts"] = job.max_attempts;
  o["timeout"] = job.timeout ? boost::json::value(job.timeout->count() / 1000.0)
                             : boost::json::value(nullptr);
  o["run_at"] = job.run_at.time_since_epoch().count();
  o["attempt"] = job.attempt;
  o["created_at"] = job.created_at.time_since_epoch().count();
  o["started_at"] = opt_time(job.started_at);
  o["finished_at"] = opt_time(job.finished_at);
  o["state"] = to_string(job.state);
  o["seq"] = job.seq;
  o["fraction"] = is_terminal(job.state) ? 1.0 : job.fraction;
  o["message"] = opt_string(job.message);
  o["returncode"] = opt_int(job.returncode);
  o["error"] = opt_string(job.error);
  o["result_size"] = job.result_size ? boost::json::value(*job.result_size)
                                     : boost::json::value(nullptr);
  return o;
}

boost::json::object to_json(const Snapshot& snap) {
  boost::json::object o;
  o["id"] = snap.id;
  o["seq"] = snap.seq;
  o["state"] = to_string(snap.state);
  o["n_ahead_in_queue"] = snap.n_ahead_in_queue;
  o["fraction"] = snap.fraction;
  o["message"] = opt_string(snap.message);
  o["returncode"] = opt_int(snap.returncode);
  o["error"] = opt_string(snap.error);
  return o;
}

bool valid_job_id(std::string_view id) noexcept {
  if (id.empty() || id.size() > 128 || id == "." || id == "..") return false;
  for (char c : id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::string new_job_id() {
  // UUIDv7 (RFC 9562): 48-bit Unix ms, version 7, 12 random bits, variant 10, 62 random bits.
  thread_local std::mt19937_64 rng{std::random_device{}()};
  const auto ms = static_cast<std::uint64_t>(now_ms().time_since_epoch().count());
  const std::uint64_t r1 = rng();
  const std::uint64_t r2 = rng();
  const std::uint64_t hi = (ms << 16) | 0x7000 | (r1 & 0x0fff);
  const std::uint64_t lo = (r2 & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(36, '-');
  int pos = 0;
  auto put = [&](std::uint64_t v, int nibbles) {
    for (int i = nibbles - 1; i >= 0; --i) {
      if (pos == 8 || pos == 13 || pos == 18 || pos == 23) ++pos;
      out[pos++] = kHex[(v >> (i * 4)) & 0xf];
    }
  };
  put(hi, 16);
  put(lo, 16);
  return out;
}

}  // namespace wq
