// The embedded queue with function tasks: limits, order, dedup, retries, timeouts, cancel,
// watching and results.
#include "support/temp_dir.hpp"
#include "support/watch.hpp"
#include "wq/queue.hpp"

#include <gtest/gtest.h>
#include <sched.h>

#include <atomic>
#include <barrier>
#include <condition_variable>
#include <set>
#include <fstream>
#include <latch>
#include <semaphore>
#include <thread>
#include <time.h>

namespace wq {
namespace {

class QueueTest : public ::testing::Test {
 protected:
  Config config(int concurrency = 4) {
    Config c;
    c.data_dir = dir.path();
    c.concurrency = concurrency;
    return c;
  }

  JobSpec spec(std::string task, boost::json::object params = {}) {
    JobSpec s;
    s.task = std::move(task);
    s.params = std::move(params);
    return s;
  }

  Job submit(Queue& q, const JobSpec& s) {
    auto r = q.submit(s);
    EXPECT_TRUE(r) << (r ? "" : r.error().detail);
    return r->job;
  }

  test::TempDir dir;
};

// Blocks function tasks until released; counts how many run at once.
struct Gate {
  std::mutex m;
  std::condition_variable_any cv;
  bool open = false;
  int running = 0;
  int max_running = 0;
  int started = 0;

  void run(TaskContext& ctx) {
    std::unique_lock lock(m);
    ++running;
    ++started;
    max_running = std::max(max_running, running);
    cv.notify_all();
    cv.wait(lock, ctx.stop_token(), [&] { return open; });
    --running;
  }
  void wait_started(int n) {
    std::unique_lock lock(m);
    cv.wait_for(lock, std::chrono::seconds(60), [&] { return started >= n; });
  }
  void release() {
    std::lock_guard lock(m);
    open = true;
    cv.notify_all();
  }
};

TEST_F(QueueTest, FunctionTaskReportsProgressAndPublishesItsResult) {
  Queue q(config());
  q.register_task("greet", [](TaskContext& ctx) {
    ctx.progress(0.5, "half");
    ctx.set_result("hello " + std::string(ctx.params().at("name").as_string()));
  });
  Job job = submit(q, spec("greet", {{"name", "ada"}}));
  auto seen = test::collect(q, job.id);
  ASSERT_FALSE(seen.empty());
  EXPECT_EQ(seen.back().state, JobState::succeeded);
  EXPECT_EQ(seen.back().returncode, 0);
  auto path = q.result_path(job.id);
  ASSERT_TRUE(path) << path.error().detail;
  std::string text;
  std::getline(std::ifstream(*path), text);
  EXPECT_EQ(text, "hello ada");
  EXPECT_EQ(q.get(job.id)->result_size, 9u);
}

TEST_F(QueueTest, AFunctionTaskSeesItsSecretParamsButTheJobNeverHoldsThem) {
  Queue q(config());
  TaskConfig options;
  options.params = {ParamSpec{"user"}, ParamSpec{"token", true, true}};
  std::mutex m;
  boost::json::object seen_params, seen_job_params;
  q.register_task(
      "login",
      [&](TaskContext& ctx) {
        std::lock_guard lock(m);
        seen_params = ctx.params();
        seen_job_params = ctx.job().params;
      },
      options);
  Job job = submit(q, spec("login", {{"user", "ada"}, {"token", "s3cret"}}));
  auto seen = test::collect(q, job.id);
  ASSERT_FALSE(seen.empty());
  EXPECT_EQ(seen.back().state, JobState::succeeded);
  std::lock_guard lock(m);
  EXPECT_EQ(seen_params, (boost::json::object{{"user", "ada"}, {"token", "s3cret"}}));
  EXPECT_EQ(seen_job_params, (boost::json::object{{"user", "ada"}}));
  EXPECT_EQ(q.get(job.id)->params, (boost::json::object{{"user", "ada"}}));
}

TEST_F(QueueTest, AFunctionTaskWithoutSecretsSeesTheJobsParams) {
  Queue q(config());
  std::mutex m;
  boost::json::object seen_params, seen_job_params;
  q.register_task("echo", [&](TaskContext& ctx) {
    std::lock_guard lock(m);
    seen_params = ctx.params();
    seen_job_params = ctx.job().params;
  });
  Job job = submit(q, spec("echo", {{"n", 3}}));
  auto seen = test::collect(q, job.id);
  ASSERT_FALSE(seen.empty());
  EXPECT_EQ(seen.back().state, JobState::succeeded);
  std::lock_guard lock(m);
  EXPECT_EQ(seen_params, (boost::json::object{{"n", 3}}));
  EXPECT_EQ(seen_job_params, seen_params);
}

TEST_F(QueueTest, AFunctionWritingItsOutputPathPublishesTheFileAndNoAttemptLeavesOneBehind) {
  Queue q(config());
  q.register_task("write", [](TaskContext& ctx) { std::ofstream(ctx.output_path()) << "by path"; });
  q.register_task("write-then-fail", [](TaskContext& ctx) {
    std::ofstream(ctx.output_path()) << "half";
    throw std::runtime_error("gave up");
  });
  q.register_task("nothing", [](TaskContext&) {});
  Job wrote = submit(q, spec("write"));
  Job failed = submit(q, spec("write-then-fail"));
  Job nothing = submit(q, spec("nothing"));
  EXPECT_EQ(test::wait_terminal(q, wrote.id).state, JobState::succeeded);
  EXPECT_EQ(test::wait_terminal(q, failed.id).state, JobState::failed);
  EXPECT_EQ(test::wait_terminal(q, nothing.id).state, JobState::succeeded);
  auto path = q.result_path(wrote.id);
  ASSERT_TRUE(path) << path.error().detail;
  std::string text;
  std::getline(std::ifstream(*path), text);
  EXPECT_EQ(text, "by path");
  EXPECT_EQ(q.get(wrote.id)->result_size, 7u);
  EXPECT_EQ(q.result_path(nothing.id).error().code, Errc::not_found);
  q.stop();
  // The failed attempt's file is gone with it; the published one moved out of tmp/.
  std::vector<std::string> left;
  for (const auto& e : std::filesystem::directory_iterator(dir.path() / "tmp")) {
    left.push_back(e.path().filename().string());
  }
  EXPECT_TRUE(left.empty()) << left.front();
}

TEST_F(QueueTest, UnknownTaskAndBadParamsAreClearErrors) {
  Queue q(config());
  auto unknown = q.submit(spec("nope"));
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, Errc::unknown_task);
  EXPECT_NE(unknown.error().detail.find("unknown task 'nope'"), std::string::npos);
  TaskConfig opts;
  opts.params = {ParamSpec{.name = "n"}};
  q.register_task("needs-n", [](TaskContext&) {}, opts);
  auto missing = q.submit(spec("needs-n"));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Errc::bad_input);
}

