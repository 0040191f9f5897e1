// The Overview plugin and SAJE adapters against a real wqd (DESIGN §7): /generate read as
// Oboe.js reads it, the example plugin end to end against a stand-in Overview API, and SAJE's
// two endpoints.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <random>
#include <regex>

#include "integration/fake_overview_api.hpp"
#include "integration/http_client.hpp"
#include "integration/oboe_client.hpp"
#include "integration/wqd_process.hpp"
#include "wq/config.hpp"

namespace wq::test {
namespace {

namespace json = boost::json;
using Fields = std::map<std::string, std::string>;

std::string base64(std::string_view in) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::uint32_t acc = 0;
  int bits = 0;
  for (unsigned char c : in) {
    acc = (acc << 8) | c;
    for (bits += 8; bits >= 6;) out += kAlphabet[(acc >> (bits -= 6)) & 0x3f];
  }
  if (bits > 0) out += kAlphabet[(acc << (6 - bits)) & 0x3f];
  while (out.size() % 4 != 0) out += '=';
  return out;
}

std::string overview_auth(const std::string& token) {
  return "Basic " + base64(token + ":x-api-token");
}

std::string form(const Fields& fields) {
  std::string out;
  for (const auto& [k, v] : fields) {
    out += out.empty() ? "" : "&";
    out += k + "=";
    for (unsigned char c : v) {
      if (std::isalnum(c) || c == '-' || c == '_' || c == '.') {
        out += static_cast<char>(c);
      } else {
        out += fmt::format("%{:02X}", c);
      }
    }
  }
  return out;
}

const std::map<std::string, std::string> kFormType = {
    {"Content-Type", "application/x-www-form-urlencoded"}};

std::map<std::string, std::string> with_auth(const std::string& token) {
  auto h = kFormType;
  h["Authorization"] = overview_auth(token);
  return h;
}

// A fresh directory for one test's gate files, removed afterwards.
class TempDir {
 public:
  TempDir() {
    path_ = std::filesystem::temp_directory_path() /
            fmt::format("wq-adapters-{}-{:x}", ::getpid(), std::random_device{}());
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

void open_gate(const std::string& gate) { std::ofstream(gate + ".go") << "go"; }

// The task /generate runs in these tests: document_set_id is the path of a gate; the program
// reports "waiting", waits until GATE.go exists, and writes its argv and the SHA-256 of the
// token it was given (never the token) as its result.
std::string overview_suite_toml(std::string_view server_settings = "",
                                std::string_view task_settings = "") {
  constexpr std::string_view kScript =
      R"(printf '0.1\twaiting for the gate\n'; )"
      R"(while [ ! -e "$2.go" ]; do sleep 0.02; done; )"
      R"(printf '0.6\tgate open\n'; )"
      R"(printf 'args:%s\n' "$*" > "$3"; )"
      R"(printf '%s' "$WQ_SECRET_API_TOKEN" | sha256sum | cut -d' ' -f1 >> "$3")";
  return fmt::format(R"(
[server]
open = true
{}
[adapters.overview]
task = "view"
tenant = ""
servers = ["http://overview.test", "http://other-overview.test/"]
static_dir = "{}"
result_type = "text/plain"
[tasks.view]
command = ["/bin/sh", "-c", '''{}''', "view", "{{param.server}}", "{{param.document_set_id}}", "{{output}}"]
kill_grace = "200ms"
{}
[tasks.view.params]
server = {{}}
document_set_id = {{}}
api_token = {{ secret = true }}
)",
                     server_settings, WQ_OVERVIEW_PLUGIN_DIR "/static", kScript, task_settings);
}

class OverviewAdapter : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = new WqdProcess(overview_suite_toml());
    ASSERT_NE(server_->port(), 0) << "wqd did not start";
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }

  Fields view(const std::string& gate) const {
    return {{"server", "http://overview.test"}, {"documentSetId", gate}};
  }

  // POSTs /generate and reads the whole array; returns the elements and the job id.
  struct Generated {
    std::vector<json::value> elements;
    std::string job_id;
    std::string body;
  };
  Generated generate_to_end(const std::string& body,
                            const std::map<std::string, std::string>& headers) {
    OboeClient c(server_->port());
    auto head = c.post("/generate", body, headers);
    EXPECT_EQ(head.status, 200u) << head.body;
    Generated g;
    g.job_id = head.header("x-job-id");
    while (auto e = c.next_element()) g.elements.push_back(std::move(*e));
    g.body = c.received();
    return g;
  }

  static WqdProcess* server_;
  TempDir dir_;
};

WqdProcess* OverviewAdapter::server_ = nullptr;

