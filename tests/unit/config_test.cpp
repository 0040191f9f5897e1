#include "wq/config.hpp"

#include <gtest/gtest.h>

namespace wq {
namespace {

std::string error_of(std::string_view toml) {
  auto r = Config::parse(toml, "wqd.toml");
  EXPECT_FALSE(r) << "expected an error for:\n" << toml;
  return r ? std::string() : r.error().detail;
}

}  // namespace

TEST(Config, ParsesAFullTaskDeclaration) {
  auto c = Config::parse(R"(
data_dir = "/var/lib/wq"
durability = "fsync"
concurrency = 8
max_queued = 1000
progress_persist_interval = "100ms"
finished_job_ttl = "7d"

[tasks.process-docset]
command = ["/opt/plugin/process-docset", "{param.server}", "{param.document_set_id}", "{param.api_token}", "{output}"]
secrets_via = "argv"
concurrency = 2
timeout = "1h"
max_attempts = 3
retry_backoff = 0.5
on_crash = "fail"
result_ttl = "2d"
max_result_size = "10MiB"
env = { LANG = "C.UTF-8" }

[tasks.process-docset.params]
server = {}
document_set_id = {}
api_token = { secret = true }
)", "wqd.toml");
  ASSERT_TRUE(c) << c.error().detail;
  EXPECT_EQ(c->data_dir, "/var/lib/wq");
  EXPECT_EQ(c->durability, Durability::fsync);
  EXPECT_EQ(c->concurrency, 8);
  EXPECT_EQ(c->max_queued, 1000u);
  EXPECT_EQ(c->progress_persist_interval, Millis(100));
  EXPECT_EQ(c->finished_job_ttl, Millis(7 * 86400000LL));
  const TaskConfig& t = c->tasks.at("process-docset");
  EXPECT_EQ(t.command.size(), 5u);
  EXPECT_EQ(t.secrets_via, SecretsVia::argv);
  EXPECT_EQ(t.concurrency, 2);
  EXPECT_EQ(t.timeout, Millis(3600000));
  EXPECT_EQ(t.retry_backoff, Millis(500));
  EXPECT_EQ(t.on_crash, CrashPolicy::fail);
  EXPECT_EQ(t.max_result_bytes, 10u << 20);
  EXPECT_EQ(t.env.at("LANG"), "C.UTF-8");
  ASSERT_NE(t.param("api_token"), nullptr);
  EXPECT_TRUE(t.param("api_token")->secret);
  EXPECT_EQ(c->store_url(), "sqlite:/var/lib/wq/wq.sqlite");
}

TEST(Config, ParamsAreImpliedByPlaceholdersWhenNotDeclared) {
  auto c = Config::parse(R"(
[tasks.resize]
command = ["./resize", "--width={param.width}", "{param.src}", "{output}"]
)", "/etc/wq/wqd.toml");
  ASSERT_TRUE(c) << c.error().detail;
  const TaskConfig& t = c->tasks.at("resize");
  ASSERT_EQ(t.params.size(), 2u);
  EXPECT_EQ(t.params[0].name, "width");
  EXPECT_TRUE(t.params[0].required);
  EXPECT_EQ(t.command[0], "/etc/wq/resize");  // relative to the config file
}

TEST(Config, ErrorsNameTheFileTheKeyAndWhatIsExpected) {
  EXPECT_EQ(error_of("concurrency = \"many\""),
            "wqd.toml: concurrency: expected an integer from 1 to 100000");
  EXPECT_EQ(error_of("[tasks.a]\ncommand = [\"x\"]\ntimeout = \"soon\""),
            "wqd.toml: tasks.a.timeout: expected a duration like 30, \"250ms\" or \"2h\", got 'soon'");
  EXPECT_NE(error_of("[tasks.a]\ncomand = [\"x\"]").find("tasks.a.comand: unknown key"), std::string::npos);
  EXPECT_NE(error_of("durability = \"always\"").find("durability: expected \"process\" or \"fsync\""),
            std::string::npos);
  EXPECT_NE(error_of("[tasks.a]\nprogress = \"stdout\"").find("tasks.a.command: is missing"),
            std::string::npos);
  EXPECT_NE(error_of("[tasks.a]\ncommand = [\"x\", \"{param.t}\"]\n[tasks.a.params]\nt = { secret = true }")
                .find("secret"),
            std::string::npos);
  EXPECT_NE(error_of("store = \"mysql://x\"").find("store: expected"), std::string::npos);
  EXPECT_NE(error_of("concurrency = [").find("wqd.toml:1:"), std::string::npos);
}

TEST(Config, LoadNamesAMissingFile) {
  auto r = Config::try_load("/nonexistent/wqd.toml");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::config_invalid);
  EXPECT_NE(r.error().detail.find("/nonexistent/wqd.toml: cannot read"), std::string::npos);
  EXPECT_THROW(Config::load("/nonexistent/wqd.toml"), ErrorException);
}

