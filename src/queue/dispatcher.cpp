#include "queue/dispatcher.hpp"

#include "core/log.hpp"
#include "run/argv_template.hpp"

#include <fmt/format.h>
#include <pthread.h>
#include <unistd.h>

#include <algorithm>

namespace wq {
namespace {

using SteadyClock = std::chrono::steady_clock;

// Set on the finisher pool's threads and the command runner's, where blocking work (the
// store, the file system) is fine.
thread_local bool on_finisher_thread = false;

constexpr auto kRefreshInterval = std::chrono::milliseconds(20);
constexpr auto kClaimErrorBackoff = std::chrono::seconds(1);
constexpr Millis kMaxSleep = std::chrono::hours(1);

std::string node_name() {
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  return fmt::format("{}:{}", host, ::getpid());
}

std::string seconds_text(Millis d) {
  if (d.count() % 1000 == 0) return fmt::format("{}s", d.count() / 1000);
  return fmt::format("{:.3g}s", d.count() / 1000.0);
}

// {output} must exist only for a program that is to overwrite it or is given its path.
bool needs_output_file(const TaskEntry& task) {
  const auto& command = task.config.command;
  return !task.fn && (task.config.produces_output ||
                      std::any_of(command.begin(), command.end(), [](const std::string& arg) {
                        return arg.find("{output}") != std::string::npos;
                      }));
}

// A copy of `job` without its params, which the dispatcher's record of a running job never
// reads: copying them cost a dozen allocations a job (two copies, each a table and a key
// apiece), on the store's writer thread and the workers'. `job` keeps its params.
Job without_params(Job& job) {
  boost::json::object params = std::move(job.params);
  Job copy = job;
  job.params = std::move(params);
  return copy;
}

Millis backoff(const TaskConfig& t, int attempt) {
  Millis d = t.retry_backoff;
  for (int i = 1; i < attempt && d < t.retry_backoff_max; ++i) d *= 2;
  return std::min(d, t.retry_backoff_max);
}

}  // namespace

Dispatcher::Dispatcher(const Config& config, Store& store, ResultDir& results, ProgressHub& hub,
                       TaskRegistry& tasks)
    : config_(config),
      store_(store),
      results_(results),
      hub_(hub),
      tasks_(tasks),
      node_(node_name()),
      functions_(std::make_unique<run::FunctionRunner>(config.concurrency)),
      commands_(std::make_unique<run::CommandRunner>()),
      finishers_(std::make_unique<exec::ThreadPool>(2, "wq-finish")) {
  const auto now = SteadyClock::now();
  next_persist_ = now + config_.progress_persist_interval;
  next_refresh_ = now;
  next_sweep_ = now;  // sweep once at start-up
}

Dispatcher::~Dispatcher() { stop(Millis(0)); }

void Dispatcher::start() {
  store_.set_claim_hook(ClaimHook{
      [this] { return reserve_claim(); },
      [this](std::vector<ClaimedJob> claimed, const ClaimRequest& reserved) {
        deliver(std::move(claimed), reserved);
      }});
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "wq-dispatch");
    loop();
  });
}

void Dispatcher::wake() {
  {
    std::lock_guard lock(mutex_);
    wake_ = true;
  }
  cv_.notify_all();
}

void Dispatcher::reschedule() {
  {
    std::lock_guard lock(mutex_);
    reschedule_ = true;
  }
  cv_.notify_all();
}

void Dispatcher::count_submit(bool created) {
  std::lock_guard lock(mutex_);
  (created ? stats_.submitted : stats_.deduplicated)++;
}

QueueStats Dispatcher::stats() const {
  std::lock_guard lock(mutex_);
  QueueStats s = stats_;
  s.running = static_cast<std::int64_t>(attempts_);
  s.watchers = hub_.watcher_count();
  return s;
}

