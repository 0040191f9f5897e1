// Several real wqd nodes on one PostgreSQL database (issue 5): every job runs exactly once,
// a killed node's jobs run again elsewhere after its leases expire, streams and cancels cross
// nodes, dedup holds across nodes, and nodes migrating an empty database at once both start.
// Each test takes a fresh database on the private test cluster.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <future>
#include <map>
#include <set>

#include "integration/http_client.hpp"
#include "integration/wqd_process.hpp"
#include "support/pg_cluster.hpp"

namespace wq::test {
namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kGuard = std::chrono::seconds(120);  // hang guard only

// `lease`: short where a test waits for a killed node's leases to expire; long enough
// elsewhere that a loaded machine's late heartbeat does not look like a dead node.
std::string node_config(const std::string& url, int concurrency = 8, const char* lease = "10s") {
  return fmt::format(R"(store = "{}?lease={}"
concurrency = {}
[server]
open = true
[tasks.noop]
command = ["{}", "sleep", "0"]
produces_output = false
[tasks.retrying_hold]
command = ["{}", "sleep", "{{param.ms}}"]
produces_output = false
max_attempts = 3
kill_grace = "200ms"
)",
                     url, lease, concurrency, WQ_TEST_PROGRAM, WQ_TEST_PROGRAM) +
         test_tasks_toml();
}

std::string submit_id(HttpClient& c, const std::string& body, unsigned expect = 201) {
  Reply r = c.post("/v1/jobs", body);
  EXPECT_EQ(r.status, expect) << r.body;
  return std::string(r.json().at("id").as_string());
}

std::string state_of(HttpClient& c, const std::string& id) {
  return std::string(c.get("/v1/jobs/" + id).json().at("state").as_string());
}

// One metric's value from /metrics (the first sample whose line starts with `name`).
double metric(HttpClient& c, const std::string& name) {
  const std::string text = c.get("/metrics").body;
  for (std::size_t at = text.find(name); at != std::string::npos; at = text.find(name, at + 1)) {
    if (at > 0 && text[at - 1] != '\n') continue;
    const auto space = text.find(' ', at);
    return std::stod(text.substr(space + 1, text.find('\n', space) - space - 1));
  }
  return 0;
}

