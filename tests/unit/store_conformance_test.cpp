// Store conformance: the behaviour every Store must have, one suite run against each store
// (SQLite, and PostgreSQL on the private test cluster). Behaviours only one store has live in
// sqlite_store_test.cpp and pg_store_test.cpp.
#include "core/spec.hpp"
#include "support/pg_cluster.hpp"
#include "support/temp_dir.hpp"
#include "wq/store.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <barrier>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <thread>

namespace wq {
namespace {

// The stores, by the scheme of their URL.
enum class Backend { sqlite, postgresql };

class StoreTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    if (GetParam() == Backend::postgresql) {
      database = std::make_unique<test::TestDatabase>();
      // A short lease: recovery tests wait for a "dead" store's leases to expire.
      url = database->url() + "?lease=300ms";
    }
    store = open();
  }

  std::unique_ptr<Store> open() {
    Config c;
    c.data_dir = dir.path();
    c.store = url;
    auto s = open_store(c);
    EXPECT_TRUE(s) << (s ? "" : s.error().detail);
    return s ? std::move(*s) : nullptr;
  }

  NewJob job(boost::json::object params, std::string task = "t") {
    TaskConfig t;
    t.name = task;
    JobSpec spec;
    spec.task = task;
    spec.params = std::move(params);
    auto nj = prepare_job(spec, t, now_ms());
    EXPECT_TRUE(nj);
    return *nj;
  }

  Submitted submit(const NewJob& nj) {
    auto s = store->submit(nj);
    EXPECT_TRUE(s) << (s ? "" : s.error().detail);
    return *s;
  }

  std::vector<ClaimedJob> claim(std::size_t n, std::vector<std::string> tasks = {"t"}) {
    ClaimRequest req;
    req.max_jobs = n;
    for (auto& t : tasks) req.tasks.push_back({t, n});
    auto c = store->claim(req);
    EXPECT_TRUE(c);
    return c ? *c : std::vector<ClaimedJob>{};
  }

  Job finish(const std::string& id, JobState state, std::uint64_t seq = 0) {
    Outcome o;
    o.state = state;
    o.seq = seq;
    o.returncode = state == JobState::succeeded ? 0 : 1;
    if (state == JobState::succeeded) o.result_size = 4;
    if (state == JobState::failed) o.error = "boom";
    auto j = store->finish(id, o);
    EXPECT_TRUE(j) << (j ? "" : j.error().detail);
    return *j;
  }