TEST_F(OverviewAdapter, GenerateStreamsProgressElementsWhileTheJobIsStillRunning) {
  const std::string gate = dir_.file("gate");
  OboeClient c(server_->port());
  auto head = c.post("/generate", form(view(gate)), with_auth("tok-stream"));
  ASSERT_EQ(head.status, 200u) << head.body;
  EXPECT_EQ(head.header("content-type"), "application/json");
  EXPECT_TRUE(head.chunked);
  ASSERT_FALSE(head.header("x-job-id").empty());

  // The program cannot finish before the gate opens, so each element read here arrived while
  // the job was running.
  std::optional<json::value> e;
  do {
    e = c.next_element();
    ASSERT_TRUE(e) << "the stream ended before the job did: " << c.received();
    EXPECT_NE(e->at("state").as_string(), "succeeded");
    EXPECT_EQ(e->at("id").as_string(), head.header("x-job-id"));
  } while (!e->at("message").is_string() || e->at("message").as_string() != "waiting for the gate");
  EXPECT_FALSE(c.array_closed());
  EXPECT_EQ(e->at("state").as_string(), "running");
  EXPECT_DOUBLE_EQ(e->at("fraction").to_number<double>(), 0.1);
  for (const char* key : {"n_ahead_in_queue", "fraction", "message", "returncode", "error"})
    EXPECT_TRUE(e->as_object().contains(key)) << key;

  open_gate(gate);
  std::vector<json::value> rest;
  while (auto more = c.next_element()) rest.push_back(std::move(*more));
  ASSERT_FALSE(rest.empty());
  EXPECT_TRUE(c.array_closed());
  const auto& last = rest.back();
  EXPECT_EQ(last.at("state").as_string(), "succeeded");
  EXPECT_EQ(last.at("returncode").as_int64(), 0);
  EXPECT_TRUE(last.at("error").is_null());
  EXPECT_DOUBLE_EQ(last.at("fraction").to_number<double>(), 1.0);
  // The whole body is one JSON array: "[", elements separated by ",", "]".
  const json::value whole = json::parse(c.received());
  ASSERT_TRUE(whole.is_array());
  EXPECT_EQ(whole.as_array().back(), last);
}

TEST_F(OverviewAdapter, GenerateAnswersAnEmptyArrayWhenTheResultIsAlreadyThere) {
  const std::string gate = dir_.file("done");
  open_gate(gate);
  auto first = generate_to_end(form(view(gate)), with_auth("tok-done"));
  ASSERT_FALSE(first.elements.empty());
  ASSERT_EQ(first.elements.back().at("state").as_string(), "succeeded");

  HttpClient c(server_->port());
  Reply again = c.post("/generate", form(view(gate)), with_auth("tok-done"));
  EXPECT_EQ(again.status, 200u);
  EXPECT_EQ(again.body, "[]");
  EXPECT_EQ(again.header("content-type"), "application/json");
  EXPECT_EQ(again.header("x-job-id"), first.job_id);
}

TEST_F(OverviewAdapter, ADisconnectedClientLeavesTheJobRunningAndReconnectingResumesIt) {
  const std::string gate = dir_.file("resume");
  std::string id;
  {
    OboeClient c(server_->port());
    auto head = c.post("/generate", form(view(gate)), with_auth("tok-resume"));
    ASSERT_EQ(head.status, 200u);
    id = head.header("x-job-id");
    ASSERT_TRUE(c.next_element());
    c.disconnect();
  }
  HttpClient api(server_->port());
  // Still running: a job cancelled by the hang-up would not be returned by the next POST.
  Reply job = api.get("/v1/jobs/" + id);
  ASSERT_EQ(job.status, 200u);
  EXPECT_EQ(job.json().at("state").as_string(), "running");

  OboeClient again(server_->port());
  auto head = again.post("/generate", form(view(gate)), with_auth("tok-resume"));
  ASSERT_EQ(head.status, 200u);
  EXPECT_EQ(head.header("x-job-id"), id);
  auto first = again.next_element();
  ASSERT_TRUE(first);
  EXPECT_EQ(first->at("id").as_string(), id);
  EXPECT_EQ(first->at("state").as_string(), "running");
  open_gate(gate);
  std::optional<json::value> last = first;
  while (auto e = again.next_element()) last = std::move(e);
  EXPECT_EQ(last->at("state").as_string(), "succeeded");
  EXPECT_TRUE(again.array_closed());
  Reply finished = api.get("/v1/jobs/" + id);
  EXPECT_EQ(finished.json().at("attempt").as_int64(), 1);  // one run, never restarted
}

