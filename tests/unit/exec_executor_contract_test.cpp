// The behaviours more-executors' test_executor.py checks for every executor, run against each
// executor and the compositions listed in CASES. Every submission is a std::function<int()>,
// so each composition is instantiated once.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "exec_test_support.hpp"
#include "wq/exec/retry_policy.hpp"
#include "wq/exec/sync_executor.hpp"
#include "wq/exec/thread_pool.hpp"

namespace wq::exec {
namespace {

using namespace std::chrono_literals;
using test::Gate;
using test::Job;
using test::kWait;

int map_noop(int x) { return x; }

void poll_noop(std::vector<PollDescriptor<int, int>>& descriptors) {
  for (auto& d : descriptors) d.yield_result(d.result());
}

// Cancel function deciding at random: the invariants must hold whatever it says.
bool random_cancel(const int&) {
  thread_local std::mt19937 rng(std::random_device{}());
  const int pick = std::uniform_int_distribution<int>(0, 299)(rng);
  if (pick < 100) return true;
  if (pick < 200) return false;
  throw std::runtime_error("simulated error from cancel");
}

ThreadPool pool() { return ThreadPool(8, "contract"); }

template <class E>
auto everything(E base) {
  return base.with_poll(&poll_noop)
      .with_map(&map_noop)
      .with_retry(NoRetryPolicy())
      .with_cancel_on_shutdown()
      .with_retry(NoRetryPolicy())
      .with_retry(NoRetryPolicy())
      .with_timeout(120s)
      .with_poll(&poll_noop)
      .with_poll(&poll_noop)
      .with_cancel_on_shutdown()
      .with_map(&map_noop)
      .with_timeout(180s)
      .with_map(&map_noop)
      .with_retry(NoRetryPolicy());
}

// kInline: runs work on the submitting thread. kMayAbandon: shutdown may fail or cancel
// unfinished futures (poll, cancel-on-shutdown) instead of completing them.
#define WQ_CASE(NAME, INLINE, ABANDON, ...)               \
  struct NAME {                                           \
    static constexpr bool kInline = INLINE;               \
    static constexpr bool kMayAbandon = ABANDON;          \
    static constexpr const char* kName = #NAME;           \
    static auto make() { return __VA_ARGS__; }            \
  };

WQ_CASE(ThreadPoolCase, false, false, pool())
WQ_CASE(SyncCase, true, false, Sync())
WQ_CASE(RetryCase, false, false, pool().with_retry(NoRetryPolicy()))
WQ_CASE(MapCase, false, false, pool().with_map(&map_noop))
WQ_CASE(MapMapCase, false, false, pool().with_map(&map_noop).with_map(&map_noop))
WQ_CASE(RetryMapCase, false, false, pool().with_map(&map_noop).with_retry(NoRetryPolicy()))
WQ_CASE(MapRetryCase, false, false, pool().with_retry(NoRetryPolicy()).with_map(&map_noop))
WQ_CASE(TimeoutCase, false, false, pool().with_timeout(60s))
WQ_CASE(PollCase, false, true,
        pool().with_poll(&poll_noop, &random_cancel, Seconds(0.05)))
WQ_CASE(RetryMapPollCase, false, true,
        pool().with_poll(&poll_noop).with_map(&map_noop).with_retry(NoRetryPolicy()))
WQ_CASE(CancelPollMapRetryCase, false, true,
        pool()
            .with_retry(NoRetryPolicy())
            .with_map(&map_noop)
            .with_poll(&poll_noop)
            .with_cancel_on_shutdown())
WQ_CASE(CancelRetryMapPollCase, false, true,
        pool()
            .with_poll(&poll_noop)
            .with_map(&map_noop)
            .with_retry(NoRetryPolicy())
            .with_cancel_on_shutdown())
WQ_CASE(ThrottleRetryCase, false, false,
        pool().with_retry(ExceptionRetryPolicy{.max_attempts = 1, .exception_types = {}}).with_throttle(4))
WQ_CASE(EverythingSyncCase, true, true, everything(Sync()))
WQ_CASE(EverythingThreadPoolCase, false, true, everything(pool()))

using Cases =
    ::testing::Types<ThreadPoolCase, SyncCase, RetryCase, MapCase, MapMapCase, RetryMapCase, MapRetryCase,
                     TimeoutCase, PollCase, RetryMapPollCase, CancelPollMapRetryCase,
                     CancelRetryMapPollCase, ThrottleRetryCase, EverythingSyncCase,
                     EverythingThreadPoolCase>;

struct CaseNames {
  template <class T>
  static std::string GetName(int) {
    return T::kName;
  }
};

template <class Case>
class ExecutorContract : public ::testing::Test {
 protected:
  using Executor = decltype(Case::make());

