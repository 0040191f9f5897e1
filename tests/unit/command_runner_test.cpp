// Black-box tests of CommandRunner with real child processes (wq-test-program) in a temp dir.
// Waits are on condition variables; the deadlines are hang guards, never timing assertions.
#include "run/command_runner.hpp"

#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>

#include "core/log.hpp"
#include "run/argv_template.hpp"

namespace wq::run {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
constexpr auto kHangGuard = 120s;

class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "wq-run-test-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// A spec the way the queue builds one: {output} exists and is empty.
CommandSpec spec_for(const TempDir& dir, std::vector<std::string> args) {
  CommandSpec spec;
  spec.job_id = "test-job";
  spec.argv = {WQ_TEST_PROGRAM};
  spec.argv.insert(spec.argv.end(), args.begin(), args.end());
  spec.cwd = dir.path();
  spec.output = dir.path() / "output";
  spec.status_file = dir.path() / "status";
  std::ofstream(spec.output).flush();
  return spec;
}

struct Observed {
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<ProgressLine> progress;
  std::optional<CommandResult> result;
  int done_calls = 0;

  CommandRunner::ProgressFn on_progress() {
    return [this](double fraction, std::optional<std::string> message) {
      std::lock_guard lock(mutex);
      progress.push_back(ProgressLine{fraction, std::move(message)});
      changed.notify_all();
    };
  }
  CommandRunner::DoneFn on_done() {
    return [this](CommandResult r) {
      std::lock_guard lock(mutex);
      result = std::move(r);
      ++done_calls;
      changed.notify_all();
    };
  }
  CommandResult wait_done() {
    std::unique_lock lock(mutex);
    if (!changed.wait_for(lock, kHangGuard, [&] { return result.has_value(); })) {
      ADD_FAILURE() << "the run never ended";
      return {};
    }
    return *result;
  }
  void wait_for_message(std::string_view message) {
    std::unique_lock lock(mutex);
    bool seen = changed.wait_for(lock, kHangGuard, [&] {
      for (const auto& p : progress) {
        if (p.message == message) return true;
      }
      return false;
    });
    ASSERT_TRUE(seen) << "never saw progress '" << message << "'";
  }
};

CommandResult run_to_end(CommandSpec spec, Observed* observed = nullptr) {
  Observed local;
  Observed& o = observed ? *observed : local;
  CommandRunner runner;
  runner.start(std::move(spec), o.on_progress(), o.on_done());
  return o.wait_done();
}

class CapturedWarnings {
 public:
  CapturedWarnings() {
    log::set_sink([this](log::Level, std::string_view msg, std::string_view) {
      std::lock_guard lock(mutex_);
      lines_.emplace_back(msg);
    });
  }
  ~CapturedWarnings() { log::set_sink(nullptr); }
  bool contains(std::string_view text) {
    std::lock_guard lock(mutex_);
    for (const auto& l : lines_) {
      if (l == text) return true;
    }
    return false;
  }

