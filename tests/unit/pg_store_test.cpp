// What only the PostgreSQL store does: several stores (nodes) on one database. The behaviour
// every store shares is the conformance suite (store_conformance_test.cpp).
#include "core/spec.hpp"
#include "store/postgres/migrations.hpp"
#include "support/pg_cluster.hpp"
#include "support/temp_dir.hpp"
#include "wq/store.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <condition_variable>
#include <fstream>
#include <iterator>
#include <future>
#include <mutex>
#include <set>
#include <thread>

namespace wq {
namespace {

constexpr auto kGuard = std::chrono::seconds(60);  // hang guard only

class PgStoreTest : public ::testing::Test {
 protected:
  std::unique_ptr<Store> node(const std::string& lease = "30s") {
    Config c;
    c.data_dir = dir.path();
    c.store = db.url() + "?lease=" + lease;
    auto s = open_store(c);
    EXPECT_TRUE(s) << (s ? "" : s.error().detail);
    return s ? std::move(*s) : nullptr;
  }

  static NewJob job(boost::json::object params) {
    TaskConfig t;
    t.name = "t";
    JobSpec spec;
    spec.task = "t";
    spec.params = std::move(params);
    return *prepare_job(spec, t, now_ms());
  }

  static std::vector<ClaimedJob> claim(Store& s, std::size_t n) {
    ClaimRequest req;
    req.max_jobs = n;
    req.tasks = {{"t", n}};
    auto c = s.claim(req);
    EXPECT_TRUE(c) << (c ? "" : c.error().detail);
    return c ? *c : std::vector<ClaimedJob>{};
  }

  // Collects the events a store's sink receives; waits for one that matches.
  struct Events {
    std::mutex m;
    std::condition_variable cv;
    std::vector<StoreEvent> got;
    std::function<void(const StoreEvent&)> sink() {
      return [this](const StoreEvent& e) {
        std::lock_guard lock(m);
        got.push_back(e);
        cv.notify_all();
      };
    }
    std::optional<StoreEvent> wait_for(const std::function<bool(const StoreEvent&)>& pred) {
      std::unique_lock lock(m);
      std::optional<StoreEvent> found;
      cv.wait_for(lock, kGuard, [&] {
        for (const auto& e : got) {
          if (pred(e)) found = e;
        }
        return found.has_value();
      });
      return found;
    }
  };

