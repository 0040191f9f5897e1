// The embedded queue on the PostgreSQL store (one node): what the store's several writers must
// not break in the dispatcher's claim protocol.
#include "support/pg_cluster.hpp"
#include "support/temp_dir.hpp"
#include "wq/queue.hpp"

#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>

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

}  // namespace
}  // namespace wq
