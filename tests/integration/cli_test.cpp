// The real `wq` binary against a real wqd: exit codes for each outcome, --json output parsed,
// plain text when stdout is not a terminal, unreachable server → 4, usage errors → 2.
#include <fcntl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <sstream>

#include "integration/wqd_process.hpp"

extern char** environ;

namespace wq::test {
namespace {

struct Ran {
  int code = -1;
  std::string out;
  std::string err;

  std::vector<boost::json::value> json_lines() const {
    std::vector<boost::json::value> lines;
    std::istringstream in(out);
    for (std::string line; std::getline(in, line);) {
      if (!line.empty()) lines.push_back(boost::json::parse(line));
    }
    return lines;
  }
};

class Scratch {
 public:
  Scratch()
      : dir_(std::filesystem::temp_directory_path() /
             fmt::format("wq-cli-test-{}-{:x}", ::getpid(), std::random_device{}())) {
    std::filesystem::create_directories(dir_);
  }
  ~Scratch() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  std::filesystem::path operator/(const std::string& name) const { return dir_ / name; }

 private:
  std::filesystem::path dir_;
};

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Runs `wq ARGS…` with stdin from /dev/null, stdout and stderr to files (never a terminal),
// WQ_SERVER / WQ_TOKEN only as given in `env`.
Ran wq(std::vector<std::string> args, const std::map<std::string, std::string>& env = {}) {
  Scratch scratch;
  const auto out = scratch / "out";
  const auto err = scratch / "err";
  args.insert(args.begin(), WQ_PATH);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> vars;
  for (char** e = environ; *e; ++e) {
    std::string_view v(*e);
    if (!v.starts_with("WQ_SERVER=") && !v.starts_with("WQ_TOKEN=")) vars.emplace_back(v);
  }
  for (const auto& [k, v] : env) vars.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& v : vars) envp.push_back(v.data());
  envp.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, err.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0600);
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, WQ_PATH, &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) throw std::runtime_error("cannot start " WQ_PATH);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  Ran r;
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = slurp(out);
  r.err = slurp(err);
  return r;
}

std::string config(std::string_view server_extra = "") {
  return fmt::format("[server]\nopen = true\n{}\n", server_extra) + test_tasks_toml() +
         fmt::format(
             "\n[tasks.fail]\ncommand = [\"{}\", \"fail\", \"{{param.code}}\", "
             "\"broken on purpose\"]\n",
             WQ_TEST_PROGRAM);
}

class Cli : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_NE(wqd_.port(), 0); }
  std::string server() const { return fmt::format("http://127.0.0.1:{}", wqd_.port()); }
  // wq --server URL ARGS…
  Ran run(std::vector<std::string> args) {
    args.insert(args.begin(), {"--server", server()});
    return wq(std::move(args));
  }
  std::string submit_held() {
    Ran r = run({"submit", "hold", "ms:=600000"});
    EXPECT_EQ(r.code, 0) << r.err;
    return r.out.substr(0, r.out.find('\n'));
  }

  WqdProcess wqd_{config()};
};

