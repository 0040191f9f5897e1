// wq-bench-pg WORKLOAD...: the PostgreSQL store's benchmarks (issue 5), each against its own
// private cluster (fsync on). Prints RESULT lines as bench/run documents.
//   PG-W1   10,000 no-op function jobs, 8 submitters round-robin, concurrency 8 per node, on
//           one node and on three nodes (in-process wq::Queue nodes, each with its own store
//           connections and node id) sharing one database; beside pgbench's single-row commit
//           rate (8 clients) measured in the same run. value = the three-node figure.
//   PG-LAT  submit -> start latency p50 when the job is submitted on a full node and started
//           by an idle one woken by LISTEN/NOTIFY; and on the submitting node itself (claimed
//           in the submit's own transaction).
#include "support/pg_cluster.hpp"
#include "bench_support.hpp"
#include "wq/queue.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace wq::bench;
namespace fs = std::filesystem;

// A fresh database per measurement, so one run's rows do not slow the next.
std::string fresh_database(const wq::test::PgCluster& cluster) {
  static int n = 0;
  const std::string name = fmt::format("bench_{}", ++n);
  wq::test::pg_exec(cluster.url(), "CREATE DATABASE " + name);
  return cluster.url(name);
}

struct Nodes {
  std::vector<std::unique_ptr<TempDir>> dirs;
  std::vector<std::unique_ptr<wq::Queue>> queues;

  Nodes(const std::string& url, const std::vector<int>& concurrency) {
    for (int c : concurrency) {
      dirs.push_back(std::make_unique<TempDir>());
      wq::Config config;
      config.store = url;
      config.data_dir = dirs.back()->path;
      config.concurrency = c;
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

double w1_rate(const wq::test::PgCluster& cluster, int nodes, int jobs) {
  Nodes n(fresh_database(cluster), std::vector<int>(nodes, 8));
  for (auto& q : n.queues) q->register_task("noop", [](wq::TaskContext&) {});
  constexpr int kSubmitters = 8;
  const auto t0 = SteadyClock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < kSubmitters; ++t) {
    threads.emplace_back([&, t] {
      for (int i = t; i < jobs; i += kSubmitters) {
        auto r = n.queues[i % nodes]->submit({.task = "noop", .params = {{"i", i}}});
        if (!r) throw std::runtime_error(r.error().detail);
      }
    });
  }
  for (auto& th : threads) th.join();
  while (n.finished() < static_cast<std::uint64_t>(jobs)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // < 0.2% of a run
  }
  return jobs / seconds_since(t0);
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
  w1_rate(cluster, 1, 500);  // warm-up
  const double commits = pgbench_commit_rate(cluster);
  const double one = w1_rate(cluster, 1, kJobs);
  const double three = w1_rate(cluster, 3, kJobs);
  result("PG-W1-1node", one, "jobs/s", commits,
         "one node, 10000 no-op function jobs, concurrency 8; limit = pgbench single-row commits/s (8 clients)");
  result("PG-W1", three, "jobs/s", commits,
         "three nodes, 10000 no-op function jobs, concurrency 8 each; limit = pgbench single-row "
         "commits/s (8 clients); target >= 5000 jobs/s");
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
    auto cluster = wq::test::PgCluster::start();
    for (const auto& w : workloads) {
      if (w == "PG-W1") {
        pg_w1(*cluster);
      } else if (w == "PG-LAT") {
        pg_lat(*cluster);
      } else {
        std::fprintf(stderr, "wq-bench-pg: unknown workload '%s' (PG-W1, PG-LAT)\n", w.c_str());
        return 2;
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "wq-bench-pg: %s\n", e.what());
    return 1;
  }
  return 0;
}
