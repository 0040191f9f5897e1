// wq-bench-pg WORKLOAD...: the PostgreSQL store's benchmarks (issue 5), each against its own
// private cluster (fsync on). Prints RESULT lines as bench/run documents.
//   PG-W1   10,000 no-op function jobs, concurrency 8 per node, on one node and on three
//           nodes (in-process wq::Queue nodes, each with its own store connections and node id)
//           sharing one database, with W1's load on each node: 8 submitters per node (24 on
//           three, taking the nodes round-robin); beside pgbench's single-row commit rate (8
//           clients) measured in the same run. value = the three-node figure. PG-W1-8sub is
//           three nodes under one node's load (8 submitters in all), where each submitter's
//           wait for its commit, not the nodes, sets the pace.
//           Also PG-W1-low (one submitter, one node) and, per run, "# " lines with where the
//           time goes per job: CPU of the nodes (getrusage) and of the PostgreSQL processes
//           (/proc), statements and commits (pg_stat_statements), the costliest statements,
//           wq_jobs rows written and how many updates were heap-only (pg_stat_user_tables);
//           and PG-CLAIM-low/-high: claim statements per claimed job at low and high load.
//   PG-W1-PROFILE  only the three-node drain, 2,000 jobs: to run under callgrind.
//   PG-W1-3NODE    only PG-W1's three-node drain (after the same warm-up): for side-by-side
//           runs of two builds, a third of PG-W1's time. WQ_BENCH_PG_SUBMITTERS sets its
//           submitters (default 24, PG-W1's).
//   PG-LAT  submit -> start latency p50 when the job is submitted on a full node and started
//           by an idle one woken by LISTEN/NOTIFY; and on the submitting node itself (claimed
//           in the submit's own transaction).
#include "support/pg_cluster.hpp"
#include "bench_support.hpp"
#include "wq/queue.hpp"

#include <fmt/format.h>
#include <libpq-fe.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace wq::bench;
namespace fs = std::filesystem;

// W1's load on one node: this many threads submitting, each waiting for its commit.
constexpr int kSubmittersPerNode = 8;

// A fresh database per measurement, so one run's rows do not slow the next.
std::string fresh_database(const wq::test::PgCluster& cluster) {
  static int n = 0;
  const std::string name = fmt::format("bench_{}", ++n);
  wq::test::pg_exec(cluster.url(), "CREATE DATABASE " + name);
  return cluster.url(name);
}

// Where one measurement's time goes, from the database's side (pg_stat_statements: statements,
// rows, execution time, grouped by statement) and CPU seconds of this process (the nodes) and of
// the PostgreSQL server processes (/proc/PID/stat of the postmaster's children).
class Meter {
 public:
  Meter(const wq::test::PgCluster& cluster, std::string db_url)
      : cluster_(cluster), url_(std::move(db_url)) {
    wq::test::pg_exec(cluster_.url(), "SELECT pg_stat_statements_reset()");
    self_cpu0_ = self_cpu();
    self_sys0_ = self_cpu(true);
    switches0_ = switches();
    threads0_ = thread_switches();
    cpu0_ = thread_cpu();
    server_cpu0_ = server_cpu();
  }

  struct Statement {
    std::string name;  // the start of its SQL
    double calls = 0, rows = 0, ms = 0;
    double plans = 0, plan_ms = 0;  // plannings (a generic plan is made once per connection)
  };
  struct Report {
    double self_cpu = 0, self_sys = 0, server_cpu = 0;  // seconds; self_sys: in the kernel
    double switches = 0;  // this process's context switches (voluntary and not)
    std::map<std::string, double> switches_by_thread;  // by thread name
    std::map<std::string, double> cpu_by_thread;       // seconds, user + kernel, by name
    std::map<std::string, double> server_cpu_by_kind;  // seconds, by PostgreSQL process kind
    std::vector<Statement> statements;
    double calls(std::string_view prefix) const {
      double n = 0;
      for (const auto& s : statements) n += s.name.starts_with(prefix) ? s.calls : 0;
      return n;
    }
    const Statement* find(std::string_view prefix) const {
      for (const auto& s : statements) if (s.name.starts_with(prefix)) return &s;
      return nullptr;
    }
  };