TEST_F(OverviewAdapter, TheTokenMayComeFromTheHeaderOrAnApiTokenFieldInAnyFormEncoding) {
  const std::string gate = dir_.file("forms");
  open_gate(gate);
  auto by_header = generate_to_end(form(view(gate)), with_auth("tok-forms"));
  ASSERT_EQ(by_header.elements.back().at("state").as_string(), "succeeded");

  // The same view (server, document set, token) is the same job: "[]" names it.
  auto fields = view(gate);
  fields["apiToken"] = "tok-forms";
  HttpClient c(server_->port());
  Reply urlencoded = c.post("/generate", form(fields), kFormType);
  EXPECT_EQ(urlencoded.body, "[]") << urlencoded.body;
  EXPECT_EQ(urlencoded.header("x-job-id"), by_header.job_id);

  const std::string boundary = "----WebKitFormBoundary7MA4YWxkTrZu0gW";
  std::string multipart;
  for (const auto& [k, v] : fields) {
    multipart += fmt::format("--{}\r\nContent-Disposition: form-data; name=\"{}\"\r\n\r\n{}\r\n",
                             boundary, k, v);
  }
  multipart += "--" + boundary + "--\r\n";
  Reply form_data = c.post("/generate", multipart,
                           {{"Content-Type", "multipart/form-data; boundary=" + boundary}});
  EXPECT_EQ(form_data.body, "[]") << form_data.body;
  EXPECT_EQ(form_data.header("x-job-id"), by_header.job_id);

  json::object as_json;
  for (const auto& [k, v] : fields) as_json[k] = v;
  Reply json_body = c.post("/generate", json::serialize(as_json));
  EXPECT_EQ(json_body.body, "[]") << json_body.body;
  EXPECT_EQ(json_body.header("x-job-id"), by_header.job_id);

  // The seed's prose spells the fields document_set_id and api_token.
  Reply snake = c.post("/generate",
                       form({{"server", fields["server"]},
                             {"document_set_id", fields["documentSetId"]},
                             {"api_token", "tok-forms"}}),
                       kFormType);
  EXPECT_EQ(snake.body, "[]") << snake.body;
  EXPECT_EQ(snake.header("x-job-id"), by_header.job_id);

  // Another token is another view: a job of its own.
  fields["apiToken"] = "tok-someone-else";
  OboeClient other(server_->port());
  auto head = other.post("/generate", form(fields), kFormType);
  EXPECT_EQ(head.status, 200u);
  EXPECT_NE(head.header("x-job-id"), by_header.job_id);
}

TEST_F(OverviewAdapter, BadGenerateRequestsAreRefusedInTheSeedsWords) {
  const std::string gate = dir_.file("bad");
  struct Case {
    std::string name;
    std::string body;
    std::map<std::string, std::string> headers;
    unsigned status;
    std::string detail;
  };
  auto no_server = view(gate);
  no_server.erase("server");
  auto not_url = view(gate);
  not_url["server"] = "overview.test";
  auto elsewhere = view(gate);
  elsewhere["server"] = "http://elsewhere.test";
  auto plain_auth = kFormType;
  plain_auth["Authorization"] = "Bearer tok";
  auto wrong_password = kFormType;
  wrong_password["Authorization"] = "Basic " + base64("tok-secret-xyz:password");
  const std::vector<Case> cases = {
      {"no server", form(no_server), with_auth("t"), 400, "missing form field 'server'"},
      {"no token", form(view(gate)), kFormType, 400, "missing Authorization header"},
      {"not Basic", form(view(gate)), plain_auth, 400,
       "Authorization header must look like \"Basic [base64-encoded data]\""},
      {"not x-api-token", form(view(gate)), wrong_password, 400,
       "must look like \"[api_token]:x-api-token\""},
      {"server not a URL", form(not_url), with_auth("t"), 400, "server must be an http(s) URL"},
      {"text body",
       "server=x",
       {{"Content-Type", "text/plain"}},
       400,
       "Content-Type must be application/x-www-form-urlencoded"},
      {"server not allowed", form(elsewhere), with_auth("t"), 403,
       "serves only these Overview servers"},
  };
  HttpClient c(server_->port());
  for (const auto& k : cases) {
    Reply r = c.post("/generate", k.body, k.headers);
    EXPECT_EQ(r.status, k.status) << k.name << ": " << r.body;
    EXPECT_EQ(r.header("content-type"), "application/problem+json") << k.name;
    const std::string detail(r.json().at("detail").as_string());
    EXPECT_NE(detail.find(k.detail), std::string::npos) << k.name << ": " << detail;
    if (k.status == 400) {
      EXPECT_TRUE(detail.starts_with(
          "Expected form data ?server=...&documentSetId=... and Authorization header. Problem: "))
          << detail;
    }
    EXPECT_EQ(detail.find("tok-secret-xyz"), std::string::npos) << detail;
  }
  EXPECT_EQ(c.get("/healthz").status, 200u);
}

