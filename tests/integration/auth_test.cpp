// Tokens and tenants over HTTP: Bearer and the Overview Basic form, 401s, tenant isolation,
// tokens kept out of the logs, and the start-up rules for open mode.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "integration/http_client.hpp"
#include "integration/wqd_process.hpp"

namespace wq::test {
namespace {

const std::string kTokenA = "token-for-acme-3f9a";
const std::string kTokenB = "token-for-globex-77c1";

std::string basic(const std::string& user_pass) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (size_t i = 0; i < user_pass.size(); i += 3) {
    std::uint32_t n = static_cast<unsigned char>(user_pass[i]) << 16;
    if (i + 1 < user_pass.size()) n |= static_cast<unsigned char>(user_pass[i + 1]) << 8;
    if (i + 2 < user_pass.size()) n |= static_cast<unsigned char>(user_pass[i + 2]);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += i + 1 < user_pass.size() ? kAlphabet[(n >> 6) & 63] : '=';
    out += i + 2 < user_pass.size() ? kAlphabet[n & 63] : '=';
  }
  return "Basic " + out;
}

class Auth : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = new WqdProcess(fmt::format(R"([server]
tokens = [{{ sha256 = "{}", tenant = "acme" }}, {{ sha256 = "{}", tenant = "globex" }}]
)",
                                         sha256_of(kTokenA), sha256_of(kTokenB)) +
                             test_tasks_toml());
    ASSERT_NE(server_->port(), 0) << "wqd did not start";
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  static Headers as(const std::string& token) { return {{"Authorization", "Bearer " + token}}; }
  static WqdProcess* server_;
};

WqdProcess* Auth::server_ = nullptr;

TEST_F(Auth, RequestsWithoutAValidTokenAre401ButHealthIsPublic) {
  HttpClient c(server_->port());
  Reply none = c.get("/v1/tasks");
  EXPECT_EQ(none.status, 401u);
  EXPECT_EQ(none.header("www-authenticate"), "Bearer realm=\"wqd\"");
  EXPECT_NE(none.json().at("detail").as_string().find("Authorization: Bearer"), std::string::npos);
  EXPECT_EQ(c.get("/v1/tasks", as("wrong-token")).status, 401u);
  EXPECT_EQ(c.get("/v1/tasks", {{"Authorization", "Digest abc"}}).status, 401u);
  EXPECT_EQ(c.get("/v1/tasks", {{"Authorization", "Basic !!!"}}).status, 401u);
  EXPECT_EQ(c.get("/healthz").status, 200u);
  EXPECT_EQ(c.get("/readyz").status, 200u);
  EXPECT_EQ(c.get("/v1/tasks", as(kTokenA)).status, 200u);
}

TEST_F(Auth, TheOverviewBasicFormAuthenticatesLikeBearer) {
  HttpClient c(server_->port());
  EXPECT_EQ(c.get("/v1/tasks", {{"Authorization", basic(kTokenA + ":x-api-token")}}).status, 200u);
  EXPECT_EQ(c.get("/v1/tasks", {{"Authorization", basic(kTokenA + ":other")}}).status, 401u);
}

TEST_F(Auth, ATenantSeesOnlyItsOwnJobs) {
  HttpClient c(server_->port());
  Reply mine = c.post("/v1/jobs", R"({"task":"hold","params":{"ms":600000},"key":"tenant-test"})",
                      as(kTokenA));
  ASSERT_EQ(mine.status, 201u) << mine.body;
  const std::string id(mine.json().at("id").as_string());
  const std::string path = "/v1/jobs/" + id;

  EXPECT_EQ(c.get(path, as(kTokenA)).status, 200u);
  EXPECT_EQ(c.get(path, as(kTokenB)).status, 404u);
  EXPECT_EQ(c.get(path + "/status.html", as(kTokenB)).status, 404u);
  EXPECT_EQ(c.get(path + "/result", as(kTokenB)).status, 404u);
  EXPECT_EQ(c.get(path + "/wait?timeout=0", as(kTokenB)).status, 404u);
  EXPECT_EQ(c.open_stream(path + "/events", as(kTokenB)).status, 404u);
  EXPECT_EQ(c.post(path + "/cancel", "", as(kTokenB)).status, 404u);
  Reply search = c.post("/v1/jobs/search", "{\"ids\":[\"" + id + "\"]}", as(kTokenB));
  EXPECT_EQ(search.json().at("jobs").as_array().size(), 0u);
  const auto list = c.get("/v1/jobs", as(kTokenB)).json();
  for (const auto& j : list.at("jobs").as_array()) {
    EXPECT_NE(j.at("id").as_string(), id);
  }
  // The same work from another tenant is another job: keys are per tenant.
  Reply theirs = c.post("/v1/jobs", R"({"task":"hold","params":{"ms":600000},"key":"tenant-test"})",
                        as(kTokenB));
  EXPECT_EQ(theirs.status, 201u);
  EXPECT_NE(theirs.json().at("id").as_string(), id);

  EXPECT_EQ(c.post(path + "/cancel", "", as(kTokenA)).status, 200u);
  c.post("/v1/jobs/" + std::string(theirs.json().at("id").as_string()) + "/cancel", "",
         as(kTokenB));
}

TEST_F(Auth, TokensNeverAppearInTheLogs) {
  HttpClient c(server_->port());
  c.get("/v1/tasks", as(kTokenA));
  c.get("/v1/tasks", as("a-wrong-token-value"));
  c.get("/healthz");
  server_->wait_for_log(
      [](const std::string& l) { return l.find("/healthz") != std::string::npos; });
  for (const auto& line : server_->log_lines()) {
    EXPECT_EQ(line.find(kTokenA), std::string::npos) << line;
    EXPECT_EQ(line.find("a-wrong-token-value"), std::string::npos) << line;
  }
}

TEST(AuthStartup, OpenModeOnAPublicAddressRefusesToStart) {
  WqdProcess wqd("[server]\nopen = true\n" + test_tasks_toml(), {"--listen", "0.0.0.0:0"});
  EXPECT_EQ(wqd.port(), 0);
  EXPECT_EQ(wqd.wait_exit(), 1);
  bool named = false;
  for (const auto& l : wqd.log_lines()) named = named || l.find("open_public") != std::string::npos;
  EXPECT_TRUE(named);
}

TEST(AuthStartup, NoTokensAndNotOpenRefusesToStart) {
  WqdProcess wqd(test_tasks_toml());
  EXPECT_EQ(wqd.port(), 0);
  EXPECT_EQ(wqd.wait_exit(), 1);
}

}  // namespace
}  // namespace wq::test
