// The durable record of jobs (DESIGN §5). One interface, a dozen domain verbs; implemented by
// the SQLite store (single node) and the PostgreSQL store (many nodes).
//
// Threading: every method is safe to call from any thread and may block on I/O; callers that
// must not block (reactor threads) call it from a worker. Each write verb is one atomic store
// transaction: an observer never sees half a transition. Writes from concurrent callers are
// grouped into shared commits by the implementation, so throughput scales with callers.
#pragma once

#include "wq/config.hpp"
#include "wq/error.hpp"
#include "wq/job.hpp"

#include <boost/json/object.hpp>

#include <array>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace wq {

// A validated, fully defaulted job ready to insert.
struct NewJob {
  Job job;                      // state queued; id, key, spec fields and created_at filled in
  boost::json::object secrets;  // secret params; kept only until the job finishes
  std::string spec_hash;        // SHA-256 of task + canonical params (secrets included)
  bool id_given = false;        // the caller chose job.id: same spec -> same job, else conflict
  bool force = false;           // do not return a retained success for the key
  std::size_t max_queued = 0;   // 0: no limit; else refuse with queue_full past it
};

struct TaskBudget {
  std::string task;
  std::size_t slots = 0;  // how many more jobs of this task may start now
};

struct ClaimRequest {
  std::size_t max_jobs = 0;
  std::vector<TaskBudget> tasks;  // only these tasks (known here), each within its budget
  std::string node;               // who runs them (lease holder)
};

struct ClaimedJob {
  Job job;  // state running, attempt incremented, started_at set
  boost::json::object secrets;
};

// How a running attempt ends. `state` queued means "retry at retry_at".
struct Outcome {
  JobState state = JobState::succeeded;
  std::optional<TimePoint> retry_at;
  std::optional<int> returncode;
  std::optional<std::string> error;
  std::optional<std::uint64_t> result_size;
  std::optional<TimePoint> result_expires_at;
  // The published result file (with result_size). A store that keeps results itself, so any
  // node can serve them (PostgreSQL), copies it in before recording the outcome.
  std::optional<std::filesystem::path> result_file;
  std::uint64_t seq = 0;  // the seq of the terminal (or requeued) snapshot; > any published
  double fraction = 1.0;
  std::optional<std::string> message;
};

struct ProgressWrite {
  std::string id;
  std::uint64_t seq = 0;
  double fraction = 0.0;
  std::optional<std::string> message;
};

struct JobFilter {
  std::optional<JobState> state;
  std::optional<std::string> task;
  std::optional<std::string> owner;  // none: every owner
  std::size_t limit = 100;
  std::optional<std::string> cursor;  // from a previous page's next_cursor
};

struct JobPage {
  std::vector<Job> jobs;  // newest first
  std::optional<std::string> next_cursor;
};

// What start-up recovery decided for a job left `running` by a dead process.
struct Recovered {
  Job job;  // as it is now: queued again (retry) or failed (interrupted)
};

struct Swept {
  std::vector<std::string> results_expired;  // ids whose result files must be deleted
  std::size_t jobs_removed = 0;
};

// What a store measures about itself (GET /metrics). A "commit" is one store transaction that
// carries one or more writes (group commit); its latency runs from BEGIN to the end of COMMIT.
struct StoreStats {
  // Upper bounds, in seconds, of the commit latency histogram's buckets (+Inf is implied).
  static constexpr std::array<double, 10> kCommitBuckets = {
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 1.0};
  std::uint64_t commits = 0;
  std::uint64_t writes = 0;  // write verbs committed (submit, finish, cancel, ...)
  // Commits per bucket, NOT cumulative: [i] counts latencies in (bound[i-1], bound[i]]; the
  // last counts those above every bound.
  std::array<std::uint64_t, kCommitBuckets.size() + 1> commit_latency_counts = {};
  double commit_latency_sum = 0.0;  // seconds
  // durability = "fsync" (SQLite): fdatasyncs of the WAL, and the commits they covered before
  // those commits' writes were acknowledged (a sync covers every commit before it).
  std::uint64_t syncs = 0;
  std::uint64_t synced_commits = 0;
};

// What another node did that this node must act on (many-node stores: LISTEN/NOTIFY).
struct StoreEvent {
  enum class Kind : std::uint8_t {
    work,      // jobs became runnable elsewhere: claim
    cancel,    // a cancel was asked for job snapshot.id: stop it if it runs here
    snapshot,  // a job's newer snapshot (progress or state), for this node's watchers
  };
  Kind kind = Kind::work;
  Snapshot snapshot;  // cancel: only the id
};

// Lets a store start work the moment it becomes runnable (see Store::set_claim_hook).
struct ClaimHook {
  // Reserves free slots and says what may be claimed now (max_jobs 0: nothing).
  std::function<ClaimRequest()> reserve;
  // Receives what was claimed for a reservation (possibly nothing) after the commit, and
  // releases the reservation.
  std::function<void(std::vector<ClaimedJob> claimed, const ClaimRequest& reserved)> deliver;
};

class Store {
 public:
  virtual ~Store() = default;

  // At the end of every transaction that inserted or finished a job, the store calls
  // hook.reserve(), claims within it in that same transaction (so a job is durable before it
  // starts, and a submit costs one commit, not two), and calls hook.deliver() after the
  // commit. Both run on the thread that commits (a store thread, or the thread of a caller
  // whose write the store commits itself) and must not call the store. Set it once, before any
  // write; explicit claim() calls keep working (for delayed jobs coming due).
  virtual void set_claim_hook(ClaimHook hook) = 0;

