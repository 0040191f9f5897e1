// The dashboard's server side against a real wqd: the embedded web/ files served at / with
// their content types, ETag/304 and a strict Content-Security-Policy, without a token; and
// stream tickets, which let a browser's EventSource watch a job on a token-protected server.
// (tests/e2e/dashboard.test.mjs drives the page itself in Chromium.)
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <fstream>
#include <sstream>

#include "integration/http_client.hpp"
#include "integration/wqd_process.hpp"

namespace wq::test {
namespace {

std::string read_web_file(const std::string& name) {
  std::ifstream in(std::string(WQ_WEB_DIR) + "/" + name, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

const Headers kAcme = {{"Authorization", "Bearer acme-token"}};
const Headers kGlobex = {{"Authorization", "Bearer globex-token"}};

// One server for the suite: each test submits its own params, so no submit dedups to another
// test's job.
class Dashboard : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = new WqdProcess(fmt::format(R"([server]
tokens = [{{ sha256 = "{}", tenant = "acme" }}, {{ sha256 = "{}", tenant = "globex" }}]
)",
                                         sha256_of("acme-token"), sha256_of("globex-token")) +
                             test_tasks_toml());
    ASSERT_NE(server_->port(), 0) << "wqd did not start";
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  static std::string submit(const std::string& body, const Headers& who) {
    HttpClient c(server_->port());
    Reply r = c.post("/v1/jobs", body, who);
    EXPECT_EQ(r.status, 201u) << r.body;
    return std::string(r.json().at("id").as_string());
  }
  static std::string ticket_url(const std::string& id, const Headers& who) {
    HttpClient c(server_->port());
    Reply r = c.post("/v1/jobs/" + id + "/events/ticket", "", who);
    EXPECT_EQ(r.status, 201u) << r.body;
    EXPECT_EQ(r.json().at("expires_in").as_int64(), 600);
    return std::string(r.json().at("events_url").as_string());
  }
  static WqdProcess* server_;
};

WqdProcess* Dashboard::server_ = nullptr;

TEST_F(Dashboard, PageIsTheEmbeddedIndexHtmlWithAStrictPolicyAndNoTokenNeeded) {
  HttpClient c(server_->port());
  Reply page = c.get("/");
  ASSERT_EQ(page.status, 200u) << page.body;
  EXPECT_EQ(page.header("content-type"), "text/html; charset=utf-8");
  EXPECT_EQ(page.body, read_web_file("index.html"));
  const std::string csp = page.header("content-security-policy");
  EXPECT_NE(csp.find("default-src 'none'"), std::string::npos) << csp;
  EXPECT_NE(csp.find("script-src 'self'"), std::string::npos) << csp;
  EXPECT_NE(csp.find("frame-ancestors 'none'"), std::string::npos) << csp;
  EXPECT_EQ(csp.find("unsafe-inline"), std::string::npos) << csp;
  EXPECT_EQ(csp.find("unsafe-eval"), std::string::npos) << csp;
  EXPECT_EQ(page.header("x-content-type-options"), "nosniff");
  // The API behind it still wants the token.
  EXPECT_EQ(c.get("/v1/jobs").status, 401u);
}

TEST_F(Dashboard, AssetsHaveTheirContentTypes) {
  HttpClient c(server_->port());
  Reply js = c.get("/dashboard/app.js");
  ASSERT_EQ(js.status, 200u);
  EXPECT_EQ(js.header("content-type"), "text/javascript; charset=utf-8");
  EXPECT_EQ(js.body, read_web_file("app.js"));
  Reply css = c.get("/dashboard/style.css");
  ASSERT_EQ(css.status, 200u);
  EXPECT_EQ(css.header("content-type"), "text/css; charset=utf-8");
  EXPECT_EQ(css.body, read_web_file("style.css"));
}

TEST_F(Dashboard, UnknownAssetIsAProblem404) {
  HttpClient c(server_->port());
  for (const char* path : {"/dashboard/nope.js", "/dashboard/..%2Fwqd.toml", "/dashboard/%2e%2e"}) {
    Reply r = c.get(path);
    EXPECT_EQ(r.status, 404u) << path;
    EXPECT_EQ(r.header("content-type"), "application/problem+json") << path;
  }
}

TEST_F(Dashboard, MatchingIfNoneMatchAnswers304) {
  HttpClient c(server_->port());
  Reply first = c.get("/dashboard/app.js");
  const std::string etag = first.header("etag");
  ASSERT_FALSE(etag.empty());
  EXPECT_EQ(first.header("cache-control"), "no-cache");
  Reply again = c.get("/dashboard/app.js", {{"If-None-Match", etag}});
  EXPECT_EQ(again.status, 304u);
  EXPECT_TRUE(again.body.empty());
  EXPECT_EQ(again.header("etag"), etag);
  EXPECT_EQ(c.get("/dashboard/app.js", {{"If-None-Match", "W/" + etag + ", \"x\""}}).status, 304u);
  EXPECT_EQ(c.get("/dashboard/app.js", {{"If-None-Match", "\"other\""}}).status, 200u);
  // Each file has its own validator.
  EXPECT_NE(c.get("/").header("etag"), etag);
}

TEST_F(Dashboard, TicketedStreamDeliversTheJobsEventsWithoutAnAuthorizationHeader) {
  const std::string id = submit(R"({"task":"count","params":{"n":3,"delay":0.01}})", kAcme);
  const std::string url = ticket_url(id, kAcme);
  HttpClient c(server_->port());
  Reply head = c.open_stream(url);
  ASSERT_EQ(head.status, 200u) << head.body;
  EXPECT_EQ(head.header("content-type"), "text/event-stream");
  auto events = c.rest_of_stream();
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().json().at("state").as_string(), "succeeded");
  // Resuming after the terminal event: nothing more (204 tells EventSource to stop).
  Reply done = c.get(url, {{"Last-Event-ID", std::to_string(*events.back().id)}});
  EXPECT_EQ(done.status, 204u);
}

TEST_F(Dashboard, TicketIsRefusedForAnotherJobWhenForgedOrMissing) {
  const std::string a = submit(R"({"task":"hold","params":{"ms":10}})", kAcme);
  const std::string b = submit(R"({"task":"hold","params":{"ms":20}})", kAcme);
  const std::string url_a = ticket_url(a, kAcme);
  const std::string ticket = url_a.substr(url_a.find("ticket=") + 7);
  HttpClient c(server_->port());
  Reply other = c.get("/v1/jobs/" + b + "/events/stream?ticket=" + ticket);
  EXPECT_EQ(other.status, 401u) << other.body;
  EXPECT_EQ(other.header("content-type"), "application/problem+json");
  std::string forged = ticket;
  forged.back() = forged.back() == '0' ? '1' : '0';
  EXPECT_EQ(c.get("/v1/jobs/" + a + "/events/stream?ticket=" + forged).status, 401u);
  // A ticket claiming another tenant (its first field) does not verify.
  const std::string as_globex =
      "676c6f626578" + ticket.substr(ticket.find('.'));  // hex("globex")
  EXPECT_EQ(c.get("/v1/jobs/" + a + "/events/stream?ticket=" + as_globex).status, 401u);
  Reply missing = c.get("/v1/jobs/" + a + "/events/stream");
  EXPECT_EQ(missing.status, 401u);
  EXPECT_NE(missing.json().at("detail").as_string().find("ticket"), std::string_view::npos);
  EXPECT_EQ(c.get("/v1/jobs/" + a + "/events/stream?ticket=garbage").status, 401u);
}

TEST_F(Dashboard, TicketsNeedATokenAndRespectTenants) {
  const std::string id = submit(R"({"task":"hold","params":{"ms":30}})", kAcme);
  HttpClient c(server_->port());
  EXPECT_EQ(c.post("/v1/jobs/" + id + "/events/ticket", "").status, 401u);
  // Another tenant cannot see the job, so gets no ticket for it.
  EXPECT_EQ(c.post("/v1/jobs/" + id + "/events/ticket", "", kGlobex).status, 404u);
}

TEST_F(Dashboard, TicketsNeverAppearInTheLogs) {
  const std::string id = submit(R"({"task":"hold","params":{"ms":40}})", kAcme);
  const std::string url = ticket_url(id, kAcme);
  const std::string ticket = url.substr(url.find("ticket=") + 7);
  HttpClient c(server_->port());
  c.open_stream(url);
  c.rest_of_stream();
  // The request is logged (by path) once the stream ended.
  ASSERT_TRUE(server_->wait_for_log([&](const std::string& line) {
    return line.find("/events/stream") != std::string::npos;
  }));
  for (const auto& line : server_->log_lines()) {
    EXPECT_EQ(line.find(ticket.substr(ticket.rfind('.') + 1)), std::string::npos) << line;
  }
}

}  // namespace
}  // namespace wq::test
