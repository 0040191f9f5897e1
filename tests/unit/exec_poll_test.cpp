// more-executors' test_poll.py, plus the shutdown and delay behaviours this port adds.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "exec_test_support.hpp"
#include "wq/exec/thread_pool.hpp"

namespace wq::exec {
namespace {

using namespace std::chrono_literals;
using test::BlockingQueue;
using test::Counter;
using test::kWait;
using Descriptors = std::vector<PollDescriptor<std::string, std::string>>;

// Remote task statuses the poll function reads; written by the test.
class Tasks {
 public:
  void set(const std::string& id, const std::string& status) {
    std::lock_guard lock(mu_);
    status_[id] = status;
  }
  void poll(Descriptors& descriptors) {
    std::lock_guard lock(mu_);
    for (auto& d : descriptors) {
      auto it = status_.find(d.result());
      if (it == status_.end()) continue;
      if (it->second == "done") d.yield_result("done");
      if (it->second == "error") d.yield_exception(std::runtime_error("task failed: " + d.result()));
    }
  }
  // Every id make_task may have produced for `x`.
  void set_all(const std::string& x, const std::string& status) {
    for (const char* id : {"x", "y", "z"}) set(x + "-" + id, status);
  }

 private:
  std::mutex mu_;
  std::map<std::string, std::string> status_;
};

// Records each poll's batch and lets the test wait for polls.
class PollLog {
 public:
  template <class In, class Out>
  void record(const std::vector<PollDescriptor<In, Out>>& descriptors) {
    {
      std::lock_guard lock(mu_);
      last_.clear();
      for (const auto& d : descriptors) last_.push_back(text(d.result()));
    }
    polls_.add(1);
  }
  int polls() { return polls_.value(); }
  bool wait_for_poll_after(int n) { return polls_.wait_for_at_least(n + 1); }
  std::vector<std::string> last() {
    std::lock_guard lock(mu_);
    return last_;
  }
  static std::string text(const std::string& s) { return s; }
  static std::string text(int i) { return std::to_string(i); }

  // Waits until a poll saw `n` descriptors.
  bool wait_for_batch_of(std::size_t n) {
    for (int seen = 0;; ++seen) {
      if (!polls_.wait_for_at_least(seen + 1)) return false;
      if (last().size() == n) return true;
    }
  }

 private:
  std::mutex mu_;
  std::vector<std::string> last_;
  Counter polls_;
};

class PollExecutorTest : public ::testing::Test {
 protected:
  std::string make_task(const std::string& x) { return x + "-" + *ids_.pop(); }
  void release_ids() {
    for (const char* id : {"x", "y", "z"}) ids_.push(id);
  }

