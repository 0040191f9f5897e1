// Bad input of every kind is answered with the right status and a problem+json detail, and
// the server stays healthy afterwards.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <boost/asio/write.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <future>
#include <thread>

#include "integration/http_client.hpp"
#include "integration/wqd_process.hpp"

namespace wq::test {
namespace {

class BadInput : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = new WqdProcess(
        "max_queued = 2\n[server]\nopen = true\nmax_body = \"8KiB\"\nmax_streams = 2\n" +
        test_tasks_toml());
    ASSERT_NE(server_->port(), 0) << "wqd did not start";
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  static void expect_healthy() {
    HttpClient c(server_->port());
    EXPECT_EQ(c.get("/healthz").status, 200u);
  }
  static std::string detail_of(const Reply& r) {
    EXPECT_EQ(r.header("content-type"), "application/problem+json") << r.body;
    return std::string(r.json().at("detail").as_string());
  }
  static WqdProcess* server_;
};

WqdProcess* BadInput::server_ = nullptr;

TEST_F(BadInput, SubmitBodiesThatAreWrongAre400NamingTheField) {
  struct Case {
    const char* body;
    const char* detail;
  };
  const Case cases[] = {
      {"{\"task\": \"count\",", "not valid JSON"},
      {"", "body is empty"},
      {"[1,2]", "expected a JSON object"},
      {R"({"params":{}})", "task: missing"},
      {R"({"task":5})", "task: expected a string"},
      {R"({"task":"count","params":[1]})", "params: expected an object"},
      {R"({"task":"count","params":{"n":1},"priority":"high"})", "priority: expected an integer"},
      {R"({"task":"count","params":{"n":1},"max_attempts":0})",
       "max_attempts: expected an integer from 1"},
      {R"({"task":"count","params":{"n":1},"timeout":"soon"})",
       "timeout: expected a positive number"},
      {R"({"task":"count","params":{"n":1},"force":"yes"})", "force: expected true or false"},
      {R"({"task":"count","params":{"n":1},"prio":1})", "unknown field 'prio'"},
      {R"({"task":"count","params":{}})", "missing param 'n'"},
      {R"({"task":"count","params":{"n":1,"x":2}})", "unknown param 'x'"},
      {R"({"task":"count","params":{"n":1},"id":"../etc"})", "id must be"},
  };
  HttpClient c(server_->port());
  for (const auto& k : cases) {
    Reply r = c.post("/v1/jobs", k.body);
    EXPECT_EQ(r.status, 400u) << k.body;
    EXPECT_NE(detail_of(r).find(k.detail), std::string::npos) << k.body << " -> " << r.body;
  }
  expect_healthy();
}

TEST_F(BadInput, ABodyOverTheLimitIs413) {
  HttpClient c(server_->port());
  Reply r = c.post("/v1/jobs",
                   R"({"task":"count","params":{"n":1,"pad":")" + std::string(20000, 'x') + "\"}}");
  EXPECT_EQ(r.status, 413u);
  EXPECT_NE(detail_of(r).find("server.max_body"), std::string::npos);
  expect_healthy();
}

TEST_F(BadInput, AHeaderFloodIs431AndGarbageIs400) {
  {
    HttpClient c(server_->port());
    std::string req = "GET /healthz HTTP/1.1\r\nHost: x\r\n";
    for (int i = 0; i < 400; ++i) req += fmt::format("X-Flood-{}: {}\r\n", i, std::string(60, 'a'));
    Reply r = c.raw(req + "\r\n");
    EXPECT_EQ(r.status, 431u);
  }
  {
    HttpClient c(server_->port());
    Reply r = c.raw("THIS IS NOT HTTP\r\n\r\n");
    EXPECT_EQ(r.status, 400u);
  }
  expect_healthy();
}

TEST_F(BadInput, AFullQueueIs429WithRetryAfter) {
  HttpClient c(server_->port());
  const auto later = a_day_from_now();
  std::vector<std::string> ids;
  Reply r;
  for (int i = 0; i < 5; ++i) {
    r = c.post("/v1/jobs",
               fmt::format(R"({{"task":"hold","params":{{"ms":1}},"key":"full-{}","run_at":{}}})",
                           i, later));
    if (r.status != 201) break;
    ids.emplace_back(r.json().at("id").as_string());
  }
  EXPECT_EQ(r.status, 429u) << r.body;
  EXPECT_EQ(r.header("retry-after"), "1");
  for (const auto& id : ids) c.request(bhttp::verb::delete_, "/v1/jobs/" + id);
  expect_healthy();
}