  // Calls recover() until `n` jobs were recovered in all: at once for SQLite (the process that
  // held them is gone), after their lease expired for PostgreSQL (nodes may be alive).
  std::vector<Recovered> recover_until(std::size_t n, const std::function<bool(const Job&)>& retry) {
    std::vector<Recovered> all;
    const auto guard = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (all.size() < n && std::chrono::steady_clock::now() < guard) {
      auto r = store->recover(retry);
      EXPECT_TRUE(r) << (r ? "" : r.error().detail);
      if (!r) break;
      for (auto& x : *r) all.push_back(std::move(x));
      if (all.size() < n) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return all;
  }

  // Expects `answered` (what a write returned) to be the job as it is now stored.
  void expect_stored(const Job& answered) {
    auto stored = store->get(answered.id);
    ASSERT_TRUE(stored && *stored);
    const Job& j = **stored;
    EXPECT_EQ(answered.id, j.id);
    EXPECT_EQ(answered.task, j.task);
    EXPECT_EQ(answered.owner, j.owner);
    EXPECT_EQ(answered.priority, j.priority);
    EXPECT_EQ(answered.max_attempts, j.max_attempts);
    EXPECT_EQ(answered.timeout, j.timeout);
    EXPECT_EQ(answered.state, j.state);
    EXPECT_EQ(answered.seq, j.seq);
    EXPECT_EQ(answered.attempt, j.attempt);
    EXPECT_EQ(answered.fraction, j.fraction);
    EXPECT_EQ(answered.message, j.message);
    EXPECT_EQ(answered.error, j.error);
    EXPECT_EQ(answered.returncode, j.returncode);
    EXPECT_EQ(answered.result_size, j.result_size);
    EXPECT_EQ(answered.run_at, j.run_at);
    EXPECT_EQ(answered.created_at, j.created_at);
    EXPECT_EQ(answered.started_at, j.started_at);
    EXPECT_EQ(answered.finished_at, j.finished_at);
    EXPECT_EQ(answered.params, j.params);
    EXPECT_EQ(answered.key, j.key);
  }

  test::TempDir dir;
  std::unique_ptr<test::TestDatabase> database;
  std::string url;  // empty: SQLite in dir
  std::unique_ptr<Store> store;
};

TEST_P(StoreTest, SubmitThenGetReturnsTheQueuedJob) {
  auto s = submit(job({{"n", 1}}));
  EXPECT_TRUE(s.created);
  auto got = store->get(s.job.id);
  ASSERT_TRUE(got && *got);
  EXPECT_EQ((*got)->state, JobState::queued);
  EXPECT_EQ((*got)->params.at("n").as_int64(), 1);
  EXPECT_EQ((*got)->key, s.job.key);
  EXPECT_FALSE(*store->get("nope"));
}

TEST_P(StoreTest, StatsCountCommittedWritesAndTheirLatency) {
  const StoreStats before = store->stats();
  for (int n = 0; n < 3; ++n) submit(job({{"n", n}}));
  const StoreStats after = store->stats();
  EXPECT_GE(after.writes - before.writes, 3u);
  EXPECT_GE(after.commits - before.commits, 1u);
  std::uint64_t bucketed = 0;
  for (auto c : after.commit_latency_counts) bucketed += c;
  EXPECT_EQ(bucketed, after.commits);
  EXPECT_GT(after.commit_latency_sum, before.commit_latency_sum);
}

TEST_P(StoreTest, ActiveKeyReturnsTheSameJob) {
  auto a = submit(job({{"n", 1}}));
  auto b = submit(job({{"n", 1}}));
  EXPECT_FALSE(b.created);
  EXPECT_EQ(a.job.id, b.job.id);
  claim(1);
  auto c = submit(job({{"n", 1}}));
  EXPECT_FALSE(c.created);
  EXPECT_EQ(c.job.id, a.job.id);
  EXPECT_EQ(c.job.state, JobState::running);
}

TEST_P(StoreTest, RetainedSuccessIsReturnedUnlessForced) {
  auto a = submit(job({{"n", 1}}));
  claim(1);
  finish(a.job.id, JobState::succeeded);
  auto again = submit(job({{"n", 1}}));
  EXPECT_FALSE(again.created);
  EXPECT_EQ(again.job.id, a.job.id);
  EXPECT_EQ(again.job.state, JobState::succeeded);
  NewJob forced = job({{"n", 1}});
  forced.force = true;
  auto f = submit(forced);
  EXPECT_TRUE(f.created);
  EXPECT_NE(f.job.id, a.job.id);
}

TEST_P(StoreTest, FailedOrCancelledJobIsNotCached) {
  auto a = submit(job({{"n", 1}}));
  claim(1);
  finish(a.job.id, JobState::failed);
  auto b = submit(job({{"n", 1}}));
  EXPECT_TRUE(b.created);
  ASSERT_TRUE(store->cancel(b.job.id, std::nullopt));
  auto c = submit(job({{"n", 1}}));
  EXPECT_TRUE(c.created);
}

TEST_P(StoreTest, SweptResultIsNoLongerReturnedByDedup) {
  auto a = submit(job({{"n", 1}}));
  claim(1);
  Outcome o;
  o.state = JobState::succeeded;
  o.result_size = 4;
  o.result_expires_at = now_ms() - Millis(1);
  ASSERT_TRUE(store->finish(a.job.id, o));
  auto swept = store->sweep(now_ms(), std::nullopt);
  ASSERT_TRUE(swept);
  EXPECT_EQ(swept->results_expired, std::vector<std::string>{a.job.id});
  auto b = submit(job({{"n", 1}}));
  EXPECT_TRUE(b.created);
  EXPECT_FALSE((*store->get(a.job.id))->result_size);
}

TEST_P(StoreTest, SweepRemovesFinishedJobsPastTheirTtl) {
  auto a = submit(job({{"n", 1}}));
  auto b = submit(job({{"n", 2}}));
  claim(1);
  finish(a.job.id, JobState::succeeded);
  auto swept = store->sweep(now_ms(), now_ms() + Millis(1));
  ASSERT_TRUE(swept);
  EXPECT_EQ(swept->jobs_removed, 1u);
  EXPECT_EQ(swept->results_expired, std::vector<std::string>{a.job.id});
  EXPECT_FALSE(*store->get(a.job.id));
  EXPECT_TRUE(*store->get(b.job.id));
}

TEST_P(StoreTest, CallerIdIsIdempotentForTheSameSpecAndAConflictOtherwise) {
  NewJob a = job({{"n", 1}});
  a.job.id = "fixed";
  a.id_given = true;
  EXPECT_TRUE(submit(a).created);
  NewJob same = job({{"n", 1}});
  same.job.id = "fixed";
  same.id_given = true;
  auto again = submit(same);
  EXPECT_FALSE(again.created);
  EXPECT_EQ(again.job.id, "fixed");
  NewJob other = job({{"n", 2}});
  other.job.id = "fixed";
  other.id_given = true;
  auto conflict = store->submit(other);
  ASSERT_FALSE(conflict);
  EXPECT_EQ(conflict.error().code, Errc::conflict);
}

TEST_P(StoreTest, ClaimsByPriorityThenFifoAndRespectsTaskBudgets) {
  auto low1 = submit(job({{"n", 1}}));
  auto low2 = submit(job({{"n", 2}}));
  NewJob hi = job({{"n", 3}});
  hi.job.priority = 5;
  auto high = submit(hi);
  auto other = submit(job({{"n", 4}}, "u"));
  auto first = claim(2);
  ASSERT_EQ(first.size(), 2u);
  EXPECT_EQ(first[0].job.id, high.job.id);
  EXPECT_EQ(first[1].job.id, low1.job.id);
  EXPECT_EQ(first[0].job.state, JobState::running);
  EXPECT_EQ(first[0].job.attempt, 1);
  EXPECT_GT(first[0].job.seq, high.job.seq);
  ClaimRequest req;
  req.max_jobs = 5;
  req.tasks = {{"t", 0}, {"u", 1}};
  auto second = store->claim(req);
  ASSERT_TRUE(second);
  ASSERT_EQ(second->size(), 1u);
  EXPECT_EQ((*second)[0].job.id, other.job.id);
  EXPECT_EQ(claim(5).front().job.id, low2.job.id);
}

TEST_P(StoreTest, DelayedJobIsNotClaimedBeforeItsTime) {
  NewJob later = job({{"n", 1}});
  later.job.run_at = now_ms() + Millis(60000);
  submit(later);
  EXPECT_TRUE(claim(1).empty());
  ASSERT_TRUE(store->next_run_at());
  EXPECT_EQ(*store->next_run_at(), later.job.run_at);
}

TEST_P(StoreTest, NAheadCountsRunningJobsAndQueuedJobsAhead) {
  std::vector<Submitted> s;
  for (int i = 0; i < 6; ++i) s.push_back(submit(job({{"n", i}})));
  claim(2);
  // The Overview seed: 2 running, 2 queued ahead -> the fifth job has 4 ahead.
  EXPECT_EQ(store->n_ahead(*(*store->get(s[4].job.id))), 4);
  EXPECT_EQ(store->n_ahead(*(*store->get(s[2].job.id))), 2);
  EXPECT_EQ(store->n_ahead(*(*store->get(s[0].job.id))), 0);  // running
}

TEST_P(StoreTest, FinishRetryRequeuesAndTerminalClearsSecrets) {
  TaskConfig t;
  t.name = "t";
  t.params = {ParamSpec{"token", true, true, std::nullopt}};
  JobSpec spec;
  spec.task = "t";
  spec.params = {{"token", "s3cret"}};
  auto nj = prepare_job(spec, t, now_ms());
  ASSERT_TRUE(nj);
  auto s = submit(*nj);
  auto c = claim(1);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].secrets.at("token").as_string(), "s3cret");
  Outcome retry;
  retry.state = JobState::queued;
  retry.retry_at = now_ms();
  retry.error = "first failure";
  auto requeued = store->finish(s.job.id, retry);
  ASSERT_TRUE(requeued);
  EXPECT_EQ(requeued->state, JobState::queued);
  auto again = claim(1);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].job.attempt, 2);
  EXPECT_EQ(again[0].secrets.at("token").as_string(), "s3cret");
  auto done = finish(s.job.id, JobState::failed, 1000);
  EXPECT_EQ(done.seq, 1000u);
  EXPECT_EQ(done.error, "boom");
  // A finished job can no longer be finished again.
  EXPECT_EQ(store->finish(s.job.id, Outcome{}).error().code, Errc::not_found);
}

