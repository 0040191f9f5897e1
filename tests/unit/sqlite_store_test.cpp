// What only the SQLite store does. The behaviour every store shares is the conformance suite
// (store_conformance_test.cpp), run against SQLite and PostgreSQL.
#include "core/spec.hpp"
#include "store/sqlite/migrations.hpp"
#include "support/temp_dir.hpp"
#include "wq/store.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>
#include <mutex>

namespace wq {
namespace {

// The default (SQLite) store of a data directory.
Result<std::unique_ptr<Store>> open_in(const std::filesystem::path& data_dir) {
  Config c;
  c.data_dir = data_dir;
  return open_store(c);
}

TEST(SqliteStore, SecondOpenOfTheSameDatabaseIsRefused) {
  test::TempDir dir;
  auto first = open_in(dir.path());
  ASSERT_TRUE(first) << first.error().detail;
  auto second = open_in(dir.path());
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code, Errc::locked);
  EXPECT_NE(second.error().detail.find("another process"), std::string::npos);
}

// A claim hook like the dispatcher's: `free` slots for task "t"; records what it was given.
struct Slots {
  std::mutex mu;
  std::size_t free = 0;
  std::size_t reserved = 0;
  std::vector<Job> started;

  ClaimHook hook() {
    return ClaimHook{
        [this] {
          std::lock_guard lock(mu);
          ClaimRequest r;
          r.max_jobs = free - reserved;
          if (r.max_jobs > 0) r.tasks.push_back(TaskBudget{"t", r.max_jobs});
          reserved += r.max_jobs;
          return r;
        },
        [this](std::vector<ClaimedJob> claimed, const ClaimRequest& r) {
          std::lock_guard lock(mu);
          reserved -= r.max_jobs;
          free -= claimed.size();
          for (auto& c : claimed) started.push_back(c.job);
        }};
  }
};

NewJob job_of(int i) {
  TaskConfig t;
  t.name = "t";
  JobSpec spec;
  spec.task = "t";
  spec.params = {{"i", i}};
  auto nj = prepare_job(spec, t, now_ms());
  EXPECT_TRUE(nj);
  return *nj;
}

// A submit that finds a free slot and nothing queued starts in its own commit (inserted
// running, without a separate claim), exactly as the claim at the end of the batch would.
TEST(SqliteStore, ASubmitWithAFreeSlotStartsInItsOwnCommitButNeverOvertakesAQueuedJob) {
  test::TempDir dir;
  auto store = open_in(dir.path());
  ASSERT_TRUE(store) << store.error().detail;
  Slots slots;
  slots.free = 1;
  (*store)->set_claim_hook(slots.hook());

  auto a = (*store)->submit(job_of(1));
  ASSERT_TRUE(a) << a.error().detail;
  ASSERT_EQ(slots.started.size(), 1u);
  const Job started = slots.started[0];  // a copy: later starts grow the vector
  EXPECT_EQ(started.id, a->job.id);
  EXPECT_EQ(started.state, JobState::running);
  EXPECT_EQ(started.attempt, 1);
  EXPECT_TRUE(started.started_at);
  auto stored = (*store)->get(a->job.id);
  ASSERT_TRUE(stored && *stored);
  EXPECT_EQ((*stored)->state, JobState::running);
  EXPECT_EQ((*stored)->attempt, 1);
  EXPECT_EQ((*stored)->seq, started.seq);
  EXPECT_EQ((*stored)->started_at, started.started_at);
  EXPECT_EQ((*stored)->created_at, started.created_at);

  // No slot: queued.
  auto b = (*store)->submit(job_of(2));
  ASSERT_TRUE(b);
  EXPECT_EQ(slots.started.size(), 1u);
  EXPECT_EQ((*store)->n_ahead(b->job), 1);  // behind the running job

  // A slot frees: the next submit's batch starts the job queued first, not the new one.
  {
    std::lock_guard lock(slots.mu);
    slots.free = 1;
  }
  auto c2 = (*store)->submit(job_of(3));
  ASSERT_TRUE(c2);
  ASSERT_EQ(slots.started.size(), 2u);
  EXPECT_EQ(slots.started[1].id, b->job.id);
  auto third = (*store)->get(c2->job.id);
  ASSERT_TRUE(third && *third);
  EXPECT_EQ((*third)->state, JobState::queued);

  // The job started at once finishes like any other.
  Outcome done;
  done.seq = started.seq + 1;
  auto finished = (*store)->finish(a->job.id, done);
  ASSERT_TRUE(finished) << finished.error().detail;
  EXPECT_EQ(finished->state, JobState::succeeded);
}

// The WAL must not grow with the number of jobs: checkpoints copy it back into the database
// and the WAL starts over (it used to grow by ~18 KB a job, without bound).
TEST(SqliteStore, TheWalStaysBoundedUnderASteadyStreamOfWrites) {
  test::TempDir dir;
  auto store = open_in(dir.path());
  ASSERT_TRUE(store) << store.error().detail;
  for (int i = 0; i < 10000; ++i) {
    auto s = (*store)->submit(job_of(i));
    ASSERT_TRUE(s) << s.error().detail;
  }
  std::uintmax_t wal = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    if (entry.path().string().ends_with("-wal")) wal = entry.file_size();
  }
  // 10,000 submits, each its own commit, wrote ~200 MB of WAL frames; the WAL restarts at
  // 64 MB (kRestartPages).
  EXPECT_GT(wal, 0u);
  EXPECT_LT(wal, 80u << 20) << "WAL bytes: " << wal;
}

