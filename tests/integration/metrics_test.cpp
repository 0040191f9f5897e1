// GET /metrics against a real wqd: the exposition is well formed (every sample under a
// # TYPE, histograms cumulative and closed by +Inf, _count equal to it), and the figures move
// as jobs run: submits, dedup hits, finished jobs, run-time histograms per task, running jobs,
// open streams, store commits and their latency histogram.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <map>
#include <set>
#include <sstream>

#include "integration/http_client.hpp"
#include "integration/wqd_process.hpp"

namespace wq::test {
namespace {

// Samples by their full name with labels as written, e.g. `wq_jobs_finished_total{state="failed"}`.
struct Exposition {
  std::map<std::string, double> samples;
  std::map<std::string, std::string> types;  // family -> counter | gauge | histogram
  std::vector<std::string> order;            // sample keys in the order written

  double at(const std::string& key) const {
    auto it = samples.find(key);
    if (it == samples.end()) throw std::out_of_range("no sample " + key);
    return it->second;
  }
  bool has(const std::string& key) const { return samples.contains(key); }
};

// Parses the text format and checks its rules as it goes (ADD_FAILURE on each breach).
Exposition parse_exposition(const std::string& text) {
  Exposition e;
  std::istringstream in(text);
  std::string line;
  std::set<std::string> helped;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    if (line.starts_with("# HELP ")) {
      helped.insert(line.substr(7, line.find(' ', 7) - 7));
      continue;
    }
    if (line.starts_with("# TYPE ")) {
      std::istringstream words(line.substr(7));
      std::string name, type;
      words >> name >> type;
      EXPECT_TRUE(type == "counter" || type == "gauge" || type == "histogram") << line;
      EXPECT_FALSE(e.types.contains(name)) << "family declared twice: " << name;
      e.types[name] = type;
      continue;
    }
    const auto space = line.rfind(' ');
    if (space == std::string::npos) {
      ADD_FAILURE() << "not a sample line: " << line;
      continue;
    }
    const std::string key = line.substr(0, space);
    const double value = std::stod(line.substr(space + 1));
    EXPECT_FALSE(e.samples.contains(key)) << "sample written twice: " << key;
    e.samples[key] = value;
    e.order.push_back(key);
    std::string_view family = std::string_view(key).substr(0, key.find('{'));
    for (std::string_view suffix : {"_bucket", "_sum", "_count"}) {
      if (family.ends_with(suffix) && !e.types.contains(std::string(family))) {
        family.remove_suffix(suffix.size());
      }
    }
    EXPECT_TRUE(e.types.contains(std::string(family))) << "sample without # TYPE: " << key;
    EXPECT_TRUE(helped.contains(std::string(family))) << "sample without # HELP: " << key;
  }
  return e;
}

// Checks one histogram series: buckets in increasing le, cumulative, ending in +Inf, which
// equals _count. `labels` is the series' other labels with a trailing comma ("" for none).
// Returns its _count.
double check_histogram(const Exposition& e, const std::string& name, const std::string& labels) {
  const std::string prefix = name + "_bucket{" + labels + "le=\"";
  double last_le = -1, last_count = 0;
  bool saw_inf = false;
  for (const auto& key : e.order) {
    if (!key.starts_with(prefix)) continue;
    EXPECT_FALSE(saw_inf) << "bucket after +Inf: " << key;
    const std::string le = key.substr(prefix.size(), key.size() - prefix.size() - 2);
    const double count = e.at(key);
    EXPECT_GE(count, last_count) << "buckets must be cumulative: " << key;
    last_count = count;
    if (le == "+Inf") {
      saw_inf = true;
    } else {
      const double bound = std::stod(le);
      EXPECT_GT(bound, last_le) << key;
      last_le = bound;
    }
  }
  EXPECT_TRUE(saw_inf) << name << "{" << labels << "} has no +Inf bucket";
  const std::string series = labels.empty() ? "" : "{" + labels.substr(0, labels.size() - 1) + "}";
  EXPECT_EQ(e.at(name + "_count" + series), last_count) << name << series;
  EXPECT_TRUE(e.has(name + "_sum" + series)) << name << series;
  return last_count;
}

class Metrics : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<WqdProcess>("[server]\nopen = true\n" + test_tasks_toml());
    ASSERT_NE(server_->port(), 0) << "wqd did not start";
    api_ = std::make_unique<HttpClient>(server_->port());
  }

  Exposition scrape() {
    Reply r = api_->get("/metrics");
    EXPECT_EQ(r.status, 200u);
    EXPECT_EQ(r.header("content-type"), "text/plain; version=0.0.4; charset=utf-8");
    return parse_exposition(r.body);
  }

  std::string submit(const std::string& body, unsigned want = 201) {
    Reply r = api_->post("/v1/jobs", body);
    EXPECT_EQ(r.status, want) << r.body;
    return std::string(r.json().at("id").as_string());
  }

  // Reads the job's event stream until its terminal snapshot; returns that snapshot's state.
  std::string wait_terminal(const std::string& id) {
    HttpClient c(server_->port());
    Reply head = c.open_stream("/v1/jobs/" + id + "/events");
    if (head.status == 204) return std::string(c.get("/v1/jobs/" + id).json().at("state").as_string());
    EXPECT_EQ(head.status, 200u);
    auto events = c.rest_of_stream();
    EXPECT_FALSE(events.empty());
    return events.empty() ? "" : std::string(events.back().json().at("state").as_string());
  }

  std::unique_ptr<WqdProcess> server_;
  std::unique_ptr<HttpClient> api_;
};