SteadyClock::time_point Dispatcher::next_wakeup_locked() const {
  auto next = next_sweep_;
  bool dirty = std::any_of(running_.begin(), running_.end(), [](auto& kv) { return kv.second.dirty; });
  if (dirty) next = std::min(next, next_persist_);
  if (queue_moved_ && !queued_watched_.empty()) next = std::min(next, next_refresh_);
  for (const auto& [id, r] : running_) {
    if (r.deadline && r.stop == StopReason::none) next = std::min(next, *r.deadline);
  }
  if (auto due = store_.next_run_at()) {
    // Capped before converting: a run_at years ahead would overflow the steady clock.
    const Millis until = std::clamp(*due - now_ms() + Millis(1), Millis(0), kMaxSleep);
    next = std::min(next, SteadyClock::now() + until);
  }
  return next;
}

void Dispatcher::loop() {
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      auto free_slots = [&] { return busy_slots_locked() < static_cast<std::size_t>(config_.concurrency); };
      cv_.wait_until(lock, next_wakeup_locked(),
                     [&] { return stopping_ || reschedule_ || (wake_ && free_slots()); });
      if (stopping_) return;
      reschedule_ = false;
      auto due = store_.next_run_at();
      if (due && *due <= now_ms()) wake_ = true;
    }
    claim_and_start();
    const auto now = SteadyClock::now();
    if (now >= next_persist_) {
      persist_progress();
      next_persist_ = now + config_.progress_persist_interval;
    }
    if (now >= next_refresh_) {
      refresh_queued();
      next_refresh_ = now + kRefreshInterval;
    }
    check_timeouts();
    if (now >= next_sweep_) {
      sweep();
      next_sweep_ = now + config_.sweep_interval;
    }
  }
}

std::size_t Dispatcher::busy_slots_locked() const {
  return attempts_ - finishing_ + reserved_;
}

std::size_t Dispatcher::busy_slots_locked(const std::string& task) const {
  auto count = [&](const std::map<std::string, int>& m) {
    auto it = m.find(task);
    return it == m.end() ? 0 : it->second;
  };
  return count(running_by_task_) - count(finishing_by_task_) + count(reserved_by_task_);
}

ClaimRequest Dispatcher::reserve_claim() {
  ClaimRequest req;
  req.node = node_;
  std::lock_guard lock(mutex_);
  const auto limit = static_cast<std::size_t>(config_.concurrency);
  const std::size_t busy = busy_slots_locked();
  // Another claim in flight holds slots: if it claims less than it reserved, a job this
  // reservation could not take would wait for the next finish. deliver() looks again then,
  // unless the store reports such work itself.
  if (reserved_ > 0 && !store_.reports_unclaimed_work()) overlapped_ = true;
  if (stopping_ || busy >= limit) return req;
  req.max_jobs = limit - busy;
  for (const auto& t : tasks_.all()) {
    std::size_t slots = req.max_jobs;
    if (t->config.concurrency > 0) {
      const auto cap = static_cast<std::size_t>(t->config.concurrency);
      const std::size_t used = busy_slots_locked(t->config.name);
      slots = std::min(slots, used >= cap ? 0 : cap - used);
    }
    if (slots > 0) req.tasks.push_back(TaskBudget{t->config.name, slots});
  }
  if (req.tasks.empty()) {
    req.max_jobs = 0;
    return req;
  }
  reserved_ += req.max_jobs;
  for (const auto& t : req.tasks) reserved_by_task_[t.task] += static_cast<int>(t.slots);
  return req;
}

