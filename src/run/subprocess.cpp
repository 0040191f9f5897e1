#include "run/subprocess.hpp"

#include <dlfcn.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <linux/sched.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string_view>

#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define WQ_RUNNING_ON_VALGRIND() RUNNING_ON_VALGRIND
#else
#define WQ_RUNNING_ON_VALGRIND() 0
#endif

extern char** environ;

namespace wq::run {

// The child runs in our address space (CLONE_VM) on a stack of its own until it execs, while
// our threads go on (no CLONE_VFORK: waiting for its exec cost the spawning thread a sleep and
// a wake-up a run). So it may only make raw system calls that leave errno alone (it shares the
// spawning thread's thread-local storage): no allocation, no locks, no libc wrappers, no
// sanitizer interceptors, and no return from child_main. It reads only Launch memory, which
// stays untouched until the child is reaped, and reports a failure by writing into ChildArgs,
// which we read after reaping it.
struct ChildArgs {
  const char* const* programs;  // candidate paths, nullptr-terminated
  char* const* argv;
  char* const* envp;
  const char* cwd;  // nullptr: keep ours
  int stdio[3];     // all >= 3, so dup3 onto 0..2 never meets itself
  pid_t parent;
  int close_from_fallback_max;
  bool handlers_reset;  // by the kernel (CLONE_CLEAR_SIGHAND), which leaves ignored ones
  int error = 0;        // errno of the failed step
  bool in_cwd = false;  // the failed step was chdir
};

// What the child reads until it execs or exits, kept until it is reaped.
struct Subprocess::Launch {
  SpawnOptions options;
  std::vector<char*> argv;
  std::vector<char*> envp;
  std::vector<std::string> candidates;
  std::vector<const char*> searched;
  const char* as_given[2] = {nullptr, nullptr};
  ChildArgs args{};
  alignas(64) char stack[32 * 1024];
};

namespace {

// rt_sigaction's kernel ABI (not glibc's struct sigaction). Identical on x86-64 and arm64.
struct KernelSigaction {
  void (*handler)(int);
  unsigned long flags;
  void (*restorer)();
  std::uint64_t mask;
};

enum { kExecFailed = 127 };

// The first real-time signal as the kernel numbers them (glibc's SIGRTMIN is above the two it
// keeps for itself).
constexpr int kFirstRealTimeSignal = 32;

// A system call that returns -errno on failure instead of setting errno.
__attribute__((no_sanitize("address", "thread", "undefined"), always_inline)) inline long
raw_syscall(long number, long a1 = 0, long a2 = 0, long a3 = 0, long a4 = 0, long a5 = 0) {
#if defined(__x86_64__)
  long result;
  register long r10 asm("r10") = a4;
  register long r8 asm("r8") = a5;
  asm volatile("syscall"
               : "=a"(result)
               : "a"(number), "D"(a1), "S"(a2), "d"(a3), "r"(r10), "r"(r8)
               : "rcx", "r11", "memory");
  return result;
#elif defined(__aarch64__)
  register long x8 asm("x8") = number;
  register long x0 asm("x0") = a1;
  register long x1 asm("x1") = a2;
  register long x2 asm("x2") = a3;
  register long x3 asm("x3") = a4;
  register long x4 asm("x4") = a5;
  asm volatile("svc #0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4) : "memory");
  return x0;
#else
#error "raw_syscall: add this architecture's system call sequence"
#endif
}

[[noreturn]] __attribute__((no_sanitize("address", "thread", "undefined"))) void child_exit(
    int code) {
  for (;;) raw_syscall(SYS_exit, code);
}

__attribute__((no_sanitize("address", "thread", "undefined"))) int child_main(void* raw) {
  auto* a = static_cast<ChildArgs*>(raw);
  // Our handlers must not run in the child: it shares our memory until exec. Ignored signals
  // are reset too (a program given SIGPIPE ignored fails its pipelines), all of them unless the
  // kernel reset the handlers; then only the standard ones: ignored real-time signals, which
  // would cost 33 more calls, are left ignored.
  const KernelSigaction dfl{SIG_DFL, 0, nullptr, 0};
  const int end = a->handlers_reset ? kFirstRealTimeSignal : NSIG;
  for (int sig = 1; sig < end; ++sig) {
    if (sig != SIGKILL && sig != SIGSTOP)
      raw_syscall(SYS_rt_sigaction, sig, reinterpret_cast<long>(&dfl), 0, 8);
  }
  raw_syscall(SYS_setpgid, 0, 0);
  raw_syscall(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL);
  if (raw_syscall(SYS_getppid) != a->parent) child_exit(kExecFailed);
  for (int i = 0; i < 3; ++i) {
    if (long rc = raw_syscall(SYS_dup3, a->stdio[i], i, 0); rc < 0) {
      a->error = static_cast<int>(-rc);
      child_exit(kExecFailed);
    }
  }
  if (a->cwd != nullptr) {
    if (long rc = raw_syscall(SYS_chdir, reinterpret_cast<long>(a->cwd)); rc < 0) {
      a->error = static_cast<int>(-rc);
      a->in_cwd = true;
      child_exit(kExecFailed);
    }
  }
  if (raw_syscall(SYS_close_range, 3, ~0U, 0) < 0) {
    for (int fd = 3; fd < a->close_from_fallback_max; ++fd) raw_syscall(SYS_close, fd);
  }
  const std::uint64_t empty_mask = 0;
  raw_syscall(SYS_rt_sigprocmask, SIG_SETMASK, reinterpret_cast<long>(&empty_mask), 0, 8);
  int error = ENOENT;
  for (const char* const* p = a->programs; *p != nullptr; ++p) {
    const int failed = static_cast<int>(-raw_syscall(SYS_execve, reinterpret_cast<long>(*p),
                                                     reinterpret_cast<long>(a->argv),
                                                     reinterpret_cast<long>(a->envp)));
    // As execvp: keep searching past missing or inaccessible entries, report EACCES if any.
    if (failed == EACCES) {
      error = EACCES;
    } else if (failed != ENOENT && failed != ENOTDIR) {
      error = failed;
      break;
    }
  }
  a->error = error;
  child_exit(kExecFailed);
}

// clone3(2) has no libc wrapper; this one runs fn(arg) in the child on the new stack, which
// the kernel sets to stack + stack_size, and returns the child's pid or -errno in the parent.
// The child starts with the parent's registers but the result and the stack pointer, so fn
// and arg wait in registers the system call keeps.
extern "C" long wq_clone3_run(clone_args* args, std::size_t size, int (*fn)(void*), void* arg);
#if defined(__x86_64__)
asm(R"(
  .text
  .p2align 4
  .globl wq_clone3_run
  .hidden wq_clone3_run
  .type wq_clone3_run, @function
wq_clone3_run:
  .cfi_startproc
  movq %rdx, %r8
  movq %rcx, %r9
  movl $435, %eax
  syscall
  testq %rax, %rax
  jz 1f
  ret
1:
  .cfi_undefined rip
  xorl %ebp, %ebp
  movq %r9, %rdi
  callq *%r8
  ud2
  .cfi_endproc
  .size wq_clone3_run, .-wq_clone3_run
)");
#elif defined(__aarch64__)
asm(R"(
  .text
  .p2align 4
  .globl wq_clone3_run
  .hidden wq_clone3_run
  .type wq_clone3_run, %function
wq_clone3_run:
  .cfi_startproc
  mov x10, x2
  mov x11, x3
  mov x8, #435
  svc #0
  cbz x0, 1f
  ret
1:
  .cfi_undefined x30
  mov x29, #0
  mov x30, #0
  mov x0, x11
  blr x10
  brk #0
  .cfi_endproc
  .size wq_clone3_run, .-wq_clone3_run
)");
#else
#error "wq_clone3_run: add this architecture's clone3 trampoline"
#endif

// Spawns with clone3 and CLONE_CLEAR_SIGHAND: the kernel resets the child's handlers, so none
// can run in the child and the parent need not block signals around the clone, and the child
// resets only the standard signals it may find ignored: 29 rt_sigaction calls instead of 62.
// Returns the pid or -errno; -ENOSYS once clone3 turned out to be missing (Linux < 5.5,
// valgrind) or filtered (container seccomp profiles answer ENOSYS or EPERM), for the caller
// to use clone().
long clone3_with_clear_sighand(ChildArgs& args, char* stack, std::size_t stack_size,
                               int* pidfd) {
  static std::atomic<bool> unusable{WQ_RUNNING_ON_VALGRIND() != 0};
  if (unusable.load(std::memory_order_relaxed)) return -ENOSYS;
  clone_args ca{};
  ca.flags = CLONE_VM | CLONE_PIDFD | CLONE_CLEAR_SIGHAND;
  ca.pidfd = reinterpret_cast<std::uint64_t>(pidfd);
  ca.exit_signal = SIGCHLD;
  ca.stack = reinterpret_cast<std::uint64_t>(stack);
  ca.stack_size = stack_size;
  args.handlers_reset = true;
  const long rc = wq_clone3_run(&ca, sizeof ca, child_main, &args);
  if (rc == -ENOSYS || rc == -EINVAL || rc == -EPERM) {
    unusable.store(true, std::memory_order_relaxed);
    return -ENOSYS;
  }
  return rc;
}

using CloneFn = int (*)(int (*)(void*), void*, int, void*, ...);

// ThreadSanitizer's clone() interceptor treats every clone as a fork and runs its fork
// bookkeeping in the child, which under CLONE_VM rewrites the parent's own race-detector
// state. Its builds call libc's clone directly.
CloneFn libc_clone() {
#if defined(__SANITIZE_THREAD__)
  static const CloneFn fn = [] {
    void* libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
    void* symbol = libc != nullptr ? dlsym(libc, "clone") : nullptr;
    return symbol != nullptr ? reinterpret_cast<CloneFn>(symbol) : &::clone;
  }();
  return fn;
#else
  return &::clone;
#endif
}

// Valgrind runs a CLONE_VM child only as a thread or a vfork (which it turns into a fork); any
// other clone() aborts the process.
int clone_flags() {
  static const int flags =
      CLONE_VM | CLONE_PIDFD | SIGCHLD | (WQ_RUNNING_ON_VALGRIND() ? CLONE_VFORK : 0);
  return flags;
}

Error spawn_error(std::string detail) { return make_error(Errc::bad_input, std::move(detail)); }

std::string errno_text(int err) { return std::strerror(err); }

// A close-on-exec descriptor numbered >= 3 (a parent with 0..2 closed would otherwise hand
// out those numbers, and dup3 onto them would clobber one another).
bool lift_above_stdio(UniqueFd& fd) {
  if (fd.get() >= 3) return true;
  int lifted = fcntl(fd.get(), F_DUPFD_CLOEXEC, 3);
  if (lifted < 0) return false;
  fd.reset(lifted);
  return true;
}

bool make_pipe(UniqueFd& read_end, UniqueFd& write_end) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) < 0) return false;
  read_end.reset(fds[0]);
  write_end.reset(fds[1]);
  return lift_above_stdio(read_end) && lift_above_stdio(write_end);
}

