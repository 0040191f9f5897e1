#include "store/sqlite/sqlite_store.hpp"

#include "core/log.hpp"
#include "core/string_map.hpp"
#include "store/commit_stats.hpp"
#include "store/done_flag.hpp"
#include "store/file_lock.hpp"
#include "store/sqlite/migrations.hpp"
#include "store/sqlite/ready_index.hpp"
#include "store/sqlite/sqlite_db.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <fcntl.h>
#include <fmt/format.h>
#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <charconv>
#include <limits>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <filesystem>
#include <mutex>
#include <thread>
#include <unordered_map>

namespace wq::sqlite {
namespace {

// Every job query selects these columns in this order; row_to_job() reads them.
#define WQ_JOB_COLUMNS                                                                           \
  "rowid, id, task, params, key, owner, priority, max_attempts, timeout_ms, run_at, attempt, " \
  "state, seq, fraction, message, returncode, error, result_size, created_at, started_at, "    \
  "finished_at"
constexpr int kJobColumnCount = 21;

// Recovery moves the seq of unfinished jobs past anything a dead process may have published
// without persisting (progress is persisted at most every progress_persist_interval, and a
// job cannot publish 2^20 snapshots in that time).
constexpr std::int64_t kSeqGapAfterRestart = std::int64_t{1} << 20;

std::int64_t ms(TimePoint t) { return t.time_since_epoch().count(); }
TimePoint from_ms(std::int64_t v) { return TimePoint(Millis(v)); }

boost::json::object parse_object(std::string_view text) {
  boost::system::error_code ec;
  auto v = boost::json::parse(text, ec);
  if (ec || !v.is_object()) return {};
  return std::move(v.as_object());
}

Job row_to_job(const Stmt& s) {
  Job j;
  j.id = std::string(s.text(1));
  j.task = std::string(s.text(2));
  j.params = parse_object(s.text(3));
  j.key = std::string(s.text(4));
  j.owner = std::string(s.text(5));
  j.priority = static_cast<int>(s.int64(6));
  j.max_attempts = static_cast<int>(s.int64(7));
  if (auto t = s.opt_int64(8)) j.timeout = Millis(*t);
  j.run_at = from_ms(s.int64(9));
  j.attempt = static_cast<int>(s.int64(10));
  j.state = static_cast<JobState>(s.int64(11));
  j.seq = static_cast<std::uint64_t>(s.int64(12));
  j.fraction = s.real(13);
  j.message = s.opt_text(14);
  if (auto rc = s.opt_int64(15)) j.returncode = static_cast<int>(*rc);
  j.error = s.opt_text(16);
  if (auto r = s.opt_int64(17)) j.result_size = static_cast<std::uint64_t>(*r);
  j.created_at = from_ms(s.int64(18));
  if (auto t = s.opt_int64(19)) j.started_at = from_ms(*t);
  if (auto t = s.opt_int64(20)) j.finished_at = from_ms(*t);
  return j;
}

// Reads the first row of a prepared, bound statement as a Job.
Result<std::optional<Job>> first_job(Stmt* s) {
  auto row = s->step();
  if (!row) return row.error();
  if (!*row) return std::optional<Job>{};
  return std::optional<Job>{row_to_job(*s)};
}

class SqliteStore final : public Store {
 public:
  SqliteStore(std::string path, Durability durability, FileLock lock)
      : path_(std::move(path)), durability_(durability), lock_(std::move(lock)) {}

  ~SqliteStore() override {
    {
      std::lock_guard lock(queue_mutex_);
      stopping_ = true;
    }
    queue_cv_.notify_one();
    if (writer_.joinable()) writer_.join();
    {
      std::lock_guard lock(sync_mutex_);
      sync_stop_ = true;
    }
    sync_cv_.notify_one();
    if (syncer_.joinable()) syncer_.join();  // after the writer: it completes the last commits
    if (wal_fd_ >= 0) ::close(wal_fd_);
    {
      std::lock_guard lock(checkpoint_mutex_);
      checkpoint_stop_ = true;
    }
    checkpoint_cv_.notify_one();
    if (checkpointer_.joinable()) checkpointer_.join();
  }

  Result<void> start() {
    auto db = Db::open(path_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    if (!db) return db.error();
    wdb_ = std::move(*db);
    // NORMAL in both modes: a commit writes the WAL without syncing it. With fsync durability
    // the syncer thread syncs it after the commit (see sync_loop), as FULL would have inside it.
    auto ok = wdb_->exec(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=5000; "
        "PRAGMA temp_store=MEMORY; PRAGMA cache_size=-8000; PRAGMA wal_autocheckpoint=0;");
    if (!ok) return ok.error();
    if (auto m = migrate(); !m) return m.error();
    if (auto r = rebuild_index(); !r) return r.error();
    auto cdb = Db::open(path_, SQLITE_OPEN_READWRITE);
    if (!cdb) return cdb.error();
    checkpoint_db_ = std::move(*cdb);
    // journal_mode makes this connection open the WAL: one that never read the database
    // checkpoints nothing (SQLite reports -1 frames and success).
    if (auto r = checkpoint_db_->exec("PRAGMA busy_timeout=5000; PRAGMA journal_mode=WAL;"); !r) {
      return r.error();
    }
    sqlite3_wal_hook(wdb_->handle(), &SqliteStore::on_wal_commit, this);
    if (durability_ == Durability::fsync) {
      if (auto r = open_wal_for_sync(); !r) return r.error();
      syncer_ = std::thread([this] {
        pthread_setname_np(pthread_self(), "wq-sqlite-sync");
        sync_loop();
      });
    }
    writer_ = std::thread([this] {
      pthread_setname_np(pthread_self(), "wq-sqlite-write");
      writer_loop();
    });
    checkpointer_ = std::thread([this] {
      pthread_setname_np(pthread_self(), "wq-sqlite-ckpt");
      checkpoint_loop();
    });
    return {};
  }

  // Called by SQLite on the committing thread after each commit with the WAL's size in pages.
  // Asks for a checkpoint each time the WAL grows past another kCheckpointPages: until a
  // checkpoint catches up and the next write restarts the WAL, every commit reports a large
  // WAL, and waking the checkpointer on each one cost a wake-up and a checkpoint per job.
  static int on_wal_commit(void* self, sqlite3*, const char*, int pages) {
    auto* store = static_cast<SqliteStore*>(self);
    store->wal_pages_ = pages;
    const int step = pages / kCheckpointPages;
    if (step <= store->checkpoint_step_) {
      store->checkpoint_step_ = step;  // smaller once the WAL restarted
      return SQLITE_OK;
    }
    store->checkpoint_step_ = step;
    std::lock_guard lock(store->checkpoint_mutex_);
    store->checkpoint_wanted_ = true;
    store->checkpoint_cv_.notify_one();
    return SQLITE_OK;
  }

  // Copies the WAL back into the database off the writer's path. PASSIVE never blocks the
  // writer or readers; the WAL is reused from its start once a checkpoint has caught up.
  void checkpoint_loop() {
    for (;;) {
      std::unique_lock lock(checkpoint_mutex_);
      checkpoint_cv_.wait(lock, [&] { return checkpoint_wanted_ || checkpoint_stop_; });
      if (checkpoint_stop_) return;
      checkpoint_wanted_ = false;
      lock.unlock();
      std::lock_guard running(checkpoint_running_);
      const int rc = sqlite3_wal_checkpoint_v2(checkpoint_db_->handle(), nullptr,
                                               SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
      if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
        log::warn("sqlite checkpoint failed", {{"error", sqlite3_errmsg(checkpoint_db_->handle())}});
      }
    }
  }

  // fsync durability: a descriptor of the WAL the syncer can fdatasync while the writer goes
  // on writing (Linux syncs the file, whichever descriptor names it). The WAL stays the same
  // file while the store's connections are open: SQLite deletes it only when the last closes.
  // The directory is synced once too, so that a WAL the store created is found after a crash.
  Result<void> open_wal_for_sync() {
    const std::string wal = path_ + "-wal";
    wal_fd_ = ::open(wal.c_str(), O_RDONLY | O_CLOEXEC);
    if (wal_fd_ < 0) {
      return make_error(Errc::store_failed, fmt::format("{}: cannot open the WAL to sync it: {}",
                                                        wal, std::strerror(errno)));
    }
    const std::string dir = std::filesystem::path(path_).parent_path().string();
    const int dir_fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd < 0 || ::fsync(dir_fd) != 0) {
      const int e = errno;
      if (dir_fd >= 0) ::close(dir_fd);
      return make_error(Errc::store_failed, fmt::format("{}: cannot sync the data directory: {}",
                                                        dir, std::strerror(e)));
    }
    ::close(dir_fd);
    return {};
  }