void Dispatcher::deliver(std::vector<ClaimedJob> claimed, const ClaimRequest& reserved) {
  std::vector<Snapshot> started;
  bool notify = false;
  {
    std::lock_guard lock(mutex_);
    if (abandoned_) return;  // stopped: the runners are gone; recovery settles these jobs
    reserved_ -= reserved.max_jobs;
    for (const auto& t : reserved.tasks) {
      if ((reserved_by_task_[t.task] -= static_cast<int>(t.slots)) == 0) reserved_by_task_.erase(t.task);
    }
    if (overlapped_ && claimed.size() < reserved.max_jobs) wake_ = true;  // see reserve_claim()
    if (reserved_ == 0) overlapped_ = false;
    for (auto& c : claimed) {
      Running r{without_params(c.job), tasks_.find(c.job.task), {}};
      if (r.task && r.task->fn && c.job.timeout) {
        r.deadline = SteadyClock::now() + *c.job.timeout;
        reschedule_ = true;  // the dispatcher thread enforces it: wake it for the new deadline
      }
      started.push_back(snapshot_of(r.job));
      // An earlier attempt still here is being recorded (a retry due at once can be claimed
      // in the very commit that records its failure): the new attempt takes its place.
      if (auto it = running_.find(c.job.id); it != running_.end() && !it->second.finishing) {
        log::error("a job was delivered while an attempt of it was still running",
                   {{"job", c.job.id}, {"attempt", std::to_string(c.job.attempt)}});
      }
      running_.insert_or_assign(c.job.id, std::move(r));
      ++attempts_;
      running_by_task_[c.job.task]++;
      queued_watched_.erase(c.job.id);
      stats_.started++;
    }
    if (!claimed.empty()) {
      queue_moved_ = true;
      if (!queued_watched_.empty()) reschedule_ = true;  // refresh their n_ahead_in_queue
    }
    // A full batch may leave jobs queued. No need to claim again from the loop: each slot
    // it filled is freed by a finish, which claims within its own commit (the claim hook).
    // Doing both made ~1,400 extra claim writes per 10,000 jobs in W1.
    notify = loop_has_work_locked();
  }
  if (notify) cv_.notify_all();
  for (std::size_t i = 0; i < claimed.size(); ++i) {
    hub_.publish(started[i]);
    if (on_finisher_thread || !makes_output_file(claimed[i])) {
      // Function tasks name an output path and post to their pool; programs take a free job
      // directory (made only while fewer exist than run at once) and hand the run to the
      // command runner's thread: cheap enough for any thread.
      launch(std::move(claimed[i]));
    } else {
      // Creating the {output} file is file-system work: keep it off this thread (the
      // store's writer, or a submitter's).
      post_finisher([this, c = std::move(claimed[i])]() mutable { launch(std::move(c)); });
    }
  }
}

bool Dispatcher::makes_output_file(const ClaimedJob& claimed) const {
  auto task = tasks_.find(claimed.job.task);
  return task && needs_output_file(*task);
}

// Whether the dispatcher thread's wait predicate holds (or stop() waits): a notify would
// otherwise wake it for nothing, once or twice per job.
bool Dispatcher::loop_has_work_locked() const {
  return stopping_ || reschedule_ ||
         (wake_ && busy_slots_locked() < static_cast<std::size_t>(config_.concurrency));
}

void Dispatcher::claim_and_start() {
  {
    std::lock_guard lock(mutex_);
    if (!wake_ || stopping_) return;
    wake_ = false;
  }
  ClaimRequest req = reserve_claim();
  if (req.max_jobs == 0) return;
  auto claimed = store_.claim(req);
  if (!claimed) {
    deliver({}, req);
    log::error("claiming jobs failed; retrying in a second", {{"error", claimed.error().detail}});
    std::unique_lock lock(mutex_);
    cv_.wait_for(lock, kClaimErrorBackoff, [&] { return stopping_; });
    wake_ = true;
    return;
  }
  deliver(std::move(*claimed), req);
}

void Dispatcher::post_finisher(std::function<void()> fn) {
  finishers_->submit([fn = std::move(fn)] {
    on_finisher_thread = true;
    try {
      fn();
    } catch (const std::exception& e) {
      log::error("recording a job's outcome threw", {{"error", e.what()}});
    }
  });
}

void Dispatcher::fail_later(const std::string& id, std::string error) {
  post_finisher([this, id, error = std::move(error)]() mutable {
    complete(id, Ending{JobState::failed, -1, std::move(error)});
  });
}

