// wq-test-program MODE ARGS...: a misbehaving-on-demand program for the command-runner tests
// (the seed's simulate_a_program). Each mode is one small function; OUT is the {output} path.
//
//   succeed OUT                  writes "data" to OUT, exits 0
//   fail CODE MESSAGE            writes MESSAGE to stderr, exits CODE
//   forget-output                exits 0 without writing OUT
//   junk-stdout OUT              prints "not progress", then succeeds
//   sleep MS                     sleeps, exits 0
//   write-progress OUT           prints 0.2 / 0.3\thi / 0.9\tbye, each once the previous was read
//   burst N OUT                  prints N progress lines in one go, the last "1\tline N"
//   flood-both BYTES             writes BYTES to stdout and to stderr, interleaved, ends stderr
//                                with "END" and exits 1 (so the stderr tail shows in the error)
//   status-file PATH OUT         overwrites PATH with 10, (empty), 50, "0.75\tthree quarters"
//   echo-args OUT ARGS...        writes every argv element, each NUL-terminated, to OUT
//   spawn-grandchild PIDFILE     forks a child that writes its pid to PIDFILE; prints
//                                "0.5\tready"; both sleep
//   ignore-sigterm-and-sleep MS  ignores SIGTERM, prints "0.1\tready", sleeps
//   kill-self SIGNAL             raises SIGNAL (a number)
//   read-stdin-to-output OUT     copies stdin to OUT
//   print-env NAME OUT           writes $NAME (or "<unset>") to OUT
//   write-bytes N OUT            writes N bytes to OUT
//   list-fds OUT                 writes its open descriptor numbers and pgid==pid to OUT
//   print-cwd OUT                writes its working directory to OUT
//   print-sched-policy OUT       writes its scheduling policy to OUT ("other", "batch", or N)
//   print-signals OUT            writes "clean" to OUT, or each signal it finds ignored, handled
//                                or blocked ("13 ignored")
//   symlink-loop OUT             replaces OUT by a symlink to itself, exits 0
//   close-outputs MS CODE        closes stdout and stderr, sleeps MS, exits CODE
#include <sched.h>
#include <dirent.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <string>
#include <thread>

namespace {

void sleep_ms(long ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

void write_file(const char* path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << data;
  if (!out) {
    std::perror(path);
    std::exit(2);
  }
}

void write_all(int fd, const std::string& data) {
  std::size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n <= 0) std::exit(3);
    done += static_cast<std::size_t>(n);
  }
}

// Waits until the reader has taken everything from our stdout pipe, so each line is read on
// its own (the runner coalesces lines that arrive together).
void wait_until_stdout_read() {
  for (int i = 0; i < 20000; ++i) {
    int pending = 0;
    if (ioctl(STDOUT_FILENO, FIONREAD, &pending) < 0 || pending == 0) return;
    sleep_ms(1);
  }
}

int write_progress(const char* out) {
  for (const char* line : {"0.2\n", "0.3\thi\n", "0.9\tbye\n"}) {
    write_all(STDOUT_FILENO, line);
    wait_until_stdout_read();
  }
  write_file(out, "data");
  return 0;
}

int burst(long n, const char* out) {
  std::string text;
  for (long i = 1; i < n; ++i)
    text += std::to_string(double(i) / double(n)) + "\tline " + std::to_string(i) + "\n";
  text += "1\tline " + std::to_string(n) + "\n";
  write_all(STDOUT_FILENO, text);
  write_file(out, "data");
  return 0;
}

int flood_both(long bytes) {
  const std::string progress_chunk = [] {
    std::string s;
    while (s.size() < 64 * 1024) s += "0.5\n";
    return s;
  }();
  const std::string err_chunk(64 * 1024, 'e');
  long sent = 0;
  while (sent < bytes) {
    write_all(STDOUT_FILENO, progress_chunk);
    write_all(STDERR_FILENO, err_chunk);
    sent += 64 * 1024;
  }
  write_all(STDERR_FILENO, "\nEND");
  return 1;
}

int status_file(const char* path, const char* out) {
  for (const char* content : {"10\n", "", "50\n", "0.75\tthree quarters\n"}) {
    write_file(path, content);
    sleep_ms(120);
  }
  write_file(out, "data");
  return 0;
}

int echo_args(int argc, char** argv) {
  std::string all;
  for (int i = 0; i < argc; ++i) all.append(argv[i], std::strlen(argv[i]) + 1);
  write_file(argv[2], all);
  return 0;
}