// A database written by a release with the first schema is migrated when opened, and its
// jobs go on: the queued one runs, the interrupted one is recovered, the finished one is
// listed and swept.
TEST(SqliteStore, ADatabaseOfTheFirstSchemaIsMigratedAndItsJobsGoOn) {
  test::TempDir dir;
  const std::string path = (dir.path() / "wq.sqlite").string();
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    const std::string v1 = std::string("PRAGMA journal_mode=WAL; BEGIN;") +
                           std::string(sqlite::kMigrations[0]) + R"sql(
INSERT INTO jobs (id, task, params, spec_hash, key, owner, priority, max_attempts, run_at,
                  attempt, state, seq, created_at, started_at, finished_at, retained)
VALUES ('queued-1', 't', '{"i":1}', 'h1', 'k1', '', 0, 1, 1000, 0, 0, 1, 1000, NULL, NULL, 0),
       ('running-1', 't', '{"i":2}', 'h2', 'k2', '', 0, 2, 1000, 1, 1, 2, 1000, 1500, NULL, 0),
       ('done-1', 't', '{"i":3}', 'h3', 'k3', '', 0, 1, 1000, 1, 2, 3, 1000, 1500, 2000, 0);
PRAGMA user_version = 1; COMMIT;)sql";
    char* err = nullptr;
    ASSERT_EQ(sqlite3_exec(db, v1.c_str(), nullptr, nullptr, &err), SQLITE_OK) << err;
    sqlite3_close(db);
  }
  auto store = open_in(dir.path());
  ASSERT_TRUE(store) << store.error().detail;
  auto recovered = (*store)->recover([](const Job&) { return true; });  // attempts remain
  ASSERT_TRUE(recovered) << recovered.error().detail;
  ASSERT_EQ(recovered->size(), 1u);
  EXPECT_EQ((*recovered)[0].job.id, "running-1");
  EXPECT_EQ((*recovered)[0].job.state, JobState::queued);

  ClaimRequest req;
  req.max_jobs = 5;
  req.tasks.push_back(TaskBudget{"t", 5});
  auto claimed = (*store)->claim(req);
  ASSERT_TRUE(claimed) << claimed.error().detail;
  ASSERT_EQ(claimed->size(), 2u);
  EXPECT_EQ((*claimed)[0].job.id, "queued-1");
  EXPECT_EQ((*claimed)[1].job.id, "running-1");
  EXPECT_EQ((*claimed)[1].job.attempt, 2);
  for (const auto& c : *claimed) {
    auto done = (*store)->finish(c.job.id, Outcome{});
    ASSERT_TRUE(done) << done.error().detail;
    EXPECT_EQ(done->state, JobState::succeeded);
  }

  JobFilter succeeded;
  succeeded.state = JobState::succeeded;
  auto page = (*store)->list(succeeded);
  ASSERT_TRUE(page);
  EXPECT_EQ(page->jobs.size(), 3u);
  // Removes what finished before 1,000 s after the epoch: done-1 only.
  auto swept = (*store)->sweep(now_ms(), TimePoint(Millis(1'000'000)));
  ASSERT_TRUE(swept) << swept.error().detail;
  EXPECT_EQ(swept->jobs_removed, 1u);
  auto gone = (*store)->get("done-1");
  ASSERT_TRUE(gone);
  EXPECT_FALSE(*gone);
}

}  // namespace
}  // namespace wq
