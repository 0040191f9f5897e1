// The job endpoints of DESIGN §6 against a real wqd over loopback: each endpoint and status.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <sched.h>

#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "integration/http_client.hpp"
#include "integration/wqd_process.hpp"

namespace wq::test {
namespace {

namespace json = boost::json;

class JobsApi : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = new WqdProcess("[server]\nopen = true\nmax_body = \"64KiB\"\n" + test_tasks_toml());
    ASSERT_NE(server_->port(), 0) << "wqd did not start";
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }

  static std::string submit_id(HttpClient& c, const std::string& body) {
    Reply r = c.post("/v1/jobs", body);
    EXPECT_TRUE(r.status == 201 || r.status == 200) << r.status << " " << r.body;
    return std::string(r.json().at("id").as_string());
  }

  // Reads the job's event stream to its end and returns the terminal snapshot.
  static json::object finish(const std::string& id) {
    HttpClient c(server_->port());
    EXPECT_EQ(c.open_stream("/v1/jobs/" + id + "/events").status, 200u);
    auto events = c.rest_of_stream();
    EXPECT_FALSE(events.empty());
    return events.empty() ? json::object() : events.back().json().as_object();
  }

  static WqdProcess* server_;
};

WqdProcess* JobsApi::server_ = nullptr;

TEST_F(JobsApi, SubmitCreatesAJobThenTheSameWorkReturnsItWith200) {
  HttpClient c(server_->port());
  Reply first =
      c.post("/v1/jobs", R"({"task":"count","params":{"n":3,"delay":0.01},"key":"same-work"})");
  ASSERT_EQ(first.status, 201u) << first.body;
  const std::string id(first.json().at("id").as_string());
  EXPECT_EQ(first.header("location"), "/v1/jobs/" + std::string(id));
  EXPECT_EQ(first.header("content-type"), "application/json");
  Reply again =
      c.post("/v1/jobs", R"({"task":"count","params":{"n":3,"delay":0.01},"key":"same-work"})");
  ASSERT_EQ(again.status, 200u) << again.body;
  EXPECT_EQ(again.json().at("id").as_string(), id);
}