// Waits until no job is queued or running (as any node sees it).
void wait_all_finished(HttpClient& c) {
  const auto deadline = Clock::now() + kGuard;
  while (Clock::now() < deadline) {
    const bool queued = !c.get("/v1/jobs?state=queued&limit=1").json().at("jobs").as_array().empty();
    const bool running = !c.get("/v1/jobs?state=running&limit=1").json().at("jobs").as_array().empty();
    if (!queued && !running) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ADD_FAILURE() << "jobs still unfinished after the hang guard";
}

// All jobs in `state`, by id, with their attempt counts.
std::map<std::string, std::int64_t> jobs_in(HttpClient& c, const std::string& state) {
  std::map<std::string, std::int64_t> out;
  std::string cursor;
  for (;;) {
    auto page = c.get("/v1/jobs?state=" + state + "&limit=1000" +
                      (cursor.empty() ? "" : "&cursor=" + cursor)).json();
    for (const auto& j : page.at("jobs").as_array()) {
      out[std::string(j.at("id").as_string())] = j.at("attempt").as_int64();
    }
    if (page.at("next_cursor").is_null()) return out;
    cursor = std::string(page.at("next_cursor").as_string());
  }
}

class MultiNode : public ::testing::Test {
 protected:
  void start_nodes(int n, int concurrency = 8, const char* lease = "10s") {
    for (int i = 0; i < n; ++i) {
      nodes.push_back(std::make_unique<WqdProcess>(node_config(db.url(), concurrency, lease)));
      ASSERT_NE(nodes.back()->port(), 0) << "wqd node " << i << " did not start";
    }
  }
  TestDatabase db;
  std::vector<std::unique_ptr<WqdProcess>> nodes;
};

TEST_F(MultiNode, ThreeNodesRunEveryJobOfARoundRobinSubmitExactlyOnce) {
  start_nodes(3);
  constexpr int kJobs = 5000, kSubmitters = 6;
  std::vector<std::future<std::vector<std::string>>> parts;
  for (int s = 0; s < kSubmitters; ++s) {
    parts.push_back(std::async(std::launch::async, [&, s] {
      std::vector<std::string> ids;
      std::vector<std::unique_ptr<HttpClient>> clients;
      for (auto& n : nodes) clients.push_back(std::make_unique<HttpClient>(n->port()));
      for (int i = s; i < kJobs; i += kSubmitters) {
        ids.push_back(submit_id(*clients[i % clients.size()],
                                fmt::format(R"({{"task":"noop","key":"job-{}"}})", i)));
      }
      return ids;
    }));
  }
  std::set<std::string> submitted;
  for (auto& p : parts) {
    for (auto& id : p.get()) submitted.insert(id);
  }
  ASSERT_EQ(submitted.size(), static_cast<std::size_t>(kJobs));
  HttpClient c(nodes[0]->port());
  wait_all_finished(c);
  auto succeeded = jobs_in(c, "succeeded");
  EXPECT_EQ(succeeded.size(), static_cast<std::size_t>(kJobs));
  for (const auto& [id, attempt] : jobs_in(c, "failed")) {
    ADD_FAILURE() << id << " failed: " << c.get("/v1/jobs/" + id).body;
  }
  for (const auto& [id, attempt] : succeeded) {
    EXPECT_TRUE(submitted.contains(id)) << id;
    EXPECT_EQ(attempt, 1) << id;
  }
  // Each node counts the attempts it started and finished: together, one per job.
  double started = 0, finished = 0, ran_here = 0;
  for (auto& n : nodes) {
    HttpClient m(n->port());
    const double s = metric(m, "wq_jobs_started_total");
    started += s;
    finished += metric(m, "wq_jobs_finished_total{state=\"succeeded\"}");
    ran_here += s > 0;
  }
  EXPECT_EQ(started, kJobs);
  EXPECT_EQ(finished, kJobs);
  EXPECT_EQ(ran_here, 3) << "every node took part";
}

TEST_F(MultiNode, KilledNodesJobsRunAgainElsewhereAndEveryJobEndsOnce) {
  start_nodes(3, 4, "1s");
  std::vector<std::string> ids;
  {
    std::vector<std::unique_ptr<HttpClient>> clients;
    for (auto& n : nodes) clients.push_back(std::make_unique<HttpClient>(n->port()));
    for (int i = 0; i < 30; ++i) {
      ids.push_back(submit_id(*clients[i % 3],
                              fmt::format(R"({{"task":"retrying_hold","params":{{"ms":400}},"key":"k{}"}})", i)));
    }
  }
  // Wait until the victim runs something, then kill -9 it (its children die with it).
  {
    HttpClient victim(nodes[2]->port());
    const auto deadline = Clock::now() + kGuard;
    while (metric(victim, "wq_jobs_running") == 0 && Clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ASSERT_GT(metric(victim, "wq_jobs_running"), 0);
  }
  nodes[2].reset();
  HttpClient c(nodes[0]->port());
  wait_all_finished(c);
  auto succeeded = jobs_in(c, "succeeded");
  int rerun = 0;
  for (const auto& id : ids) {
    ASSERT_TRUE(succeeded.contains(id)) << id << " is " << state_of(c, id);
    rerun += succeeded[id] > 1;
  }
  EXPECT_GT(rerun, 0) << "the killed node's running jobs ran again elsewhere";
  for (auto& n : nodes) {
    if (!n) continue;
    bool recovered = false;
    for (const auto& line : n->log_lines()) recovered |= line.find("queued again") != std::string::npos;
    if (recovered) return;
  }
  ADD_FAILURE() << "no surviving node logged recovering the killed node's jobs";
}

TEST_F(MultiNode, AStreamOnOneNodeFollowsAJobRunningOnAnotherAndResumesOnAThird) {
  start_nodes(3);
  HttpClient b(nodes[1]->port());
  const auto id = submit_id(b, R"({"task":"count","params":{"n":15,"delay":0.05}})");
  HttpClient a(nodes[0]->port());
  Reply head = a.open_stream("/v1/jobs/" + id + "/events");
  ASSERT_EQ(head.status, 200u);
  auto events = a.rest_of_stream();
  ASSERT_FALSE(events.empty());
  std::uint64_t last = 0;
  int progress = 0;
  for (const auto& e : events) {
    ASSERT_TRUE(e.id);
    EXPECT_GT(*e.id, last);
    last = *e.id;
    const double f = e.json().at("fraction").to_number<double>();
    progress += f > 0 && f < 1;
  }
  EXPECT_GT(progress, 0) << "progress of the job on node B reached node A";
  EXPECT_EQ(events.back().json().at("state").as_string(), "succeeded");
  // Any node serves the result (kept in the database as a large object).
  HttpClient a2(nodes[0]->port());
  Reply result = a2.get("/v1/jobs/" + id + "/result");
  EXPECT_EQ(result.status, 200u);
  EXPECT_EQ(result.body, "counted to 15\n");
  // Resume on node C after a snapshot seen on A: only later ones, ending with the terminal.
  const std::uint64_t after = *events[events.size() / 2].id;
  HttpClient cc(nodes[2]->port());
  ASSERT_EQ(cc.open_stream(fmt::format("/v1/jobs/{}/events?after={}", id, after)).status, 200u);
  auto resumed = cc.rest_of_stream();
  ASSERT_FALSE(resumed.empty());
  for (const auto& e : resumed) EXPECT_GT(*e.id, after);
  EXPECT_EQ(resumed.back().json().at("state").as_string(), "succeeded");
  EXPECT_EQ(*resumed.back().id, *events.back().id);
}

TEST_F(MultiNode, ACancelOnOneNodeStopsTheJobRunningOnAnother) {
  start_nodes(2);
  HttpClient b(nodes[1]->port());
  const auto id = submit_id(b, R"({"task":"hold","params":{"ms":60000}})");
  HttpClient a(nodes[0]->port());
  ASSERT_EQ(a.open_stream("/v1/jobs/" + id + "/events").status, 200u);
  for (auto e = a.next_event(); e; e = a.next_event()) {
    if (e->json().at("state").as_string() == "running") break;
  }
  HttpClient a2(nodes[0]->port());
  Reply r = a2.post("/v1/jobs/" + id + "/cancel", "");
  ASSERT_EQ(r.status, 200u) << r.body;
  auto rest = a.rest_of_stream();
  ASSERT_FALSE(rest.empty());
  EXPECT_EQ(rest.back().json().at("state").as_string(), "cancelled");
  EXPECT_EQ(state_of(b, id), "cancelled");
}

TEST_F(MultiNode, SixteenSubmittersOnEachOfThreeNodesStartOneRun) {
  start_nodes(3);
  const std::string body = R"({"task":"count","params":{"n":5,"delay":0.02},"key":"one-run"})";
  std::vector<std::future<Reply>> replies;
  for (int i = 0; i < 48; ++i) {
    replies.push_back(std::async(std::launch::async, [&, i] {
      HttpClient c(nodes[i % 3]->port());
      return c.post("/v1/jobs", body);
    }));
  }
  std::set<std::string> ids;
  int created = 0;
  for (auto& f : replies) {
    Reply r = f.get();
    ASSERT_TRUE(r.status == 201 || r.status == 200) << r.status << " " << r.body;
    created += r.status == 201;
    ids.insert(std::string(r.json().at("id").as_string()));
  }
  EXPECT_EQ(created, 1);
  ASSERT_EQ(ids.size(), 1u);
  HttpClient c(nodes[0]->port());
  wait_all_finished(c);
  auto job = c.get("/v1/jobs/" + *ids.begin()).json();
  EXPECT_EQ(job.at("state").as_string(), "succeeded");
  EXPECT_EQ(job.at("attempt").as_int64(), 1);
}

TEST_F(MultiNode, TwoNodesMigratingAnEmptyDatabaseAtOnceBothStart) {
  auto start = [&] { return std::make_unique<WqdProcess>(node_config(db.url())); };
  auto first = std::async(std::launch::async, start);
  auto second = std::async(std::launch::async, start);
  nodes.push_back(first.get());
  nodes.push_back(second.get());
  for (auto& n : nodes) ASSERT_NE(n->port(), 0) << "a node failed to start";
  HttpClient a(nodes[0]->port());
  const auto id = submit_id(a, R"({"task":"count","params":{"n":1}})");
  HttpClient b(nodes[1]->port());
  EXPECT_EQ(b.get("/v1/jobs/" + id).status, 200u);
}

}  // namespace
}  // namespace wq::test