  Report stop() const {
    Report r;
    r.self_cpu = self_cpu() - self_cpu0_;
    r.self_sys = self_cpu(true) - self_sys0_;
    r.switches = switches() - switches0_;
    for (const auto& [tid, named] : thread_switches()) {
      auto it = threads0_.find(tid);
      r.switches_by_thread[named.first] += named.second - (it == threads0_.end() ? 0 : it->second.second);
    }
    for (const auto& [tid, named] : thread_cpu()) {
      auto it = cpu0_.find(tid);
      // Pools name threads name-0, name-1...: one line per pool.
      const std::string pool = named.first.substr(0, named.first.find_last_not_of("0123456789") + 1);
      r.cpu_by_thread[pool] += named.second - (it == cpu0_.end() ? 0 : it->second.second);
    }
    auto now = server_cpu();
    for (const auto& [pid, t] : now) {
      auto it = server_cpu0_.find(pid);
      const double used = t.second - (it == server_cpu0_.end() ? 0 : it->second.second);
      r.server_cpu += used;
      r.server_cpu_by_kind[t.first] += used;
    }
    const std::string db = url_.substr(url_.rfind('/') + 1);
    PGconn* c = PQconnectdb(cluster_.url().c_str());
    const std::string sql =
        "SELECT left(regexp_replace(query, '\\s+', ' ', 'g'), 60), calls, rows, total_exec_time, "
        "plans, total_plan_time FROM pg_stat_statements WHERE dbid = (SELECT oid FROM "
        "pg_database WHERE datname = '" +
        db + "') ORDER BY total_exec_time + total_plan_time DESC";
    PGresult* res = PQexec(c, sql.c_str());
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
      const std::string why = PQerrorMessage(c);
      PQclear(res);
      PQfinish(c);
      throw std::runtime_error("reading pg_stat_statements: " + why);
    }
    for (int i = 0; i < PQntuples(res); ++i) {
      r.statements.push_back({PQgetvalue(res, i, 0), std::stod(PQgetvalue(res, i, 1)),
                              std::stod(PQgetvalue(res, i, 2)), std::stod(PQgetvalue(res, i, 3)),
                              std::stod(PQgetvalue(res, i, 4)), std::stod(PQgetvalue(res, i, 5))});
    }
    PQclear(res);
    PQfinish(c);
    return r;
  }

  // Per job: CPU of both sides, statements and commits, and the costliest statements.
  static void print(std::string_view what, const Report& r, int jobs) {
    double calls = 0;
    for (const auto& s : r.statements) calls += s.calls;
    fmt::print("# {}: per job: wqd CPU {:.0f} us ({:.0f} in the kernel, {:.1f} context switches), "
               "postgres CPU {:.0f} us, {:.2f} statements, {:.3f} commits\n",
               what, 1e6 * r.self_cpu / jobs, 1e6 * r.self_sys / jobs, r.switches / jobs,
               1e6 * r.server_cpu / jobs, calls / jobs,
               r.calls("COMMIT") / jobs);
    std::string by_thread;
    for (const auto& [name, n] : r.switches_by_thread) {
      if (n / jobs >= 0.5) by_thread += fmt::format(" {} {:.1f}", name, n / jobs);
    }
    fmt::print("#   context switches per job by thread:{}\n", by_thread);
    std::string cpu;
    for (const auto& [name, t] : r.cpu_by_thread) {
      if (1e6 * t / jobs >= 5) cpu += fmt::format(" {} {:.0f}", name, 1e6 * t / jobs);
    }
    fmt::print("#   wqd CPU us per job by thread:{}\n", cpu);
    std::string server;
    for (const auto& [kind, t] : r.server_cpu_by_kind) {
      if (1e6 * t / jobs >= 1) server += fmt::format(" {} {:.0f}", kind, 1e6 * t / jobs);
    }
    fmt::print("#   postgres CPU us per job by process:{}\n", server);
    int shown = 0;
    for (const auto& s : r.statements) {
      if (++shown > 10) break;
      fmt::print(
          "#   {:8.3f} calls/job {:8.2f} rows/call {:7.1f} us/job {:5.1f} planning "
          "({:.2f}/call)  {}\n",
          s.calls / jobs, s.calls > 0 ? s.rows / s.calls : 0.0, 1000 * s.ms / jobs,
          1000 * s.plan_ms / jobs, s.calls > 0 ? s.plans / s.calls : 0.0, s.name);
    }
    std::fflush(stdout);
  }

 private:
  // User + system seconds of this process, or only the system part.
  static double self_cpu(bool only_sys = false) {
    rusage u{};
    ::getrusage(RUSAGE_SELF, &u);
    auto secs = [](const timeval& t) {
      return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
    };
    return only_sys ? secs(u.ru_stime) : secs(u.ru_utime) + secs(u.ru_stime);
  }
  static double switches() {
    rusage u{};
    ::getrusage(RUSAGE_SELF, &u);
    return static_cast<double>(u.ru_nvcsw + u.ru_nivcsw);
  }
  // tid -> (thread name, voluntary + involuntary context switches)
  static std::map<int, std::pair<std::string, double>> thread_switches() {
    std::map<int, std::pair<std::string, double>> out;
    for (const auto& e : fs::directory_iterator("/proc/self/task")) {
      std::ifstream in(e.path() / "status");
      std::string line, name;
      double n = 0;
      while (std::getline(in, line)) {
        if (line.starts_with("Name:")) name = line.substr(line.find_first_not_of(" \t", 5));
        if (line.find("ctxt_switches:") != std::string::npos) n += std::stod(line.substr(line.find(':') + 1));
      }
      out[std::stoi(e.path().filename())] = {name, n};
    }
    return out;
  }
  // tid -> (thread name, utime + stime in seconds)
  static std::map<int, std::pair<std::string, double>> thread_cpu() {
    std::map<int, std::pair<std::string, double>> out;
    const double tick = static_cast<double>(::sysconf(_SC_CLK_TCK));
    for (const auto& e : fs::directory_iterator("/proc/self/task")) {
      std::ifstream in(e.path() / "stat");
      std::string line;
      if (!std::getline(in, line)) continue;
      const auto open = line.find('('), close = line.rfind(')');
      if (open == std::string::npos || close == std::string::npos) continue;
      std::istringstream rest(line.substr(close + 2));
      std::string skip;
      for (int i = 0; i < 11; ++i) rest >> skip;  // fields 3..13
      double utime = 0, stime = 0;
      rest >> utime >> stime;
      out[std::stoi(e.path().filename())] = {line.substr(open + 1, close - open - 1), (utime + stime) / tick};
    }
    return out;
  }
  // pid -> (kind, utime + stime) of the postmaster and its children; the kind is the process
  // title's first word after "postgres:" ("walwriter", "autovacuum"), "backend" for a session.
  std::map<int, std::pair<std::string, double>> server_cpu() const {
    std::map<int, std::pair<std::string, double>> out;
    const double tick = static_cast<double>(::sysconf(_SC_CLK_TCK));
    for (const auto& e : fs::directory_iterator("/proc")) {
      const std::string name = e.path().filename();
      if (name.find_first_not_of("0123456789") != std::string::npos) continue;
      std::ifstream in(e.path() / "stat");
      std::string line;
      if (!std::getline(in, line)) continue;
      const auto close = line.rfind(')');
      if (close == std::string::npos) continue;
      std::istringstream rest(line.substr(close + 2));
      std::string state;
      long ppid = 0;
      rest >> state >> ppid;
      const int pid = std::stoi(name);
      if (pid != cluster_.pid() && ppid != cluster_.pid()) continue;
      std::string skip;
      for (int i = 0; i < 9; ++i) rest >> skip;  // fields 5..13
      double utime = 0, stime = 0;
      rest >> utime >> stime;
      std::ifstream cmd(e.path() / "cmdline");
      std::string title;
      std::getline(cmd, title, '\0');
      std::string kind = pid == cluster_.pid() ? "postmaster" : "backend";
      if (title.starts_with("postgres: ")) {
        const std::string rest = title.substr(10);
        const std::string first = rest.substr(0, rest.find(' '));
        if (first == "walwriter" || first == "checkpointer" || first == "autovacuum" ||
            first == "background" || first == "logical" || first == "stats") {
          kind = first;
        }
      }
      out[pid] = {kind, (utime + stime) / tick};
    }
    return out;
  }

  const wq::test::PgCluster& cluster_;
  const std::string url_;
  double self_cpu0_ = 0, self_sys0_ = 0, switches0_ = 0;
  std::map<int, std::pair<std::string, double>> threads0_, cpu0_;
  std::map<int, std::pair<std::string, double>> server_cpu0_;
};

