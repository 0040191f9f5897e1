#include "run/argv_template.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

namespace wq::run {
namespace {

TaskConfig task_with(std::vector<std::string> command, std::vector<ParamSpec> params = {}) {
  TaskConfig t;
  t.name = "convert";
  t.command = std::move(command);
  t.params = std::move(params);
  return t;
}

ParamSpec plain_param(std::string name) {
  return ParamSpec{std::move(name), true, false, std::nullopt};
}
ParamSpec secret_param(std::string name) {
  return ParamSpec{std::move(name), true, true, std::nullopt};
}

boost::json::object params_of(std::string_view json) {
  return boost::json::parse(json).as_object();
}

std::vector<std::string> expand(const TaskConfig& task, const boost::json::object& params) {
  TemplateInputs in{params, "job-1", "/data/results/job-1.out", "/data/jobs/job-1/status",
                    "/data/jobs/job-1"};
  auto argv = expand_argv(task, in);
  EXPECT_TRUE(argv) << (argv ? "" : argv.error().detail);
  return argv ? *argv : std::vector<std::string>{};
}

TEST(ArgvTemplate, ExpandsEveryPlaceholder) {
  auto task =
      task_with({"./convert", "{param.src}", "{output}", "{status_file}", "{job_dir}", "{job_id}"});
  EXPECT_EQ(expand(task, params_of(R"({"src": "a.png"})")),
            (std::vector<std::string>{"./convert", "a.png", "/data/results/job-1.out",
                                      "/data/jobs/job-1/status", "/data/jobs/job-1", "job-1"}));
}

TEST(ArgvTemplate, ExpandsPlaceholdersEmbeddedInLargerArguments) {
  auto task = task_with({"prog", "--in={param.src}", "{param.a}{param.b}", "--out={output}.tmp"});
  EXPECT_EQ(
      expand(task, params_of(R"({"src": "x y", "a": "1", "b": 2})")),
      (std::vector<std::string>{"prog", "--in=x y", "12", "--out=/data/results/job-1.out.tmp"}));
}

TEST(ArgvTemplate, DoubledBracesAreLiteralBraces) {
  auto task = task_with({"prog", "{{\"k\": {param.v}}}", "}}{{"});
  EXPECT_EQ(expand(task, params_of(R"({"v": 3})")),
            (std::vector<std::string>{"prog", "{\"k\": 3}", "}{"}));
}

TEST(ArgvTemplate, RendersEachJsonKindAsDocumented) {
  auto task = task_with({"prog", "{param.s}", "{param.i}", "{param.u}", "{param.d}", "{param.t}",
                         "{param.f}", "{param.n}", "{param.o}", "{param.a}"});
  auto params = params_of(R"({"s": "text", "i": -42, "u": 18446744073709551615, "d": 1.5,
                             "t": true, "f": false, "n": null, "o": {"k": [1, "x"]}, "a": [1, 2]})");
  EXPECT_EQ(expand(task, params),
            (std::vector<std::string>{"prog", "text", "-42", "18446744073709551615", "1.5", "true",
                                      "false", "", R"({"k":[1,"x"]})", "[1,2]"}));
}

TEST(ArgvTemplate, HostileValuesStayOneVerbatimArgument) {
  auto task = task_with({"prog", "{param.v}"});
  for (const char* hostile :
       {"../../etc/passwd", "/abs/path", "a b  c", "\"quoted\" 'single'", "$(rm -rf /)", "`id`",
        "x; rm -rf /", "line1\nline2", "*", "-rf", "{output}", "{{"}) {
    boost::json::object params;
    params["v"] = hostile;
    EXPECT_EQ(expand(task, params), (std::vector<std::string>{"prog", hostile}));
  }
}

TEST(ArgvTemplate, MissingParamTakesItsDefault) {
  auto task = task_with({"prog", "{param.size}"},
                        {ParamSpec{"size", false, false, boost::json::value(640)}});
  EXPECT_EQ(expand(task, {}), (std::vector<std::string>{"prog", "640"}));
}

TEST(ArgvTemplate, MissingParamIsBadInputNamingIt) {
  auto task = task_with({"prog", "{param.src}"});
  boost::json::object params;
  auto argv = expand_argv(task, TemplateInputs{params, "j", "o", "s", "d"});
  ASSERT_FALSE(argv);
  EXPECT_EQ(argv.error().code, Errc::bad_input);
  EXPECT_NE(argv.error().detail.find("params.src"), std::string::npos) << argv.error().detail;
}

TEST(ArgvTemplate, ValueWithNulByteIsBadInput) {
  auto task = task_with({"prog", "{param.v}"});
  boost::json::object params;
  params["v"] = boost::json::string(std::string_view("a\0b", 3));
  auto argv = expand_argv(task, TemplateInputs{params, "j", "o", "s", "d"});
  ASSERT_FALSE(argv);
  EXPECT_EQ(argv.error().code, Errc::bad_input);
}

TEST(ArgvTemplate, UnknownPlaceholdersAndStrayBracesAreRejected) {
  boost::json::object params;
  for (const char* bad :
       {"{out}", "{param.}", "{PARAM.x}", "{ output }", "{", "x}", "{param.a{b}", "{}"}) {
    auto task = task_with({"prog", bad});
    auto argv = expand_argv(task, TemplateInputs{params, "j", "o", "s", "d"});
    ASSERT_FALSE(argv) << bad;
    EXPECT_EQ(argv.error().code, Errc::bad_input) << bad;
    auto valid = validate_command_template(task);
    ASSERT_FALSE(valid) << bad;
    EXPECT_EQ(valid.error().code, Errc::config_invalid) << bad;
    EXPECT_EQ(valid.error().detail.rfind("tasks.convert.command[1]: ", 0), 0u)
        << valid.error().detail;
  }
}

TEST(ArgvTemplate, ValidateAcceptsAWellFormedTemplate) {
  auto task =
      task_with({"prog", "--in={param.src}", "{output}", "{{literal}}"}, {plain_param("src")});
  EXPECT_TRUE(validate_command_template(task));
}

TEST(ArgvTemplate, ValidateRejectsAnUndeclaredParamWhenParamsAreDeclared) {
  auto task = task_with({"prog", "{param.other}"}, {plain_param("src")});
  auto valid = validate_command_template(task);
  ASSERT_FALSE(valid);
  EXPECT_NE(valid.error().detail.find("'other'"), std::string::npos) << valid.error().detail;
}

TEST(ArgvTemplate, SecretParamInArgvNeedsSecretsViaArgv) {
  auto task = task_with({"prog", "{param.token}"}, {secret_param("token")});
  auto valid = validate_command_template(task);
  ASSERT_FALSE(valid);
  EXPECT_NE(valid.error().detail.find("secret param 'token'"), std::string::npos);
  auto params = params_of(R"({"token": "s3cr3t"})");
  auto argv = expand_argv(task, TemplateInputs{params, "j", "o", "s", "d"});
  ASSERT_FALSE(argv);
  EXPECT_EQ(argv.error().detail.find("s3cr3t"), std::string::npos);

  task.secrets_via = SecretsVia::argv;
  EXPECT_TRUE(validate_command_template(task));
  EXPECT_EQ(expand(task, params), (std::vector<std::string>{"prog", "s3cr3t"}));
}

TEST(ArgvTemplate, SecretEnvNamesEachSecretParam) {
  auto task = task_with({"prog"}, {secret_param("api-token"), plain_param("server"),
                                   ParamSpec{"pin", false, true, boost::json::value(1234)}});
  auto env = secret_env(task, params_of(R"({"api-token": "abc def", "server": "https://x"})"));
  ASSERT_TRUE(env);
  EXPECT_EQ(*env, (std::vector<std::string>{"WQ_SECRET_API_TOKEN=abc def", "WQ_SECRET_PIN=1234"}));
  task.secrets_via = SecretsVia::stdin_json;
  EXPECT_TRUE(secret_env(task, {})->empty());
}

TEST(ArgvTemplate, SecretStdinIsOneJsonObjectOfTheSecrets) {
  auto task = task_with({"prog"}, {secret_param("token"), plain_param("server")});
  task.secrets_via = SecretsVia::stdin_json;
  auto in = secret_stdin(task, params_of(R"({"token": "t0k", "server": "s"})"));
  ASSERT_TRUE(in);
  EXPECT_EQ(*in, "{\"token\":\"t0k\"}\n");
  task.secrets_via = SecretsVia::env;
  EXPECT_FALSE(secret_stdin(task, params_of(R"({"token": "t0k"})")));
}

TEST(ArgvTemplate, MakeCommandSpecCarriesTheTaskSettings) {
  auto task = task_with({"prog", "{param.server}", "{output}"},
                        {plain_param("server"), secret_param("token")});
  task.env["LANG"] = "C.UTF-8";
  task.timeout = Millis(2000);
  task.kill_grace = Millis(100);
  task.stderr_tail_bytes = 10;
  task.produces_output = false;
  task.max_result_bytes = 99;
  task.progress = ProgressProtocol::status_file;
  auto params = params_of(R"({"server": "s", "token": "t"})");
  auto spec = make_command_spec(task, TemplateInputs{params, "j1", "/o", "/st", "/d"});
  ASSERT_TRUE(spec);
  EXPECT_EQ(spec->job_id, "j1");
  EXPECT_EQ(spec->argv, (std::vector<std::string>{"prog", "s", "/o"}));
  EXPECT_EQ(spec->env, (std::vector<std::string>{"LANG=C.UTF-8", "WQ_SECRET_TOKEN=t"}));
  EXPECT_FALSE(spec->stdin_data);
  EXPECT_EQ(spec->cwd, "/d");
  EXPECT_EQ(spec->status_file, "/st");
  EXPECT_EQ(spec->protocol, ProgressProtocol::status_file);
  EXPECT_EQ(spec->timeout, Millis(2000));
  EXPECT_EQ(spec->kill_grace, Millis(100));
  EXPECT_EQ(spec->stderr_tail_bytes, 10u);
  EXPECT_FALSE(spec->produces_output);
  EXPECT_EQ(spec->max_output_bytes, 99u);
}

}  // namespace
}  // namespace wq::run
