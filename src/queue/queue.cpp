#include "wq/queue.hpp"

#include "core/log.hpp"
#include "core/spec.hpp"
#include "queue/dispatcher.hpp"
#include "queue/progress_hub.hpp"
#include "queue/task_registry.hpp"
#include "store/result_dir.hpp"

#include <fmt/format.h>

#include <condition_variable>
#include <thread>

namespace wq {
namespace {

Error no_such_job(std::string_view id) {
  return make_error(Errc::not_found, fmt::format("no job with id '{}'", id.substr(0, 140)));
}

template <class T>
T value_or_throw(Result<T> r) {
  if (!r) throw ErrorException(r.error());
  return std::move(*r);
}

}  // namespace

struct Queue::Watch::State {
  ProgressHub::Subscription subscription;
};

Queue::Watch::Watch() = default;
Queue::Watch::Watch(Watch&&) noexcept = default;
Queue::Watch& Queue::Watch::operator=(Watch&&) noexcept = default;
Queue::Watch::~Watch() = default;
void Queue::Watch::reset() { state_.reset(); }

class Queue::Impl {
 public:
  explicit Impl(Config config)
      : config_(std::move(config)),
        results_(value_or_throw(ResultDir::open(config_.data_dir))),
        store_(value_or_throw(open_store(config_))) {
    for (const auto& [name, task] : config_.tasks) tasks_.put(TaskEntry{task, {}});
    if (auto r = recover(); !r) throw ErrorException(r.error());
    const auto recover_every = store_->recover_interval();
    // Many nodes: snapshots published here reach the other nodes' watchers through the store.
    if (recover_every) hub_.set_forward([this](const Snapshot& s) { store_->publish(s); });
    dispatcher_ = std::make_unique<Dispatcher>(config_, *store_, results_, hub_, tasks_);
    dispatcher_->start();
    store_->set_event_sink([this](const StoreEvent& e) { on_store_event(e); });
    if (recover_every) {
      lease_keeper_ = std::thread([this, every = *recover_every] { keep_leases(every); });
    }
  }

  ~Impl() { stop(Millis(0)); }

  bool retry_after_crash(const Job& job) const {
    auto task = tasks_.find(job.task);
    const CrashPolicy policy = task ? task->config.on_crash : CrashPolicy::retry;
    return policy == CrashPolicy::retry && job.attempt < job.max_attempts;
  }

  // Settles jobs whose process (or node) died; true if any was queued again.
  Result<bool> recover() {
    auto recovered = store_->recover([&](const Job& job) { return retry_after_crash(job); });
    if (!recovered) return recovered.error();
    bool requeued = false;
    for (const auto& r : *recovered) {
      requeued = requeued || r.job.state == JobState::queued;
      log::warn(r.job.state == JobState::queued ? "job interrupted by a stop; queued again"
                                                : "job interrupted by a stop; failed",
                {{"job", r.job.id}, {"task", r.job.task}, {"attempt", r.job.attempt}});
      if (dispatcher_) hub_.publish(snapshot_of(r.job));
    }
    return requeued;
  }

  // Many nodes: settles the jobs of nodes that died, every `every`, while this one serves.
  void keep_leases(Millis every) {
    std::unique_lock lock(keeper_mutex_);
    while (!keeper_cv_.wait_for(lock, every, [&] { return keeper_stop_; })) {
      lock.unlock();
      auto requeued = recover();
      if (!requeued) {
        log::warn("recovering jobs of stopped nodes failed", {{"error", requeued.error().detail}});
      } else if (*requeued) {
        dispatcher_->wake();
      }
      lock.lock();
    }
  }

  void on_store_event(const StoreEvent& e) {
    switch (e.kind) {
      case StoreEvent::Kind::work:
        dispatcher_->wake();
        break;
      case StoreEvent::Kind::cancel:
        dispatcher_->cancel_running(e.snapshot.id);
        break;
      case StoreEvent::Kind::snapshot:
        hub_.deliver_remote(e.snapshot);
        break;
    }
  }

  void register_task(const std::string& name, TaskFn fn, TaskConfig options) {
    options.name = name;
    options.command.clear();
    tasks_.put(TaskEntry{std::move(options), std::move(fn)});
    dispatcher_->wake();
  }

  Result<Submitted> submit(const JobSpec& spec) {
    auto job = new_job(spec);
    if (!job) return job.error();
    auto submitted = store_->submit(*job);
    if (submitted) on_submitted(*submitted);
    return submitted;
  }

  void submit_async(const JobSpec& spec, std::function<void(Result<Submitted>)> done) {
    // Counted before new_job() checks stopping_: stop() waits for every submit that got past
    // that check, whose completion uses the dispatcher.
    async_submits_.fetch_add(1);
    auto job = new_job(spec);
    if (!job) {
      end_async_submit();
      return done(job.error());
    }
    store_->submit_async(std::move(*job), [this, done = std::move(done)](Result<Submitted> r) {
      if (r) on_submitted(*r);
      end_async_submit();
      done(std::move(r));
    });
  }