TEST(Config, DurationsAcceptNumbersAndUnits) {
  EXPECT_EQ(parse_duration("30"), Millis(30000));
  EXPECT_EQ(parse_duration("250ms"), Millis(250));
  EXPECT_EQ(parse_duration("1.5s"), Millis(1500));
  EXPECT_EQ(parse_duration("2h"), Millis(7200000));
  EXPECT_FALSE(parse_duration("-1s"));
  EXPECT_FALSE(parse_duration("soon"));
  EXPECT_FALSE(parse_duration("5 parsecs"));
}

TEST(Config, ParsesTheServerTable) {
  const std::string hash(64, 'a');
  auto c = Config::parse(R"(
[server]
listen = "0.0.0.0:9000"
threads = 2
max_body = "64KiB"
max_streams = 50
shutdown_grace = "5s"
idle_timeout = 10
tokens = [{ sha256 = ")" + hash + R"(", tenant = "acme" }]
)",
                         "wqd.toml");
  ASSERT_TRUE(c) << c.error().detail;
  EXPECT_EQ(c->server.listen, "0.0.0.0:9000");
  EXPECT_EQ(c->server.threads, 2);
  EXPECT_EQ(c->server.max_body, 64u * 1024);
  EXPECT_EQ(c->server.max_streams, 50u);
  EXPECT_EQ(c->server.shutdown_grace, Millis(5000));
  EXPECT_EQ(c->server.idle_timeout, Millis(10000));
  ASSERT_EQ(c->server.tokens.size(), 1u);
  EXPECT_EQ(c->server.tokens[0].sha256, hash);
  EXPECT_EQ(c->server.tokens[0].tenant, "acme");
  EXPECT_FALSE(c->server.open);
}

TEST(Config, ServerDefaultsAreLoopbackAndClosed) {
  auto c = Config::parse("", "wqd.toml");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->server.listen, "127.0.0.1:8080");
  EXPECT_FALSE(c->server.open);
  EXPECT_TRUE(c->server.tokens.empty());
}

TEST(Config, ServerErrorsNameTheKeyAndWhatIsExpected) {
  EXPECT_NE(error_of("[server]\nlisten = \"localhost\"").find("server.listen: expected HOST:PORT"),
            std::string::npos);
  EXPECT_NE(error_of("[server]\ntokens = [{ sha256 = \"secret-token\", tenant = \"a\" }]")
                .find("server.tokens[0].sha256: expected the SHA-256"),
            std::string::npos);
  EXPECT_NE(error_of("[server]\ntokens = \"x\"").find("server.tokens: expected an array"),
            std::string::npos);
  EXPECT_NE(error_of("[server]\nport = 80").find("server.port: unknown key"), std::string::npos);
  EXPECT_NE(error_of("[server]\nopen = \"yes\"").find("server.open: expected true or false"),
            std::string::npos);
  const std::string hash(64, 'b');
  EXPECT_NE(error_of("[server]\ntokens = [{ sha256 = \"" + hash + "\", tenant = \"\" }]")
                .find("server.tokens[0].tenant"),
            std::string::npos);
}

}  // namespace wq