  ExecutorContract() : executor_(Case::make()) {}
  ~ExecutorContract() override { executor_.shutdown(true); }

  Future<int> submit(Job job) { return executor_.submit(std::move(job)); }

  Executor executor_;
  test::ErrorLogCapture log_;
};

TYPED_TEST_SUITE(ExecutorContract, Cases, CaseNames);

TYPED_TEST(ExecutorContract, ResultsOfAThousandFuturesArriveInOrder) {
  std::vector<Future<int>> futures;
  for (int i = 0; i < 1000; ++i) futures.push_back(this->submit([i] { return i * 2; }));
  for (auto& f : futures) EXPECT_FALSE(f.cancelled());
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(futures[i].result(kWait), i * 2);
}

TYPED_TEST(ExecutorContract, BrokenCallbacksAreEachCalledOnceAndChangeNothing) {
  constexpr int kCount = 1000;
  std::vector<std::atomic<int>> calls(kCount);
  test::Counter called;
  std::vector<Future<int>> futures;
  for (int i = 0; i < kCount; ++i) futures.push_back(this->submit([i] { return i * 2; }));
  for (int i = 0; i < kCount; ++i) {
    futures[i].add_done_callback([&calls, &called, i](const Future<int>&) {
      ++calls[i];
      called.add(1);
      throw std::runtime_error("simulated broken callback");
    });
  }
  for (int i = 0; i < kCount; ++i) EXPECT_EQ(futures[i].result(kWait), i * 2);
  // Callbacks may still be running when result() returns: wait for all of them.
  ASSERT_TRUE(called.wait_for_at_least(kCount));
  ASSERT_TRUE(this->log_.wait_for_count(kCount));
  for (int i = 0; i < kCount; ++i) EXPECT_EQ(calls[i].load(), 1) << "future " << i;
  EXPECT_EQ(this->log_.count(), kCount);
}

TYPED_TEST(ExecutorContract, DelayedResultsAreNotDoneUntilTheWorkEnds) {
  if constexpr (TypeParam::kInline) GTEST_SKIP() << "work runs inline";
  Gate gate;
  std::vector<Future<int>> futures;
  for (int x : {1, 2, 3}) futures.push_back(this->submit([&gate, x] {
    gate.wait();
    return x * 2;
  }));
  for (auto& f : futures) {
    EXPECT_FALSE(f.cancelled());
    EXPECT_FALSE(f.done());
  }
  gate.open();
  EXPECT_EQ(futures[0].result(kWait), 2);
  EXPECT_EQ(futures[1].result(kWait), 4);
  EXPECT_EQ(futures[2].result(kWait), 6);
}

TYPED_TEST(ExecutorContract, CancelInvariantsHoldAHundredTimes) {
  for (int round = 0; round < 100; ++round) {
    std::multiset<int> expected = {2, 4, 6};
    std::vector<Future<int>> futures;
    for (int x : {1, 2, 3}) futures.push_back(this->submit([x] { return x * 2; }));
    std::vector<bool> cancelled;
    for (auto& f : futures) {
      const bool ok = f.cancel();
      cancelled.push_back(ok);
      if (ok) {
        EXPECT_TRUE(f.cancelled());
        EXPECT_FALSE(f.running());
        EXPECT_TRUE(f.done());
        EXPECT_TRUE(f.cancel());
        EXPECT_TRUE(f.cancel());
      } else {
        EXPECT_FALSE(f.cancelled());
      }
    }
    for (std::size_t i = 0; i < futures.size(); ++i) {
      if (cancelled[i]) {
        EXPECT_THROW(futures[i].result(kWait), CancelledError);
      } else {
        const int value = futures[i].result(kWait);
        ASSERT_EQ(expected.count(value), 1u);
        expected.erase(expected.find(value));
      }
    }
  }
}

TYPED_TEST(ExecutorContract, CancellingARunningJobFails) {
  if constexpr (TypeParam::kInline) GTEST_SKIP() << "work runs inline";
  Gate started;
  Gate proceed;
  auto future = this->submit([&] {
    started.open();
    proceed.wait();
    return 123;
  });
  started.wait();
  EXPECT_FALSE(future.cancel());
  EXPECT_TRUE(future.running());
  EXPECT_FALSE(future.cancelled());
  proceed.open();
  EXPECT_EQ(future.result(kWait), 123);
}

TYPED_TEST(ExecutorContract, MixedSuccessAndFailureKeepTheirOwnOutcomes) {
  std::vector<Future<int>> futures;
  for (int x : {1, 2, 3, 4}) {
    futures.push_back(this->submit([x]() -> int {
      if (x % 2 == 0) throw test::SimulatedError("Simulated error on " + std::to_string(x));
      return x * 2;
    }));
  }
  for (auto& f : futures) EXPECT_FALSE(f.cancelled());
  EXPECT_EQ(futures[0].result(kWait), 2);
  EXPECT_EQ(test::message_of(futures[1].exception(kWait)), "Simulated error on 2");
  EXPECT_EQ(futures[2].result(kWait), 6);
  try {
    futures[3].result(kWait);
    ADD_FAILURE() << "expected an exception";
  } catch (const test::SimulatedError& e) {
    EXPECT_STREQ(e.what(), "Simulated error on 4");
  }
}

TYPED_TEST(ExecutorContract, ShutdownTwiceIsHarmlessAndSubmitAfterShutdownThrows) {
  auto f = this->submit([] { return 1; });
  EXPECT_EQ(f.result(kWait), 1);
  this->executor_.shutdown(true);
  this->executor_.shutdown(true);
  this->executor_.shutdown(false);
  EXPECT_THROW(this->submit([] { return 2; }), ShutdownError);
  EXPECT_EQ(f.result(), 1);
}

TYPED_TEST(ExecutorContract, FuturesOutliveTheirExecutorAndNoneStaysPending) {
  std::vector<Future<int>> futures;
  {
    auto executor = TypeParam::make();
    for (int i = 0; i < 50; ++i) futures.push_back(executor.submit(Job([i] { return i; })));
  }
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(futures[i].wait_for(kWait)) << "future " << i << " left pending";
    if (!TypeParam::kMayAbandon) {
      EXPECT_EQ(futures[i].result(), i);
    } else if (!futures[i].cancelled() && !futures[i].exception()) {
      EXPECT_EQ(futures[i].result(), i);
    } else if (!futures[i].cancelled()) {
      EXPECT_THROW(futures[i].result(), ShutdownError);
    }
  }
}

// more-executors' StressTester: work that submits more work, fails, cancels other futures and
// submits from done callbacks, with every outcome checked at the end.
template <class Executor>
class StressTester {
 public:
  static constexpr std::size_t kLimit = 500;