// What a claim answers is the job as the claim stored it, every field, secrets included (a
// store may answer from what it remembers of the jobs it inserted instead of reading them).
TEST_P(StoreTest, ClaimAnswersTheJobAsStored) {
  TaskConfig t;
  t.name = "t";
  t.params = {ParamSpec{"token", true, true, std::nullopt},
              ParamSpec{"n", true, false, std::nullopt}};
  JobSpec spec;
  spec.task = "t";
  spec.params = {{"token", "s3cret"}, {"n", 7}};
  spec.key = "my-key";
  spec.priority = 3;
  spec.max_attempts = 4;
  spec.timeout = std::chrono::milliseconds(2500);
  spec.run_at = now_ms() - std::chrono::milliseconds(1);
  auto nj = prepare_job(spec, t, now_ms());
  ASSERT_TRUE(nj);
  auto plain = submit(job({{"n", 2}}));
  auto s = submit(*nj);
  auto c = claim(2);
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[0].job.id, s.job.id);  // the higher priority first
  EXPECT_EQ(c[0].job.state, JobState::running);
  EXPECT_EQ(c[0].job.attempt, 1);
  EXPECT_EQ(c[0].job.key, "my-key");
  EXPECT_EQ(c[0].secrets.at("token").as_string(), "s3cret");
  EXPECT_FALSE(c[0].job.params.contains("token"));
  EXPECT_EQ(c[1].job.id, plain.job.id);
  EXPECT_TRUE(c[1].secrets.empty());
  for (const auto& claimed : c) expect_stored(claimed.job);
}

