// Moves jobs from queued to running and back out (DESIGN §1, §2, §4): claims work from the
// store within the global and per-task concurrency limits, starts it on the command or
// function runner, keeps the live progress of running jobs, and records each outcome
// (success with its published result, retry with exponential backoff, failure, cancel).
// Also owns the periodic work: throttled progress persistence, delayed jobs coming due,
// queue-position refreshes for watched queued jobs, function-task timeouts, the sweeper.
//
// Threading: one dispatcher thread runs the claim loop and timers. Runner callbacks arrive on
// the runners' threads; outcomes are decided there (a command's on its run's thread, a
// function's on the worker that ran it) and handed to the store (Store::finish_async). What
// follows the commit (forgetting the run, the terminal snapshot) runs where the store calls
// back: on that same thread, or on a store thread (PostgreSQL's writer, SQLite's syncer with
// fsync durability), the worker then being free for its next job meanwhile. A small finisher
// pool records failures to launch, creates {output} files for launches claimed on the store's
// writer or a submitter's thread, and reads a requeued job's queue position when the writer
// called back. All shared state is under mutex_; store calls and hub publishes happen outside
// it.
#pragma once

#include "queue/progress_hub.hpp"
#include "queue/task_registry.hpp"
#include "run/command_runner.hpp"
#include "run/function_runner.hpp"
#include "store/result_dir.hpp"
#include "wq/store.hpp"

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>

namespace wq {

class Dispatcher {
 public:
  Dispatcher(const Config& config, Store& store, ResultDir& results, ProgressHub& hub,
             TaskRegistry& tasks);
  ~Dispatcher();

  // Installs the store's claim hook and starts the dispatcher thread.
  void start();
  // Work may be claimable that the store's claim hook did not see (a task was registered).
  void wake();
  // A delayed job was submitted: recompute when to wake.
  void reschedule();
  // Asks a job running here to stop as cancelled. False if it is not running here.
  bool cancel_running(std::string_view id);
  // The live snapshot of a job running here (latest progress, not yet persisted).
  std::optional<Snapshot> live_snapshot(std::string_view id);
  // A queued job left the queue without being claimed (cancelled): positions moved.
  void queue_changed();
  // Keeps a watched queued job's n_ahead_in_queue fresh for its watchers.
  void track_queued(const Job& job);
  // See Queue::stop.
  void stop(std::chrono::milliseconds grace);

  QueueStats stats() const;
  void count_submit(bool created);
  // See Queue::finished_jobs_epoch.
  std::uint64_t sweep_epoch() const noexcept { return sweep_epoch_.load(); }

 private:
  enum class StopReason { none, cancel, timeout, shutdown };

  struct Running {
    Job job;  // without its params, which nothing here reads (see without_params)
    std::shared_ptr<const TaskEntry> task;
    ResultDir::Attempt attempt;
    std::uint64_t run_id = 0;
    bool dirty = false;  // progress newer than the store's
    bool finishing = false;  // its outcome is being recorded: no more progress
    StopReason stop = StopReason::none;
    std::optional<std::chrono::steady_clock::time_point> deadline;  // function tasks only
  };

  struct Ending {  // what an attempt came to, before it is recorded
    JobState state = JobState::failed;
    std::optional<int> returncode;
    std::optional<std::string> error;
    bool publish_output = false;
    bool retryable = false;  // a failure that the task's max_attempts may retry
    bool output_unused = false;  // a function that never asked for its output path
  };

  void loop();
  void claim_and_start();
  // The claim hook: reserve free slots; deliver what the store claimed within them.
  ClaimRequest reserve_claim();
  void deliver(std::vector<ClaimedJob> claimed, const ClaimRequest& reserved);
  // Starts an admitted job. Never calls the store (it may run on the store's writer thread):
  // failures are recorded from the finisher pool.
  void launch(ClaimedJob claimed);
  void fail_later(const std::string& id, std::string error);
  // Runs `fn` on the finisher pool; an exception it throws is logged.
  void post_finisher(std::function<void()> fn);
  bool makes_output_file(const ClaimedJob& claimed) const;
  bool loop_has_work_locked() const;
  // Records a started run's id; true if a stop was asked for before it existed (cancel it).
  bool attach_run(const std::string& id, std::uint64_t run_id);
  std::size_t busy_slots_locked() const;
  std::size_t busy_slots_locked(const std::string& task) const;
  void start_command(const std::string& id, const TaskEntry& task, const ClaimedJob& claimed,
                     const ResultDir::Attempt& attempt);
  void start_function(const std::string& id, const TaskEntry& task, ClaimedJob claimed,
                      const ResultDir::Attempt& attempt);
  void on_progress(const std::string& id, double fraction, std::optional<std::string> message);
  // Decides the attempt's outcome and hands it to the store; recorded() follows once it is
  // committed (on the store's writer thread, or this one if the store has none).
  void complete(const std::string& id, Ending ending);
  void recorded(const std::string& id, const Running& r, JobState state, bool retried,
                TimePoint ended, std::thread::id caller, Result<Job> job);
  Outcome decide(Running& r, Ending ending, bool& retried);
  void persist_progress();
  void refresh_queued();
  void check_timeouts();
  void sweep();
  std::chrono::steady_clock::time_point next_wakeup_locked() const;

  const Config& config_;
  Store& store_;
  ResultDir& results_;
  ProgressHub& hub_;
  TaskRegistry& tasks_;
  std::string node_;

  mutable std::mutex mutex_;
  std::condition_variable cv_;
  bool wake_ = true;                                   // guarded by mutex_
  bool overlapped_ = false;  // two reservations out at once since reserved_ was 0; guarded
  bool reschedule_ = false;                            // guarded by mutex_
  bool stopping_ = false;                              // guarded by mutex_
  bool abandoned_ = false;                             // guarded: late outcomes are not recorded
  // The latest attempt of each job delivered and not yet recorded. A retry claimed before its
  // failed attempt was recorded replaces that attempt here (deliver()); the failed attempt's
  // recorded() then leaves the new one alone. So attempts_, not running_.size(), counts them.
  std::unordered_map<std::string, Running> running_;   // guarded by mutex_
  std::size_t attempts_ = 0;  // attempts delivered whose outcome is not recorded; guarded
  std::map<std::string, int> running_by_task_;         // guarded by mutex_
  // Slots of jobs whose outcome is being recorded (free for claims: their work is done) and
  // slots reserved by claims not yet delivered.
  std::size_t finishing_ = 0, reserved_ = 0;                         // guarded by mutex_
  // Outcomes handed to the store whose recorded() has not returned; stop() waits for them.
  std::size_t recording_ = 0;  // guarded by mutex_
  std::condition_variable recorded_cv_;
  std::map<std::string, int> finishing_by_task_, reserved_by_task_;  // guarded by mutex_
  std::unordered_map<std::string, Job> queued_watched_;  // guarded by mutex_
  bool queue_moved_ = false;                           // guarded by mutex_
  std::chrono::steady_clock::time_point next_persist_, next_sweep_, next_refresh_;  // guarded
  QueueStats stats_;                                   // guarded by mutex_
  std::atomic<std::uint64_t> sweep_epoch_{0};  // odd while sweep() may be changing finished jobs

  // Destroyed in reverse order: the dispatcher thread first (in stop), then runners.
  std::unique_ptr<run::FunctionRunner> functions_;
  std::unique_ptr<run::CommandRunner> commands_;
  std::unique_ptr<exec::ThreadPool> finishers_;
  std::thread thread_;
};

}  // namespace wq
