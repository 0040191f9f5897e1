// Crash safety with real processes: a forked child holds the store, acknowledges submits over
// a pipe, and is killed with SIGKILL mid-run. Every acknowledged job must be there afterwards,
// and the jobs it was running are retried or failed as their task's policy says.
#include "support/temp_dir.hpp"
#include "support/watch.hpp"
#include "wq/queue.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <set>
#include <string>

namespace wq {
namespace {

Config config(const std::filesystem::path& dir, Durability durability) {
  Config c;
  c.data_dir = dir;
  c.concurrency = 2;
  c.durability = durability;
  return c;
}

// In the child: runs a queue whose "hang" jobs never finish, submits `n` jobs and writes each
// acknowledged id as a line to `fd`, then "ready" once two are running, and waits to be
// killed. Never returns.
[[noreturn]] void child_main(const std::filesystem::path& dir, int fd, int n, Durability durability) {
  Queue q(config(dir, durability));
  q.register_task("hang", [](TaskContext& ctx) {
    while (!ctx.cancelled()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  });
  for (int i = 0; i < n; ++i) {
    JobSpec s;
    s.task = "hang";
    s.params = {{"i", i}};
    s.max_attempts = i % 2 == 0 ? 3 : 1;  // even: retried after the crash; odd: failed
    auto r = q.submit(s);
    if (!r) _exit(3);
    std::string line = r->job.id + "\n";
    if (::write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) _exit(4);
  }
  while (q.stats().started < 2) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  if (::write(fd, "ready\n", 6) != 6) _exit(5);
  for (;;) ::pause();
}

std::vector<std::string> run_and_kill(const std::filesystem::path& dir, int n, Durability durability) {
  int fds[2];
  EXPECT_EQ(::pipe(fds), 0);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(fds[0]);
    child_main(dir, fds[1], n, durability);
  }
  ::close(fds[1]);
  std::vector<std::string> ids;
  FILE* in = ::fdopen(fds[0], "r");
  char line[256];
  while (std::fgets(line, sizeof line, in)) {
    std::string id(line, std::strlen(line) - 1);
    if (id == "ready") break;
    ids.push_back(id);
  }
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  std::fclose(in);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  return ids;
}

class Recovery : public ::testing::TestWithParam<Durability> {};

TEST_P(Recovery, AcknowledgedSubmitsSurviveKillAndInterruptedJobsFollowTheirPolicy) {
  test::TempDir dir;
  auto ids = run_and_kill(dir.path(), 40, GetParam());
  ASSERT_EQ(ids.size(), 40u);

  Queue q(config(dir.path(), GetParam()));
  int requeued = 0, failed = 0;
  for (size_t i = 0; i < ids.size(); ++i) {
    auto job = q.get(ids[i]);
    ASSERT_TRUE(job) << "acknowledged job " << ids[i] << " was lost";
    if (job->attempt == 1) {  // it was running when the process died
      if (i % 2 == 0) {
        EXPECT_EQ(job->state, JobState::queued);
        ++requeued;
      } else {
        EXPECT_EQ(job->state, JobState::failed);
        EXPECT_NE(job->error->find("interrupted"), std::string::npos);
        ++failed;
      }
    } else {
      EXPECT_EQ(job->state, JobState::queued);
      EXPECT_EQ(job->attempt, 0);
    }
  }
  EXPECT_EQ(requeued + failed, 2);  // concurrency 2: two were running

  // With the task registered now, every job still queued runs to completion exactly once.
  std::mutex m;
  std::multiset<std::string> ran;
  q.register_task("hang", [&](TaskContext& ctx) {
    std::lock_guard lock(m);
    ran.insert(ctx.job().id);
  });
  int finished = 0;
  for (const auto& id : ids) {
    Snapshot last = test::wait_terminal(q, id);
    EXPECT_TRUE(last.terminal());
    if (last.state == JobState::succeeded) ++finished;
  }
  EXPECT_EQ(finished, 40 - failed);
  EXPECT_EQ(ran.size(), static_cast<size_t>(40 - failed));
  EXPECT_EQ(std::set<std::string>(ran.begin(), ran.end()).size(), ran.size());
}

INSTANTIATE_TEST_SUITE_P(BothDurabilities, Recovery,
                         ::testing::Values(Durability::process, Durability::fsync),
                         [](const auto& info) {
                           return info.param == Durability::process ? "Process" : "Fsync";
                         });

TEST(RecoveryLock, SecondQueueOnTheSameDataDirectoryIsRefused) {
  test::TempDir dir;
  Queue first(config(dir.path(), Durability::process));
  try {
    Queue second(config(dir.path(), Durability::process));
    FAIL() << "a second queue opened the same data directory";
  } catch (const ErrorException& e) {
    EXPECT_EQ(e.error().code, Errc::locked);
    EXPECT_NE(std::string(e.what()).find("in use"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace wq