  // fsync durability, the syncer thread: takes every commit waiting, syncs the WAL once for
  // all of them, then acknowledges their writes in commit order. The writer meanwhile commits
  // the next batch: a sync no longer stalls the commits behind it, and the writes waiting
  // for one sync are those of all the commits made during the last.
  void sync_loop() {
    for (;;) {
      std::unique_lock lock(sync_mutex_);
      sync_cv_.wait(lock, [&] { return !unsynced_.empty() || sync_stop_; });
      if (unsynced_.empty()) return;
      const std::size_t n = unsynced_.size();
      lock.unlock();
      // After a failed sync a later one may succeed with the pages lost (Linux reports a
      // write-back error once): every write after it fails too.
      if (!sync_error_ && ::fdatasync(wal_fd_) != 0) {
        sync_error_ = make_error(
            Errc::store_failed,
            fmt::format("{}-wal: fdatasync failed ({}): the write is committed but may not "
                        "survive a power loss; the store takes no more writes: restart it",
                        path_, std::strerror(errno)));
        log::error("sqlite WAL sync failed; refusing further writes",
                   {{"error", sync_error_->detail}});
        sync_failed_.store(true);
      }
      lock.lock();
      const auto end = unsynced_.begin() + static_cast<std::ptrdiff_t>(n);
      std::vector<Unsynced> synced(std::make_move_iterator(unsynced_.begin()),
                                   std::make_move_iterator(end));
      unsynced_.erase(unsynced_.begin(), end);
      lock.unlock();
      syncs_.fetch_add(1, std::memory_order_relaxed);
      synced_commits_.fetch_add(n, std::memory_order_relaxed);
      // Committed either way: the claimed jobs are running in the database, so they run.
      for (Unsynced& u : synced) {
        if (u.reserved) claim_hook_.deliver(std::move(u.claimed), *u.reserved);
        complete_ops(u.ops, sync_error_);
      }
    }
  }

  void set_claim_hook(ClaimHook hook) override { claim_hook_ = std::move(hook); }

  Result<Submitted> submit(const NewJob& nj) override {
    // JSON text is made here, on the caller's thread, not on the writer's.
    const std::string params = boost::json::serialize(nj.job.params);
    std::optional<std::string> secrets;
    if (!nj.secrets.empty()) secrets = boost::json::serialize(nj.secrets);
    NewJob owned = nj;  // do_submit takes its job for the answer: copied here, not on the writer
    return write<Submitted>([&] { return do_submit(owned, params, secrets); }, kStartsWork,
                            kOneWrite);
  }

  bool submits_async() const override { return true; }

  // Queued like submit()'s write, but nobody waits: the committing thread (the syncer, with
  // fsync durability) calls `done` after the commit. Committed on the caller's thread (an
  // event loop's) only when the store is idle, which takes tens of microseconds.
  void submit_async(NewJob nj, SubmitDone done) override {
    auto op = std::make_unique<AsyncSubmit>();
    op->params = boost::json::serialize(nj.job.params);
    if (!nj.secrets.empty()) op->secrets = boost::json::serialize(nj.secrets);
    op->job = std::move(nj);
    op->done_cb = std::move(done);
    op->run = [this, raw = op.get()] {
      raw->result = do_submit(raw->job, raw->params, raw->secrets);
    };
    enqueue_async(std::move(op));
  }

  Result<std::vector<ClaimedJob>> claim(const ClaimRequest& req) override {
    return write<std::vector<ClaimedJob>>([&] { return do_claim(req); });
  }

  Result<Job> finish(std::string_view id, const Outcome& outcome) override {
    return write<Job>([&] { return do_finish(id, outcome); }, kStartsWork, kOneWrite);
  }

  // The worker does not wait for the commit (nor, with fsync durability, for the sync): it
  // goes on to its next job, claimed in the commit that records this finish (with fsync, if
  // its submit is synced). Waiting cost a function worker a second sleep and wake-up a job:
  // 1.7 voluntary context switches a job against 1.0, and 86 against 82 us of server CPU a
  // job in HTTP-W1 (10 alternating runs each, same rates).
  void finish_async(std::string id, Outcome outcome, FinishDone done) override {
    auto op = std::make_unique<AsyncFinish>();
    op->id = std::move(id);
    op->outcome = std::move(outcome);
    op->done_cb = std::move(done);
    op->run = [this, raw = op.get()] { raw->result = do_finish(raw->id, raw->outcome); };
    enqueue_async(std::move(op));
  }

  Result<Job> cancel(std::string_view id, const std::optional<std::string>& owner) override {
    return write<Job>([&] { return do_cancel(id, owner); }, false, kOneWrite);
  }

  Result<void> save_progress(std::span<const ProgressWrite> writes) override {
    if (writes.empty()) return {};
    return write<void>([&]() -> Result<void> {
      auto st = wdb_->prepare(
          "UPDATE jobs SET seq = max(seq, ?1), fraction = ?2, message = ?3 "
          "WHERE id = ?4 AND state = 1");
      if (!st) return st.error();
      for (const auto& w : writes) {
        (*st)->reset().bind(1, static_cast<std::int64_t>(w.seq)).bind(2, w.fraction)
            .bind(3, w.message).bind(4, w.id);
        if (auto r = (*st)->run(); !r) return r;
        if (auto it = running_jobs_.find(w.id); it != running_jobs_.end()) {
          Job& job = it->second.job;
          job.seq = std::max<std::uint64_t>(job.seq, w.seq);
          job.fraction = w.fraction;
          job.message = w.message;
        }
      }
      return {};
    });
  }

