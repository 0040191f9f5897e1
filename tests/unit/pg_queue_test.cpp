// The embedded queue on the PostgreSQL store (one node): what the store's several writers must
// not break in the dispatcher's claim protocol.
#include "support/pg_cluster.hpp"
#include "support/temp_dir.hpp"
#include "support/watch.hpp"
#include "wq/queue.hpp"

#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <string>
#include <vector>

namespace wq {
namespace {

// Regression: a submit whose batch found the node's free slots reserved by another writer's
// batch (a finish committing at the same moment) left its job queued until the next submit.
TEST(PgQueue, JobsSubmittedOneAfterAnotherAsTheLastStartsAllStart) {
  test::TempDir dir;
  test::TestDatabase db;
  Config c;
  c.store = db.url();
  c.data_dir = dir.path();
  c.concurrency = 8;
  Queue q(c);
  std::mutex m;
  std::condition_variable cv;
  int started = 0;
  q.register_task("stamp", [&](TaskContext&) {
    std::lock_guard lock(m);
    ++started;
    cv.notify_all();
  });
  for (int i = 0; i < 200; ++i) {
    auto s = q.submit({.task = "stamp", .params = {{"i", i}}});
    ASSERT_TRUE(s) << s.error().detail;
    std::unique_lock lock(m);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(60), [&] { return started == i + 1; }))
        << "job " << i << " never started";
  }
}

// Regression: under steady traffic the hook claims of submits and finishes overlap all the time,
// and the dispatcher claimed again after every overlap: a dozen empty claims (each a
// transaction) per job. A job here costs its submit's commit (which claims it) and its
// finish's; a few more are allowed for claims that race.
TEST(PgQueue, JobsSubmittedOneAfterAnotherCostAboutTwoCommitsEach) {
  test::TempDir dir;
  test::TestDatabase db;
  Config c;
  c.store = db.url();
  c.data_dir = dir.path();
  c.concurrency = 8;
  Queue q(c);
  q.register_task("noop", [](TaskContext&) {});
  constexpr int kJobs = 300;
  const auto commits0 = q.stats().store.commits;
  std::vector<std::string> ids;
  for (int i = 0; i < kJobs; ++i) {
    auto s = q.submit({.task = "noop", .params = {{"i", i}}});
    ASSERT_TRUE(s) << s.error().detail;
    ids.push_back(s->job.id);
  }
  for (const auto& id : ids) ASSERT_EQ(test::wait_terminal(q, id).state, JobState::succeeded);
  const auto commits = q.stats().store.commits - commits0;
  EXPECT_LT(commits, 4u * kJobs) << commits << " commits for " << kJobs << " jobs";
}

}  // namespace
}  // namespace wq