int spawn_grandchild(const char* pidfile) {
  int ready[2];
  if (pipe(ready) < 0) return 4;
  pid_t child = fork();
  if (child < 0) return 4;
  if (child == 0) {
    std::string tmp = std::string(pidfile) + ".tmp";
    write_file(tmp.c_str(), std::to_string(getpid()));
    std::rename(tmp.c_str(), pidfile);
    write_all(ready[1], "x");
    for (;;) pause();
  }
  char c;
  if (read(ready[0], &c, 1) != 1) return 5;
  write_all(STDOUT_FILENO, "0.5\tready\n");
  for (;;) pause();
}

int list_fds(const char* out) {
  std::string text;
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return 6;
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] == '.' || std::atoi(e->d_name) == dirfd(dir)) continue;
    text += std::string(e->d_name) + " ";
  }
  closedir(dir);
  text += getpgid(0) == getpid() ? "own-group" : "shared-group";
  write_file(out, text);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: wq-test-program MODE ARGS...\n";
    return 64;
  }
  const std::string mode = argv[1];
  auto arg = [&](int i) -> const char* {
    if (i >= argc) {
      std::cerr << "wq-test-program " << mode << ": missing argument " << i << "\n";
      std::exit(64);
    }
    return argv[i];
  };
  if (mode == "succeed") return write_file(arg(2), "data"), 0;
  if (mode == "fail") {
    std::cerr << arg(3);
    return std::atoi(arg(2));
  }
  if (mode == "forget-output") return 0;
  if (mode == "junk-stdout") {
    std::cout << "not progress" << std::endl;
    return write_file(arg(2), "data"), 0;
  }
  if (mode == "sleep") return sleep_ms(std::atol(arg(2))), 0;
  if (mode == "close-outputs") {
    const long ms = std::atol(arg(2));
    const int code = std::atoi(arg(3));
    ::close(1);
    ::close(2);
    sleep_ms(ms);
    return code;
  }
  if (mode == "write-progress") return write_progress(arg(2));
  if (mode == "burst") return burst(std::atol(arg(2)), arg(3));
  if (mode == "flood-both") return flood_both(std::atol(arg(2)));
  if (mode == "status-file") return status_file(arg(2), arg(3));
  if (mode == "echo-args") return arg(2), echo_args(argc, argv);
  if (mode == "spawn-grandchild") return spawn_grandchild(arg(2));
  if (mode == "ignore-sigterm-and-sleep") {
    signal(SIGTERM, SIG_IGN);
    write_all(STDOUT_FILENO, "0.1\tready\n");
    return sleep_ms(std::atol(arg(2))), 0;
  }
  if (mode == "kill-self") return raise(std::atoi(arg(2))), 0;
  if (mode == "read-stdin-to-output") {
    std::string all((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
    return write_file(arg(2), all), 0;
  }
  if (mode == "print-env") {
    const char* value = std::getenv(arg(2));
    return write_file(arg(3), value ? value : "<unset>"), 0;
  }
  if (mode == "write-bytes") return write_file(arg(3), std::string(std::atol(arg(2)), 'b')), 0;
  if (mode == "list-fds") return list_fds(arg(2));
  if (mode == "print-sched-policy") {
    const int policy = sched_getscheduler(0);
    return write_file(arg(2), policy == SCHED_OTHER   ? "other"
                              : policy == SCHED_BATCH ? "batch"
                                                      : std::to_string(policy)),
           0;
  }
  if (mode == "print-signals") {
    std::string found;
    sigset_t blocked;
    sigprocmask(SIG_BLOCK, nullptr, &blocked);
    for (int sig = 1; sig < NSIG; ++sig) {
      struct sigaction action {};
      if (sigaction(sig, nullptr, &action) != 0) continue;  // glibc's own signals
      if (action.sa_handler == SIG_IGN) found += std::to_string(sig) + " ignored\n";
      if (action.sa_handler != SIG_IGN && action.sa_handler != SIG_DFL)
        found += std::to_string(sig) + " handled\n";
      if (sigismember(&blocked, sig) == 1) found += std::to_string(sig) + " blocked\n";
    }
    return write_file(arg(2), found.empty() ? "clean" : found), 0;
  }
  if (mode == "print-cwd") {
    char buf[4096];
    return write_file(arg(2), getcwd(buf, sizeof buf) ? buf : "?"), 0;
  }
  if (mode == "symlink-loop") {
    unlink(arg(2));
    return symlink(arg(2), arg(2)) == 0 ? 0 : 7;
  }
  std::cerr << "wq-test-program: unknown mode '" << mode << "'\n";
  return 64;
}
