// GET /v1/jobs/{id} answers finished jobs from a cache (src/http/finished_job_cache.hpp). These
// tests hold it to the rule that a GET after a change never returns the old state: state
// changes, the sweeper dropping a result and removing a job, and another tenant asking.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "integration/http_client.hpp"
#include "integration/wqd_process.hpp"

namespace wq::test {
namespace {

namespace json = boost::json;

std::string submit_id(HttpClient& c, const std::string& body) {
  Reply r = c.post("/v1/jobs", body);
  EXPECT_TRUE(r.status == 201 || r.status == 200) << r.status << " " << r.body;
  return std::string(r.json().at("id").as_string());
}

// Follows the job's event stream to its terminal snapshot and returns its state.
std::string finish(unsigned short port, const std::string& id, const Headers& headers = {}) {
  HttpClient c(port);
  EXPECT_EQ(c.open_stream("/v1/jobs/" + id + "/events", headers).status, 200u);
  auto events = c.rest_of_stream();
  return events.empty() ? "" : std::string(events.back().json().at("state").as_string());
}

std::string state_of(const Reply& r) { return std::string(r.json().at("state").as_string()); }

TEST(FinishedJobs, AGetAfterEachStateChangeShowsTheNewState) {
  WqdProcess server("[server]\nopen = true\n" + test_tasks_toml());
  ASSERT_NE(server.port(), 0) << "wqd did not start";
  HttpClient c(server.port());

  const auto queued = submit_id(
      c, fmt::format(R"({{"task":"hold","params":{{"ms":1}},"run_at":{}}})", a_day_from_now()));
  EXPECT_EQ(state_of(c.get("/v1/jobs/" + queued)), "queued");
  ASSERT_EQ(c.request(bhttp::verb::delete_, "/v1/jobs/" + queued).status, 200u);
  EXPECT_EQ(state_of(c.get("/v1/jobs/" + queued)), "cancelled");

  const auto held = submit_id(c, R"({"task":"hold","params":{"ms":600000}})");
  const auto before = state_of(c.get("/v1/jobs/" + held));
  EXPECT_TRUE(before == "queued" || before == "running") << before;
  ASSERT_EQ(c.post("/v1/jobs/" + held + "/cancel", "").status, 200u);
  ASSERT_EQ(finish(server.port(), held), "cancelled");
  for (int i = 0; i < 3; ++i) {  // the first read fills the cache, the others come from it
    Reply r = c.get("/v1/jobs/" + held);
    ASSERT_EQ(r.status, 200u) << r.body;
    EXPECT_EQ(state_of(r), "cancelled");
    EXPECT_EQ(r.json().at("n_ahead_in_queue").as_int64(), 0);
  }

  const auto counted = submit_id(c, R"({"task":"count","params":{"n":2}})");
  ASSERT_EQ(finish(server.port(), counted), "succeeded");
  const Reply first = c.get("/v1/jobs/" + counted);
  const Reply again = c.get("/v1/jobs/" + counted);
  EXPECT_EQ(state_of(first), "succeeded");
  EXPECT_EQ(again.body, first.body);
  EXPECT_EQ(again.header("content-type"), "application/json");
}

// Polls GET /v1/jobs/{id} (the sweeper runs on a clock; nothing signals it) until `done` says
// the answer shows the change, for at most a minute; returns the answers seen.
std::vector<Reply> poll_until(HttpClient& c, const std::string& id,
                              const std::function<bool(const Reply&)>& done) {
  std::vector<Reply> seen;
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::minutes(1);
  while (std::chrono::steady_clock::now() < give_up) {
    seen.push_back(c.get("/v1/jobs/" + id));
    if (done(seen.back())) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return seen;
}

// A result that expires turns result_size to null, and a job past finished_job_ttl is removed
// (404): once either shows, no later GET may show the job as it was. A cache that kept its
// first answer would never show either, and this would fail.
TEST(FinishedJobs, WhatTheSweeperChangesIsSeenAndNeverUndone) {
  WqdProcess server(fmt::format(R"(finished_job_ttl = "3s"
sweep_interval = "50ms"
[server]
open = true
[tasks.expiring]
command = ["{}/tasks/count.sh", "1", "0", "{{output}}"]
result_ttl = "1s"
)",
                                WQ_EXAMPLES_DIR));
  ASSERT_NE(server.port(), 0) << "wqd did not start";
  HttpClient c(server.port());
  const auto id = submit_id(c, R"({"task":"expiring"})");
  ASSERT_EQ(finish(server.port(), id), "succeeded");

  auto expired = poll_until(c, id, [](const Reply& r) {
    return r.status == 404 || r.json().at("result_size").is_null();
  });
  ASSERT_FALSE(expired.empty());
  const Reply& last = expired.back();
  ASSERT_TRUE(last.status == 404 || last.json().at("result_size").is_null())
      << "the expired result still shows after a minute: " << last.body;
  if (last.status == 200) {
    for (int i = 0; i < 3; ++i) {
      Reply r = c.get("/v1/jobs/" + id);
      EXPECT_TRUE(r.status == 404 || r.json().at("result_size").is_null()) << r.body;
    }
  }

  auto removed = poll_until(c, id, [](const Reply& r) { return r.status == 404; });
  ASSERT_EQ(removed.back().status, 404u) << "the removed job still shows after a minute";
  for (int i = 0; i < 3; ++i) EXPECT_EQ(c.get("/v1/jobs/" + id).status, 404u);
}

TEST(FinishedJobs, AnotherTenantNeverGetsAFinishedJobThatItsOwnerRead) {
  const std::string token_a = "token-a-finished-9d1", token_b = "token-b-finished-41e";
  WqdProcess server(fmt::format(R"([server]
tokens = [{{ sha256 = "{}", tenant = "acme" }}, {{ sha256 = "{}", tenant = "globex" }}]
)",
                                sha256_of(token_a), sha256_of(token_b)) +
                    test_tasks_toml());
  ASSERT_NE(server.port(), 0) << "wqd did not start";
  const Headers a = {{"Authorization", "Bearer " + token_a}};
  const Headers b = {{"Authorization", "Bearer " + token_b}};
  HttpClient c(server.port());
  Reply submitted = c.post("/v1/jobs", R"({"task":"count","params":{"n":1}})", a);
  ASSERT_EQ(submitted.status, 201u) << submitted.body;
  const std::string id(submitted.json().at("id").as_string());
  ASSERT_EQ(finish(server.port(), id, a), "succeeded");
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(c.get("/v1/jobs/" + id, a).status, 200u);
    EXPECT_EQ(c.get("/v1/jobs/" + id, b).status, 404u);
  }
}

}  // namespace
}  // namespace wq::test
