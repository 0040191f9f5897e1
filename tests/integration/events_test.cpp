// Live progress over HTTP: SSE and NDJSON streams, resume with Last-Event-ID, long-poll wait.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <future>

#include "integration/http_client.hpp"
#include "integration/wqd_process.hpp"

namespace wq::test {
namespace {

class Events : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = new WqdProcess("[server]\nopen = true\nmax_streams = 50\n" + test_tasks_toml());
    ASSERT_NE(server_->port(), 0) << "wqd did not start";
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  static std::string submit(const std::string& body) {
    HttpClient c(server_->port());
    Reply r = c.post("/v1/jobs", body);
    EXPECT_EQ(r.status, 201u) << r.body;
    return std::string(r.json().at("id").as_string());
  }
  static WqdProcess* server_;
};

WqdProcess* Events::server_ = nullptr;

TEST_F(Events, SseStreamSendsIncreasingSeqsAndEndsWithTheTerminalSnapshot) {
  const auto id = submit(R"({"task":"count","params":{"n":10,"delay":0.02}})");
  HttpClient c(server_->port());
  Reply head = c.open_stream("/v1/jobs/" + id + "/events");
  ASSERT_EQ(head.status, 200u);
  EXPECT_EQ(head.header("content-type"), "text/event-stream");
  auto events = c.rest_of_stream();
  ASSERT_FALSE(events.empty());
  std::uint64_t last = 0;
  for (const auto& e : events) {
    ASSERT_TRUE(e.id) << e.data;
    EXPECT_GT(*e.id, last);
    EXPECT_EQ(e.json().at("seq").to_number<std::uint64_t>(), *e.id);
    last = *e.id;
  }
  const auto terminal = events.back().json();
  EXPECT_EQ(terminal.at("state").as_string(), "succeeded");
  EXPECT_EQ(terminal.at("returncode").as_int64(), 0);
  EXPECT_TRUE(terminal.at("error").is_null());
  EXPECT_EQ(terminal.at("fraction").to_number<double>(), 1.0);
  // The connection stays usable after a finished stream.
  EXPECT_EQ(c.get("/healthz").status, 200u);
}

TEST_F(Events, NdjsonStreamIsChosenByAccept) {
  const auto id = submit(R"({"task":"count","params":{"n":3,"delay":0.01}})");
  HttpClient c(server_->port());
  Reply head = c.open_stream("/v1/jobs/" + id + "/events", {{"Accept", "application/x-ndjson"}});
  ASSERT_EQ(head.status, 200u);
  EXPECT_EQ(head.header("content-type"), "application/x-ndjson");
  auto lines = c.rest_of_stream();
  ASSERT_FALSE(lines.empty());
  for (const auto& l : lines) EXPECT_EQ(l.json().at("id").as_string(), id);
  EXPECT_EQ(lines.back().json().at("state").as_string(), "succeeded");
}

TEST_F(Events, ReconnectingWithLastEventIdResumesAfterIt) {
  const auto id = submit(R"({"task":"count","params":{"n":30,"delay":0.02}})");
  std::uint64_t seen = 0;
  {
    HttpClient c(server_->port());
    ASSERT_EQ(c.open_stream("/v1/jobs/" + id + "/events").status, 200u);
    auto first = c.next_event();
    ASSERT_TRUE(first && first->id);
    seen = *first->id;
  }  // disconnects mid-stream
  for (const char* accept : {"text/event-stream", "application/x-ndjson"}) {
    HttpClient c(server_->port());
    ASSERT_EQ(c.open_stream("/v1/jobs/" + id + "/events",
                            {{"Last-Event-ID", std::to_string(seen)}, {"Accept", accept}})
                  .status,
              200u);
    auto rest = c.rest_of_stream();
    ASSERT_FALSE(rest.empty());
    EXPECT_GT(rest.front().json().at("seq").to_number<std::uint64_t>(), seen);
    EXPECT_EQ(rest.back().json().at("state").as_string(), "succeeded");
  }
}

TEST_F(Events, AStreamAfterTheTerminalSeqIs204) {
  const auto id = submit(R"({"task":"count","params":{"n":1}})");
  HttpClient c(server_->port());
  c.open_stream("/v1/jobs/" + id + "/events");
  auto events = c.rest_of_stream();
  ASSERT_FALSE(events.empty());
  const auto last = *events.back().id;
  Reply r = c.open_stream("/v1/jobs/" + id + "/events?after=" + std::to_string(last));
  EXPECT_EQ(r.status, 204u);
  EXPECT_EQ(c.open_stream("/v1/jobs/missing/events").status, 404u);
  EXPECT_EQ(c.open_stream("/v1/jobs/" + id + "/events", {{"Last-Event-ID", "soon"}}).status, 400u);
}

TEST_F(Events, WaitReturnsTheNextSnapshotOr204WhenNothingChanged) {
  const auto id = submit(R"({"task":"hold","params":{"ms":600000}})");
  HttpClient c(server_->port());
  Reply now = c.get("/v1/jobs/" + id + "/wait?after=0");
  ASSERT_EQ(now.status, 200u) << now.body;
  // Wait for the job to run, so its seq no longer moves on its own.
  std::uint64_t seq = now.json().at("seq").to_number<std::uint64_t>();
  while (now.json().at("state").as_string() != "running") {
    now = c.get("/v1/jobs/" + id + "/wait?after=" + std::to_string(seq) + "&timeout=30");
    ASSERT_EQ(now.status, 200u);
    seq = now.json().at("seq").to_number<std::uint64_t>();
  }
  Reply unchanged = c.get("/v1/jobs/" + id + "/wait?after=" + std::to_string(seq) + "&timeout=1");
  EXPECT_EQ(unchanged.status, 204u);

  auto waiting = std::async(std::launch::async, [&] {
    HttpClient w(server_->port());
    return w.get("/v1/jobs/" + id + "/wait?after=" + std::to_string(seq) + "&timeout=120");
  });
  ASSERT_EQ(c.post("/v1/jobs/" + id + "/cancel", "").status, 200u);
  Reply woken = waiting.get();
  ASSERT_EQ(woken.status, 200u);
  EXPECT_GT(woken.json().at("seq").to_number<std::uint64_t>(), seq);
  // A finished job answers at once with its terminal snapshot.
  Reply done = c.get("/v1/jobs/" + id + "/wait?after=999999&timeout=120");
  ASSERT_EQ(done.status, 200u);
  EXPECT_EQ(done.json().at("state").as_string(), "cancelled");
  EXPECT_EQ(c.get("/v1/jobs/" + id + "/wait?timeout=forever").status, 400u);
}

TEST_F(Events, ManyConcurrentStreamsOnOneJobAllReceiveTheTerminalEvent) {
  const auto id = submit(R"({"task":"count","params":{"n":20,"delay":0.02}})");
  std::vector<std::future<std::string>> streams;
  for (int i = 0; i < 40; ++i) {
    streams.push_back(std::async(std::launch::async, [&, i] {
      HttpClient c(server_->port());
      c.open_stream("/v1/jobs/" + id + "/events",
                    {{"Accept", i % 2 ? "application/x-ndjson" : "text/event-stream"}});
      auto events = c.rest_of_stream();
      return events.empty() ? std::string("none")
                            : std::string(events.back().json().at("state").as_string());
    }));
  }
  for (auto& s : streams) EXPECT_EQ(s.get(), "succeeded");
}

}  // namespace
}  // namespace wq::test