  explicit StressTester(Executor& executor) : executor_(executor) {}

  ~StressTester() { callbacks_done_.wait_for_at_least(callbacks_registered_.load()); }

  void start() {
    for (int i = 0; i < 200; ++i) {
      const int ident = next_ident();
      const int behavior = random_behavior();
      auto f = executor_.submit(Job([this, ident, behavior] { return run(ident, behavior); }));
      if (!add(f, ident)) break;
    }
  }

  void verify() {
    {
      std::unique_lock lock(mu_);
      ASSERT_TRUE(grown_.wait_for(lock, kWait, [&] { return futures_.size() == kLimit; }))
          << "only " << futures_.size() << " futures were created";
    }
    for (auto& [f, ident] : snapshot()) ASSERT_TRUE(f.wait_for(kWait)) << "future " << ident;
    ASSERT_TRUE(callbacks_done_.wait_for_at_least(callbacks_registered_.load()));
    std::lock_guard lock(mu_);
    for (auto& [f, ident] : futures_) {
      ASSERT_TRUE(expected_.count(ident)) << "no expectation for " << ident;
      const Expected& e = expected_.at(ident);
      if (e.cancelled) {
        EXPECT_TRUE(f.cancelled()) << ident;
      } else if (e.failed) {
        EXPECT_EQ(test::message_of(f.exception()), "error " + std::to_string(ident));
      } else {
        EXPECT_EQ(f.result(), e.value) << ident;
      }
    }
  }