TEST_F(OverviewAdapter, TheResultIsReadableOnlyWithTheViewItWasMadeFor) {
  const std::string gate = dir_.file("result");
  open_gate(gate);
  auto g = generate_to_end(form(view(gate)), with_auth("tok-result"));
  ASSERT_EQ(g.elements.back().at("state").as_string(), "succeeded");
  HttpClient c(server_->port());
  const std::string target = "/generate/" + g.job_id + "/result?" + form(view(gate));
  Reply ok = c.get(target, {{"Authorization", overview_auth("tok-result")}});
  ASSERT_EQ(ok.status, 200u) << ok.body;
  EXPECT_EQ(ok.header("content-type"), "text/plain");
  // The program got the token (its hash is in the result), but not in its argv.
  EXPECT_NE(ok.body.find(sha256_of("tok-result")), std::string::npos) << ok.body;
  EXPECT_EQ(ok.body.find("tok-result"), std::string::npos) << ok.body;
  EXPECT_NE(ok.body.find("args:http://overview.test " + gate), std::string::npos) << ok.body;

  Reply other_token = c.get(target, {{"Authorization", overview_auth("tok-other")}});
  EXPECT_EQ(other_token.status, 404u);
  Reply unknown = c.get("/generate/no-such-job/result?" + form(view(gate)),
                        {{"Authorization", overview_auth("tok-result")}});
  EXPECT_EQ(unknown.status, 404u);
  // Both say the same: nothing tells which ids exist.
  EXPECT_NE(other_token.json().at("detail").as_string().find("no Overview result"),
            std::string::npos);
  EXPECT_NE(unknown.json().at("detail").as_string().find("no Overview result"), std::string::npos);
  Reply other_set = c.get("/generate/" + g.job_id + "/result?" + form(view(gate + "x")),
                          {{"Authorization", overview_auth("tok-result")}});
  EXPECT_EQ(other_set.status, 404u);
  Reply by_query = c.get(target + "&apiToken=tok-result");
  EXPECT_EQ(by_query.status, 200u);
}

TEST_F(OverviewAdapter, TheTokenNeverAppearsInLogsResponsesOrTheJob) {
  const std::string token = "tok-NEVER-SHOWN-4711";
  const std::string gate = dir_.file("secret");
  open_gate(gate);
  auto g = generate_to_end(form(view(gate)), with_auth(token));
  ASSERT_EQ(g.elements.back().at("state").as_string(), "succeeded");
  auto fields = view(gate);
  fields["apiToken"] = token;
  HttpClient c(server_->port());
  EXPECT_EQ(c.post("/generate", form(fields), kFormType).body, "[]");
  auto bad = kFormType;
  bad["Authorization"] = "Basic " + base64(token + ":wrong");
  EXPECT_EQ(c.post("/generate", form(view(gate)), bad).status, 400u);

  EXPECT_EQ(g.body.find(token), std::string::npos);
  Reply job = c.get("/v1/jobs/" + g.job_id);
  ASSERT_EQ(job.status, 200u);
  EXPECT_EQ(job.body.find(token), std::string::npos) << job.body;
  EXPECT_FALSE(job.json().at("params").as_object().contains("api_token"));
  Reply listed = c.get("/v1/jobs");
  EXPECT_EQ(listed.body.find(token), std::string::npos);
  const auto lines = server_->log_lines();
  ASSERT_FALSE(lines.empty());
  for (const auto& line : lines) {
    EXPECT_EQ(line.find(token), std::string::npos) << line;
    EXPECT_EQ(line.find(base64(token + ":x-api-token")), std::string::npos) << line;
  }
}

TEST_F(OverviewAdapter, MetadataAndShowAreServedFromStaticDir) {
  HttpClient c(server_->port());
  Reply metadata = c.get("/metadata");
  ASSERT_EQ(metadata.status, 200u) << metadata.body;
  EXPECT_EQ(metadata.header("content-type"), "application/json");
  EXPECT_TRUE(metadata.json().as_object().contains("name"));
  Reply show = c.get("/show?server=http%3A%2F%2Foverview.test&documentSetId=1&apiToken=x");
  ASSERT_EQ(show.status, 200u);
  EXPECT_EQ(show.header("content-type"), "text/html; charset=utf-8");
  EXPECT_NE(show.body.find("/generate"), std::string::npos);
  // Nothing else of the folder (or above it) is reachable.
  EXPECT_EQ(c.get("/show/../wqd.toml").status, 404u);
  EXPECT_EQ(c.get("/metadata/..%2F..%2Fwqd.toml").status, 404u);
}

