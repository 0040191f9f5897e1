#include "store/postgres/pg_store.hpp"

#include "core/log.hpp"
#include "store/commit_stats.hpp"
#include "store/done_flag.hpp"
#include "store/postgres/migrations.hpp"
#include "store/postgres/pg_claims.hpp"
#include "store/postgres/pg_job_rows.hpp"
#include "store/postgres/pg_job_writes.hpp"
#include "store/postgres/pg_events.hpp"
#include "store/postgres/pg_leases.hpp"
#include "store/postgres/pg_results.hpp"
#include "store/postgres/pg_conn.hpp"

#include <boost/json/serialize.hpp>
#include <fmt/format.h>
#include <pthread.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <condition_variable>
#include <limits>
#include <mutex>
#include <random>
#include <thread>

namespace wq::postgres {
namespace {

constexpr Millis kDefaultLease{30000};
constexpr Millis kNextRunAtRefresh{1000};
// Writer threads, each with its own connection and group commit. One: while it commits, the
// next writes gather into one batch (submits into one INSERT, finishes into one UPDATE, one
// claim for all). With four, the writes of 8 submitters spread over them, batches held 1.3
// writes and PG-W1 on three nodes cost 4.9 statements and 1.2 commits per job; with one, 1.7
// and 0.34. More writers only help if a batch's time is spent waiting, not working.
constexpr int kWriters = 1;

std::string node_id() {
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  return fmt::format("{}:{}:{:08x}", host, ::getpid(), std::random_device{}());
}

struct PgUrl {
  std::string conninfo;  // what libpq gets: our own parameters removed
  Millis lease = kDefaultLease;
};

// Takes `lease=DURATION` out of the URL's query; the rest is libpq's.
Result<PgUrl> parse_url(const std::string& url) {
  PgUrl out;
  const auto q = url.find('?');
  out.conninfo = url.substr(0, q);
  if (q == std::string::npos) return out;
  std::string kept;
  std::string_view query(url);
  query.remove_prefix(q + 1);
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view item = query.substr(0, amp);
    query.remove_prefix(amp == std::string_view::npos ? query.size() : amp + 1);
    if (item.starts_with("lease=")) {
      auto d = parse_duration(item.substr(6));
      if (!d || *d < Millis(100)) {
        return make_error(Errc::config_invalid,
                          fmt::format("store: lease '{}' is not a duration of at least 100ms, "
                                      "e.g. lease=30s", item.substr(6)));
      }
      out.lease = *d;
    } else if (!item.empty()) {
      kept += kept.empty() ? "?" : "&";
      kept += item;
    }
  }
  out.conninfo += kept;
  return out;
}

class PgStore final : public Store {
 public:
  PgStore(PgUrl url, Durability durability)
      : url_(std::move(url)), durability_(durability), node_(node_id()),
        claims_(node_, url_.lease),
        writes_(node_) {}

  // Writers and the lease keeper send through events_; its listener reads through the pool.
  ~PgStore() override {
    {
      std::lock_guard lock(queue_mutex_);
      stopping_ = true;
    }
    queue_cv_.notify_all();
    for (auto& w : writers_) w.join();
    leases_.reset();
    events_.reset();
  }

  Result<void> start() {
    auto conn = PgConn::connect(url_.conninfo);
    if (!conn) return conn.error();
    if (auto m = migrate(**conn); !m) return m.error();
    std::vector<std::unique_ptr<PgConn>> conns;
    if (auto r = configure_writer(**conn); !r) return r.error();
    conns.push_back(std::move(*conn));
    for (int i = 1; i < kWriters; ++i) {
      auto c = connect_writer();
      if (!c) return c.error();
      conns.push_back(std::move(*c));
    }
    events_ = std::make_unique<PgEvents>(url_.conninfo, node_, [this](const std::string& id) {
      auto job = get(id);
      return job ? *job : std::nullopt;
    });
    if (auto r = events_->start(); !r) return r.error();
    for (auto& c : conns) {
      writers_.emplace_back([this, c = std::move(c)]() mutable {
        pthread_setname_np(pthread_self(), "wq-pg-write");
        writer_loop(std::move(c));
      });
    }
    leases_ = std::make_unique<PgLeases>(url_.conninfo, node_, url_.lease,
                                         [this](const std::vector<std::string>& ids) {
                                           for (const auto& id : ids) {
                                             events_->emit(StoreEvent{StoreEvent::Kind::cancel, {.id = id}});
                                           }
                                         });
    leases_->start();
    return {};
  }