// F_SETFL replaces only the status flags (a pipe end has none besides O_NONBLOCK here), so
// no F_GETFL round trip is needed.
bool set_non_blocking(int fd) { return fcntl(fd, F_SETFL, O_NONBLOCK) == 0; }

// Only used where close_range(2) is missing (Linux < 5.9).
int open_max() {
  static const int value = static_cast<int>(sysconf(_SC_OPEN_MAX));
  return value;
}

// Opened once and kept for the life of the process: every child without stdin data reads it.
int dev_null() {
  static const int fd = [] {
    UniqueFd f(open("/dev/null", O_RDONLY | O_CLOEXEC));
    if (f && !lift_above_stdio(f)) f.reset();
    return f.release();
  }();
  return fd;
}

std::string_view env_name(std::string_view entry) { return entry.substr(0, entry.find('=')); }

// execvp's search: the candidate paths for a bare name, in order.
std::vector<std::string> path_candidates(const std::string& program,
                                         const std::vector<std::string>& extra_env) {
  std::string path = "/usr/bin:/bin";
  if (const char* ours = getenv("PATH")) path = ours;
  for (const auto& e : extra_env) {
    if (env_name(e) == "PATH") path = e.substr(5);
  }
  std::vector<std::string> out;
  std::string_view rest = path;
  while (true) {
    auto colon = rest.find(':');
    std::string_view dir = rest.substr(0, colon);
    std::string candidate(dir.empty() ? "." : dir);
    out.push_back(candidate + "/" + program);
    if (colon == std::string_view::npos) break;
    rest.remove_prefix(colon + 1);
  }
  return out;
}

}  // namespace