  Result<std::optional<Job>> get(std::string_view id) override {
    return read<std::optional<Job>>([&](Db& db) -> Result<std::optional<Job>> {
      auto st = db.prepare("SELECT " WQ_JOB_COLUMNS " FROM jobs WHERE id = ?1");
      if (!st) return st.error();
      (*st)->bind(1, id);
      return first_job(*st);
    });
  }

  Result<JobPage> list(const JobFilter& f) override {
    return read<JobPage>([&](Db& db) -> Result<JobPage> {
      auto st = db.prepare(
          "SELECT " WQ_JOB_COLUMNS " FROM jobs WHERE (?1 IS NULL OR state = ?1) "
          "AND (?2 IS NULL OR task = ?2) AND (?3 IS NULL OR owner = ?3) AND rowid < ?4 "
          "ORDER BY rowid DESC LIMIT ?5");
      if (!st) return st.error();
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
      (*st)->bind(1, state).bind(2, f.task).bind(3, f.owner).bind(4, before)
          .bind(5, static_cast<std::int64_t>(limit + 1));
      JobPage page;
      std::int64_t last_rowid = 0;
      for (;;) {
        auto row = (*st)->step();
        if (!row) return row.error();
        if (!*row) break;
        if (page.jobs.size() == limit) {
          page.next_cursor = std::to_string(last_rowid);
          break;
        }
        last_rowid = (*st)->int64(0);
        page.jobs.push_back(row_to_job(**st));
      }
      return page;
    });
  }

  std::int64_t n_ahead(const Job& job) override {
    if (job.state != JobState::queued) return 0;
    auto rowid = rowid_of(job.id);
    if (!rowid) return 0;
    std::lock_guard lock(index_mutex_);
    return running_ + index_.rank(QueuedEntry{*rowid, job.priority, job.run_at, 0});
  }

  std::optional<TimePoint> next_run_at() override {
    std::lock_guard lock(index_mutex_);
    return index_.next_run_at();
  }

  Result<std::vector<Recovered>> recover(const std::function<bool(const Job&)>& retry) override {
    return write<std::vector<Recovered>>([&] { return do_recover(retry); });
  }

  Result<Swept> sweep(TimePoint now, std::optional<TimePoint> finished_before) override {
    return write<Swept>([&] { return do_sweep(now, finished_before); });
  }

  StoreStats stats() const override {
    StoreStats s = commit_stats_.snapshot();
    s.syncs = syncs_.load(std::memory_order_relaxed);
    s.synced_commits = synced_commits_.load(std::memory_order_relaxed);
    return s;
  }

 private:
  // A running job as it is in its row (see running_jobs_).
  struct RunningJob {
    std::int64_t rowid = 0;
    Job job;
  };

  // One write waiting to be committed. Lives on the caller's stack until `done`, or on the
  // heap until `complete` for a write nobody waits on (submit_async).
  // Whether a write may make work runnable (claim at the end of its batch), and whether it
  // changes rows with one statement at most (atomic by itself: no savepoint needed).
  static constexpr bool kStartsWork = true;
  static constexpr bool kOneWrite = true;
  // How long the store must have been idle before a caller commits its own write.
  static constexpr std::chrono::microseconds kLeadAfterIdle{100};

  struct Op {
    std::function<void()> run;  // runs inside the batch transaction
    bool may_start_work = false;  // a submit or finish: claim at the end of the batch
    std::optional<Error> commit_error;
    DoneFlag done;
    // Set for a write nobody waits on (heap-allocated): called instead of setting `done`,
    // on the committing thread; it deletes the op.
    void (*complete)(Op*) = nullptr;
  };
  // A write nobody waits on, answered through done_cb with what `run` left in `result`.
  template <class T>
  struct AsyncWrite : Op {
    std::optional<Result<T>> result;
    std::function<void(Result<T>)> done_cb;
  };
  struct AsyncSubmit : AsyncWrite<Submitted> {
    NewJob job;
    std::string params;
    std::optional<std::string> secrets;
  };
  struct AsyncFinish : AsyncWrite<Job> {
    std::string id;
    Outcome outcome;
  };

  // Queues a submit or finish whose `run` is set; the op deletes itself once answered (at
  // once, if the store refuses it). Both may make work runnable.
  template <class W>
  void enqueue_async(std::unique_ptr<W> op) {
    op->may_start_work = true;
    op->complete = [](Op* o) {
      std::unique_ptr<W> self(static_cast<W*>(o));
      if (self->commit_error) {
        self->done_cb(*self->commit_error);
      } else if (self->result) {
        self->done_cb(std::move(*self->result));
      } else {
        self->done_cb(make_error(Errc::store_failed, "the write was not run"));
      }
    };
    W* raw = op.release();
    if (auto refused = enqueue(raw, true)) {
      std::unique_ptr<W> self(raw);
      self->done_cb(std::move(*refused));
    }
  }

  template <class T>
  Result<T> write(const std::function<Result<T>()>& body, bool may_start_work = false,
                  bool one_write = false) {
    std::optional<Result<T>> result;
    Op op;
    if (one_write) {
      op.run = [&] { result = body(); };
    } else {
      op.run = [&] { result = in_savepoint(body); };
    }
    op.may_start_work = may_start_work;
    if (auto refused = enqueue(&op, true)) return *refused;
    op.done.wait();
    if (op.commit_error) return *op.commit_error;
    return std::move(*result);
  }

  // Queues `op` for the writer thread, or commits it on this thread if `may_lead` and the
  // store has been idle for a while: one thread hand-off less per write (submit -> start
  // latency). Busy, the write queues for the batch in progress or the next; the writer
  // thread's wake-up lets writes gather into a batch (under load, leading at once would
  // commit each write on its own). The error instead if the store takes no writes (closing,
  // or a failed sync); `op` is then the caller's again.
  std::optional<Error> enqueue(Op* op, bool may_lead) {
    if (sync_failed_.load()) {
      return make_error(Errc::store_failed,
                        "a sync of the WAL failed earlier: the store takes no more writes; "
                        "restart it (see the log)");
    }
    bool lead = false;
    {
      std::lock_guard lock(queue_mutex_);
      if (stopping_) return make_error(Errc::shutting_down, "the store is closing");
      lead = may_lead && !committing_ && queue_.empty() &&
             std::chrono::steady_clock::now() - last_commit_end_ >= kLeadAfterIdle;
      if (lead) {
        committing_ = true;
      } else {
        queue_.push_back(op);
      }
    }
    if (!lead) {
      queue_cv_.notify_one();
      return std::nullopt;
    }
    std::vector<Op*> batch{op};
    commit_batch(batch);  // completes op (an async one is deleted)
    bool more;
    {
      std::lock_guard lock(queue_mutex_);
      committing_ = false;
      last_commit_end_ = std::chrono::steady_clock::now();
      more = !queue_.empty() || stopping_;
    }
    if (more) queue_cv_.notify_one();
    return std::nullopt;
  }

  template <class T>
  Result<T> in_savepoint(const std::function<Result<T>()>& body) {
    if (auto r = exec_cached("SAVEPOINT op"); !r) return r.error();
    Result<T> result = body();
    if (!result) {
      auto rolled = exec_cached("ROLLBACK TO op");
      if (!rolled) log::error("sqlite rollback to savepoint failed", {{"error", rolled.error().detail}});
      forget_cached_jobs();  // may hold what was rolled back (a submit's, a claim's, progress)
    }
    if (auto r = exec_cached("RELEASE op"); !r) return r.error();
    return result;
  }