  void set_claim_hook(ClaimHook hook) override { claim_hook_ = std::move(hook); }

  Result<Submitted> submit(const NewJob& nj) override {
    const std::string params = boost::json::serialize(nj.job.params);
    std::optional<std::string> secrets;
    if (!nj.secrets.empty()) secrets = boost::json::serialize(nj.secrets);
    PgJobWrites::SubmitArgs args{&nj, &params, &secrets, nullptr};
    auto r = write<Submitted>(
        [&](PgConn& c) { return writes_.submit(c, nj, params, secrets); }, true,
        [&](Op& op, std::optional<Result<Submitted>>& slot) {
          if (nj.max_queued > 0) return;  // the limit needs a count first: one by one
          args.result = &slot;
          op.submit = &args;
        });
    if (r && r->created && r->job.run_at > now_ms()) note_run_at(r->job.run_at);
    return r;
  }

  Result<std::vector<ClaimedJob>> claim(const ClaimRequest& req) override {
    auto r = write<std::vector<ClaimedJob>>([&](PgConn& c) { return claims_.claim(c, req); });
    if (r) hold(*r);
    return r;
  }

  Result<Job> finish(std::string_view id, const Outcome& outcome) override {
    auto stored = store_result(id, outcome);
    if (!stored) return stored.error();
    const std::optional<Oid> result = *stored;
    PgJobWrites::FinishArgs args{id, &outcome, result, nullptr};
    auto r = write<Job>([&](PgConn& c) { return writes_.finish(c, id, outcome, result); }, true,
                        [&](Op& op, std::optional<Result<Job>>& slot) {
                          args.result = &slot;
                          op.finish = &args;
                        });
    finished(id, r, result);
    return r;
  }

  // The caller goes back to its work at once: a function pool's worker that would wait for
  // the commit (a sleep and a wake-up per job) takes the next job instead.
  void finish_async(std::string id, Outcome outcome, FinishDone done) override {
    std::optional<Oid> result;
    if (auto r = store_result(id, outcome)) {
      result = *r;
    } else {
      done(r.error());
      return;
    }
    auto a =
        std::make_unique<AsyncFinish>(std::move(id), std::move(outcome), result, std::move(done));
    a->args = {a->id, &a->outcome, result, &a->slot};
    a->op.run = [this, a = a.get()](PgConn& c) {
      a->slot = writes_.finish(c, a->id, a->outcome, a->result);
      return !*a->slot && a->slot->error().code == Errc::store_failed;
    };
    a->op.may_start_work = true;
    a->op.finish = &a->args;
    a->op.then = [this, a = a.get()] {
      std::unique_ptr<AsyncFinish> owned(a);
      Result<Job> r =
          owned->op.commit_error ? Result<Job>(*owned->op.commit_error) : std::move(*owned->slot);
      finished(owned->id, r, owned->result);
      owned->done(std::move(r));
    };
    if (!enqueue(&a->op)) {
      if (result) unlink_results({*result});
      a->done(make_error(Errc::shutting_down, "the store is closing"));
      return;
    }
    a.release();  // owned by its op's `then` from here
  }

  Result<Job> cancel(std::string_view id, const std::optional<std::string>& owner) override {
    return write<Job>([&](PgConn& c) { return writes_.cancel(c, id, owner); });
  }

  Result<void> save_progress(std::span<const ProgressWrite> writes) override {
    if (writes.empty()) return {};
    return write<void>([&](PgConn& c) -> Result<void> {
      for (const auto& w : writes) {
        auto r = c.run("save_progress",
                       "UPDATE wq_jobs SET seq = greatest(seq, $1), fraction = $2, message = $3 "
                       "WHERE id = $4 AND state = 1",
                       Params().add(static_cast<std::int64_t>(w.seq)).add(w.fraction)
                           .add(w.message).add(w.id));
        if (!r) return r.error();
      }
      return {};
    });
  }