  void end_async_submit() {
    if (async_submits_.fetch_sub(1) == 1) async_submits_.notify_all();
  }

  bool submit_blocks() const noexcept { return !store_->submits_async(); }

  // The job a submit of `spec` stores, or why there is none.
  Result<NewJob> new_job(const JobSpec& spec) {
    auto task = tasks_.find(spec.task);
    if (!task) {
      std::string known;
      for (const auto& t : tasks_.all()) known += fmt::format("{}{}", known.empty() ? "" : ", ", t->config.name);
      return make_error(Errc::unknown_task, fmt::format("unknown task '{}'; known tasks: {}",
                                                        spec.task.substr(0, 140), known.empty() ? "none" : known));
    }
    if (stopping_.load()) return make_error(Errc::shutting_down, "the queue is stopping; submit again after it restarts");
    auto job = prepare_job(spec, task->config, now_ms());
    if (!job) return job.error();
    job->max_queued = config_.max_queued;
    return job;
  }

  void on_submitted(const Submitted& s) {
    // The store's claim hook starts runnable jobs; a delayed one needs the timer moved.
    if (s.created && s.job.run_at > now_ms()) dispatcher_->reschedule();
    dispatcher_->count_submit(s.created);
  }

  Result<Job> get(std::string_view id, const std::optional<std::string>& owner) {
    auto found = store_->get(id);
    if (!found) return found.error();
    if (!*found || (owner && (*found)->owner != *owner)) return no_such_job(id);
    Job job = std::move(**found);
    if (auto live = dispatcher_->live_snapshot(id); live && live->seq > job.seq) {
      job.seq = live->seq;
      job.fraction = live->fraction;
      job.message = live->message;
    }
    return job;
  }

  Result<Snapshot> snapshot(std::string_view id, const std::optional<std::string>& owner) {
    auto job = get(id, owner);
    if (!job) return job.error();
    return current_snapshot(*job);
  }

  // The store counts only a job still queued in the store, so a `job` read before it was
  // claimed or cancelled gets 0, as from a fresh read. A running job needs no store read.
  std::int64_t n_ahead(const Job& job) {
    if (job.state != JobState::queued || dispatcher_->live_snapshot(job.id)) return 0;
    return store_->n_ahead(job);
  }

  Snapshot current_snapshot(const Job& job) {
    if (auto live = dispatcher_->live_snapshot(job.id)) return *live;
    Snapshot snap = snapshot_of(job);
    if (job.state == JobState::queued) snap.n_ahead_in_queue = store_->n_ahead(job);
    return snap;
  }

  Result<Job> cancel(std::string_view id, const std::optional<std::string>& owner) {
    auto job = store_->cancel(id, owner);
    if (!job) return job;
    if (job->state == JobState::running) {
      dispatcher_->cancel_running(id);
    } else if (job->state == JobState::cancelled) {
      hub_.publish(snapshot_of(*job));
      dispatcher_->queue_changed();
    }
    return job;
  }

  Result<Watch> watch(std::string_view id, std::uint64_t after, std::function<void(const Snapshot&)> cb,
                      const std::optional<std::string>& owner) {
    auto known = get(id, owner);
    if (!known) return known.error();
    Watch w;
    w.state_ = std::make_unique<Watch::State>();
    w.state_->subscription = hub_.subscribe(std::string(id), after, std::move(cb));
    // Read the state only after subscribing: whatever happens from here on is published to us.
    if (auto live = dispatcher_->live_snapshot(id)) {
      w.state_->subscription.offer(*live);
      return w;
    }
    auto job = get(id, owner);
    if (!job) return job.error();
    if (job->state == JobState::queued) dispatcher_->track_queued(*job);
    w.state_->subscription.offer(current_snapshot(*job));
    return w;
  }

  Result<std::optional<Snapshot>> wait(std::string_view id, std::uint64_t after, Millis timeout,
                                       const std::optional<std::string>& owner) {
    std::mutex m;
    std::condition_variable cv;
    std::optional<Snapshot> got;
    auto w = watch(id, after, [&](const Snapshot& s) {
      std::lock_guard lock(m);
      if (!got) got = s;
      cv.notify_all();
    }, owner);
    if (!w) return w.error();
    std::unique_lock lock(m);
    cv.wait_for(lock, timeout, [&] { return got.has_value(); });
    auto result = got;
    lock.unlock();
    w->reset();
    return result;
  }

