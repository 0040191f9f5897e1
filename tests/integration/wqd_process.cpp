#include "integration/wqd_process.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <random>
#include <stdexcept>

#include "core/json_text.hpp"

extern char** environ;

namespace wq::test {

std::string test_tasks_toml() {
  return fmt::format(R"(
[tasks.count]
command = ["{}/tasks/count.sh", "{{param.n}}", "{{param.delay}}", "{{output}}"]
[tasks.count.params]
n = {{}}
delay = {{ default = 0.02 }}

[tasks.hold]
command = ["{}", "sleep", "{{param.ms}}"]
produces_output = false
kill_grace = "200ms"
)",
                     WQ_EXAMPLES_DIR, WQ_TEST_PROGRAM);
}

std::string sha256_of(const std::string& token) { return sha256_hex(token); }

WqdProcess::WqdProcess(const std::string& config_toml, std::vector<std::string> extra_args) {
  dir_ = std::filesystem::temp_directory_path() /
         fmt::format("wqd-test-{}-{:x}", ::getpid(), std::random_device{}());
  std::filesystem::create_directories(dir_);
  const auto config = dir_ / "wqd.toml";
  std::ofstream(config) << config_toml;

  std::vector<std::string> args = {WQD_PATH,      "--config",   config.string(),         "--listen",
                                   "127.0.0.1:0", "--data-dir", (dir_ / "data").string()};
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], STDERR_FILENO);
  const int rc = ::posix_spawn(&pid_, WQD_PATH, &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(pipe_fds[1]);
  if (rc != 0) {
    ::close(pipe_fds[0]);
    throw std::runtime_error(fmt::format("cannot start {}: {}", WQD_PATH, std::strerror(rc)));
  }
  reader_ = std::thread([this, fd = pipe_fds[0]] { read_stderr(fd); });
  wait_for_log([this](const std::string& line) {
    if (line.find("\"msg\":\"listening\"") == std::string::npos) return false;
    const auto at = line.find("\"address\":\"127.0.0.1:");
    if (at == std::string::npos) return false;
    port_ = static_cast<unsigned short>(std::stoi(line.substr(at + 21)));
    return true;
  });
}

WqdProcess::~WqdProcess() {
  if (!status_) {
    ::kill(pid_, SIGKILL);
    wait_exit();
  }
  if (reader_.joinable()) reader_.join();
  // A failed test shows the end of its server's log (WQ_TEST_LOGS=1: all of it, always), so
  // a failure seen once in CI can be explained from CI's output.
  const bool all = std::getenv("WQ_TEST_LOGS") != nullptr;
  if (all || ::testing::Test::HasFailure()) {
    constexpr std::size_t kTail = 200;
    const std::size_t from = all || lines_.size() <= kTail ? 0 : lines_.size() - kTail;
    if (from > 0) std::fprintf(stderr, "wqd: (%zu earlier lines left out)\n", from);
    for (std::size_t i = from; i < lines_.size(); ++i)
      std::fprintf(stderr, "wqd: %s\n", lines_[i].c_str());
  }
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

void WqdProcess::read_stderr(int fd) {
  std::string partial;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    partial.append(buf, static_cast<size_t>(n));
    for (auto nl = partial.find('\n'); nl != std::string::npos; nl = partial.find('\n')) {
      std::lock_guard lock(mutex_);
      lines_.push_back(partial.substr(0, nl));
      partial.erase(0, nl + 1);
      cv_.notify_all();
    }
  }
  ::close(fd);
  std::lock_guard lock(mutex_);
  stderr_closed_ = true;
  cv_.notify_all();
}

bool WqdProcess::wait_for_log(const std::function<bool(const std::string&)>& pred) {
  std::unique_lock lock(mutex_);
  size_t seen = 0;
  for (;;) {
    for (; seen < lines_.size(); ++seen) {
      if (pred(lines_[seen])) return true;
    }
    if (stderr_closed_) return false;
    cv_.wait(lock);
  }
}

std::vector<std::string> WqdProcess::log_lines() {
  std::lock_guard lock(mutex_);
  return lines_;
}

int WqdProcess::wait_exit() {
  if (!status_) {
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  return *status_;
}

int WqdProcess::terminate() {
  if (!status_) ::kill(pid_, SIGTERM);
  return wait_exit();
}

}  // namespace wq::test