// Reads elements until the program reports it waits at its gate: the job is running.
bool read_until_waiting(OboeClient& c) {
  while (auto e = c.next_element()) {
    if (e->at("message").is_string() && e->at("message").as_string() == "waiting for the gate")
      return true;
  }
  return false;
}

// The seed's Progress tells a waiting user how many jobs are ahead; the stream carries it.
TEST(OverviewAdapterQueue, AQueuedViewStreamsItsPlaceInLineThenRuns) {
  TempDir dir;
  WqdProcess server(overview_suite_toml("", "concurrency = 1"));
  ASSERT_NE(server.port(), 0);
  const std::string first_gate = dir.file("first");
  const std::string second_gate = dir.file("second");
  OboeClient first(server.port());
  ASSERT_EQ(first
                .post("/generate",
                      form({{"server", "http://overview.test"}, {"documentSetId", first_gate}}),
                      with_auth("tok-q"))
                .status,
            200u);
  ASSERT_TRUE(read_until_waiting(first));

  OboeClient second(server.port());
  ASSERT_EQ(second
                .post("/generate",
                      form({{"server", "http://overview.test"}, {"documentSetId", second_gate}}),
                      with_auth("tok-q"))
                .status,
            200u);
  auto queued = second.next_element();
  ASSERT_TRUE(queued);
  EXPECT_EQ(queued->at("state").as_string(), "queued");
  EXPECT_EQ(queued->at("n_ahead_in_queue").as_int64(), 1);

  open_gate(first_gate);
  open_gate(second_gate);
  std::optional<json::value> last;
  while (auto e = second.next_element()) last = std::move(e);
  ASSERT_TRUE(last);
  EXPECT_EQ(last->at("state").as_string(), "succeeded");
  EXPECT_EQ(last->at("n_ahead_in_queue").as_int64(), 0);
}

// A job cut off by shutdown that will run again (attempts left) has not ended: its stream must
// not end like a finished array, which would tell Overview's front end the result is ready.
TEST(OverviewAdapterShutdown, LeavesTheArrayUnfinishedWhenTheJobWillRunAgain) {
  TempDir dir;
  WqdProcess server(overview_suite_toml("shutdown_grace = \"100ms\"", "max_attempts = 2"));
  ASSERT_NE(server.port(), 0);
  OboeClient c(server.port());
  auto head = c.post("/generate",
                     form({{"server", "http://overview.test"}, {"documentSetId", dir.file("g")}}),
                     with_auth("tok-shutdown"));
  ASSERT_EQ(head.status, 200u);
  ASSERT_TRUE(read_until_waiting(c)) << c.received();
  server.terminate();
  std::optional<json::value> last;
  while (auto e = c.next_element()) last = std::move(e);
  EXPECT_FALSE(c.array_closed()) << c.received();
  EXPECT_FALSE(c.received().ends_with("]"));
  if (last) {
    EXPECT_NE(last->at("state").as_string(), "succeeded");
  }
}

// With no attempts left the interrupted job has failed: the array ends with that outcome.
TEST(OverviewAdapterShutdown, EndsTheArrayWithTheFailureWhenTheJobWillNotRunAgain) {
  TempDir dir;
  WqdProcess server(overview_suite_toml("shutdown_grace = \"100ms\""));
  ASSERT_NE(server.port(), 0);
  OboeClient c(server.port());
  auto head = c.post("/generate",
                     form({{"server", "http://overview.test"}, {"documentSetId", dir.file("g")}}),
                     with_auth("tok-shutdown"));
  ASSERT_EQ(head.status, 200u);
  ASSERT_TRUE(read_until_waiting(c)) << c.received();
  server.terminate();
  std::optional<json::value> last;
  while (auto e = c.next_element()) last = std::move(e);
  ASSERT_TRUE(last);
  EXPECT_TRUE(c.array_closed());
  EXPECT_EQ(last->at("state").as_string(), "failed") << json::serialize(*last);
  EXPECT_FALSE(last->at("error").is_null());
}