TEST_F(QueueTest, ThrowingTaskFailsWithItsMessage) {
  Queue q(config());
  q.register_task("boom", [](TaskContext&) { throw std::runtime_error("disk on fire"); });
  Job job = submit(q, spec("boom"));
  Snapshot last = test::wait_terminal(q, job.id);
  EXPECT_EQ(last.state, JobState::failed);
  EXPECT_EQ(last.error, "disk on fire");
  EXPECT_EQ(last.returncode, 1);
  EXPECT_EQ(q.result_path(job.id).error().code, Errc::not_finished);
}

TEST_F(QueueTest, GlobalAndPerTaskConcurrencyLimitsHold) {
  // One gate for both tasks, so `max_running` is the most jobs running at one moment.
  Gate gate;
  std::atomic<int> b_running{0}, b_max{0};
  Queue q(config(3));
  TaskConfig one;
  one.concurrency = 1;
  q.register_task("a", [&](TaskContext& ctx) { gate.run(ctx); });
  q.register_task("b", [&](TaskContext& ctx) {
    const int now = ++b_running;
    int seen = b_max.load();
    while (now > seen && !b_max.compare_exchange_weak(seen, now)) {
    }
    gate.run(ctx);
    --b_running;
  }, one);
  std::vector<Job> jobs;
  for (int i = 0; i < 3; ++i) jobs.push_back(submit(q, spec("b", {{"i", i}})));
  for (int i = 0; i < 6; ++i) jobs.push_back(submit(q, spec("a", {{"i", i}})));
  gate.wait_started(3);
  gate.release();
  for (const Job& j : jobs) EXPECT_EQ(test::wait_terminal(q, j.id).state, JobState::succeeded);
  EXPECT_EQ(gate.max_running, 3);
  EXPECT_EQ(b_max.load(), 1);
}