  Result<std::optional<Job>> get(std::string_view id) override {
    return read<std::optional<Job>>([&](PgConn& c) -> Result<std::optional<Job>> {
      auto r = c.run("get", "SELECT " WQ_PG_JOB_COLUMNS " FROM wq_jobs WHERE id = $1",
                     Params().add(id));
      if (!r) return r.error();
      if (r->size() == 0) return std::optional<Job>{};
      return std::optional<Job>{row_to_job(*r, 0)};
    });
  }

  Result<JobPage> list(const JobFilter& f) override {
    std::int64_t before = std::numeric_limits<std::int64_t>::max();
    if (f.cursor) {
      auto [p, ec] = std::from_chars(f.cursor->data(), f.cursor->data() + f.cursor->size(), before);
      if (ec != std::errc() || p != f.cursor->data() + f.cursor->size()) {
        return make_error(Errc::bad_input, "cursor is not one returned by a previous page");
      }
    }
    const std::size_t limit = std::clamp<std::size_t>(f.limit, 1, 1000);
    std::optional<std::int64_t> state;
    if (f.state) state = static_cast<std::int64_t>(*f.state);
    return read<JobPage>([&](PgConn& c) -> Result<JobPage> {
      auto r = c.run("list",
                     "SELECT " WQ_PG_JOB_COLUMNS " FROM wq_jobs WHERE ($1::smallint IS NULL OR "
                     "state = $1) AND ($2::text IS NULL OR task = $2) AND ($3::text IS NULL OR "
                     "owner = $3) AND seqno < $4 ORDER BY seqno DESC LIMIT $5",
                     Params().add(state).add(f.task).add(f.owner).add(before)
                         .add(static_cast<std::int64_t>(limit + 1)));
      if (!r) return r.error();
      JobPage page;
      for (int i = 0; i < r->size(); ++i) {
        if (page.jobs.size() == limit) {
          page.next_cursor = std::to_string(r->int64(i - 1, 0));
          break;
        }
        page.jobs.push_back(row_to_job(*r, i));
      }
      return page;
    });
  }

  std::int64_t n_ahead(const Job& job) override {
    if (job.state != JobState::queued) return 0;
    auto n = read<std::int64_t>([&](PgConn& c) -> Result<std::int64_t> {
      // Ready jobs (run_at <= now) start by priority then FIFO; a delayed job waits for every
      // ready job and the delayed ones due before it.
      auto r = c.run(
          "n_ahead",
          "WITH me AS (SELECT seqno, priority, run_at FROM wq_jobs WHERE id = $1 AND state = 0) "
          "SELECT (SELECT count(*) FROM wq_jobs WHERE finished_at IS NULL AND state = 1) + "
          "(SELECT count(*) FROM wq_jobs q WHERE q.finished_at IS NULL AND q.state = 0 AND "
          "CASE WHEN me.run_at <= $2 THEN q.run_at <= $2 AND (q.priority > me.priority OR "
          "(q.priority = me.priority AND q.seqno < me.seqno)) ELSE q.run_at <= $2 OR "
          "(q.run_at, q.seqno) < (me.run_at, me.seqno) END) FROM me",
          Params().add(job.id).add(ms(now_ms())));
      if (!r) return r.error();
      return r->size() == 0 ? 0 : r->int64(0, 0);
    });
    return n ? *n : 0;
  }

  std::optional<TimePoint> next_run_at() override {
    const TimePoint now = now_ms();
    {
      std::lock_guard lock(run_at_mutex_);
      const bool fresh = std::chrono::steady_clock::now() < run_at_checked_ + kNextRunAtRefresh;
      if (fresh && (!next_run_at_ || *next_run_at_ > now)) return next_run_at_;
    }
    auto r = read<std::optional<TimePoint>>([&](PgConn& c) -> Result<std::optional<TimePoint>> {
      auto rows = c.run("next_run_at",
                        "SELECT min(run_at) FROM wq_jobs WHERE finished_at IS NULL AND state = 0 "
                        "AND run_at > $1",
                        Params().add(ms(now)));
      if (!rows) return rows.error();
      if (rows->null(0, 0)) return std::optional<TimePoint>{};
      return std::optional<TimePoint>{from_ms(rows->int64(0, 0))};
    });
    std::lock_guard lock(run_at_mutex_);
    run_at_checked_ = std::chrono::steady_clock::now();
    if (r) next_run_at_ = *r;
    return next_run_at_;
  }

