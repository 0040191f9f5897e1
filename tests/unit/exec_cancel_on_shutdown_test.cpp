// more-executors' test_cancel_on_shutdown.py, plus cancelling polled futures at shutdown.
#include <gtest/gtest.h>

#include <atomic>
#include <vector>

#include "exec_test_support.hpp"
#include "wq/exec/thread_pool.hpp"

namespace wq::exec {
namespace {

using namespace std::chrono_literals;
using test::Counter;
using test::Gate;
using test::kWait;

TEST(CancelOnShutdownExecutor, ShutdownCancelsEverythingNotYetRunning) {
  constexpr int kCount = 1000;
  Gate proceed;
  auto executor = ThreadPool(2, "cos-test").with_cancel_on_shutdown();
  std::vector<Future<bool>> futures;
  for (int i = 0; i < kCount; ++i) futures.push_back(executor.submit([&] { return proceed.wait(); }));
  executor.shutdown(false);
  int cancelled = 0;
  int other = 0;
  for (auto& f : futures) {
    if (f.cancelled()) {
      ++cancelled;
    } else {
      ++other;
    }
  }
  proceed.open();
  EXPECT_LE(other, 2);
  EXPECT_GE(cancelled, kCount - 2);
  for (auto& f : futures) {
    if (!f.cancelled()) {
      EXPECT_TRUE(f.result(kWait));
    }
  }
  executor.shutdown();
}

TEST(CancelOnShutdownExecutor, SubmitFromACallbackDuringShutdownThrows) {
  Gate proceed;
  auto executor = ThreadPool(2, "cos-test").with_cancel_on_shutdown();
  std::vector<Future<bool>> futures;
  for (int i = 0; i < 3; ++i) futures.push_back(executor.submit([&] { return proceed.wait(); }));
  std::atomic<bool> threw{false};
  futures[2].add_done_callback([&](const Future<bool>&) {
    try {
      executor.submit([] { return true; });
    } catch (const ShutdownError&) {
      threw = true;
    }
  });
  executor.shutdown(false);
  proceed.open();
  EXPECT_TRUE(futures[2].cancelled());
  EXPECT_TRUE(threw);
  executor.shutdown(true);
}

TEST(CancelOnShutdownExecutor, SubmitFromRunningWorkDuringShutdownThrowsWithoutDeadlock) {
  Gate proceed;
  Counter started;
  auto executor = ThreadPool(2, "cos-test").with_cancel_on_shutdown();
  std::atomic<int> threw{0};
  std::vector<Future<int>> futures;
  for (int i = 0; i < 3; ++i) {
    futures.push_back(executor.submit([&] {
      started.add(1);
      proceed.wait();
      try {
        executor.submit([] { return 0; });
      } catch (const ShutdownError&) {
        ++threw;
      }
      return 1;
    }));
  }
  ASSERT_TRUE(started.wait_for_at_least(2));
  // The third job is queued behind the two running ones; shutdown cancels it, and its
  // callback lets the running ones go on — so they submit while shutdown is under way.
  futures[2].add_done_callback([&](const Future<int>&) { proceed.open(); });
  executor.shutdown(true);
  EXPECT_TRUE(futures[2].cancelled());
  for (auto& f : futures) EXPECT_TRUE(f.done());
  EXPECT_EQ(threw.load(), 2);
}

TEST(CancelOnShutdownExecutor, PolledFuturesAreCancelledThroughTheCancelFunction) {
  std::atomic<int> cancels{0};
  Counter polled;
  auto executor = ThreadPool(2, "cos-test")
                      .with_poll(
                          [&](std::vector<PollDescriptor<int, int>>& ds) {
                            if (ds.size() == 3) polled.add(1);
                          },
                          [&](const int&) {
                            ++cancels;
                            return true;
                          },
                          3600s)
                      .with_cancel_on_shutdown();
  std::vector<Future<int>> futures;
  for (int i = 0; i < 3; ++i) futures.push_back(executor.submit([i] { return i; }));
  ASSERT_TRUE(polled.wait_for_at_least(1));
  executor.shutdown(true);
  for (auto& f : futures) EXPECT_TRUE(f.cancelled());
  EXPECT_EQ(cancels.load(), 3);
}

}  // namespace
}  // namespace wq::exec