void UniqueFd::reset(int fd) noexcept {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

Result<Subprocess> Subprocess::spawn(SpawnOptions options) {
  if (options.argv.empty() || options.argv.front().empty()) {
    return spawn_error("cannot start a program: the command is empty");
  }
  Subprocess p;
  // Default-initialised: zeroing the child's 32 KB stack cost more instructions than all the
  // rest of a run's thread (W3: 34k of 54k a job).
  p.launch_ = std::make_unique_for_overwrite<Launch>();
  Launch& l = *p.launch_;
  l.options = std::move(options);
  const SpawnOptions& o = l.options;
  const std::string& program = o.argv.front();
  UniqueFd child_in, child_out, child_err;
  if (o.pipe_stdin) {
    if (!make_pipe(child_in, p.stdin_) || !set_non_blocking(p.stdin_.get())) {
      return spawn_error("cannot start program '" + program + "': pipe: " + errno_text(errno));
    }
  }
  if (!make_pipe(p.stdout_, child_out) || !make_pipe(p.stderr_, child_err) ||
      !set_non_blocking(p.stdout_.get()) || !set_non_blocking(p.stderr_.get())) {
    return spawn_error("cannot start program '" + program + "': pipe: " + errno_text(errno));
  }
  if (!o.pipe_stdin && dev_null() < 0) {
    return spawn_error("cannot start program '" + program + "': /dev/null: " + errno_text(errno));
  }

  l.argv.reserve(o.argv.size() + 1);
  for (const auto& a : o.argv) l.argv.push_back(const_cast<char*>(a.c_str()));
  l.argv.push_back(nullptr);

  // Our environment as it is, unless entries are added or replaced.
  if (!o.env.empty()) {
    for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
      bool overridden = false;
      for (const auto& extra : o.env) {
        if (env_name(extra) == env_name(*e)) overridden = true;
      }
      if (!overridden) l.envp.push_back(*e);
    }
    for (const auto& extra : o.env) l.envp.push_back(const_cast<char*>(extra.c_str()));
    l.envp.push_back(nullptr);
  }

  l.as_given[0] = program.c_str();
  if (program.find('/') == std::string::npos) {
    l.candidates = path_candidates(program, o.env);
    for (const auto& c : l.candidates) l.searched.push_back(c.c_str());
    l.searched.push_back(nullptr);
  }

  ChildArgs& args = l.args;
  args.programs = l.searched.empty() ? l.as_given : l.searched.data();
  args.argv = l.argv.data();
  static char* const kNoEnvironment[] = {nullptr};  // clearenv() leaves environ null
  args.envp = !l.envp.empty() ? l.envp.data() : environ != nullptr ? environ : kNoEnvironment;
  args.cwd = o.cwd.empty() ? nullptr : o.cwd.c_str();
  args.stdio[0] = o.pipe_stdin ? child_in.get() : dev_null();
  args.stdio[1] = child_out.get();
  args.stdio[2] = child_err.get();
  args.parent = getpid();
  args.close_from_fallback_max = open_max();

  int pidfd = -1;
  long cloned = clone3_with_clear_sighand(args, l.stack, sizeof(l.stack), &pidfd);
  if (cloned == -ENOSYS) {
    // The child starts with every signal blocked, so no handler of ours runs on its stack; it
    // resets them before unblocking.
    args.handlers_reset = false;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    cloned = libc_clone()(child_main, l.stack + sizeof(l.stack), clone_flags(), &args, &pidfd);
    if (cloned < 0) cloned = -errno;
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
  }
  const auto pid = static_cast<pid_t>(cloned);
  const int clone_errno = static_cast<int>(-cloned);
  if (pid < 0) {
    return spawn_error("cannot start program '" + program + "': " + errno_text(clone_errno));
  }
  // The child may not have made its own group yet, and a signal to the group before it does
  // would reach no one: make it here too (EACCES once it has exec'd, after doing so itself).
  ::setpgid(pid, pid);
  p.pid_ = pid;
  p.pidfd_.reset(pidfd);
  return p;
}

