// wq-bench WORKLOAD...: the core engine's benchmarks (issue: core engine). Prints one
//   RESULT workload=W value=V unit=U [limit=L ratio=R] note="..."
// line per figure; each figure beside its target or its baseline measured in the same run.
//   W1   10,000 no-op function jobs submitted (8 submitters, each with up to 64 submits in
//        flight through Queue::submit_async) and drained, concurrency 8, per durability level;
//        fsync beside 3 x SQLite FULL single-row commits per job; five alternating rounds of
//        each, rates over all rounds. W1-blocking and
//        W1-fsync-blocking: the same with blocking submit()s, one in flight per submitter
//   W2   one job at a time: submit -> start latency p50/p99 (durable before it starts)
//   W3   1,000 command jobs running /bin/true, concurrency 4, beside posix_spawn+waitpid x4;
//        eight alternating rounds of each, rates over all rounds
//   MEM  resident memory of 100,000 queued jobs
#include "bench_support.hpp"
#include "wq/queue.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spawn.h>
#include <sqlite3.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <latch>
#include <mutex>
#include <random>
#include <semaphore>
#include <thread>
#include <vector>

extern char** environ;

namespace {

using namespace wq::bench;
namespace fs = std::filesystem;

wq::Config config(const fs::path& dir, int concurrency, wq::Durability d = wq::Durability::process) {
  wq::Config c;
  c.data_dir = dir;
  c.concurrency = concurrency;
  c.durability = d;
  return c;
}

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::atoi(v) : fallback;
}

// Waits until `n` jobs ended, looking every `poll`. The throughput runs look every 1 ms, at
// most 1 ms late on runs of 0.4-0.6 s: looking every 200 us, this thread's wake-ups cost W3's
// process 25-27 us of CPU a job, CPU its children lacked (ratio 0.73-0.74 -> 0.75-0.80).
void wait_succeeded(wq::Queue& q, std::uint64_t n,
                    std::chrono::microseconds poll = std::chrono::milliseconds(1)) {
  while (q.stats().succeeded + q.stats().failed < n) std::this_thread::sleep_for(poll);
}

// How a W1 submitter submits: one blocking submit() at a time, or submit_async() with up to
// kWindow submits in flight (a web handler's way: it returns and answers when `done` runs).
enum class Submits { blocking, async };

struct W1Run {
  double rate = 0;       // jobs/s
  wq::StoreStats store;  // its commits and syncs
  std::string commits() const {
    return store.syncs > 0 ? fmt::format("{} commits, {} syncs", store.commits, store.syncs)
                           : fmt::format("{} commits", store.commits);
  }
};

// Submits spec(i) for i = first, first + step, ... below n through submit_async with up to 64
// in flight (a web handler's way: it answers when `done` runs), and returns once every submit
// is answered: empty, or the detail of a refusal.
std::string submit_windowed(wq::Queue& q, int first, int n, int step,
                            const std::function<wq::JobSpec(int)>& spec) {
  constexpr std::ptrdiff_t kWindow = 64;
  std::counting_semaphore<kWindow> window(kWindow);
  std::mutex refused_mutex;
  std::string refused;
  for (int i = first; i < n; i += step) {
    window.acquire();
    q.submit_async(spec(i), [&](wq::Result<wq::Submitted> r) {
      if (!r) {
        std::lock_guard lock(refused_mutex);
        refused = r.error().detail;
      }
      window.release();
    });
  }
  for (std::ptrdiff_t k = 0; k < kWindow; ++k) window.acquire();  // all answered
  return refused;
}

W1Run w1_run(wq::Durability durability, int n, Submits how = Submits::async) {
  TempDir dir;
  wq::Queue q(config(dir.path, 8, durability));
  q.register_task("noop", [](wq::TaskContext&) {});
  constexpr int kSubmitters = 8;
  const auto noop = [](int i) { return wq::JobSpec{.task = "noop", .params = {{"i", i}}}; };
  std::mutex failed_mutex;
  std::string failed;
  const auto t0 = SteadyClock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < kSubmitters; ++t) {
    threads.emplace_back([&, t] {
      std::string refused;
      if (how == Submits::async) {
        refused = submit_windowed(q, t, n, kSubmitters, noop);
      } else {
        for (int i = t; i < n && refused.empty(); i += kSubmitters) {
          if (auto r = q.submit(noop(i)); !r) refused = r.error().detail;
        }
      }
      if (!refused.empty()) {
        std::lock_guard lock(failed_mutex);
        failed = std::move(refused);
      }
    });
  }
  for (auto& th : threads) th.join();
  if (!failed.empty()) throw std::runtime_error(failed);
  wait_succeeded(q, n);
  const double rate = n / seconds_since(t0);
  return {rate, q.stats().store};
}