TEST_F(QueueTest, HigherPriorityStartsFirstThenFifo) {
  Gate gate;
  Queue q(config(1));
  std::mutex m;
  std::vector<int> order;
  q.register_task("block", [&](TaskContext& ctx) { gate.run(ctx); });
  q.register_task("record", [&](TaskContext& ctx) {
    std::lock_guard lock(m);
    order.push_back(static_cast<int>(ctx.params().at("n").as_int64()));
  });
  Job blocker = submit(q, spec("block"));
  gate.wait_started(1);
  std::vector<Job> jobs;
  for (int n : {1, 2, 3}) jobs.push_back(submit(q, spec("record", {{"n", n}})));
  JobSpec urgent = spec("record", {{"n", 9}});
  urgent.priority = 10;
  jobs.push_back(submit(q, urgent));
  gate.release();
  for (const Job& j : jobs) test::wait_terminal(q, j.id);
  EXPECT_EQ(order, (std::vector<int>{9, 1, 2, 3}));
  test::wait_terminal(q, blocker.id);
}

TEST_F(QueueTest, SixteenConcurrentSubmitsOfOneKeyRunOnce) {
  Queue q(config());
  std::atomic<int> runs{0};
  q.register_task("once", [&](TaskContext&) { ++runs; });
  std::barrier start(16);
  std::vector<std::thread> threads;
  std::mutex m;
  std::set<std::string> ids;
  for (int i = 0; i < 16; ++i) {
    threads.emplace_back([&] {
      start.arrive_and_wait();
      auto r = q.submit(spec("once", {{"docset", 42}}));
      ASSERT_TRUE(r);
      std::lock_guard lock(m);
      ids.insert(r->job.id);
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_EQ(ids.size(), 1u);
  test::wait_terminal(q, *ids.begin());
  EXPECT_EQ(runs.load(), 1);
  // Retained success: the same key returns the finished job, starting nothing.
  auto again = q.ensure_run(spec("once", {{"docset", 42}}));
  ASSERT_TRUE(again);
  EXPECT_FALSE(*again);
  EXPECT_EQ(runs.load(), 1);
}

// The tests that run at both durability levels: with fsync the store acknowledges writes
// from its syncer thread, and a worker does not wait for its finish's sync.
class QueueDurabilityTest : public QueueTest, public ::testing::WithParamInterface<Durability> {
 protected:
  Config config(int concurrency = 4) {
    Config c = QueueTest::config(concurrency);
    c.durability = GetParam();
    return c;
  }
};

INSTANTIATE_TEST_SUITE_P(BothDurabilities, QueueDurabilityTest,
                         ::testing::Values(Durability::process, Durability::fsync),
                         [](const auto& info) {
                           return info.param == Durability::fsync ? "fsync" : "process";
                         });

// submit_async (what wqd's event loop uses with SQLite): every call is answered exactly once,
// duplicates dedup as with submit(), and every new job runs.
TEST_P(QueueDurabilityTest, AsyncSubmitsAreEachAnsweredOnceAndTheirJobsRun) {
  Queue q(config());
  std::atomic<int> runs{0};
  q.register_task("count", [&](TaskContext&) { ++runs; });
  EXPECT_FALSE(q.submit_blocks());

  bool answered_at_once = false;
  q.submit_async(spec("nope"), [&](Result<Submitted> r) {
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, Errc::unknown_task);
    answered_at_once = true;
  });
  EXPECT_TRUE(answered_at_once);

  constexpr int kThreads = 8, kEach = 50, kKeys = 300;  // 400 submits of 300 keys
  std::mutex m;
  std::condition_variable cv;
  int answers = 0;
  std::set<std::string> created, ids;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        q.submit_async(spec("count", {{"n", (t * kEach + i) % kKeys}}), [&](Result<Submitted> r) {
          std::lock_guard lock(m);
          ++answers;
          EXPECT_TRUE(r) << (r ? "" : r.error().detail);
          if (!r) return;
          ids.insert(r->job.id);
          if (r->created) {
            EXPECT_TRUE(created.insert(r->job.id).second);
          }
          cv.notify_all();
        });
      }
    });
  }
  for (auto& th : threads) th.join();
  {
    std::unique_lock lock(m);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(60),
                            [&] { return answers == kThreads * kEach; }))
        << answers << " answers";
  }
  EXPECT_EQ(created.size(), static_cast<std::size_t>(kKeys));
  EXPECT_EQ(ids, created);
  for (const auto& id : ids) test::wait_terminal(q, id);
  EXPECT_EQ(runs.load(), kKeys);
}

