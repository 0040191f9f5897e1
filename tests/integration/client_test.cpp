// wq::Client against a real wqd over loopback: batched polling of submit futures, cancel
// through the future, SSE watching across a server restart, reads, and errors that carry the
// server's detail.
#include "wq/client.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "integration/wqd_process.hpp"

namespace wq::test {
namespace {

using namespace std::chrono_literals;
constexpr auto kHangGuard = std::chrono::seconds(90);

std::string server_of(const WqdProcess& wqd) {
  return fmt::format("http://127.0.0.1:{}", wqd.port());
}

std::string open_config(std::string_view server_extra = "") {
  return fmt::format("concurrency = 8\n[server]\nopen = true\n{}\n{}", server_extra,
                     test_tasks_toml());
}

// A data directory that outlives one wqd process (for restarts); removed at the end.
struct TempDir {
  std::filesystem::path path =
      std::filesystem::temp_directory_path() /
      fmt::format("wq-client-test-{}-{:x}", ::getpid(), std::random_device{}());
  TempDir() { std::filesystem::create_directories(path); }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

// Collects a watch's snapshots and lets the test wait for one it wants.
struct Seen {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<Snapshot> snaps;
  std::vector<Error> reconnects;

  void add(const Snapshot& s) {
    std::lock_guard lock(mu);
    snaps.push_back(s);
    cv.notify_all();
  }
  bool wait_for(const std::function<bool(const Snapshot&)>& pred) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, kHangGuard,
                       [&] { return std::any_of(snaps.begin(), snaps.end(), pred); });
  }
};

TEST(Client, AThousandSubmittedJobsAreResolvedByAFewDozenSearchRequests) {
  WqdProcess wqd(open_config());
  ASSERT_NE(wqd.port(), 0);
  Client client({.server = server_of(wqd), .poll_interval = 200ms});
  constexpr int kJobs = 1000;
  std::vector<exec::Future<Job>> futures;
  for (int i = 0; i < kJobs; ++i) {
    futures.push_back(
        client.submit({.task = "hold", .params = {{"ms", 0}}, .key = fmt::format("batch-{}", i)}));
  }
  std::set<std::string> ids;
  for (auto& f : futures) {
    const Job& job = f.result(kHangGuard);
    EXPECT_EQ(job.state, JobState::succeeded) << job.error.value_or("");
    EXPECT_EQ(job.task, "hold");
    ids.insert(job.id);
  }
  EXPECT_EQ(ids.size(), static_cast<size_t>(kJobs));
  const ClientStats stats = client.stats();
  std::printf("%d jobs resolved by %llu searches (%llu poll calls)\n", kJobs,
              static_cast<unsigned long long>(stats.searches),
              static_cast<unsigned long long>(stats.poll.polls));
  EXPECT_EQ(stats.poll.futures, static_cast<std::uint64_t>(kJobs));
  EXPECT_GE(stats.searches, 1u);
  // One search per poll interval for all of them, never one per job: a few dozen on a quiet
  // machine; the bound leaves room for a slow one without allowing per-job polling.
  EXPECT_LT(stats.searches, static_cast<std::uint64_t>(kJobs / 5));
}

TEST(Client, CancellingASubmitFutureCancelsTheJobOnTheServer) {
  WqdProcess wqd(open_config());
  ASSERT_NE(wqd.port(), 0);
  Client client({.server = server_of(wqd), .poll_interval = 100ms});
  const JobSpec spec{.task = "hold", .params = {{"ms", 600000}}, .id = "cancel-me"};
  // The job exists before the watch starts (submitting the same id again is the same job).
  ASSERT_TRUE(client.enqueue(spec));
  auto f = client.submit(spec);
  Seen seen;
  auto watch = client.watch("cancel-me", [&](const Snapshot& s) { seen.add(s); });
  ASSERT_TRUE(seen.wait_for([](const Snapshot& s) { return s.state == JobState::running; }));
  // Cancelled before its POST is sent, the future would just not send it: wait until the
  // server answered that submit (200: the same job). The answer may still be on its way, so
  // cancel() can be false for a moment.
  ASSERT_TRUE(wqd.wait_for_log([](const std::string& line) {
    return line.find(R"("method":"POST","path":"/v1/jobs","status":200)") != std::string::npos;
  }));
  bool cancelled = false;
  for (auto deadline = std::chrono::steady_clock::now() + kHangGuard;
       !cancelled && std::chrono::steady_clock::now() < deadline;
       std::this_thread::sleep_for(10ms)) {
    cancelled = f.cancel();
  }
  ASSERT_TRUE(cancelled) << [&] {
    auto now = client.get("cancel-me");
    const std::string server =
        now ? std::string(to_string(now->state)) : "unknown: " + now.error().detail;
    if (!f.done()) return fmt::format("the future is still running; the job is {}", server);
    if (f.cancelled()) return fmt::format("the future was cancelled late; the job is {}", server);
    if (auto e = f.exception()) {
      return fmt::format("the future failed: {}; the job is {}", exec::describe(e), server);
    }
    return fmt::format("the future holds the job as {}; the job is {}",
                       to_string(f.result().state), server);
  }();
  EXPECT_TRUE(f.cancelled());
  EXPECT_TRUE(f.done());
  ASSERT_TRUE(watch.wait_for(kHangGuard)) << [&] {
    std::lock_guard lock(seen.mu);
    std::string seqs;
    for (const auto& s : seen.snaps) seqs += fmt::format(" {}:{}", s.seq, to_string(s.state));
    auto now = client.get("cancel-me");
    return fmt::format("watch saw{}; the job is {}", seqs,
                       now ? to_string(now->state) : now.error().detail);
  }();
  EXPECT_EQ(watch.result().state, JobState::cancelled);
  auto job = client.get("cancel-me");
  ASSERT_TRUE(job) << job.error().detail;
  EXPECT_EQ(job->state, JobState::cancelled);
}

TEST(Client, CancellingAFutureOfAJobThatAlreadySucceededFails) {
  WqdProcess wqd(open_config());
  ASSERT_NE(wqd.port(), 0);
  Client client({.server = server_of(wqd), .poll_interval = 100ms});
  auto f = client.submit({.task = "count", .params = {{"n", 1}, {"delay", 0}}});
  const Job& job = f.result(kHangGuard);
  EXPECT_EQ(job.state, JobState::succeeded);
  EXPECT_FALSE(f.cancel());
  EXPECT_FALSE(f.cancelled());
}

TEST(Client, WatchSeesProgressInOrderAndResumesAfterTheServerRestartsOnTheSameDataAndPort) {
  TempDir data;
  const std::string config = open_config("shutdown_grace = \"100ms\"");
  auto first = std::make_unique<WqdProcess>(
      config, std::vector<std::string>{"--data-dir", data.path.string()});
  const unsigned short port = first->port();
  ASSERT_NE(port, 0);
  Client client({.server = fmt::format("http://127.0.0.1:{}", port), .poll_interval = 100ms});
  auto submitted = client.enqueue({.task = "count",
                                   .params = {{"n", 40}, {"delay", 0.05}},
                                   .id = "survivor",
                                   .max_attempts = 2});
  ASSERT_TRUE(submitted) << submitted.error().detail;
  auto polled = client.submit({.task = "count",
                               .params = {{"n", 40}, {"delay", 0.05}},
                               .id = "survivor",
                               .max_attempts = 2});
  Seen seen;
  auto watch = client.watch(
      "survivor", [&](const Snapshot& s) { seen.add(s); }, 0,
      [&](const Error& e) {
        std::lock_guard lock(seen.mu);
        seen.reconnects.push_back(e);
      });
  ASSERT_TRUE(seen.wait_for([](const Snapshot& s) { return s.fraction > 0 && !s.terminal(); }));
  EXPECT_EQ(first->terminate(), 0);
  first.reset();
  WqdProcess second(
      config, {"--data-dir", data.path.string(), "--listen", fmt::format("127.0.0.1:{}", port)});
  ASSERT_EQ(second.port(), port);

  const Snapshot& last = watch.result(kHangGuard);
  EXPECT_EQ(last.state, JobState::succeeded);
  std::lock_guard lock(seen.mu);
  ASSERT_GE(seen.snaps.size(), 3u);
  for (size_t i = 1; i < seen.snaps.size(); ++i) {
    EXPECT_GT(seen.snaps[i].seq, seen.snaps[i - 1].seq) << "snapshot " << i;
  }
  EXPECT_EQ(seen.snaps.back(), last);
  EXPECT_EQ(std::count_if(seen.snaps.begin(), seen.snaps.end(),
                          [](const Snapshot& s) { return s.terminal(); }),
            1);
  EXPECT_FALSE(seen.reconnects.empty());
  // The job was interrupted by the restart and ran again; the submit future saw it through.
  auto job = client.get("survivor");
  ASSERT_TRUE(job) << job.error().detail;
  EXPECT_EQ(job->attempt, 2);
  EXPECT_EQ(polled.result(kHangGuard).state, JobState::succeeded);
}

TEST(Client, GetListTasksAndResultReadWhatTheServerHas) {
  WqdProcess wqd(open_config());
  ASSERT_NE(wqd.port(), 0);
  Client client({.server = server_of(wqd), .poll_interval = 100ms});
  const Job job =
      client.submit({.task = "count", .params = {{"n", 3}, {"delay", 0}}}).result(kHangGuard);
  ASSERT_EQ(job.state, JobState::succeeded);

  auto got = client.get(job.id);
  ASSERT_TRUE(got) << got.error().detail;
  EXPECT_EQ(got->params.at("n").as_int64(), 3);
  EXPECT_TRUE(got->finished_at.has_value());
  EXPECT_EQ(got->returncode, 0);

  auto page = client.list({.state = JobState::succeeded});
  ASSERT_TRUE(page) << page.error().detail;
  ASSERT_EQ(page->jobs.size(), 1u);
  EXPECT_EQ(page->jobs[0].id, job.id);
  auto none = client.list({.state = JobState::failed});
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->jobs.empty());

