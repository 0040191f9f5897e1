// The embedded work queue (DESIGN §8): submit work, run it in the background under
// concurrency limits, dedup repeated submits, watch live progress, cancel, fetch results.
//
//   wq::Queue queue(wq::Config::load("wqd.toml"));
//   queue.register_task("resize", [](wq::TaskContext& ctx) { ctx.progress(0.5, "half"); });
//   auto s = queue.submit({.task = "resize", .params = {{"w", 100}}});   // s->job, s->created
//   auto w = queue.watch(s->job.id, 0, [](const wq::Snapshot& snap) { … });
//
// Threading: every method is safe to call from any thread. Jobs run on internal threads: a
// dispatcher thread claims work, function tasks run on a worker pool of `concurrency`
// threads, each running command has a thread of its own, the store has its writer thread.
// Watch callbacks run on those internal threads and must not block.
#pragma once

#include "wq/config.hpp"
#include "wq/error.hpp"
#include "wq/job.hpp"
#include "wq/store.hpp"

#include <array>
#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>

namespace wq {

// What a function task sees while it runs. Used only by the thread running the task.
class TaskContext {
 public:
  virtual ~TaskContext() = default;
  virtual const Job& job() const = 0;
  // All params, secret ones included.
  virtual const boost::json::object& params() const = 0;
  // Reports progress (fraction in [0,1]); cheap, coalesced for watchers.
  virtual void progress(double fraction, std::optional<std::string> message = std::nullopt) = 0;
  // True once cancel, a timeout or shutdown asks the task to stop. Return (or throw) soon.
  virtual bool cancelled() const = 0;
  virtual std::stop_token stop_token() const = 0;
  // The job's result: write it to output_path(), or pass the bytes to set_result().
  virtual const std::filesystem::path& output_path() const = 0;
  virtual void set_result(std::string_view bytes) = 0;
};

// Returning succeeds the job (with a result if one was written); throwing fails it with the
// exception's what() as its error.
using TaskFn = std::function<void(TaskContext&)>;

// Run time of attempts (claim to outcome, wall clock) as a histogram, for GET /metrics.
struct RunDurations {
  // Upper bounds, in seconds, of the buckets (+Inf is implied).
  static constexpr std::array<double, 12> kBuckets = {0.005, 0.01, 0.05, 0.1, 0.5, 1,
                                                      5,     10,   30,   60,  300, 3600};
  // Attempts per bucket, NOT cumulative: [i] counts durations in (bound[i-1], bound[i]]; the
  // last counts those above every bound.
  std::array<std::uint64_t, kBuckets.size() + 1> counts = {};
  double sum = 0.0;  // seconds

  void record(double seconds) noexcept {
    std::size_t i = 0;
    while (i < kBuckets.size() && seconds > kBuckets[i]) ++i;
    counts[i]++;
    sum += seconds;
  }
};

struct QueueStats {
  std::uint64_t submitted = 0;   // new jobs created
  std::uint64_t deduplicated = 0;
  std::uint64_t started = 0;
  std::uint64_t succeeded = 0;
  std::uint64_t failed = 0;
  std::uint64_t cancelled = 0;
  std::uint64_t retried = 0;
  std::int64_t running = 0;
  std::size_t watchers = 0;
  StoreStats store;  // group commits and their latency
  std::map<std::string, RunDurations> run_durations;  // by task; attempts that ended
};

class Queue {
 public:
  // Opens the store and data directory, recovers jobs a dead process left running, and starts
  // dispatching. Throws ErrorException (Errc::locked, store_failed, config_invalid) on failure.
  explicit Queue(Config config);
  // Stops with a zero grace period (see stop()).
  ~Queue();
  Queue(const Queue&) = delete;
  Queue& operator=(const Queue&) = delete;

  // Registers (or replaces) a function task. `options` supplies limits and defaults; its name
  // and command are ignored. Call before submitting jobs of that task.
  void register_task(const std::string& name, TaskFn fn, TaskConfig options = {});