 private:
  struct Expected {
    bool cancelled = false;
    bool failed = false;
    int value = 0;
  };

  int run(int ident, int behavior) {
    std::optional<Future<int>> sub;
    bool want_sub;
    {
      std::lock_guard lock(mu_);
      want_sub = futures_.size() < kLimit;
    }
    if (want_sub) {
      const int sub_ident = next_ident();
      const int sub_behavior = random_behavior();
      try {
        auto f = executor_.submit(
            Job([this, sub_ident, sub_behavior] { return run(sub_ident, sub_behavior); }));
        add(f, sub_ident);
        sub = f;
      } catch (const ShutdownError&) {
        // The test is ending; nothing to track.
      }
    }
    switch (behavior) {
      case 0:
        return expect(ident, ident);
      case 1:
        expect_failure(ident);
        throw test::SimulatedError("error " + std::to_string(ident));
      case 2:
        if (sub) {
          callbacks_registered_.fetch_add(1);
          sub->add_done_callback([this](const Future<int>&) {
            run(next_ident(), 2);
            callbacks_done_.add(1);
          });
          return expect(ident, ident * 3);
        }
        break;
      case 3:
        cancel_something();
        return expect(ident, ident * 4);
    }
    return expect(ident, ident * 5);
  }

  int expect(int ident, int value) {
    std::lock_guard lock(mu_);
    expected_.emplace(ident, Expected{false, false, value});
    return value;
  }
  void expect_failure(int ident) {
    std::lock_guard lock(mu_);
    expected_.emplace(ident, Expected{false, true, 0});
  }

  void cancel_something() {
    for (auto& [f, ident] : snapshot()) {
      if (f.cancel()) {
        std::lock_guard lock(mu_);
        expected_[ident] = Expected{true, false, 0};
        return;
      }
    }
  }

  bool add(Future<int> f, int ident) {
    {
      std::lock_guard lock(mu_);
      if (futures_.size() < kLimit) {
        futures_.emplace_back(f, ident);
        if (futures_.size() == kLimit) grown_.notify_all();
        return true;
      }
    }
    f.cancel();
    return false;
  }

  std::vector<std::pair<Future<int>, int>> snapshot() {
    std::lock_guard lock(mu_);
    return futures_;
  }
  int next_ident() { return idents_.fetch_add(1) + 1; }
  static int random_behavior() {
    thread_local std::mt19937 rng(std::random_device{}());
    return std::uniform_int_distribution<int>(0, 3)(rng);
  }

  Executor& executor_;
  std::atomic<int> idents_{0};
  std::atomic<int> callbacks_registered_{0};
  test::Counter callbacks_done_;
  std::mutex mu_;
  std::condition_variable grown_;
  std::vector<std::pair<Future<int>, int>> futures_;  // guarded by mu_
  std::map<int, Expected> expected_;                  // guarded by mu_
};

TYPED_TEST(ExecutorContract, StressOfFiveHundredFuturesWithRandomCancelsKeepsEveryOutcome) {
  if constexpr (TypeParam::kInline) GTEST_SKIP() << "recursion would run inline";
  StressTester<typename TestFixture::Executor> tester(this->executor_);
  tester.start();
  tester.verify();
  this->executor_.shutdown(true);
}

}  // namespace
}  // namespace wq::exec