  Result<std::vector<Recovered>> recover(const std::function<bool(const Job&)>& retry) override {
    return write<std::vector<Recovered>>([&](PgConn& c) { return writes_.recover(c, retry); }, true);
  }

  Result<Swept> sweep(TimePoint now, std::optional<TimePoint> finished_before) override {
    return write<Swept>([&](PgConn& c) { return writes_.sweep(c, now, finished_before); });
  }

  StoreStats stats() const override { return commit_stats_.snapshot(); }

  void set_event_sink(std::function<void(const StoreEvent&)> sink) override {
    events_->set_sink(std::move(sink));
  }

  void publish(const Snapshot& snap) override { events_->publish(snap); }

  // writer_loop() emits work when a batch leaves runnable jobs its claim could not take.
  bool reports_unclaimed_work() const override { return true; }

  std::optional<Millis> recover_interval() const override { return url_.lease / 2; }

  Result<bool> fetch_result(std::string_view id, const std::filesystem::path& to) override {
    return read<bool>([&](PgConn& c) -> Result<bool> {
      auto r = c.run("result_oid",
                     "SELECT result_oid FROM wq_jobs WHERE id = $1 AND state = 2 AND retained "
                     "AND result_oid IS NOT NULL",
                     Params().add(id));
      if (!r) return r.error();
      if (r->size() == 0) return false;
      if (auto got = get_large_object(c, static_cast<Oid>(r->int64(0, 0)), to); !got) {
        return got.error();
      }
      return true;
    });
  }

 private:
  // Before a finish: refuses a job whose lease this node gave up, and stores a succeeded
  // job's result. The result goes in first, in its own transaction on the caller's thread (a
  // large file must not hold up the writer's batch); the outcome then names it atomically.
  Result<std::optional<Oid>> store_result(std::string_view id, const Outcome& outcome) {
    if (leases_->forfeited(std::string(id))) {
      return make_error(Errc::not_found, fmt::format("job {} was given up by this node when it "
                                                     "could not renew its lease",
                                                     id));
    }
    if (outcome.state == JobState::succeeded && outcome.result_size && outcome.result_file) {
      auto oid = read<Oid>([&](PgConn& c) { return put_large_object(c, *outcome.result_file); });
      if (!oid) return oid.error();
      return std::optional<Oid>(*oid);
    }
    return std::optional<Oid>();
  }

  // After a finish was committed or failed.
  void finished(std::string_view id, const Result<Job>& r, std::optional<Oid> result) {
    if (!r && result) unlink_results({*result});
    if (r || r.error().code == Errc::not_found) leases_->release(std::string(id));
    if (r && r->state == JobState::queued && r->run_at > now_ms()) note_run_at(r->run_at);
  }

  // One write waiting for the writer thread; lives on the caller's stack until `done`, or
  // with `then`, wherever `then` keeps it. `run` may be run twice (once in a shared batch that
  // failed, once alone): it touches nothing but the database and its own result.
  struct Op {
    std::function<bool(PgConn&)> run;  // true: a statement failed (the transaction is aborted)
    bool may_start_work = false;       // a submit, finish or recovery: claim in its commit
    // A submit or a finish that run_batched() may settle (then `run` is not needed).
    PgJobWrites::SubmitArgs* submit = nullptr;
    PgJobWrites::FinishArgs* finish = nullptr;
    bool settled() const { return (submit && submit->settled) || (finish && finish->settled); }
    void unsettle() {
      if (submit) submit->settled = false;
      if (finish) finish->settled = false;
    }
    std::optional<Error> commit_error;
    DoneFlag done;
    // An asynchronous write: called on the writer thread instead of done.set(), after the
    // commit; it owns the op (and may destroy it).
    std::function<void()> then;
  };

  // A finish_async() on its way through the writer.
  struct AsyncFinish {
    AsyncFinish(std::string i, Outcome o, std::optional<Oid> r, FinishDone d)
        : id(std::move(i)), outcome(std::move(o)), result(r), done(std::move(d)) {}
    std::string id;
    Outcome outcome;
    std::optional<Oid> result;
    FinishDone done;
    PgJobWrites::FinishArgs args{};
    std::optional<Result<Job>> slot;
    Op op;
  };