  ThreadPool pool_{4, "poll-test"};
  BlockingQueue<std::string> ids_;
  Tasks tasks_;
};

TEST_F(PollExecutorTest, BasicPollResolvesDoneAndFailedTasksAndLeavesTheRestPending) {
  auto executor = pool_.with_poll([this](Descriptors& ds) { tasks_.poll(ds); }, {}, 10ms);
  std::vector<Future<std::string>> futures;
  for (const char* x : {"a", "b", "c"}) {
    futures.push_back(executor.submit([this, x] { return make_task(x); }));
  }
  for (auto& f : futures) EXPECT_FALSE(f.done());
  release_ids();
  tasks_.set_all("a", "done");
  tasks_.set_all("b", "error");
  EXPECT_EQ(futures[0].result(kWait), "done");
  try {
    futures[1].result(kWait);
    ADD_FAILURE() << "expected task failure";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("task failed"), std::string::npos);
  }
  EXPECT_FALSE(futures[2].done());
  executor.shutdown();
}

TEST_F(PollExecutorTest, NotifyPollsAtOnceInsteadOfWaitingTheInterval) {
  PollLog log;
  auto executor = pool_.with_poll(
      [&](Descriptors& ds) {
        log.record(ds);
        tasks_.poll(ds);
      },
      {}, 3600s);
  std::vector<Future<std::string>> futures;
  for (const char* x : {"a", "b", "c"}) {
    futures.push_back(executor.submit([this, x] { return make_task(x); }));
  }
  release_ids();
  // Every future entering polling triggers a poll; with no statuses known nothing resolves.
  ASSERT_TRUE(log.wait_for_batch_of(3));
  for (auto& f : futures) EXPECT_FALSE(f.done());
  tasks_.set_all("a", "done");
  tasks_.set_all("b", "error");
  // The next poll would be an hour away.
  executor.notify();
  EXPECT_EQ(futures[0].result(kWait), "done");
  EXPECT_THROW(futures[1].result(kWait), std::runtime_error);
  EXPECT_FALSE(futures[2].done());
  executor.shutdown();
}

TEST_F(PollExecutorTest, CancelFunctionDecidesCancelAndAThrowingOneIsLoggedAsFalse) {
  test::ErrorLogCapture errors;
  PollLog log;
  auto cancel_fn = [](const std::string& task) {
    if (task.starts_with("cancel-true-")) return true;
    if (task.starts_with("cancel-false-")) return false;
    throw std::runtime_error("simulated cancel error");
  };
  auto executor = pool_.with_poll([&](Descriptors& ds) { log.record(ds); }, cancel_fn, 10ms);
  std::vector<Future<std::string>> futures;
  for (const char* x : {"cancel-true", "cancel-false", "cancel-error"}) {
    futures.push_back(executor.submit([this, x] { return make_task(x); }));
  }
  release_ids();
  ASSERT_TRUE(log.wait_for_batch_of(3));
  for (auto& f : futures) EXPECT_FALSE(f.running());
  for (int round = 0; round < 2; ++round) {
    EXPECT_TRUE(futures[0].cancel());
    EXPECT_FALSE(futures[1].cancel());
    EXPECT_FALSE(futures[2].cancel());
  }
  EXPECT_TRUE(futures[0].cancelled());
  EXPECT_FALSE(futures[1].done());
  EXPECT_EQ(errors.count(), 2);
  EXPECT_NE(errors.last().find("Exception during cancel"), std::string::npos);
  EXPECT_NE(errors.last().find("simulated cancel error"), std::string::npos);
  executor.shutdown();
}

using IntDescriptors = std::vector<PollDescriptor<int, int>>;

TEST_F(PollExecutorTest, CancelDuringPollRemovesTheFutureFromLaterPolls) {
  PollLog log;
  auto executor = pool_.with_poll([&](IntDescriptors& ds) { log.record(ds); }, {}, 10ms);
  auto future = executor.submit([] { return 123; });
  ASSERT_TRUE(log.wait_for_batch_of(1));
  EXPECT_EQ(log.last(), std::vector<std::string>{"123"});
  EXPECT_FALSE(future.running());
  EXPECT_TRUE(future.cancel());
  EXPECT_TRUE(future.cancelled());
  const int polls = log.polls();
  ASSERT_TRUE(log.wait_for_poll_after(polls));
  EXPECT_TRUE(log.last().empty());
  EXPECT_TRUE(future.cancel());
  executor.shutdown();
}

TEST_F(PollExecutorTest, CancelDuringThePollFunctionWinsOverItsLaterYields) {
  PollLog log;
  BlockingQueue<bool> commands;
  std::atomic<bool> closing{false};
  // Each poll records itself, then waits for the test's command: true resolves the batch.
  auto executor = pool_.with_poll(
      [&](Descriptors& ds) {
        log.record(ds);
        if (closing || !commands.pop().value_or(false)) return;
        for (auto& d : ds) {
          if (d.result() == "pass") {
            d.yield_result("pass");
          } else {
            d.yield_exception(std::runtime_error("fail"));
          }
        }
      },
      {}, 10ms);
  // Releases the poll blocked on its command and waits until the next poll is blocked.
  auto step = [&](bool resolve) {
    const int polls = log.polls();
    commands.push(resolve);
    return log.wait_for_poll_after(polls);
  };
  ASSERT_TRUE(log.wait_for_poll_after(0));
  std::vector<Future<std::string>> futures;
  for (const char* x : {"pass", "fail"}) {
    futures.push_back(executor.submit([x] { return std::string(x); }));
  }
  while (log.last().size() != 2) ASSERT_TRUE(step(false));
  // That poll is now inside the poll function, holding both descriptors.
  EXPECT_TRUE(futures[0].cancel());
  EXPECT_TRUE(futures[1].cancel());
  ASSERT_TRUE(step(true));
  EXPECT_TRUE(futures[0].cancelled());
  EXPECT_TRUE(futures[1].cancelled());
  EXPECT_TRUE(log.last().empty());
  closing = true;
  commands.push(false);
  executor.shutdown();
}

TEST_F(PollExecutorTest, FailingPollFunctionFailsItsBatchAndPollingGoesOn) {
  PollLog log;
  std::atomic<bool> fail{false};
  auto executor = pool_.with_poll(
      [&](Descriptors& ds) {
        log.record(ds);
        if (fail) throw std::runtime_error("simulated poll error");
        tasks_.poll(ds);
      },
      {}, 10ms);
  std::vector<Future<std::string>> futures;
  for (const char* x : {"a", "b", "c"}) {
    futures.push_back(executor.submit([this, x] { return make_task(x); }));
  }
  release_ids();
  tasks_.set_all("a", "done");
  EXPECT_EQ(futures[0].result(kWait), "done");
  fail = true;
  for (int i : {1, 2}) {
    EXPECT_EQ(test::message_of(futures[i].exception(kWait)), "simulated poll error");
  }
  const int polls = log.polls();
  ASSERT_TRUE(log.wait_for_poll_after(polls));
  EXPECT_TRUE(log.last().empty());
  executor.shutdown();
}

TEST_F(PollExecutorTest, DelayReturnedByThePollFunctionReplacesTheDefaultInterval) {
  Counter polls;
  auto executor = pool_.with_poll(
      [&](IntDescriptors& ds) {
        polls.add(1);
        // Resolve only on the third poll: with an hour-long default interval, only the
        // returned zero delay gets us there.
        if (polls.value() >= 3) {
          for (auto& d : ds) d.yield_result(d.result() + 1);
        }
        return 0.0;
      },
      {}, 3600s);
  auto future = executor.submit([] { return 41; });
  EXPECT_EQ(future.result(kWait), 42);
  EXPECT_GE(executor.stats().polls, 3u);
  executor.shutdown();
}

TEST_F(PollExecutorTest, ShutdownFailsFuturesStillBeingPolledInsteadOfLeavingThemPending) {
  PollLog log;
  auto executor = pool_.with_poll([&](IntDescriptors& ds) { log.record(ds); }, {}, 10ms);
  auto future = executor.submit([] { return 1; });
  ASSERT_TRUE(log.wait_for_batch_of(1));
  executor.shutdown(true);
  ASSERT_TRUE(future.done());
  EXPECT_THROW(future.result(), ShutdownError);
}

TEST_F(PollExecutorTest, InnerFailureAndInnerCancelPassThroughWithoutPolling) {
  PollLog log;
  ThreadPool single(1, "poll-single");
  auto executor = single.with_poll([&](IntDescriptors& ds) { log.record(ds); }, {}, 10ms);
  test::Gate gate;
  auto blocker = executor.submit([&] {
    gate.wait();
    return 0;
  });
  auto queued = executor.submit([] { return 1; });
  auto failing = executor.submit([]() -> int { throw std::logic_error("inner failed"); });
  EXPECT_TRUE(queued.cancel());
  EXPECT_TRUE(queued.cancelled());
  gate.open();
  EXPECT_THROW(failing.result(kWait), std::logic_error);
  blocker.cancel();
  executor.shutdown();
}

}  // namespace
}  // namespace wq::exec