  Result<void> exec_cached(const char* sql) {
    auto st = wdb_->prepare(sql);
    if (!st) return st.error();
    return (*st)->run();
  }

  // The writer thread commits what queued while another batch was committing.
  void writer_loop() {
    std::vector<Op*> batch;
    for (;;) {
      {
        std::unique_lock lock(queue_mutex_);
        queue_cv_.wait(lock, [&] { return (!queue_.empty() && !committing_) || stopping_; });
        if (stopping_) {
          queue_cv_.wait(lock, [&] { return !committing_; });
          if (queue_.empty()) return;
        }
        committing_ = true;
        if (!stopping_) {
          // Woken by the first write of a batch, let the threads that are about to write
          // run first (on an idle machine this returns at once). Without it a busy machine
          // committed nearly every write on its own: W1 at load 18 made 6,000-15,000 commits
          // for 10,000 jobs at 110-120 us of CPU a job, and ~1,400 commits at 57-92 us with it.
          lock.unlock();
          std::this_thread::yield();
          lock.lock();
        }
        batch.swap(queue_);
      }
      commit_batch(batch);
      batch.clear();
      std::lock_guard lock(queue_mutex_);
      committing_ = false;
      last_commit_end_ = std::chrono::steady_clock::now();
    }
  }

  // Runs `batch` (and writes that join it) in one transaction and completes each op. Only the
  // thread that set committing_ calls it.
  void commit_batch(std::vector<Op*>& batch) {
    std::optional<Error> failure;
    std::optional<ClaimRequest> reserved;
    std::vector<ClaimedJob> claimed;
    early_.reset();
    finished_in_batch_ = false;
    const auto began = std::chrono::steady_clock::now();
    if (auto r = exec_cached("BEGIN IMMEDIATE"); !r) failure = r.error();
    if (!failure) {
      run_with_late_joiners(batch);
      failure = claim_for_hook(batch, reserved, claimed);
      wdb_->reset_all();
      if (!failure) {
        if (auto r = exec_cached("COMMIT"); !r) failure = r.error();
      }
    }
    if (failure) {
      log::error("sqlite commit failed; the batch's writes are lost and reported as errors",
                 {{"error", failure->detail}, {"writes", batch.size()}});
      if (auto r = wdb_->exec("ROLLBACK"); !r) log::error("sqlite rollback failed", {{"error", r.error().detail}});
      if (auto r = rebuild_index(); !r) log::error("cannot rebuild the queue index", {{"error", r.error().detail}});
      forget_cached_jobs();  // may hold submits, claims and progress rolled back
      claimed.clear();
    } else {
      commit_stats_.record(std::chrono::steady_clock::now() - began, batch.size());
    }
    const std::int64_t inserted_from = std::exchange(batch_min_insert_, kNoInsert);
    if (durability_ == Durability::fsync && !failure) {
      hand_to_syncer(batch, reserved, claimed, inserted_from);
    } else {
      // Deliver before waking the writers: a submitter that returns finds its job started.
      if (reserved) claim_hook_.deliver(std::move(claimed), *reserved);
      complete_ops(batch, failure);
    }
    if (wal_pages_ >= kRestartPages) catch_up_wal();
  }

  static void complete_ops(const std::vector<Op*>& ops, const std::optional<Error>& failure) {
    for (Op* op : ops) {
      op->commit_error = failure;
      if (op->complete) {
        op->complete(op);
        continue;
      }
      op->done.set();
    }
  }

  // fsync durability: the batch's writes are acknowledged after the sync that follows its
  // commit. Its claims are delivered now if every claimed job's submit is already synced (a
  // job is durable before it starts): jobs claimed as slots free up, the drain of a queue,
  // do not wait for a sync. Should the machine lose power first, a claim or finish not yet
  // synced is undone and the job, queued again, runs again, as after any crash mid-run.
  void hand_to_syncer(const std::vector<Op*>& batch, std::optional<ClaimRequest>& reserved,
                      std::vector<ClaimedJob>& claimed, std::int64_t inserted_from) {
    std::unique_lock lock(sync_mutex_);
    std::int64_t unsynced_from = inserted_from;
    for (const Unsynced& u : unsynced_) unsynced_from = std::min(unsynced_from, u.inserted_from);
    lock.unlock();
    if (reserved && all_inserted_before(claimed, unsynced_from)) {
      claim_hook_.deliver(std::move(claimed), *reserved);
      reserved.reset();
    }
    lock.lock();
    unsynced_.push_back(Unsynced{batch, std::move(reserved), std::move(claimed), inserted_from});
    lock.unlock();
    sync_cv_.notify_one();
  }

  // Whether every claimed job's row was inserted before the first row of `rowid`.
  bool all_inserted_before(const std::vector<ClaimedJob>& claimed, std::int64_t rowid) const {
    return std::all_of(claimed.begin(), claimed.end(), [&](const ClaimedJob& c) {
      auto it = running_jobs_.find(c.job.id);
      return it != running_jobs_.end() && it->second.rowid < rowid;
    });
  }

  // Under a steady stream of writes the checkpointer never quite catches up, and SQLite starts
  // the WAL over only after a checkpoint that did. Past kRestartPages the committing thread,
  // between two batches, waits for the checkpointer's run to end, checkpoints what is left
  // (little: the checkpointer copied most of it) and waits for readers to leave the WAL, so
  // the next write starts it from its beginning. Still busy after that: the next batch tries.
  void catch_up_wal() {
    std::lock_guard running(checkpoint_running_);  // SQLite would answer BUSY at once
    const int rc = sqlite3_wal_checkpoint_v2(wdb_->handle(), nullptr, SQLITE_CHECKPOINT_RESTART,
                                             nullptr, nullptr);
    if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
      log::warn("sqlite checkpoint failed", {{"error", sqlite3_errmsg(wdb_->handle())}});
    }
  }

  // The claim hook's part of a batch: if a write in it may have made work runnable, claim
  // within a fresh reservation in the same transaction. do_claim fails only on an SQLite
  // error, after perhaps marking some rows running: the whole batch then rolls back (no
  // savepoint, which cost two statements per commit).
  std::optional<Error> claim_for_hook(const std::vector<Op*>& batch,
                                      std::optional<ClaimRequest>& reserved,
                                      std::vector<ClaimedJob>& claimed) {
    if (std::none_of(batch.begin(), batch.end(), [](Op* op) { return op->may_start_work; })) {
      return std::nullopt;
    }
    if (!claim_hook_.reserve) return std::nullopt;
    if (!early_) {
      reserved = claim_hook_.reserve();
      return claim_within(*reserved, claimed);
    }
    reserved = early_->total;
    claimed = std::move(early_->started);
    const std::size_t before = claimed.size();
    if (auto e = claim_within(early_->left, claimed)) return e;
    // A slot a finish in this batch freed after the reservation was taken is not in it. It is
    // needed only if the reservation ran out (jobs may still be queued) or per-task caps
    // limit it; then a second reservation joins the first and both are delivered as one.
    // (Reserving while another reservation is out makes the dispatcher claim once more.)
    const bool ran_out = claimed.size() - before >= early_->left.max_jobs;
    const bool capped = std::any_of(early_->total.tasks.begin(), early_->total.tasks.end(),
                                    [&](const TaskBudget& t) { return t.slots < early_->total.max_jobs; });
    if (!finished_in_batch_ || !(ran_out || capped)) return std::nullopt;
    ClaimRequest more = claim_hook_.reserve();
    reserved = merged(*reserved, more);
    return claim_within(more, claimed);
  }