// stop() waits for the async submits already accepted; later ones are refused at once. Any
// success is answered before stop() returns, and every call is answered exactly once.
TEST_P(QueueDurabilityTest, StopWaitsForAsyncSubmitsAlreadyAccepted) {
  auto q = std::make_unique<Queue>(config());
  q->register_task("noop", [](TaskContext&) {});
  std::atomic<bool> quit{false};
  std::atomic<int> calls{0}, answers{0}, successes{0};
  std::counting_semaphore<64> in_flight(32);  // like a server's connections: a bounded backlog
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; !quit.load(); ++i) {
        in_flight.acquire();
        ++calls;
        q->submit_async(spec("noop", {{"t", t}, {"i", i}}), [&](Result<Submitted> r) {
          if (r) {
            ++successes;
          } else {
            EXPECT_EQ(r.error().code, Errc::shutting_down) << r.error().detail;
          }
          ++answers;
          in_flight.release();
        });
      }
    });
  }
  while (successes.load() < 50) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  q->stop(Millis(0));
  const int successes_at_stop = successes.load();
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // submits go on, refused
  quit = true;
  for (auto& th : threads) th.join();
  EXPECT_EQ(successes.load(), successes_at_stop);
  EXPECT_EQ(answers.load(), calls.load());
  q.reset();
}

// With fsync durability a commit is synced after it, off the committing thread: a job must
// still not start before the sync that covers its submit (nor its submit return before it).
// Each job here is inserted running in its submit's commit; nothing else writes meanwhile.
TEST_F(QueueTest, WithFsyncDurabilityAJobStartsOnlyAfterItsSubmitIsSynced) {
  Config c = config(1);
  c.durability = Durability::fsync;
  Queue q(c);
  std::mutex m;
  std::vector<StoreStats> at_start;
  q.register_task("probe", [&](TaskContext&) {
    const StoreStats s = q.stats().store;
    std::lock_guard lock(m);
    at_start.push_back(s);
  });
  // Start-up's own writes (recovery, the first sweep and claim) are over once a job ran.
  test::wait_terminal(q, submit(q, spec("probe", {{"i", -1}})).id);
  {
    std::lock_guard lock(m);
    at_start.clear();
  }
  for (int i = 0; i < 20; ++i) {
    const Job job = submit(q, spec("probe", {{"i", i}}));
    const StoreStats after_submit = q.stats().store;
    EXPECT_GE(after_submit.synced_commits, after_submit.commits - 1) << "submit " << i;
    EXPECT_EQ(test::wait_terminal(q, job.id).state, JobState::succeeded);
  }
  std::lock_guard lock(m);
  ASSERT_EQ(at_start.size(), 20u);
  for (std::size_t i = 0; i < at_start.size(); ++i) {
    EXPECT_GT(at_start[i].syncs, 0u);
    EXPECT_EQ(at_start[i].synced_commits, at_start[i].commits) << "job " << i;
  }
}

// Function tasks run under SCHED_BATCH (see run/function_runner.hpp): a worker woken to start
// a job does not preempt the thread that started it.
TEST_F(QueueTest, FunctionTasksRunUnderTheBatchSchedulingPolicy) {
  Queue q(config());
  std::atomic<int> policy{-1};
  q.register_task("probe", [&](TaskContext&) { policy = sched_getscheduler(0); });
  Job job = submit(q, spec("probe"));
  EXPECT_EQ(test::wait_terminal(q, job.id).state, JobState::succeeded);
  EXPECT_EQ(policy.load(), SCHED_BATCH);
}

TEST_F(QueueTest, FailingTaskIsRetriedWithBackoffUntilItSucceeds) {
  Queue q(config());
  std::atomic<int> calls{0};
  TaskConfig opts;
  opts.max_attempts = 3;
  opts.retry_backoff = Millis(10);
  q.register_task("flaky", [&](TaskContext&) {
    if (++calls < 3) throw std::runtime_error("not yet");
  }, opts);
  Job job = submit(q, spec("flaky"));
  Snapshot last = test::wait_terminal(q, job.id);
  EXPECT_EQ(last.state, JobState::succeeded);
  EXPECT_EQ(calls.load(), 3);
  EXPECT_EQ(q.get(job.id)->attempt, 3);
  EXPECT_EQ(q.stats().retried, 2u);
}