  // Queues `op` for the writer; false if the store is closing.
  bool enqueue(Op* op) {
    {
      std::lock_guard lock(queue_mutex_);
      if (stopping_) return false;
      queue_.push_back(op);
    }
    queue_cv_.notify_one();
    return true;
  }

  // `attach` may make the op a batchable submit or finish whose result goes to the slot.
  template <class T>
  Result<T> write(const std::function<Result<T>(PgConn&)>& body, bool may_start_work = false,
                  const std::function<void(Op&, std::optional<Result<T>>&)>& attach = {}) {
    std::optional<Result<T>> result;
    Op op;
    op.run = [&](PgConn& c) {
      result = body(c);
      return !*result && result->error().code == Errc::store_failed;
    };
    op.may_start_work = may_start_work;
    if (attach) attach(op, result);
    if (!enqueue(&op)) return make_error(Errc::shutting_down, "the store is closing");
    op.done.wait();
    if (op.commit_error) return *op.commit_error;
    return std::move(*result);
  }

  template <class T>
  Result<T> read(const std::function<Result<T>(PgConn&)>& body) {
    std::unique_ptr<PgConn> conn;
    {
      std::lock_guard lock(readers_mutex_);
      if (!readers_.empty()) {
        conn = std::move(readers_.back());
        readers_.pop_back();
      }
    }
    if (!conn) {
      auto c = PgConn::connect(url_.conninfo);
      if (!c) return c.error();
      conn = std::move(*c);
    }
    Result<T> result = body(*conn);
    if (!conn->healthy()) return result;
    std::lock_guard lock(readers_mutex_);
    if (readers_.size() < kMaxIdleReaders) readers_.push_back(std::move(conn));
    return result;
  }

  void writer_loop(std::unique_ptr<PgConn> conn) {
    std::vector<Op*> batch;
    for (;;) {
      {
        std::unique_lock lock(queue_mutex_);
        queue_cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
        if (queue_.empty()) return;
        if (!stopping_) {
          // Woken by the first write of a batch, let the threads about to write run first (as
          // the SQLite store's writer does; on an idle core this returns at once): the
          // submitters and workers the last commit woke join this batch instead of the next.
          // PG-W1-3NODE, 3 interleaved runs each: 0.40-0.42 -> 0.37-0.38 commits and 1.9-2.1
          // -> 1.7 statements per job, wqd 128-136 -> 106-118 us and PostgreSQL 229-251 ->
          // 191-207 us of CPU per job, 4,270-4,616 -> 4,951-5,407 jobs/s.
          lock.unlock();
          std::this_thread::yield();
          lock.lock();
        }
        batch.swap(queue_);
      }
      std::optional<ClaimRequest> reserved;
      std::vector<ClaimedJob> claimed;
      const auto began = std::chrono::steady_clock::now();
      std::optional<Error> failure = run_batch(conn, batch, reserved, claimed);
      if (failure) {
        // One statement failed (a deadlock with another node's batch, a lost connection):
        // nothing of the batch happened. Each write gets its own transaction instead, so one
        // bad write does not fail the others.
        log::warn("postgresql batch failed; retrying its writes one by one",
                  {{"error", failure->detail}, {"writes", batch.size()}});
        claims_.forget_registered_tasks();  // what it added was rolled back
        claimed.clear();
        t_made_work = false;
        for (Op* op : batch) {
          op->unsettle();
          op->commit_error = run_alone(conn, op);
        }
        if (reserved && reserved->max_jobs > 0) claimed = claim_alone(conn, *reserved);
      } else {
        commit_stats_.record(std::chrono::steady_clock::now() - began, batch.size());
      }
      hold(claimed);
      // Work this batch left unclaimed, now committed and visible: this node looks again
      // (another writer's batch may have held its free slots while this one reserved), and
      // the other nodes are told (after the commit, coalesced: a NOTIFY inside the batch
      // would serialise every node's commits on PostgreSQL's notification-queue lock).
      const bool left_work = t_made_work && !(reserved && claimed.size() < reserved->max_jobs);
      // Deliver before waking the writers: a submitter that returns finds its job started.
      if (reserved) claim_hook_.deliver(std::move(claimed), *reserved);
      if (left_work) {
        events_->emit(StoreEvent{StoreEvent::Kind::work, {}});
        events_->announce_work();
      }
      for (Op* op : batch) {
        if (op->then) {
          auto then = std::move(op->then);
          then();  // may destroy the op
        } else {
          op->done.set();
        }
      }
      batch.clear();
    }
  }