  // Claims within `budget` and appends what it claimed.
  std::optional<Error> claim_within(const ClaimRequest& budget, std::vector<ClaimedJob>& claimed) {
    if (budget.max_jobs == 0 || budget.tasks.empty()) return std::nullopt;
    auto c = do_claim(budget);
    if (!c) return c.error();
    claimed.insert(claimed.end(), std::make_move_iterator(c->begin()),
                   std::make_move_iterator(c->end()));
    return std::nullopt;
  }

  static ClaimRequest merged(ClaimRequest a, const ClaimRequest& b) {
    a.max_jobs += b.max_jobs;
    for (const auto& t : b.tasks) {
      auto it = std::find_if(a.tasks.begin(), a.tasks.end(),
                             [&](const TaskBudget& x) { return x.task == t.task; });
      if (it == a.tasks.end()) {
        a.tasks.push_back(t);
      } else {
        it->slots += t.slots;
      }
    }
    return a;
  }

  // Runs the batch, then any writes that arrived meanwhile, until none are waiting: they share
  // the commit at no cost in latency (the commit had not started yet).
  void run_with_late_joiners(std::vector<Op*>& batch) {
    std::size_t done = 0;
    for (;;) {
      for (; done < batch.size(); ++done) batch[done]->run();
      std::lock_guard lock(queue_mutex_);
      if (queue_.empty() || batch.size() >= kMaxBatch) return;
      batch.insert(batch.end(), queue_.begin(), queue_.end());
      queue_.clear();
    }
  }

  template <class T>
  Result<T> read(const std::function<Result<T>(Db&)>& body) {
    std::unique_ptr<Db> db;
    {
      std::lock_guard lock(readers_mutex_);
      if (!readers_.empty()) {
        db = std::move(readers_.back());
        readers_.pop_back();
      }
    }
    if (!db) {
      auto opened = Db::open(path_, SQLITE_OPEN_READWRITE);
      if (!opened) return opened.error();
      db = std::move(*opened);
      if (auto r = db->exec("PRAGMA busy_timeout=5000; PRAGMA query_only=1;"); !r) return r.error();
    }
    Result<T> result = body(*db);
    db->reset_all();  // ends the read transaction: the next use sees a fresh snapshot
    std::lock_guard lock(readers_mutex_);
    if (readers_.size() < kMaxIdleReaders) readers_.push_back(std::move(db));
    return result;
  }

  std::optional<std::int64_t> rowid_of(std::string_view id) {
    auto r = read<std::optional<std::int64_t>>([&](Db& db) -> Result<std::optional<std::int64_t>> {
      auto st = db.prepare("SELECT rowid FROM jobs WHERE id = ?1 AND state = 0");
      if (!st) return st.error();
      (*st)->bind(1, id);
      auto row = (*st)->step();
      if (!row) return row.error();
      if (!*row) return std::optional<std::int64_t>{};
      return std::optional<std::int64_t>{(*st)->int64(0)};
    });
    return r ? *r : std::nullopt;
  }

  Result<void> migrate() {
    auto st = wdb_->prepare("PRAGMA user_version");
    if (!st) return st.error();
    auto row = (*st)->step();
    if (!row) return row.error();
    const auto version = static_cast<std::size_t>((*st)->int64(0));
    (*st)->reset();
    if (version > kMigrations.size()) {
      return make_error(Errc::store_failed,
                        fmt::format("{}: schema version {} is newer than this build understands ({}); "
                                    "run a newer wqd", path_, version, kMigrations.size()));
    }
    for (std::size_t v = version; v < kMigrations.size(); ++v) {
      auto ok = wdb_->exec(fmt::format("BEGIN IMMEDIATE; {} PRAGMA user_version = {}; COMMIT;",
                                       kMigrations[v], v + 1));
      if (!ok) {
        (void)wdb_->exec("ROLLBACK");
        return make_error(Errc::store_failed, fmt::format("{}: migration {} failed: {}", path_, v + 1,
                                                          ok.error().detail));
      }
    }
    return {};
  }

  std::uint32_t intern(const std::string& task) {
    auto [it, inserted] = task_ids_.emplace(task, static_cast<std::uint32_t>(task_names_.size()));
    if (inserted) task_names_.push_back(task);
    return it->second;
  }

  Result<void> rebuild_index() {
    auto st = wdb_->prepare(
        "SELECT rowid, priority, run_at, task FROM jobs WHERE finished_at IS NULL AND state = 0");
    if (!st) return st.error();
    std::vector<QueuedEntry> entries;
    std::lock_guard lock(index_mutex_);
    for (;;) {
      auto row = (*st)->step();
      if (!row) return row.error();
      if (!*row) break;
      entries.push_back(QueuedEntry{(*st)->int64(0), static_cast<int>((*st)->int64(1)),
                                    from_ms((*st)->int64(2)), intern(std::string((*st)->text(3)))});
    }
    auto count = wdb_->prepare("SELECT count(*) FROM jobs WHERE finished_at IS NULL AND state = 1");
    if (!count) return count.error();
    if (auto row = (*count)->step(); !row) return row.error();
    running_ = (*count)->int64(0);
    (*count)->reset();
    index_.clear();
    queued_jobs_.clear();
    const TimePoint now = now_ms();
    for (const auto& e : entries) index_.add(e, now);
    return {};
  }