// What finish answers is the job as it is now stored, progress saved while it ran included
// (a store may answer from what it remembers of its running jobs instead of reading them).
TEST_P(StoreTest, FinishAnswersTheJobAsStoredAfterProgressAndARetry) {
  auto s = submit(job({{"n", 1}}));
  ASSERT_EQ(claim(1).size(), 1u);
  ProgressWrite half{s.job.id, s.job.seq + 5, 0.5, "half way"};
  ASSERT_TRUE(store->save_progress({&half, 1}));
  Outcome retry;
  retry.state = JobState::queued;
  retry.retry_at = now_ms();
  retry.error = "first failure";
  retry.fraction = 0;
  auto requeued = store->finish(s.job.id, retry);
  ASSERT_TRUE(requeued) << requeued.error().detail;
  EXPECT_GT(requeued->seq, s.job.seq + 5);  // past the progress it published
  expect_stored(*requeued);

  auto again = claim(1);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].job.attempt, 2);
  ProgressWrite most{s.job.id, again[0].job.seq + 3, 0.9, "nearly"};
  ASSERT_TRUE(store->save_progress({&most, 1}));
  auto done = finish(s.job.id, JobState::succeeded);
  EXPECT_EQ(done.seq, again[0].job.seq + 4);
  EXPECT_EQ(done.fraction, 1.0);
  expect_stored(done);
}