// One-row INSERT commits with synchronous=FULL in WAL mode for `seconds`, into `db`'s table
// t: the rate a store with one commit per write could reach. Returns commits/s.
double full_commit_rate(sqlite3* db, double seconds) {
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db, "INSERT INTO t VALUES (?)", -1, &st, nullptr);
  const auto t0 = SteadyClock::now();
  int n = 0;
  while (seconds_since(t0) < seconds) {
    sqlite3_bind_int(st, 1, n++);
    if (sqlite3_step(st) != SQLITE_DONE) throw std::runtime_error(sqlite3_errmsg(db));
    sqlite3_reset(st);
  }
  const double rate = n / seconds_since(t0);
  sqlite3_finalize(st);
  return rate;
}

// Rates over rounds: each side's jobs (or commits) over its summed time, and the rounds' own.
struct Rounds {
  double items = 0, seconds = 0;
  std::vector<std::string> each;
  void add(double n, double rate) {
    items += n;
    seconds += n / rate;
    each.push_back(fmt::format("{:.0f}", rate));
  }
  double rate() const { return items / seconds; }
};

// W1 and W1-fsync take turns with the limit's FULL commits, WQ_BENCH_W1_ROUNDS (5) rounds of
// each: the VM's speed drifts by a quarter within seconds (a CPU loop timed twice in a row:
// 247 and 319 ms), and a figure measured a few seconds from its limit moved with it (a
// W1-fsync ratio of 7.7 and 14.1 in two runs a minute apart). Each rate is over all rounds.
void w1() {
  constexpr int kJobs = 10000;
  const int rounds = std::max(1, env_int("WQ_BENCH_W1_ROUNDS", 5));
  w1_run(wq::Durability::process, 500);  // warm-up: page cache, allocator
  TempDir dir;
  sqlite3* db = nullptr;
  sqlite3_open((dir.path / "raw.sqlite").c_str(), &db);
  sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; CREATE TABLE t(x);",
               nullptr, nullptr, nullptr);
  Rounds process, fsync, full;
  std::string process_commits, fsync_commits;  // of the last round
  for (int round = 0; round < rounds; ++round) {
    const W1Run p = w1_run(wq::Durability::process, kJobs);
    process.add(kJobs, p.rate);
    process_commits = p.commits();
    const W1Run f = w1_run(wq::Durability::fsync, kJobs);
    fsync.add(kJobs, f.rate);
    fsync_commits = f.commits();
    const double commits = full_commit_rate(db, 0.5);
    full.add(commits * 0.5, commits);
  }
  sqlite3_close(db);
  result("W1", process.rate(), "jobs/s", 20000,
         fmt::format("durability=process, 10000 no-op function jobs, 8 submitters x 64 in flight, "
                     "concurrency 8, {} rounds ({}); target >= 20000; last round: {}",
                     rounds, fmt::join(process.each, " "), process_commits));
  result("W1-fsync", fsync.rate(), "jobs/s", full.rate() / 3,
         fmt::format("durability=fsync, {} rounds ({}), each followed by 0.5 s of the limit: "
                     "{:.0f} FULL commits/s ({}) / 3 writes per job; target ratio >= 10; last "
                     "round: {}",
                     rounds, fmt::join(fsync.each, " "), full.rate(), fmt::join(full.each, " "),
                     fsync_commits));
  const W1Run blocking = w1_run(wq::Durability::process, kJobs, Submits::blocking);
  result("W1-blocking", blocking.rate, "jobs/s", std::nullopt,
         fmt::format("W1 with blocking submit()s: 8 submitters, one in flight each; {}",
                     blocking.commits()));
  const W1Run fsync_blocking = w1_run(wq::Durability::fsync, kJobs, Submits::blocking);
  result("W1-fsync-blocking", fsync_blocking.rate, "jobs/s", full.rate() / 3,
         fmt::format("W1-fsync with blocking submit()s: 8 submitters, one in flight each; {}",
                     fsync_blocking.commits()));
}

