// The Overview seed's own test suite (test_workqueue.py), against the real queue, store and
// runner: a command task running a real program with (server, document_set_id, api_token,
// output), 2 workers, as the seed's fixture.
#include "support/temp_dir.hpp"
#include "support/watch.hpp"
#include "wq/queue.hpp"

#include <boost/json/serialize.hpp>
#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>

namespace wq {
namespace {

// Gone, or a zombie waiting for its new parent (init) to reap it.
bool process_gone(pid_t pid) {
  if (::kill(pid, 0) != 0 && errno == ESRCH) return true;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string pid_text, comm, state;
  stat >> pid_text >> comm >> state;
  return state == "Z" || state == "X";
}

class OverviewSeed : public ::testing::Test {
 protected:
  Config config() {
    Config c;
    c.data_dir = dir.path();
    c.concurrency = 2;
    TaskConfig t;
    t.name = "process-docset";
    t.command = {WQ_OVERVIEW_PROGRAM, "{param.server}", "{param.document_set_id}",
                 "{param.api_token}", "{output}"};
    t.params = {ParamSpec{.name = "server"}, ParamSpec{.name = "document_set_id"},
                ParamSpec{"api_token", true, true, std::nullopt}};
    t.secrets_via = SecretsVia::argv;
    t.kill_grace = Millis(500);
    c.tasks.emplace(t.name, t);
    return c;
  }

  JobSpec params(std::string document_set_id, std::string api_token) {
    JobSpec s;
    s.task = "process-docset";
    s.params = {{"server", "http://test-server/what/ever"},
                {"document_set_id", document_set_id},
                {"api_token", api_token}};
    return s;
  }

  Job ensure_run(const JobSpec& spec) {
    auto j = queue.ensure_run(spec);
    EXPECT_TRUE(j) << (j ? "" : j.error().detail);
    EXPECT_TRUE(*j);
    return **j;
  }