TEST_P(StoreTest, FinishAsyncAnswersEachOnceAsFinishWould) {
  auto a = submit(job({{"n", 1}}));
  auto b = submit(job({{"n", 2}}));
  auto queued = submit(job({{"n", 3}}));
  ASSERT_EQ(claim(2).size(), 2u);
  std::mutex m;
  std::condition_variable cv;
  std::map<std::string, std::vector<Result<Job>>> answers;
  auto answer = [&](std::string id) {
    return [&, id](Result<Job> r) {
      std::lock_guard lock(m);
      answers[id].push_back(std::move(r));
      cv.notify_all();
    };
  };
  Outcome ok;
  ok.state = JobState::succeeded;
  ok.returncode = 0;
  ok.seq = 100;
  Outcome failed;
  failed.state = JobState::failed;
  failed.returncode = 3;
  failed.error = "boom";
  store->finish_async(a.job.id, ok, answer(a.job.id));
  store->finish_async(b.job.id, failed, answer(b.job.id));
  store->finish_async(queued.job.id, ok, answer(queued.job.id));  // not running
  {
    std::unique_lock lock(m);
    cv.wait(lock, [&] { return answers.size() == 3; });
  }
  // A later write returns after the earlier ones were answered: no second answer is on its way.
  EXPECT_FALSE(store->cancel("no-such-job", std::nullopt));
  std::lock_guard lock(m);
  for (const auto& [id, list] : answers) EXPECT_EQ(list.size(), 1u) << id;
  const auto& done_a = answers[a.job.id][0];
  ASSERT_TRUE(done_a) << done_a.error().detail;
  EXPECT_EQ(done_a->state, JobState::succeeded);
  EXPECT_EQ(done_a->seq, 100u);
  expect_stored(*done_a);
  const auto& done_b = answers[b.job.id][0];
  ASSERT_TRUE(done_b) << done_b.error().detail;
  EXPECT_EQ(done_b->state, JobState::failed);
  EXPECT_EQ(done_b->error, "boom");
  expect_stored(*done_b);
  const auto& not_running = answers[queued.job.id][0];
  ASSERT_FALSE(not_running);
  EXPECT_EQ(not_running.error().code, Errc::not_found);
}

TEST_P(StoreTest, CancelQueuedEndsItAndCancelRunningOnlyMarksIt) {
  auto a = submit(job({{"n", 1}}));
  auto b = submit(job({{"n", 2}}));
  auto c = store->cancel(b.job.id, std::nullopt);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->state, JobState::cancelled);
  EXPECT_EQ(c->error, "cancelled");
  EXPECT_GT(c->seq, b.job.seq);
  auto claimed = claim(5);
  ASSERT_EQ(claimed.size(), 1u);  // the cancelled one never starts
  auto r = store->cancel(a.job.id, std::nullopt);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->state, JobState::running);
  EXPECT_EQ(store->cancel(a.job.id, std::string("someone-else")).error().code, Errc::not_found);
}

TEST_P(StoreTest, ListPagesNewestFirstWithFilters) {
  for (int i = 0; i < 25; ++i) submit(job({{"n", i}}));
  claim(5);
  JobFilter f;
  f.limit = 10;
  auto p1 = store->list(f);
  ASSERT_TRUE(p1);
  ASSERT_EQ(p1->jobs.size(), 10u);
  EXPECT_EQ(p1->jobs[0].params.at("n").as_int64(), 24);
  ASSERT_TRUE(p1->next_cursor);
  f.cursor = p1->next_cursor;
  auto p2 = store->list(f);
  EXPECT_EQ(p2->jobs[0].params.at("n").as_int64(), 14);
  f.cursor.reset();
  f.state = JobState::running;
  f.limit = 100;
  auto running = store->list(f);
  EXPECT_EQ(running->jobs.size(), 5u);
  EXPECT_FALSE(running->next_cursor);
  f.cursor = "garbage";
  EXPECT_EQ(store->list(f).error().code, Errc::bad_input);
}