  // Inserts `job` or returns the job it dedups to (DESIGN §3): an active job with the same
  // (owner, key); the last success for the key while its result is retained (unless force);
  // the same id with the same spec. A different spec under a given id is Errc::conflict.
  // Returns only after the commit.
  virtual Result<Submitted> submit(const NewJob& job) = 0;

  // submit() without waiting for other writes: `done` is called once with what submit()
  // would return, after the commit. A store whose submits_async() is true calls it on the
  // thread that commits (its writer, or the caller's if it commits a lone write at once), or
  // on the thread that syncs the commit (SQLite with fsync durability), so
  // `done` must be brief and must not call the store; the default runs submit() and calls
  // `done` on the caller's thread before returning.
  using SubmitDone = std::function<void(Result<Submitted>)>;
  virtual bool submits_async() const { return false; }
  virtual void submit_async(NewJob job, SubmitDone done) { done(submit(job)); }

  // Moves up to max_jobs runnable (run_at <= now) queued jobs to running, highest priority
  // first, then FIFO, taking only tasks in req.tasks and at most each one's budget.
  virtual Result<std::vector<ClaimedJob>> claim(const ClaimRequest& req) = 0;

  // Records the end of a running attempt: terminal, or queued again for a retry. Clears the
  // secrets of a terminal job. Errc::not_found if the job is not running.
  virtual Result<Job> finish(std::string_view id, const Outcome& outcome) = 0;

  // finish() without waiting for the commit: `done` is called once with what finish() would
  // return. A store that commits on its own writer thread calls it there, after the commit
  // (or on its syncer thread after the commit's sync: SQLite with fsync durability), so
  // `done` must be brief and must not call the store (nor wait for anything that does); the
  // default runs finish() and calls `done` on the caller's thread before returning.
  using FinishDone = std::function<void(Result<Job>)>;
  virtual void finish_async(std::string id, Outcome outcome, FinishDone done) {
    done(finish(id, outcome));
  }

  // Cancels a queued job (it never starts) or marks a running one cancel-requested (its
  // runner kills it and finishes it as cancelled). Returns the job as it is after the call;
  // a finished job is returned unchanged. `owner` none: any owner.
  virtual Result<Job> cancel(std::string_view id, const std::optional<std::string>& owner) = 0;

  // Persists the latest progress of running jobs (throttled by the caller).
  virtual Result<void> save_progress(std::span<const ProgressWrite> writes) = 0;

  virtual Result<std::optional<Job>> get(std::string_view id) = 0;
  virtual Result<JobPage> list(const JobFilter& filter) = 0;

  // The number of jobs that will start before this queued job: the running jobs plus the
  // queued ones ahead of it in priority/FIFO order (the Overview seed's definition). 0 for a
  // job that is not queued.
  virtual std::int64_t n_ahead(const Job& job) = 0;

  // The earliest run_at among queued jobs that are not yet runnable, if any.
  virtual std::optional<TimePoint> next_run_at() = 0;

  // Start-up: jobs left running by a dead process are queued again (attempt counted) when
  // `retry(job)` says so, otherwise failed with an `interrupted` error. Bumps the seq of every
  // unfinished job past anything the dead process may have published.
  virtual Result<std::vector<Recovered>> recover(
      const std::function<bool(const Job&)>& retry) = 0;

  // Drops results whose retention expired and finished jobs older than `finished_before`.
  virtual Result<Swept> sweep(TimePoint now, std::optional<TimePoint> finished_before) = 0;

  // Counters since the store opened. Cheap; any thread.
  virtual StoreStats stats() const = 0;

  // Many nodes on one store (PostgreSQL). A single-process store (SQLite) keeps these
  // defaults: nothing happens elsewhere.
  //
  // Receives what other nodes did, on a store thread; the sink must not block on the store's
  // writer. Setting another sink (or an empty one) waits until a call in progress returns, so
  // after it the old sink is not called again.
  virtual void set_event_sink(std::function<void(const StoreEvent&)> sink) { (void)sink; }
  // Hands a snapshot published on this node to the other nodes' watchers. Coalesced per job:
  // the newest snapshot wins; cheap, never blocks on I/O.
  virtual void publish(const Snapshot& snap) { (void)snap; }
  // True if a write that made runnable work its hook claim could not take in full (another
  // claim in flight held the free slots) sends a work event itself. The caller then need not
  // claim again after every overlap of two reservations (on a networked store, an empty claim
  // costs round trips, and under load reservations overlap all the time).
  virtual bool reports_unclaimed_work() const { return false; }
  // How often recover() must run while serving, to settle jobs of nodes that died (their
  // leases expired). nullopt: only at start-up.
  virtual std::optional<Millis> recover_interval() const { return std::nullopt; }
  // Copies the result the store keeps for a succeeded job into the file `to` (written next to
  // it, then renamed). False if the store keeps no result for it (single-process stores keep
  // results only in the local result directory).
  virtual Result<bool> fetch_result(std::string_view id, const std::filesystem::path& to) {
    (void)id;
    (void)to;
    return false;
  }
};

// Opens the store named by config.store_url(): "sqlite:PATH" or "postgresql://…" (see
// src/store/postgres/pg_store.hpp). Errc::locked if another process
// holds it; Errc::store_failed with the reason otherwise.
Result<std::unique_ptr<Store>> open_store(const Config& config);

}  // namespace wq