  Result<std::filesystem::path> result_path(std::string_view id, const std::optional<std::string>& owner) {
    auto job = get(id, owner);
    if (!job) return job.error();
    if (job->state != JobState::succeeded) {
      return make_error(Errc::not_finished,
                        fmt::format("job {} is {}; its result is available once it has succeeded",
                                    job->id, to_string(job->state)));
    }
    if (!job->result_size) {
      return make_error(Errc::not_found, fmt::format("job {} has no result: it wrote none, or it expired", job->id));
    }
    auto path = results_.result_path(id);
    // Many nodes: a job that ran elsewhere has its result in the store; keep a local copy.
    if (std::error_code ec; !std::filesystem::exists(path, ec)) {
      auto fetched = store_->fetch_result(id, path);
      if (!fetched) return fetched.error();
    }
    return path;
  }

  void stop(Millis grace) {
    stopping_ = true;
    for (int n = async_submits_.load(); n != 0; n = async_submits_.load()) async_submits_.wait(n);
    {
      std::lock_guard lock(keeper_mutex_);
      keeper_stop_ = true;
    }
    keeper_cv_.notify_all();
    if (lease_keeper_.joinable()) lease_keeper_.join();
    // Before the dispatcher stops: events from other nodes must not reach a stopped one.
    store_->set_event_sink({});
    if (dispatcher_) dispatcher_->stop(grace);
  }

  const Config& config() const { return config_; }
  std::uint64_t finished_jobs_epoch() const noexcept { return dispatcher_->sweep_epoch(); }
  QueueStats stats() const {
    QueueStats s = dispatcher_->stats();
    s.store = store_->stats();
    return s;
  }
  Result<JobPage> list(const JobFilter& f) { return store_->list(f); }

 private:
  Config config_;
  ResultDir results_;
  std::unique_ptr<Store> store_;
  TaskRegistry tasks_;
  ProgressHub hub_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> async_submits_{0};  // submit_async calls not yet completed
  std::mutex keeper_mutex_;
  std::condition_variable keeper_cv_;
  bool keeper_stop_ = false;  // guarded by keeper_mutex_
  std::thread lease_keeper_;  // many nodes only; joined by stop()
  std::unique_ptr<Dispatcher> dispatcher_;  // last: stopped and destroyed first
};

Queue::Queue(Config config) : impl_(std::make_unique<Impl>(std::move(config))) {}
Queue::~Queue() = default;

void Queue::register_task(const std::string& name, TaskFn fn, TaskConfig options) {
  impl_->register_task(name, std::move(fn), std::move(options));
}
Result<Submitted> Queue::submit(const JobSpec& spec) { return impl_->submit(spec); }
void Queue::submit_async(const JobSpec& spec, std::function<void(Result<Submitted>)> done) {
  impl_->submit_async(spec, std::move(done));
}
bool Queue::submit_blocks() const noexcept { return impl_->submit_blocks(); }
Result<std::optional<Job>> Queue::ensure_run(const JobSpec& spec) {
  auto s = impl_->submit(spec);
  if (!s) return s.error();
  if (!s->created && s->job.state == JobState::succeeded) return std::optional<Job>{};
  return std::optional<Job>{std::move(s->job)};
}
Result<Job> Queue::get(std::string_view id, const std::optional<std::string>& owner) { return impl_->get(id, owner); }
Result<JobPage> Queue::list(const JobFilter& filter) { return impl_->list(filter); }
Result<Snapshot> Queue::snapshot(std::string_view id, const std::optional<std::string>& owner) {
  return impl_->snapshot(id, owner);
}
std::int64_t Queue::n_ahead(const Job& job) { return impl_->n_ahead(job); }
Result<Job> Queue::cancel(std::string_view id, const std::optional<std::string>& owner) {
  return impl_->cancel(id, owner);
}
Result<Queue::Watch> Queue::watch(std::string_view id, std::uint64_t after_seq,
                                  std::function<void(const Snapshot&)> cb,
                                  const std::optional<std::string>& owner) {
  return impl_->watch(id, after_seq, std::move(cb), owner);
}
Result<std::optional<Snapshot>> Queue::wait(std::string_view id, std::uint64_t after_seq,
                                            std::chrono::milliseconds timeout,
                                            const std::optional<std::string>& owner) {
  return impl_->wait(id, after_seq, timeout, owner);
}
Result<std::filesystem::path> Queue::result_path(std::string_view id, const std::optional<std::string>& owner) {
  return impl_->result_path(id, owner);
}
void Queue::stop(std::chrono::milliseconds grace) { impl_->stop(grace); }
const Config& Queue::config() const { return impl_->config(); }
std::uint64_t Queue::finished_jobs_epoch() const noexcept { return impl_->finished_jobs_epoch(); }
QueueStats Queue::stats() const { return impl_->stats(); }

}  // namespace wq
