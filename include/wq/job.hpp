// The job model (DESIGN §1): what a caller submits (JobSpec), what the store keeps (Job), and
// what watchers see (Snapshot). Plain values; no threading concerns.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace wq {

using Clock = std::chrono::system_clock;
using TimePoint = std::chrono::time_point<Clock, std::chrono::milliseconds>;
using Millis = std::chrono::milliseconds;

inline TimePoint now_ms() { return std::chrono::time_point_cast<Millis>(Clock::now()); }

// States are adjectives; transitions (submit, claim, finish, retry, cancel) are verbs on the
// Store. queued -> running -> succeeded | failed | cancelled; running -> queued only on retry
// or crash recovery.
enum class JobState : std::uint8_t { queued = 0, running = 1, succeeded = 2, failed = 3, cancelled = 4 };

std::string_view to_string(JobState s) noexcept;
std::optional<JobState> parse_job_state(std::string_view s) noexcept;
constexpr bool is_terminal(JobState s) noexcept { return s >= JobState::succeeded; }

// What a caller asks for. Empty optionals take the task's configured defaults.
struct JobSpec {
  std::string task;
  boost::json::object params;
  std::optional<std::string> key;  // dedup key; derived from task+params when empty
  std::optional<std::string> id;   // caller-chosen id, [A-Za-z0-9._-]{1,128}
  std::string owner;               // tenant; "" in open mode
  int priority = 0;                // higher runs first
  std::optional<int> max_attempts;
  std::optional<Millis> timeout;     // no runtime limit unless set
  std::optional<TimePoint> run_at;   // not before
  bool force = false;                // run again even if a retained success exists
};

// A job as stored. `params` never contains secret params (see TaskConfig::secret_params).
struct Job {
  std::string id;
  std::string task;
  boost::json::object params;
  std::string key;
  std::string owner;
  int priority = 0;
  int max_attempts = 1;
  std::optional<Millis> timeout;
  TimePoint run_at{};
  int attempt = 0;  // attempts started so far
  TimePoint created_at{};
  std::optional<TimePoint> started_at;
  std::optional<TimePoint> finished_at;
  JobState state = JobState::queued;
  std::uint64_t seq = 0;  // bumped by every state change and progress update
  double fraction = 0.0;
  std::optional<std::string> message;
  std::optional<int> returncode;
  std::optional<std::string> error;
  std::optional<std::uint64_t> result_size;  // set iff succeeded with a retained result
};

// What watchers receive (DESIGN §4): the Overview `Progress` keys plus id, seq and state. The
// terminal snapshot has fraction 1.0, returncode (0 on success) and error (null on success).
struct Snapshot {
  std::string id;
  std::uint64_t seq = 0;
  JobState state = JobState::queued;
  std::int64_t n_ahead_in_queue = 0;
  double fraction = 0.0;
  std::optional<std::string> message;
  std::optional<int> returncode;
  std::optional<std::string> error;

  bool terminal() const noexcept { return is_terminal(state); }
  friend bool operator==(const Snapshot&, const Snapshot&) = default;
};

// A snapshot of a job as stored (n_ahead_in_queue is filled in by whoever knows the queue).
Snapshot snapshot_of(const Job& job);

struct Submitted {
  Job job;
  bool created = false;  // false: an existing job was returned (dedup or idempotent id)
  // The new job's n_ahead_in_queue as of its commit, when the store knew it then (SQLite);
  // otherwise ask Queue::n_ahead.
  std::optional<std::int64_t> n_ahead;
};

boost::json::object to_json(const Job& job);
boost::json::object to_json(const Snapshot& snap);

// True if `id` is a valid caller-supplied job id: [A-Za-z0-9._-]{1,128}, not "." or "..".
bool valid_job_id(std::string_view id) noexcept;

// A new UUIDv7 as lowercase text: time-ordered, so ids sort by creation.
std::string new_job_id();

}  // namespace wq