  test::TempDir dir;
  test::LogCapture logs;
  Queue queue{config()};
};

TEST_F(OverviewSeed, JobSucceeds) {
  Job job = ensure_run(params("succeed", "y"));
  EXPECT_EQ(job.params.at("document_set_id").as_string(), "succeed");
  Snapshot last = test::wait_terminal(queue, job.id);
  EXPECT_EQ(last.returncode, 0);
  EXPECT_EQ(last.error, std::nullopt);
  EXPECT_EQ(last.fraction, 1.0);
  EXPECT_EQ(last.state, JobState::succeeded);
  auto path = queue.result_path(job.id);
  ASSERT_TRUE(path);
  std::string content;
  std::ifstream(*path) >> content;
  EXPECT_EQ(content, "data");
  // Done: ensure_run now answers "already there", as the seed's `None`.
  auto again = queue.ensure_run(params("succeed", "y"));
  ASSERT_TRUE(again);
  EXPECT_FALSE(*again);
}

TEST_F(OverviewSeed, JobFailsWithTheExitCodeAndStderr) {
  Job job = ensure_run(params("fail", "an errmsg"));
  Snapshot last = test::wait_terminal(queue, job.id);
  EXPECT_EQ(last.returncode, 1);
  EXPECT_EQ(last.error, "Exited with code 1\nstderr:\nan errmsg");
  EXPECT_EQ(last.state, JobState::failed);
  // A failed job is not cached: ensure_run starts it anew.
  Job again = ensure_run(params("fail", "an errmsg"));
  EXPECT_NE(again.id, job.id);
}

TEST_F(OverviewSeed, WarnsIfTheProgramForgotToWriteItsOutput) {
  Job job = ensure_run(params("succeedbutforgettowritefile", "a"));
  Snapshot last = test::wait_terminal(queue, job.id);
  EXPECT_EQ(last.returncode, -999);
  EXPECT_EQ(last.error,
            "Exited with code -999\nstderr:\ninvalid program: it should have written to its output file");
  auto messages = logs.messages();
  EXPECT_NE(std::find(messages.begin(), messages.end(),
                      "invalid program: it should have written to its output file"),
            messages.end());
}

TEST_F(OverviewSeed, WarnsOnInvalidStdoutButStillSucceeds) {
  Job job = ensure_run(params("succeedbutwritejunktostdout", "a"));
  Snapshot last = test::wait_terminal(queue, job.id);
  EXPECT_EQ(last.returncode, 0);
  EXPECT_EQ(last.error, std::nullopt);
  auto messages = logs.messages();
  EXPECT_NE(std::find(messages.begin(), messages.end(),
                      "invalid program: stdout must look like '0.25\\tmessage'; got 'not progress'"),
            messages.end());
}

TEST_F(OverviewSeed, TenConcurrentJobsOnTwoWorkersAllSucceed) {
  std::vector<Job> jobs;
  for (int i = 0; i < 10; ++i) jobs.push_back(ensure_run(params("succeed", std::to_string(i))));
  for (const Job& job : jobs) {
    Snapshot last = test::wait_terminal(queue, job.id);
    EXPECT_EQ(last.returncode, 0);
    EXPECT_EQ(last.error, std::nullopt);
  }
  EXPECT_EQ(queue.stats().succeeded, 10u);
}

TEST_F(OverviewSeed, NAheadInQueueCountsDownInFifoOrder) {
  ensure_run(params("sleephalfsecond", "1"));
  ensure_run(params("sleephalfsecond", "2"));
  ensure_run(params("succeed", "3"));
  ensure_run(params("succeed", "4"));
  Job job = ensure_run(params("succeed", "us"));
  ensure_run(params("succeed", "6"));
  // We are #5: 2 running + 2 queued ahead.
  auto progresses = test::collect(queue, job.id);
  ASSERT_GE(progresses.size(), 2u);
  EXPECT_EQ(progresses.front().state, JobState::queued);
  EXPECT_EQ(progresses.front().n_ahead_in_queue, 4);
  std::int64_t previous = progresses.front().n_ahead_in_queue;
  for (const auto& p : progresses) {
    EXPECT_LE(p.n_ahead_in_queue, previous);
    previous = p.n_ahead_in_queue;
  }
  const Snapshot& last = progresses.back();
  EXPECT_EQ(last.fraction, 1.0);
  EXPECT_EQ(last.returncode, 0);
  EXPECT_EQ(last.error, std::nullopt);
  EXPECT_EQ(last.n_ahead_in_queue, 0);
}

TEST_F(OverviewSeed, ProgressMessagesAreSeenInOrder) {
  Job job = ensure_run(params("writeprogress", "0.2N0.3ThiN0.9Tbye"));
  auto progresses = test::collect(queue, job.id);
  auto seen = [&](double f, std::optional<std::string> m) {
    for (size_t i = 0; i < progresses.size(); ++i) {
      if (progresses[i].fraction == f && progresses[i].message == m) return static_cast<int>(i);
    }
    return -1;
  };
  const int a = seen(0.2, std::nullopt), b = seen(0.3, "hi"), c = seen(0.9, "bye");
  EXPECT_GE(a, 0);
  EXPECT_GT(b, a);
  EXPECT_GT(c, b);
  for (size_t i = 1; i < progresses.size(); ++i) EXPECT_GT(progresses[i].seq, progresses[i - 1].seq);
}

TEST_F(OverviewSeed, StatFailureFailsWithTheOverviewText) {
  Job job = ensure_run(params("statfail", "a"));
  Snapshot last = test::wait_terminal(queue, job.id);
  EXPECT_EQ(last.returncode, -999);
  ASSERT_TRUE(last.error);
  EXPECT_TRUE(last.error->starts_with("Exited with code -999\nstderr:\nFailed to stat output file: "))
      << *last.error;
}

TEST_F(OverviewSeed, LinkFailureFailsWithTheOverviewText) {
  JobSpec spec = params("succeed", "x");
  spec.id = "blocked-result";
  // A non-empty directory where the result must go: publishing cannot replace it.
  std::filesystem::create_directories(dir / "results" / "lt" / "blocked-result" / "blocker");
  Job job = ensure_run(spec);
  Snapshot last = test::wait_terminal(queue, job.id);
  EXPECT_EQ(last.returncode, -999);
  ASSERT_TRUE(last.error);
  EXPECT_TRUE(last.error->starts_with("Exited with code -999\nstderr:\nFailed to link destination file: "))
      << *last.error;
}

TEST_F(OverviewSeed, SecretTokenIsNeverStoredOrReturned) {
  Job job = ensure_run(params("succeed", "very-secret-token"));
  test::wait_terminal(queue, job.id);
  auto stored = queue.get(job.id);
  ASSERT_TRUE(stored);
  EXPECT_FALSE(stored->params.contains("api_token"));
  EXPECT_EQ(boost::json::serialize(to_json(*stored)).find("very-secret-token"), std::string::npos);
  EXPECT_EQ(stored->key.find("very-secret-token"), std::string::npos);
}

TEST_F(OverviewSeed, CancelOfARunningJobKillsTheProgramAndItsChildren) {
  const auto pid_file = dir / "grandchild.pid";
  Job job = ensure_run(params("spawngrandchild", pid_file.string()));
  // Wait until the program reports that its child exists.
  std::mutex m;
  std::condition_variable cv;
  bool ready = false;
  auto w = queue.watch(job.id, 0, [&](const Snapshot& s) {
    if (s.fraction == 0.5 || s.terminal()) {
      std::lock_guard lock(m);
      ready = true;
      cv.notify_all();
    }
  });
  {
    std::unique_lock lock(m);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(60), [&] { return ready; }));
  }
  w->reset();
  pid_t grandchild = 0;
  std::ifstream(pid_file) >> grandchild;
  ASSERT_GT(grandchild, 0);
  auto c = queue.cancel(job.id);
  ASSERT_TRUE(c);
  Snapshot last = test::wait_terminal(queue, job.id);
  EXPECT_EQ(last.state, JobState::cancelled);
  EXPECT_EQ(last.error, "cancelled");
  // The grandchild was in the job's process group: it was killed too (and reaped by init).
  bool gone = false;
  for (int i = 0; i < 600 && !gone; ++i) {
    gone = process_gone(grandchild);
    if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(gone) << "grandchild " << grandchild << " survived the cancel";
}

}  // namespace
}  // namespace wq