  // Creates a job or returns the one it dedups to (DESIGN §3). Errors: unknown_task,
  // bad_input, conflict, queue_full, shutting_down, store_failed.
  Result<Submitted> submit(const JobSpec& spec);

  // submit() for event loops: `done` receives what submit() would return. Unless
  // submit_blocks(), this does not wait for other writes: `done` runs on the thread that
  // commits the job, the store's writer (keep it brief: post the result to your own
  // executor), or this one when the store was idle (tens of microseconds); with
  // durability = "fsync", on the store's syncer thread once the commit is synced. Errors found
  // before the store (unknown task, bad params) call it at once. Many submits in flight share
  // one commit (and one sync): the way to submit a batch fast.
  // With a store that cannot submit without waiting (PostgreSQL) submit_blocks() is true and
  // this blocks like submit(). Nothing bounds the submits waiting for the store: bound them
  // yourself (wqd has one per connection at most).
  void submit_async(const JobSpec& spec, std::function<void(Result<Submitted>)> done);
  bool submit_blocks() const noexcept;

  // The Overview seed's ensure_run: nullopt when a retained successful result already exists,
  // else the new or running job.
  Result<std::optional<Job>> ensure_run(const JobSpec& spec);

  // `owner` none: any owner; otherwise another owner's job is not_found.
  Result<Job> get(std::string_view id, const std::optional<std::string>& owner = {});
  Result<JobPage> list(const JobFilter& filter);
  // A finished job changes again only when the sweeper drops its result or removes it (see
  // Config::finished_job_ttl). This counter is odd while a sweep runs and grows with each, so
  // a finished job read after it returned an even value is current as long as it returns that
  // same value. Counts this process's sweeps only: for a store no other process writes (SQLite).
  std::uint64_t finished_jobs_epoch() const noexcept;
  // The job's current snapshot, with live progress and queue position.
  Result<Snapshot> snapshot(std::string_view id, const std::optional<std::string>& owner = {});
  // The n_ahead_in_queue of a job just returned by submit, get or cancel, as it is now: 0
  // unless the job is still queued. Cheaper than snapshot(): the job is not read again.
  std::int64_t n_ahead(const Job& job);

  // A queued job never starts; a running one is told to stop (SIGTERM, then SIGKILL after the
  // task's kill_grace) and ends cancelled. Returns the job as it is after the request.
  Result<Job> cancel(std::string_view id, const std::optional<std::string>& owner = {});

  class Watch;
  // Calls `cb` with the newest snapshot with seq > after_seq (at once if there is one), then
  // with each later one, ending with exactly one terminal snapshot. A job that already ended
  // yields its terminal snapshot. Dropping the Watch stops the calls.
  Result<Watch> watch(std::string_view id, std::uint64_t after_seq,
                      std::function<void(const Snapshot&)> cb,
                      const std::optional<std::string>& owner = {});
  // Blocks until a snapshot with seq > after_seq exists (returns it) or the timeout passes
  // (returns nullopt: unchanged).
  Result<std::optional<Snapshot>> wait(std::string_view id, std::uint64_t after_seq,
                                       std::chrono::milliseconds timeout,
                                       const std::optional<std::string>& owner = {});

  // The published result file of a succeeded job (Errc::not_finished before that).
  Result<std::filesystem::path> result_path(std::string_view id,
                                            const std::optional<std::string>& owner = {});

  // Stops claiming, asks running jobs to stop, waits up to `grace`, then kills command jobs.
  // Jobs that did not finish are recorded as interrupted (retried on the next start when
  // their task's on_crash policy and attempts allow). Idempotent.
  void stop(std::chrono::milliseconds grace = std::chrono::milliseconds(0));

  const Config& config() const;
  QueueStats stats() const;

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

class Queue::Watch {
 public:
  Watch();
  Watch(Watch&&) noexcept;
  Watch& operator=(Watch&&) noexcept;
  ~Watch();
  // Stops delivery; after it returns the callback does not run again.
  void reset();

 private:
  friend class Queue;
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace wq