Subprocess::Subprocess() = default;

Subprocess::Subprocess(Subprocess&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)),
      reaped_(std::exchange(other.reaped_, false)),
      launch_(std::move(other.launch_)),
      start_error_(std::move(other.start_error_)),
      pidfd_(std::move(other.pidfd_)),
      stdin_(std::move(other.stdin_)),
      stdout_(std::move(other.stdout_)),
      stderr_(std::move(other.stderr_)) {}

Subprocess& Subprocess::operator=(Subprocess&& other) noexcept {
  if (this != &other) {
    if (pid_ > 0 && !reaped_) {
      signal_group(SIGKILL);
      wait();
    }
    pid_ = std::exchange(other.pid_, -1);
    reaped_ = std::exchange(other.reaped_, false);
    launch_ = std::move(other.launch_);
    start_error_ = std::move(other.start_error_);
    pidfd_ = std::move(other.pidfd_);
    stdin_ = std::move(other.stdin_);
    stdout_ = std::move(other.stdout_);
    stderr_ = std::move(other.stderr_);
  }
  return *this;
}

Subprocess::~Subprocess() {
  if (pid_ > 0 && !reaped_) {
    signal_group(SIGKILL);
    wait();
  }
}

void Subprocess::signal_group(int sig) noexcept {
  if (pid_ > 0 && !reaped_) ::kill(-pid_, sig);
}

