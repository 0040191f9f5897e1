// more-executors' test_throttle.py and test_throttle_dynamic.py, without timing: limits are
// checked by recording concurrency, progress by gates.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <vector>

#include "exec_test_support.hpp"
#include "wq/exec/thread_pool.hpp"

namespace wq::exec {
namespace {

using test::Counter;
using test::Gate;
using test::kWait;

// Tracks how many callables run at once.
class Concurrency {
 public:
  void enter() {
    std::lock_guard lock(mu_);
    ++now_;
    max_ = std::max(max_, now_);
  }
  void leave() {
    std::lock_guard lock(mu_);
    --now_;
  }
  int max() {
    std::lock_guard lock(mu_);
    return max_;
  }

 private:
  std::mutex mu_;
  int now_ = 0;
  int max_ = 0;
};

class ThrottleBlockingTest : public ::testing::TestWithParam<bool> {};

TEST_P(ThrottleBlockingTest, NeverMoreThanCountRunAtOnceAndAllComplete) {
  Concurrency concurrency;
  ThreadPool pool(8, "throttle-test");
  auto executor = pool.with_throttle(3, GetParam());
  std::vector<Future<int>> futures;
  for (int i = 0; i < 1000; ++i) {
    futures.push_back(executor.submit([&concurrency, i] {
      concurrency.enter();
      std::this_thread::yield();
      concurrency.leave();
      return i;
    }));
  }
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(futures[i].result(kWait), i);
  EXPECT_LE(concurrency.max(), 3);
  EXPECT_GE(concurrency.max(), 1);
  executor.shutdown();
}

INSTANTIATE_TEST_SUITE_P(BlockOrNot, ThrottleBlockingTest, ::testing::Bool());

TEST(ThrottleExecutor, TheLimitIsReachedAndTheNextJobWaitsForAFreeSlot) {
  ThreadPool pool(8, "throttle-test");
  auto executor = pool.with_throttle(3);
  Gate release;
  Counter started;
  auto job = [&] {
    started.add(1);
    release.wait();
    return 1;
  };
  std::vector<Future<int>> running;
  for (int i = 0; i < 3; ++i) running.push_back(executor.submit(job));
  ASSERT_TRUE(started.wait_for_at_least(3));
  auto queued = executor.submit([] { return 2; });
  // Queued behind the limit: cancellable, not running.
  EXPECT_FALSE(queued.running());
  EXPECT_TRUE(queued.cancel());
  auto next = executor.submit([] { return 3; });
  release.open();
  EXPECT_EQ(next.result(kWait), 3);
  for (auto& f : running) EXPECT_EQ(f.result(kWait), 1);
  EXPECT_THROW(queued.result(), CancelledError);
  EXPECT_EQ(started.value(), 3);
  executor.shutdown();
}

TEST(ThrottleExecutor, CountFunctionIsReevaluatedAtEveryDecision) {
  ThreadPool pool(4, "throttle-test");
  std::atomic<std::size_t> limit{1};
  Concurrency concurrency;
  auto executor = pool.with_throttle(
      std::function<std::optional<std::size_t>()>([&]() -> std::optional<std::size_t> {
        return limit.load();
      }));
  Gate release;
  Counter started;
  auto job = [&] {
    concurrency.enter();
    started.add(1);
    release.wait();
    concurrency.leave();
    return 0;
  };
  auto first = executor.submit(job);
  ASSERT_TRUE(started.wait_for_at_least(1));
  limit = 2;
  // The next submit wakes the throttle, which sees the raised limit.
  auto second = executor.submit(job);
  ASSERT_TRUE(started.wait_for_at_least(2));
  release.open();
  first.result(kWait);
  second.result(kWait);
  EXPECT_EQ(concurrency.max(), 2);
  executor.shutdown();
}

TEST(ThrottleExecutor, ThrowingCountFunctionKeepsTheLastLimitAndIsLogged) {
  test::ErrorLogCapture errors;
  ThreadPool pool(2, "throttle-test");
  std::atomic<int> calls{0};
  auto executor = pool.with_throttle(
      std::function<std::optional<std::size_t>()>([&]() -> std::optional<std::size_t> {
        if (++calls > 1) throw std::runtime_error("count failed");
        return 1;
      }));
  std::vector<Future<int>> futures;
  for (int i = 0; i < 5; ++i) futures.push_back(executor.submit([i] { return i; }));
  for (int i = 0; i < 5; ++i) EXPECT_EQ(futures[i].result(kWait), i);
  EXPECT_GE(errors.count(), 1);
  executor.shutdown();
}

TEST(ThrottleExecutor, ShutdownStillSubmitsQueuedWorkSoNothingIsLeftPending) {
  ThreadPool pool(2, "throttle-test");
  auto executor = pool.with_throttle(1);
  Gate release;
  Counter started;
  auto first = executor.submit([&] {
    started.add(1);
    release.wait();
    return 0;
  });
  ASSERT_TRUE(started.wait_for_at_least(1));
  std::vector<Future<int>> queued;
  for (int i = 1; i <= 5; ++i) queued.push_back(executor.submit([i] { return i; }));
  executor.shutdown(false);
  EXPECT_THROW(executor.submit([] { return 9; }), ShutdownError);
  release.open();
  executor.shutdown(true);
  EXPECT_EQ(first.result(), 0);
  for (int i = 1; i <= 5; ++i) EXPECT_EQ(queued[i - 1].result(), i);
  EXPECT_THROW(pool.submit([] { return 0; }), ShutdownError);
}

TEST(ThrottleExecutor, RetriesInsideTheThrottleHoldTheirSlotUntilTheFinalOutcome) {
  ThreadPool pool(4, "throttle-test");
  auto policy = ExceptionRetryPolicy{.max_attempts = 5,
                                     .exponent = 1.0,
                                     .sleep = Seconds(0.001),
                                     .max_sleep = Seconds(0.001),
                                     .exception_types = {}};
  auto executor = pool.with_retry(policy).with_throttle(1);
  Concurrency concurrency;
  std::vector<Future<int>> futures;
  for (int i = 0; i < 20; ++i) {
    auto calls = std::make_shared<std::atomic<int>>(0);
    futures.push_back(executor.submit([&concurrency, calls, i] {
      concurrency.enter();
      const bool fail = ++*calls < 3;
      concurrency.leave();
      if (fail) throw std::runtime_error("transient");
      return i;
    }));
  }
  for (int i = 0; i < 20; ++i) EXPECT_EQ(futures[i].result(kWait), i);
  EXPECT_EQ(concurrency.max(), 1);
  executor.shutdown();
}

}  // namespace
}  // namespace wq::exec