// A retry due at once is claimed in the commit that records the failure, so its new attempt
// is delivered before the thread that ran the failed one has recorded it. That attempt's
// bookkeeping must not erase the new one's (it did: the new attempt's outcome was dropped and
// the job stayed running forever, seen as a rare hang of the test above under load).
TEST_F(QueueTest, ARetryDueAtOnceRunsAndEndsOnOneSlot) {
  Queue q(config(1));
  std::atomic<int> calls{0};
  TaskConfig opts;
  opts.max_attempts = 4;
  opts.retry_backoff = Millis(0);
  q.register_task("flaky", [&](TaskContext&) {
    if (++calls < 4) throw std::runtime_error("not yet");
  }, opts);
  for (int round = 0; round < 5; ++round) {
    calls = 0;
    Job job = submit(q, spec("flaky", {{"round", round}}));
    auto all = test::collect(q, job.id, 0, std::chrono::seconds(20));
    ASSERT_FALSE(all.empty());
    EXPECT_EQ(all.back().state, JobState::succeeded);
    EXPECT_EQ(calls.load(), 4);
    EXPECT_EQ(q.get(job.id)->attempt, 4);
  }
  EXPECT_EQ(q.stats().running, 0);
}

TEST_F(QueueTest, RetriesStopAtMaxAttempts) {
  Queue q(config());
  std::atomic<int> calls{0};
  q.register_task("bad", [&](TaskContext&) {
    ++calls;
    throw std::runtime_error("always");
  });
  JobSpec s = spec("bad");
  s.max_attempts = 2;
  Job job = submit(q, s);
  EXPECT_EQ(test::wait_terminal(q, job.id).state, JobState::failed);
  EXPECT_EQ(calls.load(), 2);
}

TEST_F(QueueTest, DelayedJobDoesNotStartBeforeRunAt) {
  Queue q(config());
  q.register_task("noop", [](TaskContext&) {});
  JobSpec s = spec("noop");
  s.run_at = now_ms() + Millis(300);
  Job job = submit(q, s);
  test::wait_terminal(q, job.id);
  auto done = q.get(job.id);
  ASSERT_TRUE(done->started_at);
  EXPECT_GE(*done->started_at, *s.run_at);
}

TEST_F(QueueTest, JobDelayedByYearsWaitsWithoutBusyLoopingTheDispatcher) {
  Queue q(config());
  q.register_task("noop", [](TaskContext&) {});
  JobSpec far = spec("noop", {{"n", 1}});
  far.run_at = TimePoint(Millis(std::int64_t{1} << 45));  // about the year 3084
  Job delayed = submit(q, far);
  // The dispatcher must stay responsive (a spinning loop starves nothing here, so measure
  // the CPU it burns while an ordinary job runs to completion).
  timespec before{}, after{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &before);
  Job now = submit(q, spec("noop", {{"n", 2}}));
  EXPECT_EQ(test::wait_terminal(q, now.id).state, JobState::succeeded);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &after);
  const double cpu = (after.tv_sec - before.tv_sec) + (after.tv_nsec - before.tv_nsec) / 1e9;
  EXPECT_LT(cpu, 0.1) << "the process burned " << cpu << " s of CPU in about 0.5 s of waiting";
  EXPECT_EQ(q.get(delayed.id)->state, JobState::queued);
}

TEST_F(QueueTest, CancelQueuedJobNeverStartsAndCancelRunningStopsIt) {
  Gate gate;
  Queue q(config(1));
  std::atomic<int> second_runs{0};
  q.register_task("block", [&](TaskContext& ctx) { gate.run(ctx); });
  q.register_task("second", [&](TaskContext&) { ++second_runs; });
  Job running = submit(q, spec("block"));
  gate.wait_started(1);
  Job queued = submit(q, spec("second"));
  auto c = q.cancel(queued.id);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->state, JobState::cancelled);
  EXPECT_EQ(test::wait_terminal(q, queued.id).state, JobState::cancelled);
  ASSERT_TRUE(q.cancel(running.id));
  Snapshot last = test::wait_terminal(q, running.id);
  EXPECT_EQ(last.state, JobState::cancelled);
  EXPECT_EQ(second_runs.load(), 0);
  EXPECT_EQ(q.cancel("missing").error().code, Errc::not_found);
}

TEST_F(QueueTest, FunctionTimeoutAsksTheTaskToStopAndFailsIt) {
  Gate gate;  // never released: only the timeout ends it
  Queue q(config());
  q.register_task("slow", [&](TaskContext& ctx) { gate.run(ctx); });
  JobSpec s = spec("slow");
  s.timeout = Millis(200);
  Job job = submit(q, s);
  Snapshot last = test::wait_terminal(q, job.id);
  EXPECT_EQ(last.state, JobState::failed);
  EXPECT_EQ(last.error, "timed out after 0.2s");
}