bool Subprocess::exited() const noexcept {
  if (pid_ <= 0 || reaped_) return true;
  siginfo_t info{};
  int rc = waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(pidfd_.get()), &info,
                  WEXITED | WNOHANG | WNOWAIT);
  return rc < 0 || info.si_pid != 0;
}

ExitStatus Subprocess::wait() {
  if (pid_ <= 0 || reaped_) return {};
  siginfo_t info{};
  int rc;
  do {
    rc = waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(pidfd_.get()), &info, WEXITED);
  } while (rc < 0 && errno == EINTR);
  reaped_ = true;
  // The child is gone: what it reported is final, and nothing reads its memory any more.
  if (launch_ && launch_->args.error != 0) {
    const ChildArgs& a = launch_->args;
    start_error_ =
        a.in_cwd ? "cannot enter directory '" + launch_->options.cwd + "': " + errno_text(a.error)
                 : "cannot start program '" + launch_->options.argv.front() +
                       "': " + errno_text(a.error);
  }
  launch_.reset();
  // ECHILD: someone else reaped it (SIGCHLD set to SIG_IGN auto-reaps); the status is lost.
  if (rc < 0) return ExitStatus{-1, 0};
  if (info.si_code == CLD_EXITED) return ExitStatus{info.si_status, 0};
  return ExitStatus{0, info.si_status};
}

}  // namespace wq::run