// On a server that wants wqd tokens, the plugin routes still take Overview's token alone, and
// their jobs belong to the adapter's tenant, not to whoever holds a wqd token.
TEST(OverviewAdapterAuth, TakesOverviewsTokenWhereTheServerWantsWqdTokens) {
  TempDir dir;
  std::string toml = overview_suite_toml();
  const std::string open_line = "open = true\n";
  toml.replace(
      toml.find(open_line), open_line.size(),
      fmt::format("tokens = [{{ sha256 = \"{}\", tenant = \"ops\" }}]\n", sha256_of("ops-token")));
  const std::string tenant_line = "tenant = \"\"\n";
  toml.replace(toml.find(tenant_line), tenant_line.size(), "tenant = \"overview\"\n");
  WqdProcess server(toml);
  ASSERT_NE(server.port(), 0);
  const std::string gate = dir.file("auth");
  open_gate(gate);
  OboeClient c(server.port());
  auto head =
      c.post("/generate", form({{"server", "http://overview.test"}, {"documentSetId", gate}}),
             with_auth("overview-user-token"));
  ASSERT_EQ(head.status, 200u) << head.body;
  std::optional<json::value> last;
  while (auto e = c.next_element()) last = std::move(e);
  ASSERT_TRUE(last);
  EXPECT_EQ(last->at("state").as_string(), "succeeded");

  HttpClient api(server.port());
  EXPECT_EQ(api.get("/v1/jobs/" + head.header("x-job-id")).status, 401u);
  // The ops tenant does not see the overview tenant's job.
  EXPECT_EQ(api.get("/v1/jobs/" + head.header("x-job-id"), {{"Authorization", "Bearer ops-token"}})
                .status,
            404u);
}

TEST(OverviewAdapterConfig, RefusesATaskWhoseTokenIsNotSecret) {
  auto config = Config::parse(R"(
[adapters.overview]
task = "view"
[tasks.view]
command = ["prog", "{param.server}", "{param.document_set_id}", "{param.api_token}", "{output}"]
)",
                              "wqd.toml");
  ASSERT_FALSE(config);
  EXPECT_NE(config.error().detail.find("adapters.overview.task: task 'view' must declare "
                                       "api_token secret"),
            std::string::npos)
      << config.error().detail;
  auto unknown = Config::parse("[adapters.overview]\ntask = \"nope\"\n", "wqd.toml");
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().detail.find("names no configured task"), std::string::npos);
}

TEST(OverviewAdapterOff, GenerateIsNotFoundAndSaysHowToTurnItOn) {
  WqdProcess server("[server]\nopen = true\n" + test_tasks_toml());
  ASSERT_NE(server.port(), 0);
  HttpClient c(server.port());
  Reply r = c.post("/generate", "server=x", kFormType);
  EXPECT_EQ(r.status, 404u);
  EXPECT_NE(r.json().at("detail").as_string().find("[adapters.overview]"), std::string::npos);
  EXPECT_EQ(c.get("/show").status, 404u);
}

// ---- the example plugin, end to end -------------------------------------------------------

std::vector<std::string> sample_documents() {
  const std::string even = "Budget memo: the budget for the harbour project.";
  const std::string odd = "Harbour minutes; budget approved.";
  std::vector<std::string> docs(250);
  for (std::size_t i = 0; i < docs.size(); ++i) docs[i] = i % 2 == 0 ? even : odd;
  return docs;
}

TEST(OverviewExamplePlugin, BuildsWordCountsFromTheOverviewApiAndServesThem) {
  const std::string token = "ov-token-EXAMPLE-9";
  FakeOverviewApi overview("42", token, sample_documents());
  // The deployed plugin folder: its own wqd.toml (a later --config wins).
  WqdProcess server("", {"--config", WQ_OVERVIEW_PLUGIN_DIR "/wqd.toml"});
  ASSERT_NE(server.port(), 0) << "wqd did not start with the example plugin's config";

  HttpClient c(server.port());
  ASSERT_EQ(c.get("/metadata").status, 200u);
  ASSERT_EQ(c.get("/show").status, 200u);

  const Fields view = {{"server", overview.url()}, {"documentSetId", "42"}};
  OboeClient oboe(server.port());
  auto head = oboe.post("/generate", form(view), with_auth(token));
  ASSERT_EQ(head.status, 200u) << head.body;
  std::optional<json::value> last;
  while (auto e = oboe.next_element()) last = std::move(e);
  ASSERT_TRUE(last);
  ASSERT_EQ(last->at("state").as_string(), "succeeded") << json::serialize(*last);
  EXPECT_TRUE(oboe.array_closed());

  Reply result = c.get("/generate/" + head.header("x-job-id") + "/result?" + form(view),
                       {{"Authorization", overview_auth(token)}});
  ASSERT_EQ(result.status, 200u) << result.body;
  EXPECT_EQ(result.header("content-type"), "application/json");
  const json::value db = result.json();
  EXPECT_EQ(db.at("documents").as_int64(), 250);
  EXPECT_EQ(db.at("document_set_id").as_string(), "42");
  const auto& words = db.at("words").as_array();
  ASSERT_GE(words.size(), 3u);
  // "budget" twice in 125 documents and once in 125; "harbour" once in each; "the" is a stopword.
  EXPECT_EQ(words[0].at("word").as_string(), "budget");
  EXPECT_EQ(words[0].at("count").as_int64(), 375);
  EXPECT_EQ(words[1].at("word").as_string(), "harbour");
  EXPECT_EQ(words[1].at("count").as_int64(), 250);

  // Three pages of 100, each with the Overview API's Basic TOKEN:x-auth-token.
  const auto seen = overview.requests_seen();
  ASSERT_EQ(seen.size(), 3u);
  for (const auto& s : seen) EXPECT_EQ(s.status, 200u) << s.target;
  EXPECT_NE(seen[2].target.find("offset=200"), std::string::npos) << seen[2].target;

  for (const auto& line : server.log_lines())
    EXPECT_EQ(line.find(token), std::string::npos) << line;
}