TEST_P(StoreTest, RecoveryRequeuesOrFailsInterruptedJobsAndBumpsSeq) {
  auto a = submit(job({{"n", 1}}));
  auto b = submit(job({{"n", 2}}));
  auto q = submit(job({{"n", 3}}));
  claim(2);
  store.reset();  // the process "dies" with two jobs running
  store = open();
  auto rec = recover_until(2, [&](const Job& j) { return j.id == a.job.id; });
  ASSERT_EQ(rec.size(), 2u);
  auto ja = **store->get(a.job.id);
  auto jb = **store->get(b.job.id);
  auto jq = **store->get(q.job.id);
  EXPECT_EQ(ja.state, JobState::queued);
  EXPECT_EQ(ja.attempt, 1);
  EXPECT_EQ(jb.state, JobState::failed);
  EXPECT_NE(jb.error->find("interrupted"), std::string::npos);
  EXPECT_GT(ja.seq, a.job.seq + 1000);
  EXPECT_GT(jb.seq, b.job.seq + 1000);
  // One process owns a SQLite store: everything unfinished was its. Other PostgreSQL nodes
  // may be watching their queued jobs, so those keep their seq there.
  if (GetParam() == Backend::sqlite) {
    EXPECT_GT(jq.seq, q.job.seq + 1000);
  }
  EXPECT_EQ(jq.state, JobState::queued);
  EXPECT_EQ(claim(5).size(), 2u);
}

TEST_P(StoreTest, SixteenConcurrentSubmittersOfOneKeyCreateOneJob) {
  for (int round = 0; round < 20; ++round) {
    std::barrier start(16);
    std::atomic<int> created{0};
    std::set<std::string> ids;
    std::mutex m;
    std::vector<std::thread> threads;
    for (int i = 0; i < 16; ++i) {
      threads.emplace_back([&] {
        NewJob nj = job({{"round", round}});
        start.arrive_and_wait();
        auto s = store->submit(nj);
        ASSERT_TRUE(s);
        if (s->created) ++created;
        std::lock_guard lock(m);
        ids.insert(s->job.id);
      });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(created.load(), 1);
    EXPECT_EQ(ids.size(), 1u);
  }
}

TEST_P(StoreTest, ConcurrentClaimersNeverGetTheSameJob) {
  for (int i = 0; i < 400; ++i) submit(job({{"n", i}}));
  std::mutex m;
  std::multiset<std::string> got;
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (;;) {
        ClaimRequest req;
        req.max_jobs = 3;
        req.tasks = {{"t", 3}};
        auto c = store->claim(req);
        ASSERT_TRUE(c);
        if (c->empty()) return;
        std::lock_guard lock(m);
        for (auto& j : *c) got.insert(j.job.id);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(got.size(), 400u);
  EXPECT_EQ(std::set<std::string>(got.begin(), got.end()).size(), 400u);
}

TEST_P(StoreTest, AcknowledgedSubmitsSurviveReopen) {
  std::vector<std::string> ids;
  for (int i = 0; i < 50; ++i) ids.push_back(submit(job({{"n", i}})).job.id);
  store.reset();
  store = open();
  for (const auto& id : ids) EXPECT_TRUE(*store->get(id)) << id;
  EXPECT_EQ(claim(100).size(), 50u);
}

INSTANTIATE_TEST_SUITE_P(Stores, StoreTest,
                         ::testing::Values(Backend::sqlite, Backend::postgresql),
                         [](const ::testing::TestParamInfo<Backend>& info) {
                           return info.param == Backend::sqlite ? "SQLite" : "PostgreSQL";
                         });

}  // namespace
}  // namespace wq