TEST_F(JobsApi, ThirtyTwoConcurrentSubmittersOfTheSameWorkGetOneJob) {
  const std::string body = R"({"task":"count","params":{"n":20,"delay":0.02},"key":"dedup-32"})";
  std::vector<std::future<Reply>> replies;
  for (int i = 0; i < 32; ++i) {
    replies.push_back(std::async(std::launch::async, [&] {
      HttpClient c(server_->port());
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
  auto terminal = finish(*ids.begin());
  EXPECT_EQ(terminal.at("state").as_string(), "succeeded");
  HttpClient c(server_->port());
  EXPECT_EQ(c.get("/v1/jobs/" + *ids.begin()).json().at("attempt").as_int64(), 1);
}

TEST_F(JobsApi, SubmitAnswersUnknownTaskWith404AndIdConflictWith409) {
  HttpClient c(server_->port());
  Reply unknown = c.post("/v1/jobs", R"({"task":"nope"})");
  EXPECT_EQ(unknown.status, 404u);
  EXPECT_EQ(unknown.header("content-type"), "application/problem+json");
  EXPECT_NE(unknown.json().at("detail").as_string().find("unknown task 'nope'"), std::string::npos);

  ASSERT_EQ(c.post("/v1/jobs", R"({"task":"count","id":"my-job-1","params":{"n":1}})").status,
            201u);
  EXPECT_EQ(c.post("/v1/jobs", R"({"task":"count","id":"my-job-1","params":{"n":1}})").status,
            200u);
  Reply conflict = c.post("/v1/jobs", R"({"task":"count","id":"my-job-1","params":{"n":2}})");
  EXPECT_EQ(conflict.status, 409u) << conflict.body;
}

TEST_F(JobsApi, GetReturnsTheJobAndAnUnknownIdIs404) {
  HttpClient c(server_->port());
  const auto id = submit_id(c, R"({"task":"count","params":{"n":2}})");
  Reply r = c.get("/v1/jobs/" + id);
  ASSERT_EQ(r.status, 200u);
  EXPECT_EQ(r.json().at("task").as_string(), "count");
  EXPECT_TRUE(r.json().as_object().contains("n_ahead_in_queue"));
  Reply missing = c.get("/v1/jobs/no-such-job");
  EXPECT_EQ(missing.status, 404u);
  EXPECT_EQ(missing.json().at("status").as_int64(), 404);
}

// n_ahead_in_queue in the submit and GET answers: the running job plus the queued ones ahead.
TEST(JobsApiQueue, SubmitAndGetAnswerTheQueuePosition) {
  WqdProcess server("concurrency = 1\n[server]\nopen = true\n" + test_tasks_toml());
  ASSERT_NE(server.port(), 0) << "wqd did not start";
  HttpClient c(server.port());
  Reply running = c.post("/v1/jobs", R"({"task":"hold","params":{"ms":600000}})");
  ASSERT_EQ(running.status, 201u) << running.body;
  const std::string running_id(running.json().at("id").as_string());
  Reply first = c.post("/v1/jobs", R"({"task":"hold","params":{"ms":1},"key":"first"})");
  Reply second = c.post("/v1/jobs", R"({"task":"hold","params":{"ms":1},"key":"second"})");
  ASSERT_EQ(second.status, 201u) << second.body;
  EXPECT_EQ(first.json().at("n_ahead_in_queue").as_int64(), 1) << first.body;
  EXPECT_EQ(second.json().at("n_ahead_in_queue").as_int64(), 2) << second.body;
  // A higher priority goes ahead of both: its answer counts only the running job.
  Reply urgent =
      c.post("/v1/jobs", R"({"task":"hold","params":{"ms":1},"key":"urgent","priority":5})");
  ASSERT_EQ(urgent.status, 201u) << urgent.body;
  EXPECT_EQ(urgent.json().at("n_ahead_in_queue").as_int64(), 1) << urgent.body;
  const std::string second_id(second.json().at("id").as_string());
  EXPECT_EQ(c.get("/v1/jobs/" + second_id).json().at("n_ahead_in_queue").as_int64(), 3);
  Reply cancelled = c.post("/v1/jobs/" + second_id + "/cancel", "");
  EXPECT_EQ(cancelled.json().at("n_ahead_in_queue").as_int64(), 0) << cancelled.body;
  c.post("/v1/jobs/" + running_id + "/cancel", "");
}

TEST_F(JobsApi, ListPagesWithACursorAndFiltersByTaskAndState) {
  HttpClient c(server_->port());
  std::set<std::string> mine;
  for (int i = 0; i < 5; ++i) {
    mine.insert(submit_id(
        c, fmt::format(R"({{"task":"hold","params":{{"ms":1}},"key":"page-{}","run_at":{}}})", i,
                       a_day_from_now())));
  }
  std::set<std::string> seen;
  std::string cursor;
  int pages = 0;
  do {
    Reply r = c.get("/v1/jobs?task=hold&state=queued&limit=2" +
                    (cursor.empty() ? "" : "&cursor=" + cursor));
    ASSERT_EQ(r.status, 200u) << r.body;
    const auto body = r.json();
    const auto& jobs = body.at("jobs").as_array();
    EXPECT_LE(jobs.size(), 2u);
    for (const auto& j : jobs) {
      EXPECT_EQ(j.at("task").as_string(), "hold");
      seen.insert(std::string(j.at("id").as_string()));
    }
    const auto& next = body.at("next_cursor");
    cursor = next.is_null() ? "" : std::string(next.as_string());
    ++pages;
  } while (!cursor.empty() && pages < 20);
  for (const auto& id : mine) EXPECT_TRUE(seen.count(id)) << id;
  EXPECT_GE(pages, 3);
  EXPECT_EQ(c.get("/v1/jobs?state=sleeping").status, 400u);
  EXPECT_EQ(c.get("/v1/jobs?limit=0").status, 400u);
  for (const auto& id : mine) c.request(bhttp::verb::delete_, "/v1/jobs/" + id);
}

TEST_F(JobsApi, SearchReturnsManySnapshotsAndNamesTheMissing) {
  HttpClient c(server_->port());
  const auto a = submit_id(c, R"({"task":"count","params":{"n":1},"key":"search-a"})");
  const auto b = submit_id(c, R"({"task":"count","params":{"n":1},"key":"search-b"})");
  Reply r = c.post("/v1/jobs/search", fmt::format(R"({{"ids":["{}","{}","missing-1"]}})", a, b));
  ASSERT_EQ(r.status, 200u) << r.body;
  const auto body = r.json();
  const auto& jobs = body.at("jobs").as_array();
  ASSERT_EQ(jobs.size(), 2u);
  EXPECT_EQ(jobs[0].at("id").as_string(), a);
  EXPECT_TRUE(jobs[0].as_object().contains("seq"));
  EXPECT_EQ(r.json().at("not_found").as_array().size(), 1u);
  EXPECT_EQ(c.post("/v1/jobs/search", R"({"ids":"x"})").status, 400u);
  EXPECT_EQ(c.post("/v1/jobs/search", R"({"ids":[]})").status, 400u);
}

TEST_F(JobsApi, CancelStopsARunningJobAndDeleteCancelsAQueuedOne) {
  HttpClient c(server_->port());
  const auto running = submit_id(c, R"({"task":"hold","params":{"ms":600000}})");
  Reply cancelled = c.post("/v1/jobs/" + running + "/cancel", "");
  ASSERT_EQ(cancelled.status, 200u) << cancelled.body;
  EXPECT_EQ(finish(running).at("state").as_string(), "cancelled");

  const auto queued = submit_id(
      c, fmt::format(R"({{"task":"hold","params":{{"ms":1}},"run_at":{}}})", a_day_from_now()));
  Reply deleted = c.request(bhttp::verb::delete_, "/v1/jobs/" + queued);
  ASSERT_EQ(deleted.status, 200u);
  EXPECT_EQ(deleted.json().at("state").as_string(), "cancelled");
  EXPECT_EQ(c.post("/v1/jobs/nope/cancel", "").status, 404u);
}

TEST_F(JobsApi, ResultIs409UntilSucceededThenTheFileWithItsLength) {
  HttpClient c(server_->port());
  const auto hold = submit_id(c, R"({"task":"hold","params":{"ms":600000}})");
  Reply early = c.get("/v1/jobs/" + hold + "/result");
  EXPECT_EQ(early.status, 409u);
  EXPECT_NE(early.json().at("detail").as_string().find("once it has succeeded"), std::string::npos);
  c.post("/v1/jobs/" + hold + "/cancel", "");

  const auto id = submit_id(c, R"({"task":"count","params":{"n":2},"key":"result-file"})");
  ASSERT_EQ(finish(id).at("state").as_string(), "succeeded");
  Reply r = c.get("/v1/jobs/" + id + "/result");
  ASSERT_EQ(r.status, 200u);
  EXPECT_EQ(r.body, "counted to 2\n");
  EXPECT_EQ(r.header("content-length"), "13");
}

TEST_F(JobsApi, StatusPageShowsProgressAndAnswers304ToItsETag) {
  HttpClient c(server_->port());
  const auto id = submit_id(c, R"({"task":"count","params":{"n":1},"key":"status-page"})");
  finish(id);
  Reply page = c.get("/v1/jobs/" + id + "/status.html");
  ASSERT_EQ(page.status, 200u);
  EXPECT_NE(page.body.find("<progress"), std::string::npos);
  EXPECT_NE(page.body.find("succeeded"), std::string::npos);
  const std::string etag = page.header("etag");
  ASSERT_FALSE(etag.empty());
  Reply same = c.get("/v1/jobs/" + id + "/status.html", {{"If-None-Match", etag}});
  EXPECT_EQ(same.status, 304u);
  EXPECT_TRUE(same.body.empty());
  EXPECT_EQ(c.get("/v1/jobs/" + id + "/status.html", {{"If-None-Match", "\"other\""}}).status,
            200u);
}

TEST_F(JobsApi, TasksHealthReadinessAndMetricsAnswer) {
  HttpClient c(server_->port());
  Reply tasks = c.get("/v1/tasks");
  ASSERT_EQ(tasks.status, 200u);
  std::set<std::string> names;
  const auto body = tasks.json();
  for (const auto& t : body.at("tasks").as_array())
    names.insert(std::string(t.at("name").as_string()));
  EXPECT_EQ(names, (std::set<std::string>{"count", "hold"}));
  EXPECT_EQ(c.get("/healthz").status, 200u);
  EXPECT_EQ(c.get("/readyz").status, 200u);
  Reply metrics = c.get("/metrics");
  ASSERT_EQ(metrics.status, 200u);
  EXPECT_TRUE(metrics.header("content-type").starts_with("text/plain"));
  for (const char* name : {"wq_jobs_submitted_total ", "wq_jobs_deduplicated_total ",
                           "wq_jobs_finished_total{state=\"succeeded\"} ", "wq_http_streams_open ",
                           "wq_jobs_running "}) {
    EXPECT_NE(metrics.body.find(name), std::string::npos) << name;
  }
}

TEST_F(JobsApi, UnknownPathsAre404AndWrongMethods405WithAllow) {
  HttpClient c(server_->port());
  EXPECT_EQ(c.get("/v2/anything").status, 404u);
  Reply r = c.request(bhttp::verb::put, "/v1/jobs", "{}");
  EXPECT_EQ(r.status, 405u);
  EXPECT_NE(r.header("allow").find("POST"), std::string::npos);
}

// The scheduling policy of a thread, field 41 of its /proc stat line.
int policy_of(const std::filesystem::path& stat_file) {
  std::ifstream in(stat_file);
  std::string line((std::istreambuf_iterator<char>(in)), {});
  std::istringstream fields(line.substr(line.rfind(')') + 2));  // field 3 onwards
  std::string field;
  for (int i = 3; i <= 41 && fields >> field; ++i) {
    if (i == 41) return std::stoi(field);
  }
  return -1;
}

// wqd's HTTP threads (its main thread and the "wq-http" ones) run under SCHED_BATCH, as the job
// threads do (src/http/server.hpp says why).
TEST(WqdThreads, HttpThreadsRunUnderTheBatchSchedulingPolicy) {
  WqdProcess wqd("[server]\nopen = true\nthreads = 3\n" + test_tasks_toml());
  ASSERT_NE(wqd.port(), 0) << "wqd did not start";
  HttpClient c(wqd.port());
  EXPECT_EQ(c.get("/healthz").status, 200u);
  // The main thread serves as soon as it listens; the other two may still be starting (each
  // takes its name once under the policy).
  std::map<std::string, int> policies;  // thread id -> policy
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (policies.size() < 3 && std::chrono::steady_clock::now() < deadline) {
    policies.clear();
    for (const auto& task : std::filesystem::directory_iterator(fmt::format("/proc/{}/task", wqd.pid()))) {
      std::string comm;
      std::getline(std::ifstream(task.path() / "comm"), comm);
      const std::string tid = task.path().filename().string();
      if (comm == "wq-http" || tid == std::to_string(wqd.pid())) {
        policies[tid] = policy_of(task.path() / "stat");
      }
    }
    if (policies.size() < 3) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(policies.size(), 3u);
  for (const auto& [tid, policy] : policies) EXPECT_EQ(policy, SCHED_BATCH) << "thread " << tid;
}

}  // namespace
}  // namespace wq::test