  Result<void> ensure_connected(std::unique_ptr<PgConn>& conn) {
    if (conn && conn->healthy()) return {};
    auto c = connect_writer();
    if (!c) return c.error();
    conn = std::move(*c);
    return {};
  }

  // Whatever the server's default, a writer commits as the configured durability says.
  // Its statements always use their generic plan (made once per connection): the batched
  // submit and finish bind arrays, whose length a custom plan sees (a few rows) and a generic
  // one does not, so by default the generic plan always looked dearer and every call was
  // planned anew (1.0 and 0.6 plannings per call, 30 and 16 us per job in PG-W1).
  Result<void> configure_writer(PgConn& c) {
    auto r = c.exec(durability_ == Durability::fsync
                        ? "SET synchronous_commit = on; SET plan_cache_mode = force_generic_plan"
                        : "SET synchronous_commit = off; SET plan_cache_mode = force_generic_plan");
    if (!r) return r.error();
    return {};
  }

  Result<std::unique_ptr<PgConn>> connect_writer() {
    auto c = PgConn::connect(url_.conninfo);
    if (!c) return c.error();
    if (auto r = configure_writer(**c); !r) return r.error();
    return c;
  }

  // Runs the batch, late joiners and the hook's claim in one transaction. The error of the
  // first failed statement, if any (then everything was rolled back).
  std::optional<Error> run_batch(std::unique_ptr<PgConn>& conn, std::vector<Op*>& batch,
                                 std::optional<ClaimRequest>& reserved,
                                 std::vector<ClaimedJob>& claimed) {
    if (auto ok = ensure_connected(conn); !ok) return ok.error();
    PgConn& c = *conn;
    t_made_work = false;
    if (auto r = c.exec("BEGIN"); !r) return r.error();
    std::size_t done = 0;
    for (;;) {
      if (auto r = run_batched(c, batch, done); !r) {
        rollback(c);
        std::lock_guard lock(queue_mutex_);
        batch.insert(batch.end(), queue_.begin(), queue_.end());
        queue_.clear();
        return r.error();
      }
      for (; done < batch.size(); ++done) {
        if (batch[done]->settled()) continue;
        if (batch[done]->run(c)) {
          // Take in what is waiting anyway: run_alone() will handle it.
          rollback(c);
          std::lock_guard lock(queue_mutex_);
          batch.insert(batch.end(), queue_.begin(), queue_.end());
          queue_.clear();
          return make_error(Errc::store_failed, "a write failed");
        }
      }
      std::lock_guard lock(queue_mutex_);
      if (queue_.empty() || batch.size() >= kMaxBatch) break;
      batch.insert(batch.end(), queue_.begin(), queue_.end());
      queue_.clear();
    }
    if (std::any_of(batch.begin(), batch.end(), [](Op* op) { return op->may_start_work; }) &&
        claim_hook_.reserve) {
      reserved = claim_hook_.reserve();
      if (reserved->max_jobs > 0 && !reserved->tasks.empty()) {
        auto got = claims_.claim(c, *reserved);
        if (!got) {
          rollback(c);
          return got.error();
        }
        claimed = std::move(*got);
      }
    }
    if (auto r = c.exec("COMMIT"); !r) {
      rollback(c);
      return r.error();
    }
    return std::nullopt;
  }