TEST_F(QueueTest, WatchingAFinishedJobYieldsItsTerminalSnapshotAndResumeSkipsSeen) {
  Queue q(config());
  q.register_task("steps", [](TaskContext& ctx) {
    for (int i = 1; i <= 5; ++i) ctx.progress(i / 10.0, "step " + std::to_string(i));
  });
  Job job = submit(q, spec("steps"));
  auto all = test::collect(q, job.id);
  ASSERT_GE(all.size(), 1u);
  auto late = test::collect(q, job.id);
  ASSERT_EQ(late.size(), 1u);
  EXPECT_EQ(late[0], all.back());
  auto resumed = test::collect(q, job.id, all.back().seq - 1);
  ASSERT_EQ(resumed.size(), 1u);
  EXPECT_TRUE(resumed[0].terminal());
  // wait(): nothing newer than the terminal seq ever comes.
  auto unchanged = q.wait(job.id, all.back().seq, Millis(50));
  ASSERT_TRUE(unchanged);
  EXPECT_FALSE(*unchanged);
  auto newer = q.wait(job.id, 0, Millis(5000));
  ASSERT_TRUE(newer && *newer);
  EXPECT_TRUE((*newer)->terminal());
}

TEST_F(QueueTest, OwnersSeeOnlyTheirOwnJobs) {
  Queue q(config());
  q.register_task("noop", [](TaskContext&) {});
  JobSpec s = spec("noop");
  s.owner = "tenant-a";
  Job job = submit(q, s);
  EXPECT_TRUE(q.get(job.id, std::string("tenant-a")));
  EXPECT_EQ(q.get(job.id, std::string("tenant-b")).error().code, Errc::not_found);
  EXPECT_EQ(q.cancel(job.id, std::string("tenant-b")).error().code, Errc::not_found);
  EXPECT_FALSE(q.watch(job.id, 0, [](const Snapshot&) {}, std::string("tenant-b")));
  // The same params under another owner are another job.
  JobSpec other = s;
  other.owner = "tenant-b";
  EXPECT_NE(submit(q, other).id, job.id);
}

TEST_F(QueueTest, QueueFullRefusesNewJobsButStillDedups) {
  Config c = config(1);
  c.max_queued = 2;
  Gate gate;
  Queue q(c);
  q.register_task("block", [&](TaskContext& ctx) { gate.run(ctx); });
  q.register_task("noop", [](TaskContext&) {});
  submit(q, spec("block"));
  gate.wait_started(1);
  Job a = submit(q, spec("noop", {{"n", 1}}));
  submit(q, spec("noop", {{"n", 2}}));
  auto full = q.submit(spec("noop", {{"n", 3}}));
  ASSERT_FALSE(full);
  EXPECT_EQ(full.error().code, Errc::queue_full);
  auto dup = q.submit(spec("noop", {{"n", 1}}));
  ASSERT_TRUE(dup);
  EXPECT_EQ(dup->job.id, a.id);
  gate.release();
}

TEST_F(QueueTest, StopWithGraceLetsRunningJobsFinish) {
  auto q = std::make_unique<Queue>(config());
  std::latch started(1);
  q->register_task("short", [&](TaskContext&) {
    started.count_down();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  });
  Job job = submit(*q, spec("short"));
  started.wait();
  q->stop(std::chrono::seconds(30));
  EXPECT_EQ(q->get(job.id)->state, JobState::succeeded);
  EXPECT_EQ(q->submit(spec("short")).error().code, Errc::shutting_down);
}

TEST_F(QueueTest, StoppedRunningJobIsRequeuedAndRunsAfterRestart) {
  JobSpec s = spec("long");
  s.max_attempts = 2;
  std::string id;
  {
    Gate gate;
    Queue q(config());
    q.register_task("long", [&](TaskContext& ctx) { gate.run(ctx); });
    id = submit(q, s).id;
    gate.wait_started(1);
  }  // destroyed: the running job is asked to stop and recorded as interrupted
  EXPECT_EQ(Queue(config()).get(id)->state, JobState::queued);
  Queue q(config());
  q.register_task("long", [](TaskContext&) {});
  EXPECT_EQ(test::wait_terminal(q, id).state, JobState::succeeded);
  EXPECT_EQ(q.get(id)->attempt, 2);
}

}  // namespace
}  // namespace wq
