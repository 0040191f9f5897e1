// ThreadPool and Sync specifics: thread names, counters, shutdown from inside the pool.
#include "wq/exec/thread_pool.hpp"

#include <gtest/gtest.h>
#include <pthread.h>

#include <optional>
#include <string>
#include <vector>

#include "exec_test_support.hpp"
#include "wq/exec/sync_executor.hpp"

namespace wq::exec {
namespace {

using test::Counter;
using test::Gate;
using test::kWait;

std::string current_thread_name() {
  char buf[16] = {};
  pthread_getname_np(pthread_self(), buf, sizeof buf);
  return buf;
}

TEST(ThreadPool, ThreadsAreNamedAfterThePool) {
  ThreadPool pool(2, "named-pool");
  const std::string name = pool.submit(&current_thread_name).result(kWait);
  EXPECT_TRUE(name == "named-pool-0" || name == "named-pool-1") << name;
  EXPECT_EQ(pool.size(), 2u);
}

TEST(ThreadPool, LongNamesAreTruncatedToWhatLinuxAllows) {
  ThreadPool pool(1, "a-very-long-pool-name");
  EXPECT_EQ(pool.submit(&current_thread_name).result(kWait), "a-very-long-poo");
}

TEST(ThreadPool, StatsCountSubmittedFutures) {
  ThreadPool pool(2, "stats-pool");
  for (int i = 0; i < 10; ++i) pool.submit([] {}).result(kWait);
  const auto stats = pool.stats();
  EXPECT_EQ(stats.name, "stats-pool");
  EXPECT_EQ(stats.futures, 10u);
}

TEST(ThreadPool, ArgumentsAreCopiedAndMoveOnlyArgumentsAreAccepted) {
  ThreadPool pool(1, "args-pool");
  auto owned = std::make_unique<int>(5);
  auto f = pool.submit([](std::unique_ptr<int> p, int add) { return *p + add; }, std::move(owned),
                       2);
  EXPECT_EQ(f.result(kWait), 7);
}

TEST(ThreadPool, ShutdownFromInsideAPoolThreadDoesNotDeadlock) {
  ThreadPool pool(2, "self-stop");
  auto f = pool.submit([&pool] {
    pool.shutdown(true);
    return 1;
  });
  EXPECT_EQ(f.result(kWait), 1);
  pool.shutdown(true);
  EXPECT_THROW(pool.submit([] { return 0; }), ShutdownError);
}

TEST(ThreadPool, DroppingTheLastHandleOnAPoolThreadDoesNotDeadlock) {
  Gate main_dropped;
  Gate task_dropped;
  Future<int> f;
  {
    ThreadPool pool(2, "self-drop");
    f = pool.submit([copy = std::optional<ThreadPool>(pool), &main_dropped,
                     &task_dropped]() mutable {
      main_dropped.wait();
      copy.reset();  // the last handle: the pool is destroyed on its own thread
      task_dropped.open();
      return 3;
    });
  }
  main_dropped.open();
  EXPECT_TRUE(task_dropped.wait());
  EXPECT_EQ(f.result(kWait), 3);
}

TEST(ThreadPool, QueuedWorkStillRunsAfterShutdownWithoutWaiting) {
  ThreadPool pool(1, "drain-pool");
  Gate release;
  auto first = pool.submit([&] { return release.wait(); });
  std::vector<Future<int>> rest;
  for (int i = 0; i < 10; ++i) rest.push_back(pool.submit([i] { return i; }));
  pool.shutdown(false);
  release.open();
  EXPECT_TRUE(first.result(kWait));
  for (int i = 0; i < 10; ++i) EXPECT_EQ(rest[i].result(kWait), i);
}

// The pool wakes one sleeping worker for a burst and each worker that takes a task wakes the
// next while tasks are left: every idle thread must still end up running one. Each task here
// waits until all of them run at once, so a wake-up lost on the way leaves them waiting.
TEST(ThreadPool, ABurstOfTasksOccupiesEveryIdleThread) {
  for (const std::size_t threads : {2u, 3u, 8u}) {
    ThreadPool pool(threads, "burst-pool");
    for (int round = 0; round < 50; ++round) {
      Counter running;
      std::vector<Future<bool>> all;
      for (std::size_t i = 0; i < threads; ++i) {
        all.push_back(pool.submit([&running, threads] {
          running.add(1);
          return running.wait_for_at_least(static_cast<int>(threads));
        }));
      }
      for (auto& f : all) ASSERT_TRUE(f.result(kWait)) << threads << " threads, round " << round;
    }
  }
}

// Tasks queued behind busy workers run once a worker frees up, while the others stay busy.
TEST(ThreadPool, TasksQueuedWhileEveryThreadIsBusyRunAsThreadsFreeUp) {
  ThreadPool pool(3, "busy-pool");
  Gate release;
  std::vector<Future<bool>> blockers;
  for (int i = 0; i < 2; ++i) blockers.push_back(pool.submit([&] { return release.wait(); }));
  std::vector<Future<int>> rest;
  for (int i = 0; i < 100; ++i) rest.push_back(pool.submit([i] { return i; }));
  for (int i = 0; i < 100; ++i) EXPECT_EQ(rest[i].result(kWait), i);  // on the third thread
  release.open();
  for (auto& b : blockers) EXPECT_TRUE(b.result(kWait));
}

TEST(Sync, RunsWorkInlineOnTheCallingThread) {
  Sync sync;
  const auto caller = std::this_thread::get_id();
  auto f = sync.submit([&] { return std::this_thread::get_id() == caller; });
  EXPECT_TRUE(f.done());
  EXPECT_TRUE(f.result());
  EXPECT_FALSE(f.cancel());
  sync.shutdown();
  EXPECT_THROW(sync.submit([] { return 0; }), ShutdownError);
}

}  // namespace
}  // namespace wq::exec