TEST(OverviewExamplePlugin, AWrongTokenFailsTheJobWithTheApisAnswer) {
  FakeOverviewApi overview("42", "the-right-token", sample_documents());
  WqdProcess server("", {"--config", WQ_OVERVIEW_PLUGIN_DIR "/wqd.toml"});
  ASSERT_NE(server.port(), 0);
  OboeClient oboe(server.port());
  auto head = oboe.post("/generate", form({{"server", overview.url()}, {"documentSetId", "42"}}),
                        with_auth("a-WRONG-token"));
  ASSERT_EQ(head.status, 200u);
  std::optional<json::value> last;
  while (auto e = oboe.next_element()) last = std::move(e);
  ASSERT_TRUE(last);
  EXPECT_EQ(last->at("state").as_string(), "failed");
  EXPECT_EQ(last->at("returncode").as_int64(), 1);
  const std::string error(last->at("error").as_string());
  EXPECT_NE(error.find("the Overview API answered 401"), std::string::npos) << error;
  EXPECT_EQ(error.find("a-WRONG-token"), std::string::npos) << error;
}

// ---- SAJE ---------------------------------------------------------------------------------

class Saje : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ =
        new WqdProcess(fmt::format("[server]\nopen = true\n{}\n[tasks.boom]\n"
                                   "command = [\"{}\", \"fail\", \"3\", \"boom\"]\n",
                                   test_tasks_toml(), WQ_TEST_PROGRAM));
    ASSERT_NE(server_->port(), 0) << "wqd did not start";
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  // Waits (long-polls, no sleeps) until the job ended.
  static void wait_until_done(HttpClient& c, const std::string& uid) {
    std::uint64_t after = 0;
    for (;;) {
      Reply r = c.get(fmt::format("/v1/jobs/{}/wait?after={}&timeout=30", uid, after));
      ASSERT_TRUE(r.status == 200u || r.status == 204u) << r.body;
      if (r.status == 204u) continue;
      const json::value snap = r.json();
      if (snap.at("state").as_string() != "queued" && snap.at("state").as_string() != "running")
        return;
      after = snap.at("seq").to_number<std::uint64_t>();
    }
  }
  static WqdProcess* server_;
};

WqdProcess* Saje::server_ = nullptr;

TEST_F(Saje, SubmitAnswersTheUidAsTextAndGetReportsTheJobDetails) {
  HttpClient c(server_->port());
  Reply submitted = c.post("/v1/job/", R"({"task": "count", "kwargs": {"n": 3}})");
  ASSERT_EQ(submitted.status, 200u) << submitted.body;
  EXPECT_EQ(submitted.header("content-type"), "text/plain; charset=utf-8");
  const std::string uid = submitted.body;
  EXPECT_TRUE(std::regex_match(
      uid, std::regex("[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")))
      << uid;

  Reply early = c.get("/v1/job/" + uid);
  ASSERT_EQ(early.status, 200u) << early.body;
  const json::value e = early.json();
  EXPECT_TRUE(e.at("complete").is_bool());

  wait_until_done(c, uid);
  Reply done = c.get("/v1/job/" + uid);
  ASSERT_EQ(done.status, 200u);
  EXPECT_EQ(done.header("content-type"), "application/json");
  const json::value d = done.json();
  EXPECT_EQ(d.at("uid").as_string(), uid);
  EXPECT_EQ(d.at("name").as_string(), "count");
  EXPECT_EQ(d.at("complete").as_bool(), true);
  EXPECT_EQ(d.at("kwargs").at("n").as_int64(), 3);
  EXPECT_EQ(d.at("state").as_string(), "succeeded");
  EXPECT_TRUE(d.at("error").is_null());
  const std::string ts(d.at("timestamp").as_string());
  EXPECT_TRUE(std::regex_match(ts, std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6})"))) << ts;
  // The trailing slash is optional, as with Sanic's default routing.
  EXPECT_EQ(c.post("/v1/job", R"({"task": "count", "kwargs": {"n": 1}})").status, 200u);
}