void Dispatcher::launch(ClaimedJob claimed) {
  const std::string id = claimed.job.id;
  std::shared_ptr<const TaskEntry> task;
  {
    std::lock_guard lock(mutex_);
    auto it = running_.find(id);
    if (it == running_.end()) return;
    task = it->second.task;
  }
  if (!task) {
    fail_later(id, fmt::format("unknown task '{}': it is not configured on this node", claimed.job.task));
    return;
  }
  const bool program = !task->fn;
  auto attempt = results_.prepare(id, claimed.job.attempt,
                                  ResultDir::Needs{.job_dir = program, .output_file = needs_output_file(*task)});
  if (!attempt) {
    fail_later(id, attempt.error().detail);
    return;
  }
  {
    std::lock_guard lock(mutex_);
    if (auto it = running_.find(id); it != running_.end()) it->second.attempt = *attempt;
  }
  if (task->fn) {
    start_function(id, *task, std::move(claimed), *attempt);
  } else {
    start_command(id, *task, claimed, *attempt);
  }
}

void Dispatcher::start_command(const std::string& id, const TaskEntry& task,
                               const ClaimedJob& claimed, const ResultDir::Attempt& attempt) {
  boost::json::object all = claimed.job.params;
  for (const auto& kv : claimed.secrets) all[kv.key()] = kv.value();
  auto spec = run::make_command_spec(
      task.config, run::TemplateInputs{all, id, attempt.output, attempt.status_file, attempt.job_dir});
  if (!spec) {
    fail_later(id, spec.error().detail);
    return;
  }
  spec->job_id = id;
  spec->timeout = claimed.job.timeout;
  const auto run_id = commands_->start(
      std::move(*spec),
      [this, id](double f, std::optional<std::string> m) { on_progress(id, f, std::move(m)); },
      // On the run's own thread, which may block: recording the outcome there, and starting
      // the job the store claims in its place, needs no other thread woken.
      [this, id](run::CommandResult res) {
        on_finisher_thread = true;
        using Kind = run::CommandResult::Kind;
        Ending e;
        e.returncode = res.returncode;
        switch (res.kind) {
          case Kind::succeeded:
            e.state = JobState::succeeded;
            e.returncode = 0;
            e.publish_output = res.output_size > 0;
            break;
          case Kind::cancelled:
            e.state = JobState::cancelled;
            e.error = "cancelled";
            break;
          case Kind::failed:
          case Kind::timed_out:
            e.state = JobState::failed;
            e.error = res.error;
            e.retryable = true;
            break;
        }
        complete(id, std::move(e));
      });
  if (attach_run(id, run_id)) commands_->cancel(run_id);
}

void Dispatcher::start_function(const std::string& id, const TaskEntry& task, ClaimedJob claimed,
                                const ResultDir::Attempt& attempt) {
  run::FunctionSpec spec{std::move(claimed.job), std::nullopt, attempt.output, task.fn};
  if (!claimed.secrets.empty()) {
    spec.params = spec.job.params;
    for (const auto& kv : claimed.secrets) (*spec.params)[kv.key()] = kv.value();
  }
  const auto run_id = functions_->start(
      std::move(spec),
      [this, id](double f, std::optional<std::string> m) { on_progress(id, f, std::move(m)); },
      [this, id](run::FunctionResult res) {
        Ending e;
        // A task that returns after being asked to stop did not finish its work: the stop
        // reason (cancel, timeout, shutdown) decides its outcome in decide().
        if (res.ok && !res.stop_requested) {
          e.state = JobState::succeeded;
          e.returncode = 0;
          e.publish_output = res.output_size > 0;
        } else {
          e.state = JobState::failed;
          e.returncode = 1;
          e.error = res.ok ? "stopped before it finished" : res.error;
          e.retryable = true;
        }
        e.output_unused = !res.output_used;
        complete(id, std::move(e));
      });
  if (attach_run(id, run_id)) functions_->cancel(run_id);
}

bool Dispatcher::attach_run(const std::string& id, std::uint64_t run_id) {
  std::lock_guard lock(mutex_);
  auto it = running_.find(id);
  if (it == running_.end()) return false;
  it->second.run_id = run_id;
  return it->second.stop != StopReason::none;
}