void w2() {
  TempDir dir;
  wq::Queue q(config(dir.path, 8));
  std::mutex m;
  std::condition_variable cv;
  SteadyClock::time_point started{};
  bool ran = false;
  q.register_task("stamp", [&](wq::TaskContext&) {
    const auto now = SteadyClock::now();
    std::lock_guard lock(m);
    started = now;
    ran = true;
    cv.notify_all();
  });
  std::vector<double> samples;
  for (int i = 0; i < 320; ++i) {
    {
      std::lock_guard lock(m);
      ran = false;
    }
    const auto t0 = SteadyClock::now();
    auto s = q.submit({.task = "stamp", .params = {{"i", i}}});
    if (!s) throw std::runtime_error(s.error().detail);
    std::unique_lock lock(m);
    cv.wait(lock, [&] { return ran; });
    if (i >= 20) samples.push_back(std::chrono::duration<double, std::milli>(started - t0).count());
    lock.unlock();
    wait_succeeded(q, i + 1, std::chrono::microseconds(200));
  }
  result("W2-start-p50", percentile(samples, 50), "ms", 0.1, "submit -> start, one job at a time, 300 samples; target < 0.1 ms");
  result("W2-start-p99", percentile(samples, 99), "ms", 1.0, "target < 1 ms");
}

// CPU time used so far, in microseconds: this process (all threads) and its reaped children.
struct CpuTimes {
  double self_user = 0, self_sys = 0, children = 0;
  static CpuTimes now() {
    rusage self{}, kids{};
    getrusage(RUSAGE_SELF, &self);
    getrusage(RUSAGE_CHILDREN, &kids);
    auto us = [](const timeval& t) { return t.tv_sec * 1e6 + t.tv_usec; };
    return {us(self.ru_utime), us(self.ru_stime), us(kids.ru_utime) + us(kids.ru_stime)};
  }
  // "user U sys S children C" in microseconds per job since `before`.
  std::string per_job_since(const CpuTimes& before, int jobs) const {
    return fmt::format("user {:.0f} sys {:.0f} children {:.0f}", (self_user - before.self_user) / jobs,
                       (self_sys - before.self_sys) / jobs, (children - before.children) / jobs);
  }
};

double spawn_baseline(int n, int threads) {
  std::atomic<int> next{0};
  const auto t0 = SteadyClock::now();
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t) {
    ts.emplace_back([&] {
      char arg0[] = "/bin/true";
      char* args[] = {arg0, nullptr};
      while (next++ < n) {
        pid_t pid;
        if (posix_spawn(&pid, "/bin/true", nullptr, nullptr, args, environ) != 0) continue;
        int status;
        waitpid(pid, &status, 0);
      }
    });
  }
  for (auto& t : ts) t.join();
  return n / seconds_since(t0);
}

// One W3 round: `jobs` /bin/true jobs submitted as wqd submits them (submit_windowed, so
// submits share commits) and run to the end.
struct W3Round {
  double rate = 0;  // jobs/s
  std::string cpu;  // CPU per job and commits
};

W3Round w3_round(wq::Queue& q, int round, int jobs) {
  const auto before = q.stats().succeeded + q.stats().failed;
  const auto commits0 = q.stats().store.commits;
  const auto cpu0 = CpuTimes::now();
  const auto t0 = SteadyClock::now();
  // Distinct params per round: the same ones would dedup to the last round's jobs.
  const std::string refused = submit_windowed(q, 0, jobs, 1, [round](int i) {
    return wq::JobSpec{.task = "true", .params = {{"round", round}, {"i", i}}};
  });
  if (!refused.empty()) throw std::runtime_error("W3: a submit was refused: " + refused);
  wait_succeeded(q, before + jobs);
  const double rate = jobs / seconds_since(t0);
  return {rate, fmt::format("{}, {} commits", CpuTimes::now().per_job_since(cpu0, jobs),
                            q.stats().store.commits - commits0)};
}