TEST_F(Metrics, ExpositionIsWellFormedBeforeAnyJob) {
  const Exposition e = scrape();
  EXPECT_EQ(e.types.at("wq_jobs_submitted_total"), "counter");
  EXPECT_EQ(e.types.at("wq_jobs_deduplicated_total"), "counter");
  EXPECT_EQ(e.types.at("wq_jobs_running"), "gauge");
  EXPECT_EQ(e.types.at("wq_http_streams_open"), "gauge");
  EXPECT_EQ(e.types.at("wq_job_run_seconds"), "histogram");
  EXPECT_EQ(e.types.at("wq_store_commit_seconds"), "histogram");
  EXPECT_EQ(e.at("wq_jobs_submitted_total"), 0);
  EXPECT_EQ(e.at("wq_jobs_running"), 0);
  check_histogram(e, "wq_store_commit_seconds", "");
}

TEST_F(Metrics, CountersAndHistogramsMoveAsJobsRun) {
  const Exposition before = scrape();
  const double commits_before = before.at("wq_store_commits_total");

  const std::string a = submit(R"({"task":"count","params":{"n":3,"delay":0.01}})");
  const std::string b = submit(R"({"task":"count","params":{"n":4,"delay":0.01}})");
  const std::string c = submit(R"({"task":"hold","params":{"ms":10}})");
  // The same spec again while (or after) it runs: a dedup hit, not a new job.
  const std::string a_again = submit(R"({"task":"count","params":{"n":3,"delay":0.01}})", 200);
  EXPECT_EQ(a_again, a);
  EXPECT_EQ(wait_terminal(a), "succeeded");
  EXPECT_EQ(wait_terminal(b), "succeeded");
  EXPECT_EQ(wait_terminal(c), "succeeded");

  const Exposition after = scrape();
  EXPECT_EQ(after.at("wq_jobs_submitted_total"), 3);
  EXPECT_EQ(after.at("wq_jobs_deduplicated_total"), 1);
  EXPECT_EQ(after.at("wq_jobs_finished_total{state=\"succeeded\"}"), 3);
  EXPECT_EQ(after.at("wq_jobs_running"), 0);

  EXPECT_EQ(check_histogram(after, "wq_job_run_seconds", "task=\"count\","), 2);
  EXPECT_EQ(check_histogram(after, "wq_job_run_seconds", "task=\"hold\","), 1);
  // count.sh sleeps 0.01 s per step: each run took at least 0.03 s.
  EXPECT_GE(after.at("wq_job_run_seconds_sum{task=\"count\"}"), 0.06);
  EXPECT_EQ(after.at("wq_job_run_seconds_bucket{task=\"count\",le=\"0.01\"}"), 0);

  // Three submits and three outcomes were committed, some possibly together.
  const double commits = after.at("wq_store_commits_total");
  EXPECT_GT(commits, commits_before);
  EXPECT_GE(after.at("wq_store_writes_total"), 6);
  // A scrape reads the commit count before the buckets, so a commit landing in between shows
  // in the buckets only.
  EXPECT_GE(check_histogram(after, "wq_store_commit_seconds", ""), commits);
  EXPECT_GT(after.at("wq_store_commit_seconds_sum"), 0);
}

TEST_F(Metrics, RunningJobsAndOpenStreamsAreGauges) {
  const std::string id = submit(R"({"task":"hold","params":{"ms":120000}})");
  HttpClient watcher(server_->port());
  Reply head = watcher.open_stream("/v1/jobs/" + id + "/events");
  ASSERT_EQ(head.status, 200u);
  // Read until the job is seen running.
  for (;;) {
    auto event = watcher.next_event();
    ASSERT_TRUE(event) << "the stream ended before the job ran";
    if (event->json().at("state").as_string() == "running") break;
  }
  const Exposition during = scrape();
  EXPECT_EQ(during.at("wq_jobs_running"), 1);
  EXPECT_EQ(during.at("wq_http_streams_open"), 1);
  EXPECT_GE(during.at("wq_watchers"), 1);

  ASSERT_EQ(api_->post("/v1/jobs/" + id + "/cancel", "").status, 200u);
  auto rest = watcher.rest_of_stream();
  ASSERT_FALSE(rest.empty());
  EXPECT_EQ(rest.back().json().at("state").as_string(), "cancelled");
  const Exposition after = scrape();
  EXPECT_EQ(after.at("wq_jobs_running"), 0);
  EXPECT_EQ(after.at("wq_jobs_finished_total{state=\"cancelled\"}"), 1);
  EXPECT_EQ(check_histogram(after, "wq_job_run_seconds", "task=\"hold\","), 1);
}

}  // namespace
}  // namespace wq::test