 private:
  std::mutex mutex_;
  std::vector<std::string> lines_;
};

// Waits (hang guard only) until `pid` has exited, whoever its parent is now.
bool exited(pid_t pid) {
  // glibc 2.36's <sys/pidfd.h> lacks extern "C", so call it directly.
  int fd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (fd < 0) return errno == ESRCH;
  pollfd p{fd, POLLIN, 0};
  int ready = poll(&p, 1, static_cast<int>(std::chrono::milliseconds(kHangGuard).count()));
  close(fd);
  return ready == 1;
}

ParamSpec plain_param(std::string name) {
  return ParamSpec{std::move(name), true, false, std::nullopt};
}
ParamSpec secret_param(std::string name) {
  return ParamSpec{std::move(name), true, true, std::nullopt};
}

constexpr std::string_view kInvalidProgramError =
    "Exited with code -999\nstderr:\ninvalid program: it should have written to its output file";

TEST(CommandRunner, SucceedsWhenTheProgramWritesItsOutput) {
  TempDir dir;
  auto r = run_to_end(spec_for(dir, {"succeed", (dir.path() / "output").string()}));
  EXPECT_EQ(r.kind, CommandResult::Kind::succeeded);
  EXPECT_EQ(r.returncode, 0);
  EXPECT_EQ(r.error, "");
  EXPECT_EQ(r.output_size, 4u);
}

TEST(CommandRunner, NonZeroExitFailsWithTheCodeAndTheStderrTail) {
  TempDir dir;
  auto r = run_to_end(spec_for(dir, {"fail", "3", "oops: disk on fire\n"}));
  EXPECT_EQ(r.kind, CommandResult::Kind::failed);
  EXPECT_EQ(r.returncode, 3);
  EXPECT_EQ(r.error, "Exited with code 3\nstderr:\noops: disk on fire\n");
}

// The runner looks for the exit when both pipes hang up; a program still running then is
// waited for as before.
TEST(CommandRunner, ProgramThatClosesItsOutputsEarlyIsWaitedForUntilItExits) {
  TempDir dir;
  auto r = run_to_end(spec_for(dir, {"close-outputs", "200", "4"}));
  EXPECT_EQ(r.kind, CommandResult::Kind::failed);
  EXPECT_EQ(r.returncode, 4);
  EXPECT_EQ(r.error, "Exited with code 4\nstderr:\n");
}

TEST(CommandRunner, KilledBySignalNamesTheSignal) {
  TempDir dir;
  auto r = run_to_end(spec_for(dir, {"kill-self", "9"}));
  EXPECT_EQ(r.kind, CommandResult::Kind::failed);
  EXPECT_EQ(r.returncode, -9);
  EXPECT_EQ(r.error, "Killed by signal 9 (SIGKILL)\nstderr:\n");
  r = run_to_end(spec_for(dir, {"kill-self", "15"}));
  EXPECT_EQ(r.returncode, -15);
  EXPECT_EQ(r.error, "Killed by signal 15 (SIGTERM)\nstderr:\n");
}

TEST(CommandRunner, EmptyOutputFailsAsAnInvalidProgramAndWarns) {
  TempDir dir;
  CapturedWarnings warnings;
  auto r = run_to_end(spec_for(dir, {"forget-output"}));
  EXPECT_EQ(r.kind, CommandResult::Kind::failed);
  EXPECT_EQ(r.returncode, -999);
  EXPECT_EQ(r.error, kInvalidProgramError);
  EXPECT_TRUE(warnings.contains("invalid program: it should have written to its output file"));
}

TEST(CommandRunner, MissingOutputFailsAsAnInvalidProgram) {
  TempDir dir;
  auto spec = spec_for(dir, {"forget-output"});
  fs::remove(spec.output);
  auto r = run_to_end(std::move(spec));
  EXPECT_EQ(r.returncode, -999);
  EXPECT_EQ(r.error, kInvalidProgramError);
}

TEST(CommandRunner, UnstatableOutputFailsWithTheStatError) {
  TempDir dir;
  auto r = run_to_end(spec_for(dir, {"symlink-loop", (dir.path() / "output").string()}));
  EXPECT_EQ(r.kind, CommandResult::Kind::failed);
  EXPECT_EQ(r.returncode, -999);
  EXPECT_EQ(r.error,
            "Exited with code -999\nstderr:\nFailed to stat output file: Too many levels of "
            "symbolic links");
}

TEST(CommandRunner, OutputOverTheCapFailsNamingSizeAndCap) {
  TempDir dir;
  auto spec = spec_for(dir, {"write-bytes", "100", (dir.path() / "output").string()});
  spec.max_output_bytes = 10;
  auto r = run_to_end(std::move(spec));
  EXPECT_EQ(r.kind, CommandResult::Kind::failed);
  EXPECT_EQ(r.returncode, -999);
  EXPECT_EQ(r.error,
            "Exited with code -999\nstderr:\nthe output is 100 bytes, over the limit of 10 bytes "
            "(max_result_size)");
}

TEST(CommandRunner, TaskWithoutOutputSucceedsWithoutWritingOne) {
  TempDir dir;
  auto spec = spec_for(dir, {"forget-output"});
  spec.produces_output = false;
  auto r = run_to_end(std::move(spec));
  EXPECT_EQ(r.kind, CommandResult::Kind::succeeded);
  EXPECT_EQ(r.returncode, 0);
}

TEST(CommandRunner, ReportsProgressLinesInOrder) {
  TempDir dir;
  Observed o;
  auto r = run_to_end(spec_for(dir, {"write-progress", (dir.path() / "output").string()}), &o);
  EXPECT_EQ(r.kind, CommandResult::Kind::succeeded);
  ASSERT_EQ(o.progress.size(), 3u);
  EXPECT_EQ(o.progress[0].fraction, 0.2);
  EXPECT_EQ(o.progress[0].message, std::nullopt);
  EXPECT_EQ(o.progress[1].fraction, 0.3);
  EXPECT_EQ(o.progress[1].message, "hi");
  EXPECT_EQ(o.progress[2].fraction, 0.9);
  EXPECT_EQ(o.progress[2].message, "bye");
}

TEST(CommandRunner, JunkStdoutWarnsButSucceeds) {
  TempDir dir;
  CapturedWarnings warnings;
  Observed o;
  auto r = run_to_end(spec_for(dir, {"junk-stdout", (dir.path() / "output").string()}), &o);
  EXPECT_EQ(r.kind, CommandResult::Kind::succeeded);
  EXPECT_TRUE(o.progress.empty());
  EXPECT_TRUE(warnings.contains(
      "invalid program: stdout must look like '0.25\\tmessage'; got 'not progress'"));
}

TEST(CommandRunner, BurstOfLinesIsCoalescedAndEndsOnTheLastLine) {
  TempDir dir;
  Observed o;
  auto r = run_to_end(spec_for(dir, {"burst", "10000", (dir.path() / "output").string()}), &o);
  EXPECT_EQ(r.kind, CommandResult::Kind::succeeded);
  ASSERT_FALSE(o.progress.empty());
  EXPECT_LT(o.progress.size(), 1000u);
  EXPECT_EQ(o.progress.back().fraction, 1.0);
  EXPECT_EQ(o.progress.back().message, "line 10000");
  for (std::size_t i = 1; i < o.progress.size(); ++i)
    EXPECT_LE(o.progress[i - 1].fraction, o.progress[i].fraction);
}

TEST(CommandRunner, FloodOnBothPipesDoesNotDeadlockAndTheTailIsBounded) {
  TempDir dir;
  auto spec = spec_for(dir, {"flood-both", std::to_string(10 << 20)});
  spec.stderr_tail_bytes = 1024;
  Observed o;
  auto r = run_to_end(std::move(spec), &o);
  EXPECT_EQ(r.kind, CommandResult::Kind::failed);
  EXPECT_EQ(r.returncode, 1);
  const std::string prefix = "Exited with code 1\nstderr:\n";
  ASSERT_EQ(r.error.rfind(prefix, 0), 0u);
  EXPECT_EQ(r.error.size(), prefix.size() + 1024);
  EXPECT_TRUE(r.error.ends_with("eee\nEND"));
  ASSERT_FALSE(o.progress.empty());
  EXPECT_EQ(o.progress.back().fraction, 0.5);
}

TEST(CommandRunner, UnstartableProgramFailsPromptlyWithTheReason) {
  TempDir dir;
  auto spec = spec_for(dir, {});
  spec.argv = {"/no/such"};
  auto r = run_to_end(spec);
  EXPECT_EQ(r.kind, CommandResult::Kind::failed);
  EXPECT_EQ(r.returncode, 127);
  EXPECT_EQ(r.error, "cannot start program '/no/such': No such file or directory");

  spec.argv = {"wq-no-such-program-in-path"};
  r = run_to_end(spec);
  EXPECT_EQ(r.error,
            "cannot start program 'wq-no-such-program-in-path': No such file or directory");

  const fs::path not_executable = dir.path() / "data.txt";
  std::ofstream(not_executable) << "not a program";
  spec.argv = {not_executable.string()};
  r = run_to_end(spec);
  EXPECT_EQ(r.error, "cannot start program '" + not_executable.string() + "': Permission denied");
}

TEST(CommandRunner, MissingWorkingDirectoryFailsPromptly) {
  TempDir dir;
  auto spec = spec_for(dir, {"succeed", "out"});
  spec.cwd = dir.path() / "gone";
  auto r = run_to_end(std::move(spec));
  EXPECT_EQ(r.kind, CommandResult::Kind::failed);
  EXPECT_EQ(r.error, "cannot enter directory '" + (dir.path() / "gone").string() +
                         "': No such file or directory");
}

TEST(CommandRunner, BareProgramNameIsFoundInPath) {
  TempDir dir;
  auto spec = spec_for(dir, {});
  spec.argv = {"true"};
  spec.produces_output = false;
  EXPECT_EQ(run_to_end(std::move(spec)).kind, CommandResult::Kind::succeeded);
}

TEST(CommandRunner, CancelKillsChildAndGrandchild) {
  TempDir dir;
  const fs::path pidfile = dir.path() / "grandchild.pid";
  // Orphans reparent to us, so the grandchild can be reaped here and then checked for ESRCH.
  ASSERT_EQ(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
  Observed o;
  CommandRunner runner;
  auto id = runner.start(spec_for(dir, {"spawn-grandchild", pidfile.string()}), o.on_progress(),
                         o.on_done());
  o.wait_for_message("ready");
  runner.cancel(id);
  auto r = o.wait_done();
  EXPECT_EQ(r.kind, CommandResult::Kind::cancelled);
  EXPECT_EQ(r.error, "cancelled");
  EXPECT_EQ(r.returncode, -SIGTERM);
  const pid_t grandchild = std::stoi(read_file(pidfile));
  ASSERT_TRUE(exited(grandchild));
  waitpid(grandchild, nullptr, 0);
  EXPECT_EQ(kill(grandchild, 0), -1);
  EXPECT_EQ(errno, ESRCH);
  prctl(PR_SET_CHILD_SUBREAPER, 0);
}

TEST(CommandRunner, CancelEscalatesToSigkillWhenSigtermIsIgnored) {
  TempDir dir;
  Observed o;
  CommandRunner runner;
  auto spec = spec_for(dir, {"ignore-sigterm-and-sleep", "600000"});
  spec.kill_grace = 100ms;
  auto id = runner.start(std::move(spec), o.on_progress(), o.on_done());
  o.wait_for_message("ready");
  runner.cancel(id);
  auto r = o.wait_done();
  EXPECT_EQ(r.kind, CommandResult::Kind::cancelled);
  EXPECT_EQ(r.returncode, -SIGKILL);
}

TEST(CommandRunner, TimeoutKillsTheProgram) {
  TempDir dir;
  auto spec = spec_for(dir, {"sleep", "600000"});
  spec.timeout = 200ms;
  auto r = run_to_end(std::move(spec));
  EXPECT_EQ(r.kind, CommandResult::Kind::timed_out);
  EXPECT_EQ(r.returncode, -SIGTERM);
  EXPECT_EQ(r.error, "timed out after 200ms");
}

TEST(CommandRunner, TimeoutKillsAProgramThatIgnoresSigtermAfterTheGrace) {
  TempDir dir;
  auto spec = spec_for(dir, {"ignore-sigterm-and-sleep", "600000"});
  spec.timeout = 2000ms;
  spec.kill_grace = 100ms;
  auto r = run_to_end(std::move(spec));
  EXPECT_EQ(r.kind, CommandResult::Kind::timed_out);
  // SIGKILL after the grace; SIGTERM only if the deadline beat the program's signal() call.
  EXPECT_TRUE(r.returncode == -SIGKILL || r.returncode == -SIGTERM) << r.returncode;
  EXPECT_EQ(r.error, "timed out after 2s");
}

TEST(CommandRunner, CancelOfAnEndedOrUnknownRunHasNoEffect) {
  TempDir dir;
  Observed o;
  CommandRunner runner;
  auto id = runner.start(spec_for(dir, {"succeed", "output"}), o.on_progress(), o.on_done());
  EXPECT_EQ(o.wait_done().kind, CommandResult::Kind::succeeded);
  runner.cancel(id);
  runner.cancel(id + 1000);
  Observed second;
  runner.start(spec_for(dir, {"succeed", "output"}), second.on_progress(), second.on_done());
  EXPECT_EQ(second.wait_done().kind, CommandResult::Kind::succeeded);
  std::lock_guard lock(o.mutex);
  EXPECT_EQ(o.done_calls, 1);
}

// The child execs while its run's thread goes on: a cancel that comes before the program has
// started must still reach it through its process group (SIGTERM; the grace never runs out).
TEST(CommandRunner, CancelRightAfterStartEndsTheProgramWithSigterm) {
  TempDir dir;
  for (int i = 0; i < 20; ++i) {
    Observed o;
    CommandRunner runner;
    CommandSpec spec = spec_for(dir, {"sleep", "600000"});
    spec.kill_grace = std::chrono::hours(1);
    runner.cancel(runner.start(std::move(spec), o.on_progress(), o.on_done()));
    auto r = o.wait_done();
    EXPECT_EQ(r.kind, CommandResult::Kind::cancelled);
    EXPECT_EQ(r.returncode, -SIGTERM);
  }
}

TEST(CommandRunner, DestructionKillsRunningChildrenAndReportsThemCancelled) {
  TempDir dir;
  Observed running, queued;
  {
    CommandRunner runner;
    runner.start(spec_for(dir, {"ignore-sigterm-and-sleep", "600000"}), running.on_progress(),
                 running.on_done());
    running.wait_for_message("ready");
    runner.start(spec_for(dir, {"sleep", "600000"}), queued.on_progress(), queued.on_done());
  }
  std::lock_guard lock(running.mutex);
  ASSERT_TRUE(running.result);
  EXPECT_EQ(running.result->kind, CommandResult::Kind::cancelled);
  EXPECT_EQ(running.result->error, "cancelled: the command runner shut down");
  EXPECT_EQ(running.done_calls, 1);
  std::lock_guard lock2(queued.mutex);
  ASSERT_TRUE(queued.result);
  EXPECT_EQ(queued.result->kind, CommandResult::Kind::cancelled);
}

TEST(CommandRunner, HostileParamsReachTheProgramVerbatimAndTouchNoPaths) {
  TempDir dir;
  const std::vector<std::string> hostile = {"../../etc/passwd",
                                            "/",
                                            "a b  c",
                                            "\"double\" 'single'",
                                            "$(rm -rf /)",
                                            "`touch pwned`",
                                            "x; touch pwned",
                                            "line1\nline2",
                                            "*",
                                            "--output=/etc/passwd",
                                            "",
                                            "{output}"};
  TaskConfig task;
  task.name = "echo";
  task.command = {WQ_TEST_PROGRAM, "echo-args", "{output}"};
  boost::json::object params;
  for (std::size_t i = 0; i < hostile.size(); ++i) {
    task.command.push_back("{param.p" + std::to_string(i) + "}");
    params["p" + std::to_string(i)] = hostile[i];
  }
  const fs::path output = dir.path() / "output";
  const fs::path status = dir.path() / "status";
  auto spec = make_command_spec(
      task, TemplateInputs{params, "job", output.native(), status.native(), dir.path().native()});
  ASSERT_TRUE(spec) << spec.error().detail;
  std::ofstream(output).flush();
  auto r = run_to_end(std::move(*spec));
  ASSERT_EQ(r.kind, CommandResult::Kind::succeeded) << r.error;
  std::string expected =
      std::string(WQ_TEST_PROGRAM) + '\0' + "echo-args" + '\0' + output.string() + '\0';
  for (const auto& h : hostile) expected += h + '\0';
  EXPECT_EQ(read_file(output), expected);
  std::vector<std::string> entries;
  for (const auto& e : fs::directory_iterator(dir.path()))
    entries.push_back(e.path().filename().string());
  EXPECT_EQ(entries, std::vector<std::string>{"output"});
}

TEST(CommandRunner, SecretsViaEnvironmentArriveAndStayOutOfArgv) {
  TempDir dir;
  TaskConfig task;
  task.name = "env";
  task.command = {WQ_TEST_PROGRAM, "print-env", "WQ_SECRET_API_TOKEN", "{output}"};
  task.params = {secret_param("api_token")};
  auto params = boost::json::object{{"api_token", "t0p s3cret"}};
  const fs::path output = dir.path() / "output";
  const fs::path status = dir.path() / "status";
  auto spec = make_command_spec(
      task, TemplateInputs{params, "job", output.native(), status.native(), dir.path().native()});
  ASSERT_TRUE(spec);
  for (const auto& arg : spec->argv) EXPECT_EQ(arg.find("t0p s3cret"), std::string::npos);
  std::ofstream(output).flush();
  EXPECT_EQ(run_to_end(std::move(*spec)).kind, CommandResult::Kind::succeeded);
  EXPECT_EQ(read_file(output), "t0p s3cret");
}

TEST(CommandRunner, SecretsViaStdinArriveAsOneJsonObject) {
  TempDir dir;
  TaskConfig task;
  task.name = "stdin";
  task.command = {WQ_TEST_PROGRAM, "read-stdin-to-output", "{output}"};
  task.params = {secret_param("token"), plain_param("server")};
  task.secrets_via = SecretsVia::stdin_json;
  auto params = boost::json::object{{"token", "t0k"}, {"server", "s"}};
  const fs::path output = dir.path() / "output";
  const fs::path status = dir.path() / "status";
  auto spec = make_command_spec(
      task, TemplateInputs{params, "job", output.native(), status.native(), dir.path().native()});
  ASSERT_TRUE(spec);
  EXPECT_TRUE(spec->env.empty());
  std::ofstream(output).flush();
  EXPECT_EQ(run_to_end(std::move(*spec)).kind, CommandResult::Kind::succeeded);
  EXPECT_EQ(read_file(output), "{\"token\":\"t0k\"}\n");
}

TEST(CommandRunner, LargeStdinIsWrittenWhileTheProgramReads) {
  TempDir dir;
  auto spec = spec_for(dir, {"read-stdin-to-output", (dir.path() / "output").string()});
  spec.stdin_data = std::string(1 << 20, 's');
  auto r = run_to_end(std::move(spec));
  EXPECT_EQ(r.kind, CommandResult::Kind::succeeded);
  EXPECT_EQ(r.output_size, 1u << 20);
}

TEST(CommandRunner, StdinIsEmptyWithoutStdinData) {
  TempDir dir;
  auto r = run_to_end(spec_for(dir, {"read-stdin-to-output", (dir.path() / "output").string()}));
  EXPECT_EQ(r.error, kInvalidProgramError);
}

TEST(CommandRunner, ExtraEnvironmentEntriesOverrideOurs) {
  TempDir dir;
  auto spec = spec_for(dir, {"print-env", "HOME", (dir.path() / "output").string()});
  spec.env = {"HOME=/custom/home"};
  EXPECT_EQ(run_to_end(std::move(spec)).kind, CommandResult::Kind::succeeded);
  EXPECT_EQ(read_file(dir.path() / "output"), "/custom/home");
}

TEST(CommandRunner, ChildHasOnlyStandardDescriptorsItsOwnGroupAndTheJobDir) {
  TempDir dir;
  auto r = run_to_end(spec_for(dir, {"list-fds", "output"}));
  ASSERT_EQ(r.kind, CommandResult::Kind::succeeded) << r.error;
  EXPECT_EQ(read_file(dir.path() / "output"), "0 1 2 own-group");
  r = run_to_end(spec_for(dir, {"print-cwd", "output"}));
  EXPECT_EQ(read_file(dir.path() / "output"), fs::canonical(dir.path()).string());
}

// Programs run as batch work (SCHED_BATCH, inherited from their run thread): woken, they do
// not preempt the server's own threads.
TEST(CommandRunner, ProgramsRunUnderTheBatchSchedulingPolicy) {
  TempDir dir;
  auto r = run_to_end(spec_for(dir, {"print-sched-policy", "output"}));
  ASSERT_EQ(r.kind, CommandResult::Kind::succeeded) << r.error;
  EXPECT_EQ(read_file(dir.path() / "output"), "batch");
}

// A program given SIGPIPE ignored, as servers often set it, fails its shell pipelines; one that
// inherited a handler would run our code. Real-time signals are not checked: one ignored here
// may stay ignored (subprocess.hpp).
TEST(CommandRunner, ProgramStartsWithDefaultSignalsNoneBlockedWhateverOursAre) {
  struct sigaction ignore {}, handle {}, old_pipe {}, old_usr1 {}, old_hup {};
  ignore.sa_handler = SIG_IGN;
  handle.sa_handler = [](int) {};
  sigaction(SIGPIPE, &ignore, &old_pipe);
  sigaction(SIGHUP, &ignore, &old_hup);
  sigaction(SIGUSR1, &handle, &old_usr1);
  TempDir dir;
  auto r = run_to_end(spec_for(dir, {"print-signals", "output"}));
  sigaction(SIGPIPE, &old_pipe, nullptr);
  sigaction(SIGHUP, &old_hup, nullptr);
  sigaction(SIGUSR1, &old_usr1, nullptr);
  ASSERT_EQ(r.kind, CommandResult::Kind::succeeded) << r.error;
  // A sanitizer's runtime in the program installs handlers of its own (SIGSEGV, ...).
  const std::string found = read_file(dir.path() / "output");
  for (const std::string line : {"1 ignored", "13 ignored", "10 handled", "blocked"}) {
    EXPECT_EQ(found.find(line), std::string::npos) << found;
  }
}

TEST(CommandRunner, StatusFileProtocolReportsChangesAndTheFinalValue) {
  TempDir dir;
  auto spec = spec_for(
      dir, {"status-file", (dir.path() / "status").string(), (dir.path() / "output").string()});
  spec.protocol = ProgressProtocol::status_file;
  Observed o;
  auto r = run_to_end(std::move(spec), &o);
  EXPECT_EQ(r.kind, CommandResult::Kind::succeeded);
  ASSERT_FALSE(o.progress.empty());
  EXPECT_EQ(o.progress.back().fraction, 0.75);
  EXPECT_EQ(o.progress.back().message, "three quarters");
  const std::vector<double> written = {0.1, 0.5, 0.75};
  std::size_t next = 0;
  for (const auto& p : o.progress) {
    while (next < written.size() && written[next] != p.fraction) ++next;
    EXPECT_LT(next, written.size()) << "unexpected or out-of-order value " << p.fraction;
  }
}

TEST(CommandRunner, FiftyConcurrentRunsAllComplete) {
  TempDir dir;
  CommandRunner runner;
  std::mutex mutex;
  std::condition_variable all_done;
  int succeeded = 0, finished = 0;
  for (int i = 0; i < 50; ++i) {
    const fs::path sub = dir.path() / std::to_string(i);
    fs::create_directory(sub);
    CommandSpec spec;
    spec.argv = {WQ_TEST_PROGRAM, i % 2 ? "write-progress" : "succeed", (sub / "output").string()};
    spec.cwd = sub;
    spec.output = sub / "output";
    runner.start(std::move(spec), nullptr, [&](CommandResult r) {
      std::lock_guard lock(mutex);
      succeeded += r.kind == CommandResult::Kind::succeeded;
      ++finished;
      all_done.notify_all();
    });
  }
  std::unique_lock lock(mutex);
  ASSERT_TRUE(all_done.wait_for(lock, kHangGuard, [&] { return finished == 50; }));
  EXPECT_EQ(succeeded, 50);
}

}  // namespace
}  // namespace wq::run