  // A new job's answer takes nj.job (moved: the caller's op owns it and is done with it).
  Result<Submitted> do_submit(NewJob& nj, const std::string& params,
                              const std::optional<std::string>& secrets) {
    Job& job = nj.job;
    if (nj.id_given) {
      auto st = wdb_->prepare("SELECT " WQ_JOB_COLUMNS ", spec_hash FROM jobs WHERE id = ?1");
      if (!st) return st.error();
      (*st)->bind(1, job.id);
      auto row = (*st)->step();
      if (!row) return row.error();
      if (*row) {
        if ((*st)->text(kJobColumnCount) == nj.spec_hash && (*st)->text(5) == job.owner) {
          return Submitted{row_to_job(**st), false};
        }
        return make_error(Errc::conflict,
                          fmt::format("a job with id '{}' already exists with a different task or "
                                      "params; choose another id or omit it", job.id));
      }
    }
    {
      // The newest job for the key decides: an active job is always the newest one, since a
      // new job is only created when none is active.
      auto st = wdb_->prepare("SELECT " WQ_JOB_COLUMNS ", retained FROM jobs WHERE owner = ?1 "
                              "AND key = ?2 ORDER BY rowid DESC LIMIT 1");
      if (!st) return st.error();
      (*st)->bind_ref(1, job.owner).bind_ref(2, job.key);
      auto row = (*st)->step();
      if (!row) return row.error();
      if (*row) {
        const auto state = static_cast<JobState>((*st)->int64(11));
        const bool retained_success =
            state == JobState::succeeded && (*st)->int64(kJobColumnCount) == 1 && !nj.force;
        if (!is_terminal(state) || retained_success) return Submitted{row_to_job(**st), false};
      }
    }
    if (nj.max_queued > 0) {
      std::lock_guard lock(index_mutex_);
      if (index_.size() >= nj.max_queued) {
        return make_error(Errc::queue_full,
                          fmt::format("the queue holds {} jobs, its limit (max_queued); retry later",
                                      index_.size()));
      }
    }
    const std::int64_t now = ms(now_ms());
    TaskBudget* slot = slot_to_start_at_once(job, now);
    auto st = wdb_->prepare(
        "INSERT INTO jobs (id, task, params, secrets, spec_hash, key, owner, priority, "
        "max_attempts, timeout_ms, run_at, state, seq, created_at, attempt, started_at) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)");
    if (!st) return st.error();
    std::optional<std::int64_t> timeout, started;
    if (job.timeout) timeout = job.timeout->count();
    if (slot) started = now;
    (*st)->bind_ref(1, job.id).bind_ref(2, job.task).bind_ref(3, params)
        .bind_ref(4, secrets).bind_ref(5, nj.spec_hash).bind_ref(6, job.key).bind_ref(7, job.owner)
        .bind(8, job.priority).bind(9, job.max_attempts).bind(10, timeout).bind(11, ms(job.run_at))
        .bind(12, static_cast<int>(slot ? JobState::running : JobState::queued))
        .bind(13, static_cast<std::int64_t>(job.seq + (slot ? 1 : 0)))
        .bind(14, ms(job.created_at)).bind(15, slot ? 1 : 0).bind(16, started);
    if (auto r = (*st)->run(); !r) return r.error();
    const std::int64_t rowid = sqlite3_last_insert_rowid(wdb_->handle());
    batch_min_insert_ = std::min(batch_min_insert_, rowid);
    // Its queue position now, from the index: answering a submit with it needs no read.
    std::int64_t n_ahead = 0;  // a job started at once is not queued
    if (slot) {
      --slot->slots;
      --early_->left.max_jobs;
      early_->started.push_back(started_at_once(nj, now));
      running_jobs_.insert_or_assign(job.id, RunningJob{rowid, early_->started.back().job});
      std::lock_guard lock(index_mutex_);
      ++running_;
    } else {
      if (queued_jobs_.size() < kQueuedCache) queued_jobs_.emplace(rowid, as_stored(nj));
      std::lock_guard lock(index_mutex_);
      const QueuedEntry entry{rowid, job.priority, job.run_at, intern(job.task)};
      index_.add(entry, now_ms());
      n_ahead = running_ + index_.rank(entry);
    }
    return Submitted{std::move(job), true, n_ahead};
  }

  // A job that nothing queued is ahead of, submitted while the dispatcher has a free slot for
  // its task, is inserted already running: the claim at the end of the batch would pick it
  // anyway, at the cost of a read and an update of the row (and two index changes). The
  // batch's reservation is taken at the first such submit. Null: insert it queued.
  TaskBudget* slot_to_start_at_once(const Job& job, std::int64_t now) {
    if (ms(job.run_at) > now || !claim_hook_.reserve) return nullptr;
    {
      std::lock_guard lock(index_mutex_);
      if (index_.size() > 0) return nullptr;
    }
    if (!early_) {
      early_.emplace();
      early_->total = claim_hook_.reserve();
      early_->left = early_->total;
    }
    if (early_->left.max_jobs == 0) return nullptr;
    for (auto& t : early_->left.tasks) {
      if (t.task == job.task) return t.slots > 0 ? &t : nullptr;
    }
    return nullptr;
  }

  // A new job as do_submit inserts it queued, as reading its row back gives it (times in whole
  // ms).
  static ClaimedJob as_stored(const NewJob& nj) {
    ClaimedJob c{nj.job, nj.secrets};
    Job& job = c.job;
    job.state = JobState::queued;
    job.attempt = 0;
    job.run_at = from_ms(ms(job.run_at));
    job.created_at = from_ms(ms(job.created_at));
    job.fraction = 0;
    job.message.reset();
    job.returncode.reset();
    job.error.reset();
    job.result_size.reset();
    job.started_at.reset();
    job.finished_at.reset();
    return c;
  }

  // A queued job as do_claim sets it running (`now` in whole ms).
  static void mark_started(Job& job, std::int64_t now) {
    job.state = JobState::running;
    job.attempt += 1;
    job.started_at = from_ms(now);
    job.seq += 1;
    job.fraction = 0;
    job.message.reset();
    job.finished_at.reset();
  }

  // What do_claim would have read back for a job inserted running.
  static ClaimedJob started_at_once(const NewJob& nj, std::int64_t now) {
    ClaimedJob c = as_stored(nj);
    mark_started(c.job, now);
    return c;
  }

  void forget_cached_jobs() {
    running_jobs_.clear();
    queued_jobs_.clear();
  }

  Result<std::vector<ClaimedJob>> do_claim(const ClaimRequest& req) {
    std::vector<QueuedEntry> picked;
    {
      std::lock_guard lock(index_mutex_);
      index_.promote(now_ms());
      std::unordered_map<std::uint32_t, std::size_t> budget;
      for (const auto& t : req.tasks) {
        if (auto it = task_ids_.find(t.task); it != task_ids_.end()) budget[it->second] = t.slots;
      }
      picked = index_.pick(req.max_jobs, [&](std::uint32_t task) {
        auto it = budget.find(task);
        if (it == budget.end() || it->second == 0) return true;
        --it->second;
        return false;
      });
    }
    // Read, then update without RETURNING: SQLite materialises RETURNING rows in a temporary
    // b-tree, which made each claim and finish cost several times the update itself.
    std::vector<ClaimedJob> claimed;
    auto read = wdb_->prepare("SELECT " WQ_JOB_COLUMNS ", secrets FROM jobs WHERE rowid = ?1");
    if (!read) return read.error();
    auto start = wdb_->prepare(
        "UPDATE jobs SET state = 1, attempt = ?2, started_at = ?3, seq = ?4, fraction = 0, "
        "message = NULL WHERE rowid = ?1");  // finished_at is NULL: no index changes
    if (!start) return start.error();
    const std::int64_t now = ms(now_ms());
    for (const auto& e : picked) {
      ClaimedJob c;
      if (auto it = queued_jobs_.find(e.rowid); it != queued_jobs_.end()) {
        c = std::move(it->second);
        queued_jobs_.erase(it);
      } else {
        (*read)->reset().bind(1, e.rowid);
        auto row = (*read)->step();
        if (!row) return row.error();
        if (!*row || (*read)->int64(11) != static_cast<int>(JobState::queued)) continue;
        c.job = row_to_job(**read);
        if (!(*read)->is_null(kJobColumnCount)) {
          c.secrets = parse_object((*read)->text(kJobColumnCount));
        }
        (*read)->reset();
      }
      Job& job = c.job;
      mark_started(job, now);
      (*start)->reset().bind(1, e.rowid).bind(2, job.attempt).bind(3, now)
          .bind(4, static_cast<std::int64_t>(job.seq));
      if (auto r = (*start)->run(); !r) return r.error();
      running_jobs_.insert_or_assign(job.id, RunningJob{e.rowid, job});
      claimed.push_back(std::move(c));
    }
    std::lock_guard lock(index_mutex_);
    for (const auto& e : picked) index_.remove(e);
    running_ += static_cast<std::int64_t>(claimed.size());
    return claimed;
  }