TEST_F(Cli, SubmitWaitExitsZeroWhenTheJobSucceedsWithPlainProgress) {
  Ran r = run({"submit", "count", "n:=3", "delay:=0.01", "--wait"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("succeeded"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find('\x1b'), std::string::npos) << "escape codes in plain output: " << r.out;
  EXPECT_NE(r.err.find("submitted job"), std::string::npos) << r.err;
}

TEST_F(Cli, SubmitWaitExitsOneWhenTheJobFailsAndShowsTheError) {
  Ran r = run({"submit", "fail", "code=7", "--wait"});
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  EXPECT_NE(r.out.find("failed (returncode 7)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("broken on purpose"), std::string::npos) << r.out;
}

TEST_F(Cli, WatchExitsThreeForACancelledJob) {
  const std::string id = submit_held();
  Ran cancel = run({"cancel", id});
  EXPECT_EQ(cancel.code, 0) << cancel.err;
  Ran watch = run({"watch", id});
  EXPECT_EQ(watch.code, 3) << watch.out << watch.err;
  EXPECT_NE(watch.out.find("cancelled"), std::string::npos) << watch.out;
  EXPECT_EQ(run({"cancel", id}).code, 0) << "cancelling a cancelled job is no error";
}

TEST_F(Cli, CancellingAJobThatSucceededExitsOne) {
  Ran done = run({"--json", "submit", "count", "n:=1", "delay:=0", "--wait"});
  ASSERT_EQ(done.code, 0) << done.err;
  const std::string id(done.json_lines().back().at("id").as_string());
  Ran cancel = run({"cancel", id});
  EXPECT_EQ(cancel.code, 1) << cancel.err;
  EXPECT_NE(cancel.err.find("already succeeded; there is nothing to cancel"), std::string::npos)
      << cancel.err;
}

TEST_F(Cli, JsonOutputOfEveryCommandParses) {
  Ran first = run({"--json", "submit", "count", "n=2", "delay:=0"});
  ASSERT_EQ(first.code, 0) << first.err;
  auto job = boost::json::parse(first.out).as_object();
  const std::string id(job.at("id").as_string());
  EXPECT_TRUE(job.at("created").as_bool());
  EXPECT_EQ(job.at("params").at("n").as_string(), "2");   // k=v: a string
  EXPECT_EQ(job.at("params").at("delay").as_int64(), 0);  // k:=JSON: typed

  Ran watch = run({"--json", "watch", id});
  ASSERT_EQ(watch.code, 0) << watch.err;
  auto lines = watch.json_lines();
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(lines.back().at("state").as_string(), "succeeded");
  EXPECT_EQ(lines.back().at("id").as_string(), id);

  Ran dup = run({"--json", "submit", "count", "n=2", "delay:=0"});
  ASSERT_EQ(dup.code, 0) << dup.err;
  auto again = boost::json::parse(dup.out).as_object();
  EXPECT_FALSE(again.at("created").as_bool());
  EXPECT_EQ(again.at("id").as_string(), id);

  Ran get = run({"get", id, "--json"});
  ASSERT_EQ(get.code, 0) << get.err;
  EXPECT_EQ(boost::json::parse(get.out).at("state").as_string(), "succeeded");

  Ran ls = run({"--json", "ls", "--state", "succeeded"});
  ASSERT_EQ(ls.code, 0) << ls.err;
  auto jobs = boost::json::parse(ls.out).at("jobs").as_array();
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0].at("id").as_string(), id);

  Ran tasks = run({"--json", "tasks"});
  ASSERT_EQ(tasks.code, 0) << tasks.err;
  EXPECT_EQ(boost::json::parse(tasks.out).at("tasks").as_array().size(), 3u);
}

TEST_F(Cli, ResultIsWrittenToAFileOrStdoutAndRefusedBeforeTheJobSucceeded) {
  Ran done = run({"submit", "count", "n:=1", "delay:=0", "--wait"});
  ASSERT_EQ(done.code, 0) << done.err;
  Ran ls = run({"--json", "ls"});
  const std::string id(boost::json::parse(ls.out).at("jobs").at(0).at("id").as_string());
  Scratch scratch;
  Ran to_file = run({"result", id, "-o", (scratch / "r.txt").string()});
  EXPECT_EQ(to_file.code, 0) << to_file.err;
  EXPECT_EQ(slurp(scratch / "r.txt"), "counted to 1\n");
  Ran to_stdout = run({"result", id});
  EXPECT_EQ(to_stdout.code, 0) << to_stdout.err;
  EXPECT_EQ(to_stdout.out, "counted to 1\n");

  const std::string held = submit_held();
  Ran early = run({"result", held});
  EXPECT_EQ(early.code, 1);
  EXPECT_NE(early.err.find("wq watch ID"), std::string::npos) << early.err;
}

TEST_F(Cli, HumanOutputOfGetLsAndTasks) {
  const std::string id = submit_held();
  Ran get = run({"get", id});
  EXPECT_EQ(get.code, 0) << get.err;
  EXPECT_NE(get.out.find("task        hold"), std::string::npos) << get.out;
  Ran ls = run({"ls"});
  EXPECT_EQ(ls.code, 0) << ls.err;
  EXPECT_NE(ls.out.find(id), std::string::npos) << ls.out;
  Ran tasks = run({"tasks"});
  EXPECT_EQ(tasks.code, 0) << tasks.err;
  EXPECT_NE(tasks.out.find("count [delay=0.02] n=…"), std::string::npos) << tasks.out;
  EXPECT_EQ(run({"cancel", id}).code, 0);
}

TEST_F(Cli, TheServerComesFromWqServerWhenNoFlagIsGiven) {
  Ran r = wq({"tasks"}, {{"WQ_SERVER", server()}});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("hold"), std::string::npos);
}

TEST_F(Cli, UsageErrorsExitTwoAndSayTheFix) {
  Ran none = run({});
  EXPECT_EQ(none.code, 2) << none.err;
  Ran unknown_flag = run({"ls", "--bogus"});
  EXPECT_EQ(unknown_flag.code, 2) << unknown_flag.err;
  Ran bad_json = run({"submit", "count", "n:=ten"});
  EXPECT_EQ(bad_json.code, 2);
  EXPECT_NE(bad_json.err.find("for a string write n=ten"), std::string::npos) << bad_json.err;
  Ran no_equals = run({"submit", "count", "n10"});
  EXPECT_EQ(no_equals.code, 2);
  EXPECT_NE(no_equals.err.find("NAME=TEXT"), std::string::npos) << no_equals.err;
  Ran unknown_task = run({"submit", "nope"});
  EXPECT_EQ(unknown_task.code, 2);
  EXPECT_NE(unknown_task.err.find("wq tasks"), std::string::npos) << unknown_task.err;
  Ran bad_state = run({"ls", "--state", "done"});
  EXPECT_EQ(bad_state.code, 2);
  Ran bad_server = wq({"--server", "ftp://x", "tasks"});
  EXPECT_EQ(bad_server.code, 2);
  EXPECT_NE(bad_server.err.find("http://127.0.0.1:8080"), std::string::npos) << bad_server.err;
  Ran missing = run({"get", "no-such-job"});
  EXPECT_EQ(missing.code, 1);
  EXPECT_NE(missing.err.find("wq ls"), std::string::npos) << missing.err;
}

// `wq ARGS…` running in the background, its stdout read line by line through a pipe.
class Background {
 public:
  explicit Background(std::vector<std::string> args) {
    args.insert(args.begin(), WQ_PATH);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, (scratch_ / "err").c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0600);
    const int rc = ::posix_spawn(&pid_, WQ_PATH, &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(fds[1]);
    if (rc != 0) throw std::runtime_error("cannot start " WQ_PATH);
    out_ = ::fdopen(fds[0], "r");
  }
  ~Background() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      wait();
    }
    if (out_) std::fclose(out_);
  }
  // The next stdout line; nullopt at EOF.
  std::optional<std::string> line() {
    char buf[4096];
    if (!std::fgets(buf, sizeof buf, out_)) return std::nullopt;
    std::string l(buf);
    if (!l.empty() && l.back() == '\n') l.pop_back();
    return l;
  }
  int wait() {
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  std::string err() { return slurp(scratch_ / "err"); }

 private:
  Scratch scratch_;
  pid_t pid_ = -1;
  std::FILE* out_ = nullptr;
};