TEST_F(BadInput, TooManyOpenStreamsIs503) {
  HttpClient c(server_->port());
  Reply job = c.post("/v1/jobs", R"({"task":"hold","params":{"ms":600000}})");
  ASSERT_EQ(job.status, 201u);
  const std::string path = "/v1/jobs/" + std::string(job.json().at("id").as_string()) + "/events";
  HttpClient s1(server_->port());
  HttpClient s2(server_->port());
  ASSERT_EQ(s1.open_stream(path).status, 200u);
  ASSERT_TRUE(s1.next_event());
  ASSERT_EQ(s2.open_stream(path).status, 200u);
  ASSERT_TRUE(s2.next_event());
  HttpClient s3(server_->port());
  Reply refused = s3.open_stream(path);
  EXPECT_EQ(refused.status, 503u);
  EXPECT_NE(refused.body.find("max_streams"), std::string::npos);
  c.post("/v1/jobs/" + std::string(job.json().at("id").as_string()) + "/cancel", "");
  EXPECT_EQ(s1.rest_of_stream().back().json().at("state").as_string(), "cancelled");
  EXPECT_EQ(s2.rest_of_stream().back().json().at("state").as_string(), "cancelled");
  expect_healthy();
}

TEST(SlowClients, AConnectionThatStopsMidRequestIsClosedAfterTheIdleTimeout) {
  WqdProcess wqd("[server]\nopen = true\nidle_timeout = \"1s\"\n" + test_tasks_toml());
  ASSERT_NE(wqd.port(), 0);
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::socket s(ioc);
  s.connect({boost::asio::ip::make_address("127.0.0.1"), wqd.port()});
  boost::asio::write(s, boost::asio::buffer(std::string("GET /healthz HTTP/1.1\r\nHost: x\r\n")));
  char c;
  boost::system::error_code ec;
  s.read_some(boost::asio::buffer(&c, 1), ec);
  EXPECT_TRUE(ec == boost::asio::error::eof || ec == boost::asio::error::connection_reset)
      << ec.message();
  HttpClient fresh(wqd.port());
  EXPECT_EQ(fresh.get("/healthz").status, 200u);
}

// The body usually arrives with its header and is parsed from what the header read buffered;
// however it arrives (later, in pieces, chunked, or followed by a pipelined request) it is read
// whole and every request is answered in order.
TEST_F(BadInput, RequestBodiesAreReadWholeHoweverTheyArrive) {
  namespace asio = boost::asio;
  asio::io_context ioc;
  asio::ip::tcp::socket s(ioc);
  s.connect({asio::ip::make_address("127.0.0.1"), server_->port()});
  boost::beast::flat_buffer buffer;
  auto next_reply = [&] {
    bhttp::response<bhttp::string_body> res;
    bhttp::read(s, buffer, res);
    return res;
  };
  const std::string body = R"({"ids":["no-such-job"]})";
  const std::string head = fmt::format(
      "POST /v1/jobs/search HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n", body.size());

  asio::write(s, asio::buffer(head + body + head + body));  // two, pipelined, in one write
  for (int i = 0; i < 2; ++i) {
    auto res = next_reply();
    EXPECT_EQ(res.result_int(), 200u);
    EXPECT_NE(res.body().find("no-such-job"), std::string::npos) << res.body();
  }

  asio::write(s, asio::buffer(head + body.substr(0, 5)));  // the rest comes later
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  asio::write(s, asio::buffer(body.substr(5)));
  auto split = next_reply();
  EXPECT_EQ(split.result_int(), 200u);
  EXPECT_NE(split.body().find("no-such-job"), std::string::npos) << split.body();

  asio::write(s, asio::buffer(fmt::format(
                     "POST /v1/jobs/search HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                     "\r\n5\r\n{}\r\n{:x}\r\n{}\r\n0\r\n\r\n",
                     body.substr(0, 5), body.size() - 5, body.substr(5))));
  auto chunked = next_reply();
  EXPECT_EQ(chunked.result_int(), 200u);
  EXPECT_NE(chunked.body().find("no-such-job"), std::string::npos) << chunked.body();

  const std::string bad = R"({"task": )";  // cut short: a 400, and the connection still serves
  asio::write(s, asio::buffer(fmt::format(
                     "POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{}",
                     bad.size(), bad)));
  auto refused = next_reply();
  EXPECT_EQ(refused.result_int(), 400u);
  EXPECT_EQ(refused[bhttp::field::content_type], "application/problem+json");
  asio::write(s, asio::buffer(head + body));
  EXPECT_EQ(next_reply().result_int(), 200u);
}

}  // namespace
}  // namespace wq::test
