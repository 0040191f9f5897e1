// Graceful shutdown: SIGTERM stops accepting, lets running jobs finish within the grace period
// while their streams keep reporting, ends streams of unfinished jobs with a final event, and
// exits 0.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <boost/json.hpp>
#include <thread>

#include "integration/http_client.hpp"
#include "integration/wqd_process.hpp"

namespace wq::test {
namespace {

std::string submit(HttpClient& c, const std::string& body) {
  Reply r = c.post("/v1/jobs", body);
  EXPECT_EQ(r.status, 201u) << r.body;
  return std::string(r.json().at("id").as_string());
}

TEST(Shutdown, AJobThatFinishesWithinTheGraceReachesItsStreamThenWqdExitsZero) {
  WqdProcess wqd("[server]\nopen = true\nshutdown_grace = \"120s\"\n" + test_tasks_toml());
  ASSERT_NE(wqd.port(), 0);
  HttpClient c(wqd.port());
  const auto id = submit(c, R"({"task":"count","params":{"n":40,"delay":0.02}})");
  HttpClient stream(wqd.port());
  ASSERT_EQ(
      stream.open_stream("/v1/jobs/" + id + "/events", {{"Accept", "application/x-ndjson"}}).status,
      200u);
  // Read until the job runs: a job still queued at SIGTERM is not started during the drain.
  for (;;) {
    auto e = stream.next_event();
    ASSERT_TRUE(e);
    if (e->json().at("state").as_string() != "queued") break;
  }
  std::thread term([&] { wqd.terminate(); });
  auto rest = stream.rest_of_stream();
  term.join();
  ASSERT_FALSE(rest.empty());
  EXPECT_EQ(rest.back().json().at("state").as_string(), "succeeded");
  EXPECT_EQ(wqd.wait_exit(), 0);
}

TEST(Shutdown, StreamsOfJobsStillRunningAfterTheGraceEndWithAFinalEvent) {
  WqdProcess wqd("[server]\nopen = true\nshutdown_grace = \"100ms\"\n" + test_tasks_toml());
  ASSERT_NE(wqd.port(), 0);
  HttpClient c(wqd.port());
  const auto id = submit(c, R"({"task":"hold","params":{"ms":600000}})");
  HttpClient sse(wqd.port());
  ASSERT_EQ(sse.open_stream("/v1/jobs/" + id + "/events").status, 200u);
  // Read until the job runs, so the grace period has a running job to wait for.
  for (;;) {
    auto e = sse.next_event();
    ASSERT_TRUE(e);
    if (e->json().at("state").as_string() == "running") break;
  }
  EXPECT_EQ(wqd.terminate(), 0);
  auto rest = sse.rest_of_stream();
  ASSERT_FALSE(rest.empty());
  const auto& last = rest.back();
  const bool shutdown_event = last.event == "shutdown";
  const bool terminal = !shutdown_event && last.json().at("state").as_string() != "running";
  EXPECT_TRUE(shutdown_event || terminal) << last.data;
  if (shutdown_event) {
    EXPECT_NE(last.data.find("Last-Event-ID"), std::string::npos);
  }
  // A stopped server accepts nothing.
  EXPECT_THROW(HttpClient(wqd.port()), boost::system::system_error);
}

TEST(Shutdown, IdleKeepAliveConnectionsAreClosedOnShutdown) {
  WqdProcess wqd("[server]\nopen = true\n" + test_tasks_toml());
  ASSERT_NE(wqd.port(), 0);
  HttpClient idle(wqd.port());
  ASSERT_EQ(idle.get("/healthz").status, 200u);
  EXPECT_EQ(wqd.terminate(), 0);
  EXPECT_TRUE(idle.closed_by_server());
}

}  // namespace
}  // namespace wq::test