  auto tasks = client.tasks();
  ASSERT_TRUE(tasks) << tasks.error().detail;
  std::set<std::string> names;
  for (const auto& t : *tasks) names.insert(t.name);
  EXPECT_EQ(names, (std::set<std::string>{"count", "hold"}));

  std::ostringstream bytes;
  auto size = client.result(job.id, bytes);
  ASSERT_TRUE(size) << size.error().detail;
  EXPECT_EQ(bytes.str(), "counted to 3\n");
  EXPECT_EQ(*size, bytes.str().size());
  TempDir dir;
  auto to_file = client.result(job.id, dir.path / "out.txt");
  ASSERT_TRUE(to_file) << to_file.error().detail;
  std::ifstream in(dir.path / "out.txt");
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), "counted to 3\n");
  EXPECT_FALSE(std::filesystem::exists(dir.path / "out.txt.part"));

  auto snaps = client.search({job.id, "no-such-job"});
  ASSERT_TRUE(snaps) << snaps.error().detail;
  ASSERT_EQ(snaps->size(), 1u);
  EXPECT_EQ((*snaps)[0].state, JobState::succeeded);
}

TEST(Client, ErrorsCarryTheServersDetail) {
  WqdProcess wqd(open_config());
  ASSERT_NE(wqd.port(), 0);
  Client client({.server = server_of(wqd)});

  auto unknown = client.enqueue({.task = "no-such-task"});
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, Errc::unknown_task);
  EXPECT_NE(unknown.error().detail.find("unknown task 'no-such-task'"), std::string::npos)
      << unknown.error().detail;

  auto missing_param = client.enqueue({.task = "count"});
  ASSERT_FALSE(missing_param);
  EXPECT_EQ(missing_param.error().code, Errc::bad_input);
  EXPECT_NE(missing_param.error().detail.find("n"), std::string::npos);

  auto f = client.submit({.task = "no-such-task"});
  try {
    f.result(kHangGuard);
    ADD_FAILURE() << "a refused submit resolved";
  } catch (const ErrorException& e) {
    EXPECT_EQ(e.error().code, Errc::unknown_task);
    EXPECT_EQ(e.error().detail, unknown.error().detail);
  }

  auto nothing = client.get("no-such-job");
  ASSERT_FALSE(nothing);
  EXPECT_EQ(nothing.error().code, Errc::not_found);

  auto queued = client.enqueue({.task = "hold", .params = {{"ms", 1}}, .run_at = [] {
                                  return TimePoint(Millis(a_day_from_now()));
                                }()});
  ASSERT_TRUE(queued) << queued.error().detail;
  std::ostringstream ignored;
  auto early = client.result(queued->job.id, ignored);
  ASSERT_FALSE(early);
  EXPECT_EQ(early.error().code, Errc::not_finished);

  auto watch_missing = client.watch("no-such-job", [](const Snapshot&) {});
  try {
    watch_missing.result(kHangGuard);
    ADD_FAILURE() << "a watch of a missing job resolved";
  } catch (const ErrorException& e) {
    EXPECT_EQ(e.error().code, Errc::not_found);
  }
}