TEST_F(Saje, EveryPostIsANewJobUnlessItNamesItsUid) {
  HttpClient c(server_->port());
  const std::string body = R"({"task": "hold", "kwargs": {"ms": 1}})";
  Reply a = c.post("/v1/job/", body);
  Reply b = c.post("/v1/job/", body);
  ASSERT_EQ(a.status, 200u);
  ASSERT_EQ(b.status, 200u);
  EXPECT_NE(a.body, b.body);

  const std::string uid = "6f1f0b4e-6b7a-4d1c-9a59-0c2f6f7e9d11";
  const std::string named = R"({"task": "hold", "uid": ")" + uid + R"(", "kwargs": {"ms": 1}})";
  EXPECT_EQ(c.post("/v1/job/", named).body, uid);
  EXPECT_EQ(c.post("/v1/job/", named).body, uid);  // a retried POST is the same job
  Reply clash =
      c.post("/v1/job/", R"({"task": "hold", "uid": ")" + uid + R"(", "kwargs": {"ms": 2}})");
  EXPECT_EQ(clash.status, 409u) << clash.body;
}

TEST_F(Saje, AFailedOrCancelledJobIsCompleteWithItsStateAndError) {
  HttpClient c(server_->port());
  const std::string failed = c.post("/v1/job/", R"({"task": "boom"})").body;
  wait_until_done(c, failed);
  const json::value f = c.get("/v1/job/" + failed).json();
  EXPECT_TRUE(f.at("complete").as_bool());
  EXPECT_EQ(f.at("state").as_string(), "failed");
  EXPECT_NE(f.at("error").as_string().find("Exited with code 3"), std::string::npos);
  EXPECT_TRUE(f.at("kwargs").as_object().empty());

  const std::string held = c.post("/v1/job/", R"({"task": "hold", "kwargs": {"ms": 600000}})").body;
  EXPECT_FALSE(c.get("/v1/job/" + held).json().at("complete").as_bool());
  ASSERT_EQ(c.post("/v1/jobs/" + held + "/cancel", "").status, 200u);
  wait_until_done(c, held);
  const json::value h = c.get("/v1/job/" + held).json();
  EXPECT_TRUE(h.at("complete").as_bool());
  EXPECT_EQ(h.at("state").as_string(), "cancelled");
}

TEST_F(Saje, UnknownUidsAndBadBodiesAreProblems) {
  HttpClient c(server_->port());
  Reply missing = c.get("/v1/job/0b8a1c1e-0000-7000-8000-000000000000");
  EXPECT_EQ(missing.status, 404u);
  EXPECT_EQ(missing.header("content-type"), "application/problem+json");
  EXPECT_NE(missing.json().at("detail").as_string().find("no job with uid"), std::string::npos);

  struct Case {
    std::string body;
    unsigned status;
    std::string detail;
  };
  const std::vector<Case> cases = {
      {"{not json", 400, "the body is not JSON"},
      {"[1]", 400, "the body must be a JSON object"},
      {R"({"kwargs": {}})", 400, "task is missing"},
      {R"({"task": 7})", 400, "task must be a non-empty string"},
      {R"({"task": "count", "kwargs": [1]})", 400, "kwargs must be an object"},
      {R"({"task": "count", "kwargs": {"n": 1}, "when": "now"})", 400, "unknown field 'when'"},
      {R"({"task": "count", "uid": "../etc"})", 400, "uid must be a string"},
      {R"({"task": "count", "kwargs": {"m": 1}})", 400, "unknown param 'm'"},
      {R"({"task": "nope"})", 404, "nope"},
  };
  for (const auto& k : cases) {
    Reply r = c.post("/v1/job/", k.body);
    EXPECT_EQ(r.status, k.status) << k.body << " → " << r.body;
    EXPECT_EQ(r.header("content-type"), "application/problem+json") << k.body;
    EXPECT_NE(r.json().at("detail").as_string().find(k.detail), std::string::npos)
        << k.body << " → " << r.body;
  }
  EXPECT_EQ(c.get("/healthz").status, 200u);
}

}  // namespace
}  // namespace wq::test