// The workload and the posix_spawn loop take turns, eight rounds each; each side's rate is
// its jobs over its time summed across its rounds. This VM's cost of a /bin/true (its CPU as a
// child) drifts by 10-15% within a second: one round of each, one after the other, read
// 0.72-1.07 for the same build; eight rounds of each, alternating, 0.83-0.88 in five runs.
// WQ_BENCH_W3_JOBS overrides the jobs per round (instructions per job under callgrind are the
// difference between two counts, so start-up cancels out), WQ_BENCH_W3_ROUNDS the rounds;
// WQ_BENCH_W3_BASELINE=0 runs one round without the posix_spawn loop.
void w3() {
  const int jobs = env_int("WQ_BENCH_W3_JOBS", 1000);
  TempDir dir;
  wq::Config c = config(dir.path, 4);
  wq::TaskConfig t;
  t.name = "true";
  t.command = {"/bin/true"};
  t.produces_output = false;
  c.tasks.emplace("true", t);
  wq::Queue q(c);
  for (int i = 0; i < 50; ++i) (void)q.submit({.task = "true", .params = {{"warm", i}}});
  wait_succeeded(q, 50);
  if (env_int("WQ_BENCH_W3_BASELINE", 1) == 0) {
    const W3Round r = w3_round(q, 0, jobs);
    result("W3", r.rate, "jobs/s", std::nullopt,
           fmt::format("{} command jobs /bin/true, concurrency 4; CPU us/job: {}", jobs, r.cpu));
    return;
  }
  const int rounds = std::max(1, env_int("WQ_BENCH_W3_ROUNDS", 8));
  Rounds ours, spawn;
  std::vector<std::string> ratios;
  std::string wq_cpu, spawn_cpu;  // of the last round
  for (int round = 0; round < rounds; ++round) {
    const W3Round r = w3_round(q, round, jobs);
    const auto cpu = CpuTimes::now();
    const double spawns = spawn_baseline(jobs, 4);
    spawn_cpu = CpuTimes::now().per_job_since(cpu, jobs);
    wq_cpu = r.cpu;
    ours.add(jobs, r.rate);
    spawn.add(jobs, spawns);
    ratios.push_back(fmt::format("{:.2f}", r.rate / spawns));
  }
  result("W3", ours.rate(), "jobs/s", spawn.rate(),
         fmt::format("{} command jobs /bin/true, concurrency 4, in {} rounds, each followed by a "
                     "round of the limit: posix_spawn+waitpid with 4 threads (ratio per round "
                     "{}); target ratio >= 0.8; CPU us/job in the last round: workqueue {}; "
                     "posix_spawn {}",
                     jobs, rounds, fmt::join(ratios, " "), wq_cpu, spawn_cpu));
}

long rss_kib() {
  std::ifstream statm("/proc/self/statm");
  long size = 0, resident = 0;
  statm >> size >> resident;
  return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

void mem() {
  constexpr int kJobs = 100000;
  TempDir dir;
  wq::Config c = config(dir.path, 1);
  wq::Queue q(c);
  std::latch never(1);
  q.register_task("parked", [](wq::TaskContext& ctx) {
    while (!ctx.cancelled()) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  });
  const long before = rss_kib();
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = t; i < kJobs; i += 8) (void)q.submit({.task = "parked", .params = {{"i", i}}});
    });
  }
  for (auto& th : threads) th.join();
  const double mib = (rss_kib() - before) / 1024.0;
  result("MEM", mib, "MiB", 50, "resident memory added by 100000 queued jobs; target < 50 MiB");
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> workloads(argv + 1, argv + argc);
  if (workloads.empty()) workloads = {"W1", "W2", "W3", "MEM"};
  for (const auto& w : workloads) {
    if (w == "W1") w1();
    else if (w == "W2") w2();
    else if (w == "W3") w3();
    else if (w == "MEM") mem();
    else {
      std::fprintf(stderr, "wq-bench: unknown workload '%s' (W1, W2, W3, MEM)\n", w.c_str());
      return 2;
    }
  }
  return 0;
}