struct Nodes {
  std::vector<std::unique_ptr<TempDir>> dirs;
  std::vector<std::unique_ptr<wq::Queue>> queues;

  Nodes(const std::string& url, const std::vector<int>& concurrency,
        wq::Durability durability = wq::Durability::process) {
    for (int c : concurrency) {
      dirs.push_back(std::make_unique<TempDir>());
      wq::Config config;
      config.store = url;
      config.data_dir = dirs.back()->path;
      config.concurrency = c;
      config.durability = durability;
      queues.push_back(std::make_unique<wq::Queue>(config));
    }
  }
  ~Nodes() {
    for (auto& q : queues) q->stop();
  }
  std::uint64_t finished() const {
    std::uint64_t n = 0;
    for (auto& q : queues) n += q->stats().succeeded + q->stats().failed;
    return n;
  }
};

// Row changes of wq_jobs in one database (pg_stat_user_tables), read once its nodes have
// disconnected (a backend flushes its counts at exit): how many updates were heap-only (HOT),
// which write no index entries.
struct RowChanges {
  double inserted = 0, updated = 0, hot = 0, deleted = 0, index_kb = 0;
};
RowChanges row_changes(const std::string& url) {
  const std::string db = url.substr(url.rfind('/') + 1);
  PGconn* c = PQconnectdb(url.c_str());
  auto query = [&](const std::string& sql) {
    PGresult* res = PQexec(c, sql.c_str());
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
      const std::string why = PQerrorMessage(c);
      PQclear(res);
      PQfinish(c);
      throw std::runtime_error("reading the row changes: " + why);
    }
    return res;
  };
  for (int i = 0; i < 500; ++i) {
    PGresult* res = query("SELECT count(*) FROM pg_stat_activity WHERE datname = '" + db +
                          "' AND pid <> pg_backend_pid()");
    const bool idle = std::string(PQgetvalue(res, 0, 0)) == "0";
    PQclear(res);
    if (idle) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  PGresult* res = query(
      "SELECT n_tup_ins, n_tup_upd, n_tup_hot_upd, n_tup_del, pg_indexes_size(relid) / 1024 "
      "FROM pg_stat_user_tables WHERE relname = 'wq_jobs'");
  RowChanges out;
  if (PQntuples(res) == 1) {
    out = {std::stod(PQgetvalue(res, 0, 0)), std::stod(PQgetvalue(res, 0, 1)),
           std::stod(PQgetvalue(res, 0, 2)), std::stod(PQgetvalue(res, 0, 3)),
           std::stod(PQgetvalue(res, 0, 4))};
  }
  PQclear(res);
  PQfinish(c);
  return out;
}