void Dispatcher::on_progress(const std::string& id, double fraction,
                             std::optional<std::string> message) {
  Snapshot snap;
  {
    std::lock_guard lock(mutex_);
    auto it = running_.find(id);
    if (it == running_.end() || it->second.finishing) return;
    Job& job = it->second.job;
    ++job.seq;
    job.fraction = fraction;
    job.message = std::move(message);
    it->second.dirty = true;
    snap = snapshot_of(job);
  }
  hub_.publish(snap);
}

Outcome Dispatcher::decide(Running& r, Ending e, bool& retried) {
  const Job& job = r.job;
  const TaskConfig& task = r.task ? r.task->config : TaskConfig{};
  Outcome o;
  o.fraction = job.fraction;
  o.message = job.message;
  if (e.state != JobState::succeeded) {
    switch (r.stop) {
      case StopReason::shutdown:
        if (task.on_crash == CrashPolicy::retry && job.attempt < job.max_attempts) {
          e.state = JobState::queued;
        } else {
          e = Ending{JobState::failed, -1,
                     fmt::format("interrupted: the queue stopped during attempt {} of {}",
                                 job.attempt, job.max_attempts)};
        }
        break;
      case StopReason::cancel:
        e = Ending{JobState::cancelled, e.returncode, std::string("cancelled")};
        break;
      case StopReason::timeout:
        e = Ending{JobState::failed, e.returncode,
                   fmt::format("timed out after {}", seconds_text(job.timeout.value_or(Millis(0)))),
                   false, true};
        break;
      case StopReason::none:
        break;
    }
  }
  if (e.state == JobState::succeeded && e.publish_output) {
    auto size = results_.publish(job.id, r.attempt);
    if (size) {
      o.result_size = *size;
      o.result_file = results_.result_path(job.id);
      if (task.result_ttl) o.result_expires_at = now_ms() + *task.result_ttl;
    } else {
      log::error("publishing a result failed", {{"job", job.id}, {"error", size.error().detail}});
      e = Ending{JobState::failed, -999,
                 fmt::format("Exited with code -999\nstderr:\n{}", size.error().detail)};
    }
  }
  if (e.state == JobState::failed && e.retryable && job.attempt < job.max_attempts) {
    e.state = JobState::queued;
    o.retry_at = now_ms() + backoff(task, job.attempt);
  }
  o.state = e.state;
  retried = e.state == JobState::queued;
  if (retried) {
    if (!o.retry_at) o.retry_at = now_ms();
    o.fraction = 0;
    o.message = std::nullopt;
    o.error = e.error;  // the last attempt's error stays visible while it waits
    o.returncode = e.returncode;
  } else {
    o.fraction = 1.0;
    o.returncode = e.state == JobState::succeeded ? std::optional<int>(0) : e.returncode;
    o.error = e.state == JobState::succeeded ? std::nullopt : e.error;
  }
  return o;
}

void Dispatcher::complete(const std::string& id, Ending ending) {
  const TimePoint ended = now_ms();
  Running r;
  {
    std::lock_guard lock(mutex_);
    auto it = running_.find(id);
    if (it == running_.end() || abandoned_ || it->second.finishing) return;
    it->second.finishing = true;  // freezes its seq: no progress is published after this
    ++finishing_;
    finishing_by_task_[it->second.job.task]++;
    ++recording_;
    r = it->second;
  }
  bool retried = false;
  const bool output_unused = ending.output_unused;
  Outcome outcome = decide(r, std::move(ending), retried);
  // Larger than anything published for this attempt. live_snapshot() keeps answering with the
  // frozen seq until the outcome is recorded, so a new watcher still gets the terminal one.
  outcome.seq = r.job.seq + 1;
  if (!output_unused) results_.discard(r.attempt);
  const JobState state = outcome.state;
  // A store with its own writer (PostgreSQL, SQLite) calls back on that thread after the
  // commit: this thread (a function pool's worker) goes on to its next job instead of
  // sleeping until then.
  store_.finish_async(
      id, std::move(outcome),
      [this, id, r = std::move(r), state, retried, ended, caller = std::this_thread::get_id()](
          Result<Job> job) { recorded(id, r, state, retried, ended, caller, std::move(job)); });
}

