// more-executors' tests/test_retry.py and tests/retry/test_broken_retry.py, plus shutdown.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "exec_test_support.hpp"
#include "wq/exec/thread_pool.hpp"

namespace wq::exec {
namespace {

using namespace std::chrono_literals;
using test::Counter;
using test::Gate;
using test::kWait;

ExceptionRetryPolicy fast_policy(int max_attempts = 10) {
  return ExceptionRetryPolicy{.max_attempts = max_attempts,
                              .exponent = 2.0,
                              .sleep = Seconds(0.001),
                              .max_sleep = Seconds(0.010),
                              .exception_types = {exception_type<std::exception>}};
}

// An executor whose futures never start, so they can always be cancelled.
class NeverRunsExecutor : public Composable<NeverRunsExecutor> {
 public:
  template <class F, class... A>
  Future<InvokeResult<F, A...>> submit(F&&, A&&...) {
    submits_->add(1);
    return Promise<InvokeResult<F, A...>>().future();
  }
  void shutdown(bool = true) {}
  ExecutorStats stats() const { return {}; }
  Counter& submits() { return *submits_; }

 private:
  std::shared_ptr<Counter> submits_ = std::make_shared<Counter>();
};

class RetryExecutorTest : public ::testing::Test {
 protected:
  ThreadPool pool_{4, "retry-test"};
};

TEST_F(RetryExecutorTest, FailuresAreRetriedUntilSuccessAHundredTimes) {
  auto executor = pool_.with_retry(fast_policy());
  for (int round = 0; round < 100; ++round) {
    auto calls = std::make_shared<std::atomic<int>>(0);
    auto fn = [calls](const std::string& a1, int a2) {
      EXPECT_EQ(a1, "a1");
      EXPECT_EQ(a2, 2);
      const int n = ++*calls;
      if (n <= 3) throw std::invalid_argument("error " + std::to_string(n));
      return std::string("result");
    };
    Counter callbacks;
    auto future = executor.submit(fn, std::string("a1"), 2);
    future.add_done_callback([&](const Future<std::string>& f) {
      EXPECT_EQ(f, future);
      callbacks.add(1);
    });
    EXPECT_EQ(future.result(kWait), "result");
    EXPECT_EQ(future.exception(), nullptr);
    ASSERT_TRUE(callbacks.wait_for_at_least(1));
    EXPECT_EQ(callbacks.value(), 1);
    EXPECT_EQ(calls->load(), 4);
  }
  EXPECT_EQ(executor.stats().retries, 300u);
  executor.shutdown();
}

TEST_F(RetryExecutorTest, GivesUpAfterMaxAttemptsWithTheLastError) {
  auto executor = pool_.with_retry(fast_policy(10));
  std::atomic<int> calls{0};
  Counter callbacks;
  auto future = executor.submit([&]() -> int {
    throw std::invalid_argument("error " + std::to_string(++calls));
  });
  future.add_done_callback([&](const Future<int>&) { callbacks.add(1); });
  EXPECT_EQ(test::message_of(future.exception(kWait)), "error 10");
  EXPECT_THROW(future.result(), std::invalid_argument);
  ASSERT_TRUE(callbacks.wait_for_at_least(1));
  EXPECT_EQ(callbacks.value(), 1);
  EXPECT_EQ(calls.load(), 10);
  executor.shutdown();
}

TEST_F(RetryExecutorTest, CancelSucceedsWhenTheInnerFutureCanBeCancelled) {
  NeverRunsExecutor inner;
  auto executor = inner.with_retry(ExceptionRetryPolicy());
  auto future = executor.submit([]() -> int { throw std::logic_error("never called"); });
  int recancels = 0;
  future.add_done_callback([&](const Future<int>& f) {
    Future<int> copy = f;
    EXPECT_TRUE(copy.cancel());
    ++recancels;
  });
  ASSERT_TRUE(inner.submits().wait_for_at_least(1));
  EXPECT_TRUE(future.cancel());
  EXPECT_TRUE(future.cancelled());
  EXPECT_EQ(recancels, 1);
  EXPECT_EQ(inner.submits().value(), 1);
  EXPECT_TRUE(future.cancel());
  executor.shutdown();
}

TEST_F(RetryExecutorTest, InterleavedBackoffsRunInScheduleOrder) {
  // Units of 60 ms: every decision below has at least one unit of slack.
  const auto policy = ExceptionRetryPolicy{.max_attempts = 10,
                                           .exponent = 2.0,
                                           .sleep = Seconds(0.060),
                                           .max_sleep = Seconds(0.600),
                                           .exception_types = {}};
  auto executor = pool_.with_retry(policy);
  std::mutex mu;
  std::vector<std::string> calls;
  std::vector<Future<std::string>> futures;
  int f1_attempt = 0;
  int f2_attempt = 0;
  auto f2 = [&]() -> std::string {
    std::lock_guard lock(mu);
    const int attempt = ++f2_attempt;
    calls.push_back("f2 " + std::to_string(attempt));
    if (attempt < 6) throw std::runtime_error("simulated error");
    return "f2 success";
  };
  auto f1 = [&]() -> std::string {
    std::unique_lock lock(mu);
    const int attempt = ++f1_attempt;
    calls.push_back("f1 " + std::to_string(attempt));
    if (attempt == 3) {
      lock.unlock();
      auto f = executor.submit_retry(policy, f2);
      lock.lock();
      futures.push_back(f);
    }
    if (attempt < 6) throw std::runtime_error("simulated error");
    return "f1 success";
  };
  auto first = executor.submit_retry(policy, f1);
  EXPECT_EQ(first.result(kWait), "f1 success");
  Future<std::string> second;
  {
    std::lock_guard lock(mu);
    ASSERT_EQ(futures.size(), 1u);
    second = futures[0];
  }
  EXPECT_EQ(second.result(kWait), "f2 success");
  std::lock_guard lock(mu);
  EXPECT_EQ(calls, (std::vector<std::string>{"f1 1", "f1 2", "f1 3", "f2 1", "f2 2", "f2 3",
                                             "f1 4", "f2 4", "f1 5", "f2 5", "f1 6", "f2 6"}));
}

TEST_F(RetryExecutorTest, ResultBasedPolicyRetriesOnValues) {
  auto policy = make_retry_policy(
      [](int, const auto& f) { return f.exception() == nullptr && f.result() < 3; },
      [](int, const auto&) { return Seconds(0); });
  auto executor = pool_.with_retry(fast_policy());
  std::atomic<int> calls{0};
  auto future = executor.submit_retry(policy, [&] {
    const int n = ++calls;
    if (n > 3) throw std::logic_error("unexpected call");
    return n;
  });
  EXPECT_EQ(future.result(kWait), 3);
  EXPECT_EQ(calls.load(), 3);
  executor.shutdown();
}

TEST_F(RetryExecutorTest, OnlyListedExceptionTypesAreRetried) {
  const auto policy = ExceptionRetryPolicy{
      .max_attempts = 10,
      .exponent = 2.0,
      .sleep = Seconds(0.001),
      .max_sleep = Seconds(0.01),
      .exception_types = {exception_type<std::runtime_error>,
                          exception_type<std::invalid_argument>}};
  auto executor = pool_.with_retry(policy);
  std::atomic<int> calls{0};
  auto future = executor.submit([&]() -> int {
    switch (++calls) {
      case 1:
        throw std::invalid_argument("error 1");
      case 2:
        throw std::runtime_error("error 2");
      default:
        throw std::domain_error("error 3");
    }
  });
  EXPECT_THROW(future.result(kWait), std::domain_error);
  EXPECT_EQ(calls.load(), 3);
  executor.shutdown();
}

TEST_F(RetryExecutorTest, AnyCancelRequestStopsFurtherRetriesEvenWhenItFails) {
  auto executor = pool_.with_retry(fast_policy(10));
  Gate stored;
  std::vector<Future<int>> futures(2);
  std::atomic<int> calls[2] = {0, 0};
  std::atomic<int> cancel_result{-1};
  auto fn = [&](int idx, bool do_cancel) -> int {
    stored.wait();
    if (++calls[idx] == 2 && do_cancel) cancel_result = futures[idx].cancel() ? 1 : 0;
    throw std::runtime_error("simulated error");
  };
  futures[0] = executor.submit(fn, 0, false);
  futures[1] = executor.submit(fn, 1, true);
  stored.open();
  EXPECT_THROW(futures[0].result(kWait), std::runtime_error);
  EXPECT_THROW(futures[1].result(kWait), std::runtime_error);
  EXPECT_EQ(calls[0].load(), 10);
  EXPECT_EQ(calls[1].load(), 2);
  EXPECT_EQ(cancel_result.load(), 0);
  executor.shutdown();
}

TEST_F(RetryExecutorTest, CancelDuringShouldRetryFailsButStopsTheRetry) {
  Gate in_should_retry;
  Gate leave_should_retry;
  auto policy = make_retry_policy(
      [&](int, const auto&) {
        in_should_retry.open();
        leave_should_retry.wait();
        return true;
      },
      [](int, const auto&) { return Seconds(0); });
  auto executor = pool_.with_retry(policy);
  std::atomic<int> calls{0};
  // The attempt fails only after submit() returned: one that failed first would run the
  // policy inside submit(), on this thread (a done future runs a new callback at once).
  Gate submitted;
  auto future = executor.submit([&]() -> int {
    submitted.wait();
    ++calls;
    throw std::runtime_error("simulated error");
  });
  submitted.open();
  ASSERT_TRUE(in_should_retry.wait());
  EXPECT_FALSE(future.cancel());
  leave_should_retry.open();
  EXPECT_EQ(test::message_of(future.exception(kWait)), "simulated error");
  EXPECT_EQ(calls.load(), 1);
  executor.shutdown();
}

TEST_F(RetryExecutorTest, BrokenPolicyIsLoggedAndTheAttemptsErrorIsFinal) {
  test::ErrorLogCapture errors;
  auto policy = make_retry_policy(
      [](int, const auto&) -> bool { throw std::runtime_error("error from policy"); },
      [](int, const auto&) { return Seconds(0); });
  auto executor = pool_.with_retry(policy);
  auto future = executor.submit([]() -> int { throw std::runtime_error("error from fn"); });
  EXPECT_EQ(test::message_of(future.exception(kWait)), "error from fn");
  ASSERT_TRUE(errors.wait_for_count(1));
  EXPECT_NE(errors.last().find("Exception while evaluating retry policy"), std::string::npos);
  EXPECT_NE(errors.last().find("error from policy"), std::string::npos);
  executor.shutdown();
}

TEST_F(RetryExecutorTest, ShutdownResolvesAFutureWaitingForItsRetryWithTheLastError) {
  Gate waiting;
  auto policy = make_retry_policy([](int, const auto&) { return true; },
                                  [&](int, const auto&) {
                                    waiting.open();
                                    return Seconds(3600);
                                  });
  auto executor = pool_.with_retry(policy);
  auto future = executor.submit([]() -> int { throw std::runtime_error("first attempt"); });
  ASSERT_TRUE(waiting.wait());
  executor.shutdown(true);
  ASSERT_TRUE(future.done());
  EXPECT_EQ(test::message_of(future.exception()), "first attempt");
}

TEST_F(RetryExecutorTest, CancelBetweenAttemptsSucceeds) {
  ThreadPool single(1, "retry-single");
  auto policy = make_retry_policy([](int, const auto&) { return true; },
                                  [](int, const auto&) { return Seconds(3600); });
  auto executor = single.with_retry(policy);
  Gate fail_now;
  auto future = executor.submit([&]() -> int {
    fail_now.wait();
    throw std::runtime_error("fails");
  });
  // The retry decision runs on the pool's only thread right after the attempt fails, so once
  // this marker runs the future is waiting for its retry.
  auto marker = single.submit([] { return 0; });
  fail_now.open();
  ASSERT_EQ(marker.result(kWait), 0);
  EXPECT_FALSE(future.running());
  EXPECT_TRUE(future.cancel());
  EXPECT_TRUE(future.cancelled());
  EXPECT_FALSE(future.running());
  EXPECT_EQ(executor.stats().retries, 1u);
  executor.shutdown();
}

}  // namespace
}  // namespace wq::exec