void print_row_changes(const RowChanges& r, int jobs) {
  fmt::print("#   wq_jobs rows per job: {:.2f} inserted, {:.2f} updated ({:.2f} HOT, {:.0f}%), "
             "{:.2f} deleted; indexes {:.0f} kB\n",
             r.inserted / jobs, r.updated / jobs, r.hot / jobs,
             r.updated > 0 ? 100 * r.hot / r.updated : 0.0, r.deleted / jobs, r.index_kb);
}

struct Run {
  double rate = 0;  // jobs/s
  Meter::Report report;
  RowChanges rows;
};

// Drains `jobs` no-op jobs submitted by `submitters` threads round-robin over `nodes` nodes.
Run w1_run(const wq::test::PgCluster& cluster, int nodes, int jobs, int submitters,
           wq::Durability durability = wq::Durability::process) {
  const std::string url = fresh_database(cluster);
  auto nodes_owner = std::make_unique<Nodes>(url, std::vector<int>(nodes, 8), durability);
  Nodes& n = *nodes_owner;
  for (auto& q : n.queues) q->register_task("noop", [](wq::TaskContext&) {});
  Meter meter(cluster, url);
  const auto t0 = SteadyClock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < submitters; ++t) {
    threads.emplace_back([&, t] {
      for (int i = t; i < jobs; i += submitters) {
        auto r = n.queues[i % nodes]->submit({.task = "noop", .params = {{"i", i}}});
        if (!r) throw std::runtime_error(r.error().detail);
      }
    });
  }
  for (auto& th : threads) th.join();
  while (n.finished() < static_cast<std::uint64_t>(jobs)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // < 0.2% of a run
  }
  Run run;
  run.rate = jobs / seconds_since(t0);
  run.report = meter.stop();
  nodes_owner.reset();
  run.rows = row_changes(url);
  return run;
}

// What claiming costs per job claimed: claim statements, and their execution time in µs.
struct ClaimCost {
  double statements = 0, us = 0, batch = 0;  // batch: jobs per statement that takes jobs
};
ClaimCost claim_cost(const Meter::Report& r) {
  double calls = 0, taken = 0, ms = 0, taking = 0;
  for (const auto& s : r.statements) {
    const bool takes = s.name.starts_with("WITH picked AS") || s.name.starts_with("UPDATE wq_jobs j SET state = 1");
    if (!takes && !s.name.starts_with("SELECT seqno, task FROM wq_jobs WHERE state = 0")) continue;
    calls += s.calls;
    ms += s.ms;
    if (takes) {
      taken += s.rows;
      taking += s.calls;
    }
  }
  if (taken == 0) return {};
  return {calls / taken, 1000 * ms / taken, taken / taking};
}