  // Reads a running job: from running_jobs_ if this store started it, else from its row.
  Result<RunningJob> take_running(std::string_view id) {
    if (auto it = running_jobs_.find(id); it != running_jobs_.end()) {
      RunningJob r = std::move(it->second);
      running_jobs_.erase(it);
      return r;
    }
    // Read, then update by rowid without RETURNING (see do_claim).
    auto read = wdb_->prepare("SELECT " WQ_JOB_COLUMNS " FROM jobs WHERE id = ?1");
    if (!read) return read.error();
    (*read)->bind(1, id);
    auto row = (*read)->step();
    if (!row) return row.error();
    if (!*row || (*read)->int64(11) != static_cast<int>(JobState::running)) {
      return make_error(Errc::not_found, fmt::format("job {} is not running", id));
    }
    RunningJob r{(*read)->int64(0), row_to_job(**read)};
    (*read)->reset();
    return r;
  }

  Result<Job> do_finish(std::string_view id, const Outcome& o) {
    auto running = take_running(id);
    if (!running) return running.error();
    Job job = std::move(running->job);
    const std::int64_t rowid = running->rowid;

    const bool retry = o.state == JobState::queued;
    std::optional<std::int64_t> rc, size, expires, finished;
    if (o.returncode) rc = *o.returncode;
    if (o.result_size) size = static_cast<std::int64_t>(*o.result_size);
    if (o.result_expires_at) expires = ms(*o.result_expires_at);
    if (!retry) finished = ms(now_ms());
    if (retry) job.run_at = o.retry_at.value_or(now_ms());
    job.state = o.state;
    job.seq = std::max(job.seq + 1, o.seq);
    job.fraction = o.fraction;
    job.message = o.message;
    job.returncode = o.returncode;
    job.error = o.error;
    job.result_size = o.result_size;
    job.finished_at = finished ? std::optional(from_ms(*finished)) : std::nullopt;
    const bool retained = o.state == JobState::succeeded;
    auto st = wdb_->prepare(
        "UPDATE jobs SET state = ?1, seq = ?2, fraction = ?3, message = ?4, returncode = ?5, "
        "error = ?6, result_size = ?7, result_expires_at = ?8, retained = ?9, finished_at = ?10, "
        "run_at = ?11, cancel_requested = 0, "
        "secrets = CASE WHEN ?1 >= 2 THEN NULL ELSE secrets END WHERE rowid = ?12");
    if (!st) return st.error();
    (*st)->bind(1, static_cast<int>(o.state)).bind(2, static_cast<std::int64_t>(job.seq))
        .bind(3, o.fraction).bind_ref(4, o.message).bind(5, rc).bind_ref(6, o.error).bind(7, size)
        .bind(8, expires).bind(9, retained ? 1 : 0).bind(10, finished).bind(11, ms(job.run_at))
        .bind(12, rowid);
    if (auto r = (*st)->run(); !r) return r.error();
    finished_in_batch_ = true;
    std::lock_guard lock(index_mutex_);
    --running_;
    if (retry) index_.add(QueuedEntry{rowid, job.priority, job.run_at, intern(job.task)}, now_ms());
    return job;
  }

  Result<Job> do_cancel(std::string_view id, const std::optional<std::string>& owner) {
    auto st = wdb_->prepare("SELECT " WQ_JOB_COLUMNS " FROM jobs WHERE id = ?1");
    if (!st) return st.error();
    (*st)->bind(1, id);
    auto found = first_job(*st);
    if (!found) return found.error();
    if (!*found || (owner && (*found)->owner != *owner)) {
      return make_error(Errc::not_found, fmt::format("no job with id '{}'", id));
    }
    Job job = std::move(**found);
    if (job.state == JobState::running) {
      auto up = wdb_->prepare("UPDATE jobs SET cancel_requested = 1 WHERE id = ?1");
      if (!up) return up.error();
      (*up)->bind(1, id);
      if (auto r = (*up)->run(); !r) return r.error();
      return job;
    }
    if (job.state != JobState::queued) return job;
    auto up = wdb_->prepare(
        "UPDATE jobs SET state = 4, seq = seq + 1, finished_at = ?1, error = 'cancelled', "
        "secrets = NULL WHERE id = ?2 AND state = 0 RETURNING " WQ_JOB_COLUMNS);
    if (!up) return up.error();
    (*up)->bind(1, ms(now_ms())).bind(2, id);
    auto row = (*up)->step();
    if (!row) return row.error();
    Job cancelled = row_to_job(**up);
    const std::int64_t rowid = (*up)->int64(0);
    if (auto r = (*up)->run(); !r) return r.error();
    queued_jobs_.erase(rowid);
    std::lock_guard lock(index_mutex_);
    index_.remove(QueuedEntry{rowid, job.priority, job.run_at, 0});
    return cancelled;
  }

  Result<std::vector<Recovered>> do_recover(const std::function<bool(const Job&)>& retry) {
    auto st = wdb_->prepare(
        "SELECT " WQ_JOB_COLUMNS " FROM jobs WHERE finished_at IS NULL AND state = 1");
    if (!st) return st.error();
    std::vector<Job> interrupted;
    for (;;) {
      auto row = (*st)->step();
      if (!row) return row.error();
      if (!*row) break;
      interrupted.push_back(row_to_job(**st));
    }
    auto requeue = wdb_->prepare(
        "UPDATE jobs SET state = 0, seq = seq + ?1, run_at = ?2, fraction = 0, message = NULL, "
        "cancel_requested = 0 WHERE id = ?3 RETURNING " WQ_JOB_COLUMNS);
    if (!requeue) return requeue.error();
    auto fail = wdb_->prepare(
        "UPDATE jobs SET state = 3, seq = seq + ?1, finished_at = ?2, returncode = -1, error = ?3, "
        "secrets = NULL, cancel_requested = 0 WHERE id = ?4 RETURNING " WQ_JOB_COLUMNS);
    if (!fail) return fail.error();
    std::vector<Recovered> out;
    const std::int64_t now = ms(now_ms());
    for (const Job& job : interrupted) {
      Stmt* s = nullptr;
      if (retry(job)) {
        s = *requeue;
        s->reset().bind(1, kSeqGapAfterRestart).bind(2, now).bind(3, job.id);
      } else {
        s = *fail;
        s->reset().bind(1, kSeqGapAfterRestart).bind(2, now)
            .bind(3, fmt::format("interrupted: the process running this job stopped during "
                                 "attempt {} of {}", job.attempt, job.max_attempts))
            .bind(4, job.id);
      }
      auto found = first_job(s);
      if (!found) return found.error();
      if (auto r = s->run(); !r) return r.error();
      if (*found) out.push_back(Recovered{std::move(**found)});
    }
    auto bump =
        wdb_->prepare("UPDATE jobs SET seq = seq + ?1 WHERE finished_at IS NULL AND state = 0");
    if (!bump) return bump.error();
    (*bump)->bind(1, kSeqGapAfterRestart);
    if (auto r = (*bump)->run(); !r) return r.error();
    if (auto r = rebuild_index(); !r) return r.error();
    return out;
  }