void Dispatcher::recorded(const std::string& id, const Running& r, JobState state, bool retried,
                          TimePoint ended, std::thread::id caller, Result<Job> job) {
  bool notify = false;
  {
    std::lock_guard lock(mutex_);
    // Not a later attempt that took this one's place (see deliver()).
    auto it = running_.find(id);
    if (it != running_.end() && it->second.job.attempt == r.job.attempt) running_.erase(it);
    --attempts_;
    --finishing_;
    if (--running_by_task_[r.job.task] == 0) running_by_task_.erase(r.job.task);
    if (--finishing_by_task_[r.job.task] == 0) finishing_by_task_.erase(r.job.task);
    queue_moved_ = true;
    if (!queued_watched_.empty()) reschedule_ = true;  // refresh their n_ahead_in_queue
    if (r.job.started_at) {
      stats_.run_durations[r.job.task].record(
          std::chrono::duration<double>(ended - *r.job.started_at).count());
    }
    if (retried) {
      stats_.retried++;
      reschedule_ = true;  // wake for its retry_at
    } else if (state == JobState::succeeded) {
      stats_.succeeded++;
    } else if (state == JobState::cancelled) {
      stats_.cancelled++;
    } else {
      stats_.failed++;
    }
    // The store claimed nothing in a commit that failed: the slot is for the next claim.
    if (!job) wake_ = true;
    notify = loop_has_work_locked();
  }
  if (notify) cv_.notify_all();
  if (!job) {
    log::error("recording a job's outcome failed; start-up recovery will settle it",
               {{"job", id}, {"error", job.error().detail}});
  } else if (job->state != JobState::queued) {
    hub_.publish(snapshot_of(*job));
  } else if (std::this_thread::get_id() == caller) {
    Snapshot snap = snapshot_of(*job);
    snap.n_ahead_in_queue = store_.n_ahead(*job);
    hub_.publish(snap);
  } else {
    // n_ahead() reads the store: not on the store's writer thread.
    post_finisher([this, job = std::move(*job)] {
      Snapshot snap = snapshot_of(job);
      snap.n_ahead_in_queue = store_.n_ahead(job);
      hub_.publish(snap);
    });
  }
  // Notified under the lock: once stop() sees 0 it may destroy the dispatcher, and this thread
  // must not touch it after the unlock.
  std::lock_guard lock(mutex_);
  if (--recording_ == 0) recorded_cv_.notify_all();
}

bool Dispatcher::cancel_running(std::string_view id) {
  std::uint64_t run_id = 0;
  bool is_function = false;
  {
    std::lock_guard lock(mutex_);
    auto it = running_.find(std::string(id));
    if (it == running_.end()) return false;
    if (it->second.stop == StopReason::none) it->second.stop = StopReason::cancel;
    run_id = it->second.run_id;
    is_function = it->second.task && it->second.task->fn;
  }
  if (run_id != 0) {
    if (is_function) {
      functions_->cancel(run_id);
    } else {
      commands_->cancel(run_id);
    }
  }
  return true;
}

std::optional<Snapshot> Dispatcher::live_snapshot(std::string_view id) {
  std::lock_guard lock(mutex_);
  auto it = running_.find(std::string(id));
  if (it == running_.end()) return std::nullopt;
  return snapshot_of(it->second.job);
}

void Dispatcher::queue_changed() {
  {
    std::lock_guard lock(mutex_);
    queue_moved_ = true;
    reschedule_ = true;
  }
  cv_.notify_all();
}

void Dispatcher::track_queued(const Job& job) {
  std::lock_guard lock(mutex_);
  queued_watched_[job.id] = job;
}