  test::TempDir dir;
  test::TestDatabase db;
};

TEST_F(PgStoreTest, FourNodesMigratingAnEmptyDatabaseAtOnceAllOpen) {
  std::vector<std::future<std::unique_ptr<Store>>> opening;
  for (int i = 0; i < 4; ++i) opening.push_back(std::async(std::launch::async, [&] { return node(); }));
  std::vector<std::unique_ptr<Store>> nodes;
  for (auto& f : opening) nodes.push_back(f.get());
  for (auto& n : nodes) ASSERT_TRUE(n);
  EXPECT_EQ(test::pg_value(db.url(), "SELECT max(version) FROM wq_schema"),
            std::to_string(postgres::kMigrations.size()));
  EXPECT_EQ(test::pg_value(db.url(), "SELECT count(*) FROM wq_schema"), "1");
}

// Schema 4 changed the indexes under existing jobs: a database left at version 3 with jobs in
// every state migrates, and its jobs are claimed, recovered and deduplicated as before.
TEST_F(PgStoreTest, ADatabaseOfSchemaVersion3WithJobsInEveryStateMigratesAndServesThem) {
  std::string schema = "CREATE TABLE wq_schema (version INTEGER NOT NULL); "
                       "INSERT INTO wq_schema VALUES (3);";
  for (std::size_t i = 0; i < 3; ++i) schema += std::string(postgres::kMigrations[i]);
  test::pg_exec(db.url(), schema);
  const NewJob queued = job({{"n", 1}}), running = job({{"n", 2}}), done = job({{"n", 3}});
  auto row = [](const NewJob& nj, int state, const std::string& rest_columns,
                const std::string& rest_values) {
    return fmt::format(
        "INSERT INTO wq_jobs (id, task, params, spec_hash, key, owner, priority, max_attempts, "
        "run_at, state, seq, created_at{}) VALUES ('{}', 't', '{{}}', '{}', '{}', '', 0, 1, 0, "
        "{}, 1, 0{});",
        rest_columns, nj.job.id, nj.spec_hash, nj.job.key, state, rest_values);
  };
  test::pg_exec(db.url(),
                row(queued, 0, "", "") +
                row(running, 1, ", attempt, lease_node, lease_expires_at",
                    ", 1, 'gone', now() - interval '1 second'") +
                row(done, 2, ", finished_at, retained", ", 1, true"));
  auto a = node();
  ASSERT_TRUE(a);
  EXPECT_EQ(test::pg_value(db.url(), "SELECT version FROM wq_schema"),
            std::to_string(postgres::kMigrations.size()));
  auto recovered = a->recover([](const Job&) { return true; });
  ASSERT_TRUE(recovered) << recovered.error().detail;
  ASSERT_EQ(recovered->size(), 1u);
  EXPECT_EQ((*recovered)[0].job.id, running.job.id);
  auto again = a->submit(done);
  ASSERT_TRUE(again) << again.error().detail;
  EXPECT_FALSE(again->created);
  EXPECT_EQ(again->job.id, done.job.id);
  std::set<std::string> claimed;
  for (auto& c : claim(*a, 4)) claimed.insert(c.job.id);
  EXPECT_EQ(claimed, (std::set<std::string>{queued.job.id, running.job.id}));
}

TEST_F(PgStoreTest, TwoNodesClaimingAtOnceNeverTakeTheSameJob) {
  auto a = node();
  auto b = node();
  for (int i = 0; i < 120; ++i) ASSERT_TRUE(a->submit(job({{"n", i}})));
  std::mutex m;
  std::multiset<std::string> got;
  std::vector<std::thread> threads;
  for (Store* s : {a.get(), b.get(), a.get(), b.get()}) {
    threads.emplace_back([&, s] {
      for (;;) {
        auto c = claim(*s, 4);
        if (c.empty()) return;
        std::lock_guard lock(m);
        for (auto& j : c) got.insert(j.job.id);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(got.size(), 120u);
  EXPECT_EQ(std::set<std::string>(got.begin(), got.end()).size(), 120u);
}

TEST_F(PgStoreTest, SubmittersOnThreeNodesOfOneKeyCreateOneJob) {
  std::vector<std::unique_ptr<Store>> nodes;
  for (int i = 0; i < 3; ++i) nodes.push_back(node());
  for (int round = 0; round < 5; ++round) {
    std::vector<std::future<Result<Submitted>>> subs;
    for (int i = 0; i < 48; ++i) {
      subs.push_back(std::async(std::launch::async, [&, i] { return nodes[i % 3]->submit(job({{"round", round}})); }));
    }
    int created = 0;
    std::set<std::string> ids;
    for (auto& f : subs) {
      auto s = f.get();
      ASSERT_TRUE(s) << s.error().detail;
      created += s->created;
      ids.insert(s->job.id);
    }
    EXPECT_EQ(created, 1);
    EXPECT_EQ(ids.size(), 1u);
  }
}

TEST_F(PgStoreTest, ACurrentLeaseIsNotRecoveredAndAnExpiredOneIsAndFencesItsNode) {
  auto a = node();
  auto b = node();
  auto s = a->submit(job({{"n", 1}}));
  ASSERT_TRUE(s);
  ASSERT_EQ(claim(*a, 1).size(), 1u);
  auto none = b->recover([](const Job&) { return true; });
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty()) << "a live node's job was taken";
  // Node a goes silent: its lease lapses.
  test::pg_exec(db.url(), "UPDATE wq_jobs SET lease_expires_at = now() - interval '1 second'");
  auto rec = b->recover([](const Job&) { return true; });
  ASSERT_TRUE(rec);
  ASSERT_EQ(rec->size(), 1u);
  EXPECT_EQ((*rec)[0].job.state, JobState::queued);
  ASSERT_EQ(claim(*b, 1).size(), 1u);
  Outcome late;
  late.state = JobState::succeeded;
  auto refused = a->finish(s->job.id, late);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, Errc::not_found);
  auto done = b->finish(s->job.id, late);
  ASSERT_TRUE(done) << done.error().detail;
  EXPECT_EQ(done->attempt, 2);
}

TEST_F(PgStoreTest, TheHeartbeatRenewsTheLeasesOfItsNode) {
  auto a = node("300ms");
  ASSERT_TRUE(a->submit(job({{"n", 1}})));
  ASSERT_EQ(claim(*a, 1).size(), 1u);
  const std::string first = test::pg_value(db.url(), "SELECT lease_expires_at FROM wq_jobs");
  const auto deadline = std::chrono::steady_clock::now() + kGuard;
  while (test::pg_value(db.url(), "SELECT lease_expires_at FROM wq_jobs") == first &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(test::pg_value(db.url(), "SELECT lease_expires_at > '" + first + "' FROM wq_jobs"), "t");
}

TEST_F(PgStoreTest, AResultRecordedOnOneNodeIsServedByAnotherUntilItExpires) {
  auto a = node();
  auto b = node();
  auto s = a->submit(job({{"n", 1}}));
  ASSERT_TRUE(s);
  ASSERT_EQ(claim(*a, 1).size(), 1u);
  const auto file = dir / "result";
  std::string bytes;
  for (int i = 0; i < 100000; ++i) bytes += static_cast<char>('a' + i % 26);  // > one chunk
  std::ofstream(file, std::ios::binary) << bytes;
  Outcome done;
  done.state = JobState::succeeded;
  done.result_size = bytes.size();
  done.result_file = file;
  done.result_expires_at = now_ms() - Millis(1);
  ASSERT_TRUE(a->finish(s->job.id, done));
  const auto copy = dir / "elsewhere" / "copy";
  auto fetched = b->fetch_result(s->job.id, copy);
  ASSERT_TRUE(fetched) << fetched.error().detail;
  EXPECT_TRUE(*fetched);
  std::ifstream in(copy, std::ios::binary);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), bytes);
  auto swept = b->sweep(now_ms(), std::nullopt);
  ASSERT_TRUE(swept) << swept.error().detail;
  EXPECT_EQ(swept->results_expired, std::vector<std::string>{s->job.id});
  EXPECT_FALSE(*b->fetch_result(s->job.id, dir / "again"));
  EXPECT_EQ(test::pg_value(db.url(), "SELECT count(*) FROM pg_largeobject_metadata"), "0");
}

TEST_F(PgStoreTest, ANodeCutOffFromTheDatabaseStopsItsJobsAndGivesThemUp) {
  Events at_a;  // outlives the store that calls it
  auto a = node("900ms");
  a->set_event_sink(at_a.sink());
  auto s = a->submit(job({{"n", 1}}));
  ASSERT_TRUE(s);
  ASSERT_EQ(claim(*a, 1).size(), 1u);
  // The network is cut: every connection of the database drops and none can be made.
  const std::string admin = test::test_cluster_url() + "/postgres";
  test::pg_exec(admin, "ALTER DATABASE " + db.name() + " ALLOW_CONNECTIONS false");
  test::pg_exec(admin, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '" +
                           db.name() + "'");
  EXPECT_TRUE(at_a.wait_for([&](const StoreEvent& e) {
    return e.kind == StoreEvent::Kind::cancel && e.snapshot.id == s->job.id;
  })) << "the node did not stop its job";
  test::pg_exec(admin, "ALTER DATABASE " + db.name() + " ALLOW_CONNECTIONS true");
  Outcome late;
  late.state = JobState::succeeded;
  auto refused = a->finish(s->job.id, late);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, Errc::not_found);
  // Another node recovers it once the lease lapses (a expires it as soon as it reconnects).
  auto b = node();
  std::vector<Recovered> rec;
  const auto deadline = std::chrono::steady_clock::now() + kGuard;
  while (rec.empty() && std::chrono::steady_clock::now() < deadline) {
    auto r = b->recover([](const Job&) { return true; });
    if (r) rec = *r;
    if (rec.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_EQ(rec.size(), 1u);
  EXPECT_EQ(rec[0].job.state, JobState::queued);
  a->set_event_sink({});
}

TEST_F(PgStoreTest, OtherNodesHearOfWorkCancelsAndSnapshots) {
  Events at_a, at_b;  // outlive the stores that call them
  auto a = node();
  auto b = node();
  a->set_event_sink(at_a.sink());
  b->set_event_sink(at_b.sink());
  // Work submitted on a (which claims nothing itself) wakes b.
  auto s = a->submit(job({{"n", 1}}));
  ASSERT_TRUE(s);
  EXPECT_TRUE(at_b.wait_for([](const StoreEvent& e) { return e.kind == StoreEvent::Kind::work; }));
  // A cancel received by b reaches a, which runs the job.
  ASSERT_EQ(claim(*a, 1).size(), 1u);
  ASSERT_TRUE(b->cancel(s->job.id, std::nullopt));
  EXPECT_TRUE(at_a.wait_for([&](const StoreEvent& e) {
    return e.kind == StoreEvent::Kind::cancel && e.snapshot.id == s->job.id;
  }));
  // Progress published on a reaches b's watchers.
  Snapshot progress{s->job.id, 41, JobState::running, 0, 0.5, "half", std::nullopt, std::nullopt};
  a->publish(progress);
  auto got = at_b.wait_for([](const StoreEvent& e) {
    return e.kind == StoreEvent::Kind::snapshot && e.snapshot.seq == 41;
  });
  ASSERT_TRUE(got);
  EXPECT_EQ(got->snapshot, progress);
  // A terminal snapshot whose error is too long for a payload arrives whole, from the database.
  Outcome failed;
  failed.state = JobState::failed;
  failed.seq = 50;
  failed.returncode = 1;
  failed.error = std::string(5000, 'x');
  auto finished = a->finish(s->job.id, failed);
  ASSERT_TRUE(finished) << finished.error().detail;
  a->publish(snapshot_of(*finished));
  auto terminal = at_b.wait_for([](const StoreEvent& e) {
    return e.kind == StoreEvent::Kind::snapshot && e.snapshot.terminal();
  });
  ASSERT_TRUE(terminal);
  EXPECT_EQ(terminal->snapshot.error, failed.error);
  EXPECT_EQ(terminal->snapshot.seq, finished->seq);
  // A node does not hear its own events.
  {
    std::lock_guard lock(at_a.m);
    for (const auto& e : at_a.got) EXPECT_NE(e.kind, StoreEvent::Kind::snapshot);
  }
  a->set_event_sink({});
  b->set_event_sink({});
}

}  // namespace
}  // namespace wq
