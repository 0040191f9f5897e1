// TimeoutExecutor and f_timeout: one cancel attempt at the deadline.
#include <gtest/gtest.h>

#include <vector>

#include "exec_test_support.hpp"
#include "wq/exec/combinators.hpp"
#include "wq/exec/thread_pool.hpp"

namespace wq::exec {
namespace {

using namespace std::chrono_literals;
using test::Counter;
using test::Gate;
using test::kWait;

TEST(TimeoutExecutor, QueuedWorkPastItsDeadlineIsCancelledAndCounted) {
  ThreadPool single(1, "timeout-test");
  auto executor = single.with_timeout(3600s);
  Gate release;
  Counter started;
  auto blocker = executor.submit([&] {
    started.add(1);
    release.wait();
    return 1;
  });
  ASSERT_TRUE(started.wait_for_at_least(1));
  // Queued behind the blocker, with a deadline that has already passed.
  auto late = executor.submit_timeout(Seconds(0), [] { return 2; });
  ASSERT_TRUE(late.wait_for(kWait));
  EXPECT_TRUE(late.cancelled());
  EXPECT_EQ(executor.stats().timeouts, 1u);
  release.open();
  EXPECT_EQ(blocker.result(kWait), 1);
  executor.shutdown();
}

TEST(TimeoutExecutor, RunningWorkCannotBeTimedOutAndStillDelivers) {
  ThreadPool pool(2, "timeout-test");
  auto executor = pool.with_timeout(Seconds(0));
  Gate release;
  Counter started;
  auto future = executor.submit([&] {
    started.add(1);
    release.wait();
    return 7;
  });
  ASSERT_TRUE(started.wait_for_at_least(1));
  release.open();
  EXPECT_EQ(future.result(kWait), 7);
  EXPECT_EQ(executor.stats().timeouts, 0u);
  executor.shutdown();
}

TEST(TimeoutExecutor, WorkDoneBeforeTheDeadlineIsUntouched) {
  ThreadPool pool(2, "timeout-test");
  auto executor = pool.with_timeout(3600s);
  std::vector<Future<int>> futures;
  for (int i = 0; i < 100; ++i) futures.push_back(executor.submit([i] { return i; }));
  for (int i = 0; i < 100; ++i) EXPECT_EQ(futures[i].result(kWait), i);
  EXPECT_EQ(executor.stats().futures, 100u);
  EXPECT_EQ(executor.stats().timeouts, 0u);
  executor.shutdown();
}

TEST(FTimeout, PendingFutureIsCancelledAtTheDeadline) {
  Promise<int> p;
  auto f = f_timeout(p.future(), Seconds(0));
  ASSERT_TRUE(f.wait_for(kWait));
  EXPECT_TRUE(f.cancelled());
  EXPECT_TRUE(p.future().cancelled());
}

TEST(FTimeout, RunningFutureKeepsItsOutcome) {
  Promise<int> p;
  p.set_running();
  auto f = f_timeout(p.future(), Seconds(0));
  p.set_value(3);
  EXPECT_EQ(f.result(kWait), 3);
}

}  // namespace
}  // namespace wq::exec