  Result<Swept> do_sweep(TimePoint now, std::optional<TimePoint> finished_before) {
    Swept swept;
    auto expired = wdb_->prepare(
        "UPDATE jobs SET retained = 0, result_size = NULL WHERE retained = 1 AND "
        "result_expires_at <= ?1 RETURNING id");
    if (!expired) return expired.error();
    (*expired)->bind(1, ms(now));
    for (;;) {
      auto row = (*expired)->step();
      if (!row) return row.error();
      if (!*row) break;
      swept.results_expired.emplace_back((*expired)->text(0));
    }
    if (finished_before) {
      auto del = wdb_->prepare(
          "DELETE FROM jobs WHERE state >= 2 AND finished_at < ?1 RETURNING id, result_size");
      if (!del) return del.error();
      (*del)->bind(1, ms(*finished_before));
      for (;;) {
        auto row = (*del)->step();
        if (!row) return row.error();
        if (!*row) break;
        ++swept.jobs_removed;
        if (!(*del)->is_null(1)) swept.results_expired.emplace_back((*del)->text(0));
      }
    }
    return swept;
  }

  static constexpr std::size_t kMaxIdleReaders = 8;
  static constexpr std::size_t kMaxBatch = 1024;  // bounds one transaction's latency

  const std::string path_;
  const Durability durability_;
  FileLock lock_;
  std::unique_ptr<Db> wdb_;  // used only by the thread that set committing_ (or start())

  std::mutex queue_mutex_;
  std::condition_variable queue_cv_;
  CommitStats commit_stats_;  // written by the committing thread
  std::vector<Op*> queue_;  // guarded by queue_mutex_
  bool committing_ = false;  // guarded by queue_mutex_: a thread owns wdb_ and commits a batch
  std::chrono::steady_clock::time_point last_commit_end_{};  // guarded by queue_mutex_
  bool stopping_ = false;   // guarded by queue_mutex_
  std::thread writer_;

  ClaimHook claim_hook_;  // set before the first write; used by the committing thread
  // The batch's reservation once a submit started its job at once (slot_to_start_at_once):
  // as reserved, what is left of it, and the jobs started. Committing thread only.
  struct EarlyClaim {
    ClaimRequest total, left;
    std::vector<ClaimedJob> started;
  };
  std::optional<EarlyClaim> early_;
  bool finished_in_batch_ = false;  // a finish in the batch freed a slot; committing thread only
  // The jobs this store set running, as they are in their rows, so that finishing one needs
  // no read. Committing thread only; cleared when a batch or a savepoint rolls back (finish
  // then reads the row).
  StringMap<RunningJob> running_jobs_;
  // Jobs this store inserted queued, as they are in their rows, by rowid, so that claiming one
  // needs no read (a claim's read and row decoding were ~11k of its ~26k instructions a job).
  // At most kQueuedCache: a longer queue's later jobs are read when claimed. Committing thread
  // only; an entry leaves when its job is claimed or cancelled; cleared with running_jobs_.
  static constexpr std::size_t kQueuedCache = 1024;
  std::unordered_map<std::int64_t, ClaimedJob> queued_jobs_;

  std::mutex index_mutex_;
  ReadyIndex index_;                                        // guarded by index_mutex_
  std::unordered_map<std::string, std::uint32_t> task_ids_;  // guarded by index_mutex_
  std::vector<std::string> task_names_;                     // guarded by index_mutex_
  std::int64_t running_ = 0;                                // guarded by index_mutex_

  std::mutex readers_mutex_;
  std::vector<std::unique_ptr<Db>> readers_;  // idle read connections; guarded

  // A checkpoint copies each page once however often it changed since the last: every 4,000
  // pages instead of 1,000, the checkpointer's CPU in HTTP-W1 halved (16-19 against 31-32
  // ticks in 50,000 jobs), and the rate rose in 3 of 4 alternating pairs. The writer's
  // catch-up (below) then has up to a quarter of the WAL left to copy: 11-23 ms against 7-18.
  static constexpr int kCheckpointPages = 4000;
  int checkpoint_step_ = 0;  // WAL pages / kCheckpointPages at the last request; committing thread
  // 64 MB of WAL: see catch_up_wal(). Each catch-up stalls the writer for a checkpoint's
  // fsync of the database (~10 ms here); at 4,000 pages (16 MB) HTTP-W1 made 38-39 of them in
  // 50,000 jobs, 355-395 ms of its ~3.5 s, and ran at 12,870-14,170 jobs/s against
  // 15,680-15,960 with 9 of them (three alternating runs each).
  static constexpr int kRestartPages = 16000;
  int wal_pages_ = 0;  // the WAL's size after the last commit; committing thread
  std::unique_ptr<Db> checkpoint_db_;  // the checkpointer thread's
  std::mutex checkpoint_mutex_;
  std::condition_variable checkpoint_cv_;
  bool checkpoint_wanted_ = false;  // guarded by checkpoint_mutex_
  bool checkpoint_stop_ = false;    // guarded by checkpoint_mutex_
  std::mutex checkpoint_running_;   // held by whichever thread runs a checkpoint
  std::thread checkpointer_;

  // fsync durability: commits waiting for the syncer (sync_loop), oldest first.
  struct Unsynced {
    std::vector<Op*> ops;
    std::optional<ClaimRequest> reserved;  // set if its claims wait for the sync too
    std::vector<ClaimedJob> claimed;
    std::int64_t inserted_from = kNoInsert;  // the smallest rowid it inserted
  };
  static constexpr std::int64_t kNoInsert = std::numeric_limits<std::int64_t>::max();
  std::int64_t batch_min_insert_ = kNoInsert;  // the batch's smallest new rowid; committing thread
  int wal_fd_ = -1;
  std::mutex sync_mutex_;
  std::condition_variable sync_cv_;
  std::deque<Unsynced> unsynced_;  // guarded by sync_mutex_; the syncer takes from the front
  bool sync_stop_ = false;         // guarded by sync_mutex_
  std::optional<Error> sync_error_;  // the first failed sync's; syncer thread only
  std::atomic<bool> sync_failed_{false};  // sync_error_ is set: enqueue() refuses writes
  std::atomic<std::uint64_t> syncs_{0}, synced_commits_{0};
  std::thread syncer_;
};

}  // namespace

Result<std::unique_ptr<Store>> open_sqlite_store(const std::string& path, Durability durability) {
  auto lock = FileLock::acquire(path + ".lock");
  if (!lock) return lock.error();
  auto store = std::make_unique<SqliteStore>(path, durability, std::move(*lock));
  if (auto r = store->start(); !r) return r.error();
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace wq::sqlite
