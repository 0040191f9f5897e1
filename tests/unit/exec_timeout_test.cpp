// TimeoutExecutor and f_timeout: one cancel attempt at the deadline.
#include <gtest/gtest.h>

#include <deque>
#include <memory>
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
  release.open();
  EXPECT_EQ(blocker.result(kWait), 1);
  // Counting follows the cancel; after shutdown(true) the timer thread is done counting.
  executor.shutdown(true);
  EXPECT_EQ(executor.stats().timeouts, 1u);
}

// Hands out futures of promises the test completes itself.
class PromiseExecutor : public Composable<PromiseExecutor> {
 public:
  template <class F, class... A>
  Future<int> submit(F&&, A&&...) {
    promises_->emplace_back();
    if (*start_running_) promises_->back().set_running();
    return promises_->back().future();
  }
  // Futures handed out from now on are already running (or not).
  void start_running(bool yes) { *start_running_ = yes; }
  void shutdown(bool = true) {}
  ExecutorStats stats() const { return {}; }
  Promise<int>& promise(std::size_t i) { return (*promises_)[i]; }

 private:
  std::shared_ptr<std::deque<Promise<int>>> promises_ =
      std::make_shared<std::deque<Promise<int>>>();
  std::shared_ptr<bool> start_running_ = std::make_shared<bool>(false);
};

TEST(TimeoutExecutor, RunningWorkCannotBeTimedOutAndStillDelivers) {
  PromiseExecutor inner;
  auto executor = inner.with_timeout(Seconds(0));
  inner.start_running(true);
  auto running = executor.submit([] { return 0; });
  inner.start_running(false);
  auto pending = executor.submit([] { return 0; });
  // Deadlines fire in order: once the later one has cancelled `pending`, the earlier one has
  // tried to cancel `running`.
  ASSERT_TRUE(pending.wait_for(kWait));
  EXPECT_TRUE(pending.cancelled());
  EXPECT_FALSE(running.cancelled());
  EXPECT_TRUE(running.running());
  inner.promise(0).set_value(7);
  EXPECT_EQ(running.result(kWait), 7);
  executor.shutdown(true);
  EXPECT_EQ(executor.stats().timeouts, 1u);
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