// Single-row INSERT commits per second from 8 pgbench clients: PostgreSQL's own commit rate
// on this machine (group commit included).
double pgbench_commit_rate(const wq::test::PgCluster& cluster) {
  const std::string url = fresh_database(cluster);
  wq::test::pg_exec(url, "CREATE TABLE commit_rate (id BIGSERIAL PRIMARY KEY, v INTEGER)");
  TempDir dir;
  const fs::path script = dir.path / "insert.sql";
  std::ofstream(script) << "INSERT INTO commit_rate (v) VALUES (1);\n";
  const std::string cmd = fmt::format("'{}/pgbench' -n -c 8 -j 2 -T 5 -f '{}' '{}' 2>&1",
                                      wq::test::PgCluster::bindir().string(), script.string(), url);
  std::string out;
  if (FILE* p = ::popen(cmd.c_str(), "r")) {
    char buf[512];
    while (std::fgets(buf, sizeof buf, p)) out += buf;
    ::pclose(p);
  }
  const auto at = out.find("tps = ");
  if (at == std::string::npos) throw std::runtime_error("pgbench failed:\n" + out);
  return std::stod(out.substr(at + 6));
}

void pg_w1(const wq::test::PgCluster& cluster) {
  constexpr int kJobs = 10000;
  w1_run(cluster, 1, 500, 8);  // warm-up
  const double commits = pgbench_commit_rate(cluster);
  // Low load: one submitter, each job submitted after the previous one was accepted.
  const Run low = w1_run(cluster, 1, 1000, 1);
  Meter::print("PG-W1-low (1 node, 1 submitter)", low.report, 1000);
  print_row_changes(low.rows, 1000);
  const Run one = w1_run(cluster, 1, kJobs, kSubmittersPerNode);
  Meter::print("PG-W1-1node", one.report, kJobs);
  print_row_changes(one.rows, kJobs);
  const Run three = w1_run(cluster, 3, kJobs, 3 * kSubmittersPerNode);
  Meter::print("PG-W1 (3 nodes)", three.report, kJobs);
  print_row_changes(three.rows, kJobs);
  const Run three_8 = w1_run(cluster, 3, kJobs, kSubmittersPerNode);
  Meter::print("PG-W1-8sub (3 nodes, 8 submitters)", three_8.report, kJobs);
  const Run fsync = w1_run(cluster, 3, kJobs, 3 * kSubmittersPerNode, wq::Durability::fsync);
  Meter::print("PG-W1-fsync (3 nodes)", fsync.report, kJobs);
  print_row_changes(fsync.rows, kJobs);
  result("PG-W1-1node", one.rate, "jobs/s", commits,
         "one node, 10000 no-op function jobs, concurrency 8, durability process; limit = pgbench single-row commits/s (8 clients)");
  result("PG-W1", three.rate, "jobs/s", commits,
         "three nodes, 10000 no-op function jobs, concurrency 8 and 8 submitters each, "
         "durability process (synchronous_commit off); limit = pgbench single-row commits/s (8 "
         "clients); target >= 5000 jobs/s");
  result("PG-W1-8sub", three_8.rate, "jobs/s", commits,
         "the same three nodes under one node's load: 8 submitters in all");
  result("PG-W1-fsync", fsync.rate, "jobs/s", commits,
         "the same with durability fsync (synchronous_commit on: every commit flushed)");
  const ClaimCost lo = claim_cost(low.report), hi = claim_cost(three.report);
  result("PG-CLAIM-low", lo.statements, "statements/job", std::nullopt,
         fmt::format("claim statements per claimed job, 1 node, 1 submitter ({:.1f} jobs per "
                     "claiming statement; {:.1f} us of execution per job)", lo.batch, lo.us));
  result("PG-CLAIM-high", hi.statements, "statements/job", std::nullopt,
         fmt::format("claim statements per claimed job in PG-W1, 3 nodes, 24 submitters ({:.1f} "
                     "jobs per claiming statement; {:.1f} us of execution per job)", hi.batch, hi.us));
}