TEST(Client, ATokenIsSentAndAMissingOneIsUnauthorized) {
  WqdProcess wqd(fmt::format("[server]\ntokens = [{{ sha256 = \"{}\", tenant = \"acme\" }}]\n{}",
                             sha256_of("s3cret"), test_tasks_toml()));
  ASSERT_NE(wqd.port(), 0);
  Client anonymous({.server = server_of(wqd)});
  auto refused = anonymous.tasks();
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, Errc::unauthorized);
  EXPECT_NE(refused.error().detail.find("Bearer"), std::string::npos) << refused.error().detail;

  Client with_token({.server = server_of(wqd), .token = "s3cret"});
  auto tasks = with_token.tasks();
  ASSERT_TRUE(tasks) << tasks.error().detail;
  EXPECT_EQ(tasks->size(), 2u);
}

TEST(Client, AnUnreachableServerIsAClearErrorNamingTheAddress) {
  unsigned short port = 0;
  {
    WqdProcess gone(open_config());
    port = gone.port();
    ASSERT_NE(port, 0);
    EXPECT_EQ(gone.terminate(), 0);
  }
  const std::string server = fmt::format("http://127.0.0.1:{}", port);
  Client client({.server = server, .attempts = 2});
  auto r = client.get("x");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::unreachable);
  EXPECT_NE(r.error().detail.find("cannot reach wqd at " + server), std::string::npos)
      << r.error().detail;
  EXPECT_GE(client.stats().retries, 1u);

  auto watch = client.watch("x", [](const Snapshot&) {});
  try {
    watch.result(kHangGuard);
    ADD_FAILURE() << "a watch of an unreachable server resolved";
  } catch (const ErrorException& e) {
    EXPECT_EQ(e.error().code, Errc::unreachable);
  }
}

TEST(Client, AServerThatIsNotAnHttpUrlIsRefusedWithTheFix) {
  try {
    Client client({.server = "https://example.invalid"});
    ADD_FAILURE() << "an https server was accepted";
  } catch (const ErrorException& e) {
    EXPECT_EQ(e.error().code, Errc::bad_input);
    EXPECT_NE(e.error().detail.find("http://127.0.0.1:8080"), std::string::npos);
  }
}

TEST(Client, CancellingAWatchStopsIt) {
  WqdProcess wqd(open_config());
  ASSERT_NE(wqd.port(), 0);
  Client client({.server = server_of(wqd)});
  auto job = client.enqueue({.task = "hold", .params = {{"ms", 600000}}});
  ASSERT_TRUE(job);
  Seen seen;
  auto watch = client.watch(job->job.id, [&](const Snapshot& s) { seen.add(s); });
  ASSERT_TRUE(seen.wait_for([](const Snapshot&) { return true; }));
  EXPECT_TRUE(watch.cancel());
  EXPECT_TRUE(watch.cancelled());
  auto after = client.cancel(job->job.id);
  ASSERT_TRUE(after) << after.error().detail;
}

}  // namespace
}  // namespace wq::test