TEST(CliRestart, WatchCarriesOnWhenTheServerRestartsAndExitsWithTheOutcome) {
  Scratch data;
  const std::string toml =
      config("shutdown_grace = \"100ms\"") +
      fmt::format(
          "\n[tasks.slow]\ncommand = [\"{}/tasks/count.sh\", \"40\", \"0.05\", "
          "\"{{output}}\"]\nmax_attempts = 2\n",
          WQ_EXAMPLES_DIR);
  auto first = std::make_unique<WqdProcess>(
      toml, std::vector<std::string>{"--data-dir", (data / "wq-data").string()});
  const unsigned short port = first->port();
  ASSERT_NE(port, 0);
  const std::string server = fmt::format("http://127.0.0.1:{}", port);
  Ran submitted = wq({"--server", server, "submit", "slow"});
  ASSERT_EQ(submitted.code, 0) << submitted.err;
  const std::string id = submitted.out.substr(0, submitted.out.find('\n'));

  Background watch({"--server", server, "watch", id});
  for (;;) {
    auto l = watch.line();
    ASSERT_TRUE(l) << "wq watch ended early: " << watch.err();
    if (l->starts_with("running") && l->find("counted") != std::string::npos) break;
  }
  EXPECT_EQ(first->terminate(), 0);
  first.reset();
  WqdProcess second(toml, {"--data-dir", (data / "wq-data").string(), "--listen",
                           fmt::format("127.0.0.1:{}", port)});
  ASSERT_EQ(second.port(), port);
  std::string last;
  while (auto l = watch.line()) last = *l;
  EXPECT_EQ(watch.wait(), 0) << watch.err();
  EXPECT_EQ(last, "succeeded");
  EXPECT_NE(watch.err().find("reconnecting; the job goes on"), std::string::npos) << watch.err();
}

TEST(CliUnreachable, AServerThatIsNotThereExitsFourAndSaysHowToPointAtOne) {
  unsigned short port = 0;
  {
    WqdProcess gone(config());
    port = gone.port();
    ASSERT_NE(port, 0);
    EXPECT_EQ(gone.terminate(), 0);
  }
  const std::string server = fmt::format("http://127.0.0.1:{}", port);
  for (const auto& args :
       std::vector<std::vector<std::string>>{{"--server", server, "tasks"},
                                             {"--server", server, "submit", "count", "n:=1"},
                                             {"--server", server, "watch", "some-id"}}) {
    Ran r = wq(args);
    EXPECT_EQ(r.code, 4) << args.back() << ": " << r.err;
    EXPECT_NE(r.err.find("cannot reach wqd at " + server), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("is it running? set --server or WQ_SERVER"), std::string::npos) << r.err;
  }
}

TEST(CliAuth, ATokenComesFromWqTokenAndAMissingOneSaysHowToGiveIt) {
  WqdProcess wqd(fmt::format("[server]\ntokens = [{{ sha256 = \"{}\", tenant = \"t\" }}]\n{}",
                             sha256_of("tok"), test_tasks_toml()));
  ASSERT_NE(wqd.port(), 0);
  const std::string server = fmt::format("http://127.0.0.1:{}", wqd.port());
  Ran without = wq({"--server", server, "tasks"});
  EXPECT_EQ(without.code, 1);
  EXPECT_NE(without.err.find("set --token or WQ_TOKEN"), std::string::npos) << without.err;
  Ran with = wq({"--server", server, "tasks"}, {{"WQ_TOKEN", "tok"}});
  EXPECT_EQ(with.code, 0) << with.err;
}

}  // namespace
}  // namespace wq::test