// Submits `samples` jobs one at a time on `submit_on` and measures until each starts.
std::vector<double> start_latencies(wq::Queue& submit_on, std::mutex& m, std::condition_variable& cv,
                                    SteadyClock::time_point& started, bool& ran, int samples) {
  std::vector<double> out;
  for (int i = 0; i < samples + 20; ++i) {
    {
      std::lock_guard lock(m);
      ran = false;
    }
    const auto t0 = SteadyClock::now();
    auto s = submit_on.submit({.task = "stamp", .params = {{"i", i}, {"r", std::random_device{}()}}});
    if (!s) throw std::runtime_error(s.error().detail);
    std::unique_lock lock(m);
    cv.wait(lock, [&] { return ran; });
    if (i >= 20) out.push_back(std::chrono::duration<double, std::milli>(started - t0).count());
  }
  return out;
}

void pg_lat(const wq::test::PgCluster& cluster) {
  // Node 0 runs one job at a time and is kept busy by a blocker: what is submitted there
  // must be claimed by node 1, woken by NOTIFY.
  Nodes n(fresh_database(cluster), {1, 8});
  std::mutex m;
  std::condition_variable cv;
  SteadyClock::time_point started{};
  bool ran = false;
  auto stamp = [&](wq::TaskContext&) {
    const auto now = SteadyClock::now();
    std::lock_guard lock(m);
    started = now;
    ran = true;
    cv.notify_all();
  };
  n.queues[0]->register_task("blocker", [](wq::TaskContext& ctx) {
    std::mutex bm;
    std::condition_variable_any bcv;
    std::unique_lock lock(bm);
    bcv.wait(lock, ctx.stop_token(), [] { return false; });
  });
  for (auto& q : n.queues) q->register_task("stamp", stamp);
  auto blocker = n.queues[0]->submit({.task = "blocker"});
  if (!blocker) throw std::runtime_error(blocker.error().detail);
  while (n.queues[0]->stats().running == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  auto remote = start_latencies(*n.queues[0], m, cv, started, ran, 300);
  result("PG-LAT", percentile(remote, 50), "ms", 5.0,
         "submit on a full node -> start on an idle one woken by LISTEN/NOTIFY, p50 of 300; target < 5 ms");
  result("PG-LAT-p99", percentile(remote, 99), "ms", std::nullopt, "the same, p99");
  auto local = start_latencies(*n.queues[1], m, cv, started, ran, 300);
  result("PG-LAT-local", percentile(local, 50), "ms", std::nullopt,
         "submit -> start on the same node (claimed in the submit's transaction), p50 of 300");
  (void)n.queues[0]->cancel(blocker->job.id);
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> workloads(argv + 1, argv + argc);
  if (workloads.empty()) workloads = {"PG-W1", "PG-LAT"};
  try {
    auto cluster = wq::test::PgCluster::start(
        false, {"shared_preload_libraries=pg_stat_statements", "pg_stat_statements.track=all",
                "pg_stat_statements.track_planning=on"});
    wq::test::pg_exec(cluster->url(), "CREATE EXTENSION pg_stat_statements");
    for (const auto& w : workloads) {
      if (w == "PG-W1") {
        pg_w1(*cluster);
      } else if (w == "PG-LAT") {
        pg_lat(*cluster);
      } else if (w == "PG-W1-3NODE") {
        w1_run(*cluster, 1, 500, 8);  // warm-up, as in PG-W1
        const char* subs = std::getenv("WQ_BENCH_PG_SUBMITTERS");
        const int submitters =
            subs != nullptr && *subs != '\0' ? std::atoi(subs) : 3 * kSubmittersPerNode;
        const Run r = w1_run(*cluster, 3, 10000, submitters);
        Meter::print("PG-W1-3NODE (3 nodes)", r.report, 10000);
        print_row_changes(r.rows, 10000);
        result("PG-W1-3NODE", r.rate, "jobs/s", std::nullopt,
               "PG-W1's three-node drain alone: 10000 no-op function jobs, concurrency 8 each");
      } else if (w == "PG-W1-PROFILE") {
        // For valgrind --tool=callgrind: only the three-node drain, smaller.
        const Run r = w1_run(*cluster, 3, 2000, 3 * kSubmittersPerNode);
        Meter::print("PG-W1-PROFILE (3 nodes, 2000 jobs)", r.report, 2000);
        print_row_changes(r.rows, 2000);
      } else {
        std::fprintf(
            stderr,
            "wq-bench-pg: unknown workload '%s' (PG-W1, PG-LAT, PG-W1-3NODE, PG-W1-PROFILE)\n",
            w.c_str());
        return 2;
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "wq-bench-pg: %s\n", e.what());
    return 1;
  }
  return 0;
}