void Dispatcher::persist_progress() {
  std::vector<ProgressWrite> writes;
  {
    std::lock_guard lock(mutex_);
    for (auto& [id, r] : running_) {
      if (!r.dirty || r.finishing) continue;
      r.dirty = false;
      writes.push_back(ProgressWrite{id, r.job.seq, r.job.fraction, r.job.message});
    }
  }
  if (auto ok = store_.save_progress(writes); !ok) {
    log::warn("persisting progress failed", {{"error", ok.error().detail}});
  }
}

void Dispatcher::refresh_queued() {
  std::vector<Job> jobs;
  {
    std::lock_guard lock(mutex_);
    if (!queue_moved_ || queued_watched_.empty()) return;
    queue_moved_ = false;
    for (const auto& [id, job] : queued_watched_) jobs.push_back(job);
  }
  auto watched = hub_.watched_ids();
  std::sort(watched.begin(), watched.end());
  for (const Job& job : jobs) {
    if (!std::binary_search(watched.begin(), watched.end(), job.id)) {
      std::lock_guard lock(mutex_);
      queued_watched_.erase(job.id);
      continue;
    }
    Snapshot snap = snapshot_of(job);
    snap.n_ahead_in_queue = store_.n_ahead(job);
    hub_.publish(snap);
  }
}

void Dispatcher::check_timeouts() {
  std::vector<std::uint64_t> expired;
  {
    std::lock_guard lock(mutex_);
    const auto now = SteadyClock::now();
    for (auto& [id, r] : running_) {
      if (r.deadline && r.stop == StopReason::none && *r.deadline <= now) {
        r.stop = StopReason::timeout;
        expired.push_back(r.run_id);
      }
    }
  }
  for (auto run_id : expired) functions_->cancel(run_id);
}

void Dispatcher::sweep() {
  std::optional<TimePoint> cutoff;
  if (config_.finished_job_ttl) cutoff = now_ms() - *config_.finished_job_ttl;
  sweep_epoch_.fetch_add(1);  // odd: a cache of finished jobs must not trust what it holds
  auto swept = store_.sweep(now_ms(), cutoff);
  sweep_epoch_.fetch_add(1);
  if (!swept) {
    log::warn("sweeping expired results failed", {{"error", swept.error().detail}});
    return;
  }
  for (const auto& id : swept->results_expired) results_.remove(id);
  if (swept->jobs_removed > 0 || !swept->results_expired.empty()) {
    log::info("swept expired jobs and results", {{"jobs_removed", swept->jobs_removed},
                                                  {"results_removed", swept->results_expired.size()}});
  }
}

void Dispatcher::stop(std::chrono::milliseconds grace) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) {
      if (abandoned_) return;
    }
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();

  std::unique_lock lock(mutex_);
  if (abandoned_) return;
  cv_.wait_for(lock, grace, [&] { return attempts_ == 0; });
  // Still running after the grace period: stop them and record them as interrupted.
  std::vector<std::pair<std::uint64_t, bool>> to_stop;
  Millis kill_wait{0};
  for (auto& [id, r] : running_) {
    r.stop = StopReason::shutdown;
    const bool is_function = r.task && r.task->fn;
    if (r.run_id != 0) to_stop.emplace_back(r.run_id, is_function);
    if (r.task && !is_function) kill_wait = std::max(kill_wait, r.task->config.kill_grace);
  }
  lock.unlock();
  for (auto [run_id, is_function] : to_stop) {
    if (is_function) {
      functions_->cancel(run_id);
    } else {
      commands_->cancel(run_id);
    }
  }
  lock.lock();
  cv_.wait_for(lock, kill_wait + std::chrono::seconds(1), [&] { return attempts_ == 0; });
  abandoned_ = true;
  lock.unlock();
  persist_progress();
  commands_.reset();
  functions_.reset();
  // No attempt ends from here on; outcomes handed to the store come back (committed or
  // failed) before the finishers their callbacks may use are gone.
  lock.lock();
  recorded_cv_.wait(lock, [&] { return recording_ == 0; });
  lock.unlock();
  finishers_.reset();
}

}  // namespace wq