  // Settles the submits and finishes among batch[from..] with one statement of each kind.
  // A submit the statement does not insert (its key or id exists; another node's insert won a
  // race) and a finish it does not record stay unsettled: their Op::run decides, after it in the
  // same transaction.
  Result<void> run_batched(PgConn& c, const std::vector<Op*>& batch, std::size_t from) {
    std::vector<PgJobWrites::SubmitArgs*> submits;
    std::vector<PgJobWrites::FinishArgs*> finishes;
    for (std::size_t i = from; i < batch.size(); ++i) {
      if (batch[i]->submit) submits.push_back(batch[i]->submit);
      if (batch[i]->finish) finishes.push_back(batch[i]->finish);
    }
    if (!submits.empty()) {
      if (auto r = writes_.submit_many(c, submits); !r) return r;
    }
    if (!finishes.empty()) {
      if (auto r = writes_.finish_many(c, finishes); !r) return r;
    }
    return {};
  }

  void rollback(PgConn& c) {
    if (auto r = c.exec("ROLLBACK"); !r && c.healthy()) {
      log::error("postgresql rollback failed", {{"error", r.error().detail}});
    }
  }

  std::optional<Error> run_alone(std::unique_ptr<PgConn>& conn, Op* op) {
    if (auto ok = ensure_connected(conn); !ok) return ok.error();
    PgConn& c = *conn;
    if (auto r = c.exec("BEGIN"); !r) return r.error();
    const auto began = std::chrono::steady_clock::now();
    if (op->run(c)) {
      rollback(c);
      return std::nullopt;  // the op's own result carries the error
    }
    if (auto r = c.exec("COMMIT"); !r) {
      rollback(c);
      return r.error();
    }
    commit_stats_.record(std::chrono::steady_clock::now() - began, 1);
    return std::nullopt;
  }

  std::vector<ClaimedJob> claim_alone(std::unique_ptr<PgConn>& conn, const ClaimRequest& req) {
    std::vector<ClaimedJob> claimed;
    Op op;
    op.run = [&](PgConn& c) {
      auto got = claims_.claim(c, req);
      if (got) claimed = std::move(*got);
      if (!got) log::error("claiming after a write failed", {{"error", got.error().detail}});
      return !got;
    };
    if (auto e = run_alone(conn, &op)) {
      log::error("claiming after a write failed", {{"error", e->detail}});
      claimed.clear();
    }
    return claimed;
  }

  void note_run_at(TimePoint t) {
    std::lock_guard lock(run_at_mutex_);
    if (!next_run_at_ || t < *next_run_at_) next_run_at_ = t;
  }

  void unlink_results(const std::vector<Oid>& oids) {
    auto r = read<bool>([&](PgConn& c) -> Result<bool> {
      if (auto u = PgJobWrites::unlink(c, oids); !u) return u.error();
      return true;
    });
    if (!r) log::warn("cannot remove an unused result", {{"error", r.error().detail}});
  }

  void hold(const std::vector<ClaimedJob>& claimed) {
    if (claimed.empty()) return;
    std::vector<std::string> ids;
    for (const auto& c : claimed) ids.push_back(c.job.id);
    leases_->hold(ids);
  }

  static constexpr std::size_t kMaxIdleReaders = 8;
  static constexpr std::size_t kMaxBatch = 1024;

  const PgUrl url_;
  const Durability durability_;
  const std::string node_;

  std::mutex queue_mutex_;
  std::condition_variable queue_cv_;
  std::vector<Op*> queue_;  // guarded by queue_mutex_
  bool stopping_ = false;   // guarded by queue_mutex_
  std::vector<std::thread> writers_;  // each owns its connection
  CommitStats commit_stats_;

  ClaimHook claim_hook_;  // set before the first write; used by the writer thread
  PgClaims claims_;
  PgJobWrites writes_;
  std::unique_ptr<PgEvents> events_;

  std::mutex readers_mutex_;
  std::vector<std::unique_ptr<PgConn>> readers_;  // idle read connections; guarded

  std::mutex run_at_mutex_;
  std::optional<TimePoint> next_run_at_;                  // guarded by run_at_mutex_
  std::chrono::steady_clock::time_point run_at_checked_;  // guarded by run_at_mutex_

  std::unique_ptr<PgLeases> leases_;
};

}  // namespace

Result<std::unique_ptr<Store>> open_pg_store(const std::string& url, Durability durability) {
  auto parsed = parse_url(url);
  if (!parsed) return parsed.error();
  auto store = std::make_unique<PgStore>(std::move(*parsed), durability);
  if (auto r = store->start(); !r) return r.error();
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace wq::postgres
