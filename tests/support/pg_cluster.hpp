// A private PostgreSQL cluster for tests and benchmarks (issue 5): `initdb` in a fresh temporary
// directory, `postgres` on a free loopback port, fsync on, trust authentication for the
// `postgres` role, removed afterwards. The binaries come from `pg_config --bindir` (Debian:
// /usr/lib/postgresql/15/bin). initdb refuses to run as root, so as root the cluster runs as
// the `postgres` system user Debian's package creates (its directory owned by that user).
//
// Two ways to hold one:
//   - PgCluster::start() runs `postgres` as this process's child with PR_SET_PDEATHSIG: if
//     the process dies (a failed assertion, abort, kill -9), so does the server. The
//     destructor stops it and removes the directory.
//   - `wq-pg-cluster start STATE_DIR` / `stop STATE_DIR` (pg_cluster_main.cpp) keep one
//     cluster for a whole ctest run (a ctest fixture); test processes find it through the
//     WQ_PG_TEST_CLUSTER environment variable (test_cluster()).
// Each test takes a fresh database (TestDatabase), so tests may run in parallel.
//
// Threading: a PgCluster is used from one thread; test_cluster() is safe from any thread.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace wq::test {

class PgCluster {
 public:
  // Throws std::runtime_error saying what failed (initdb output included). `detached`: the
  // server outlives this process and this object (for the ctest fixture; stop it with
  // stop_detached(dir)). `settings`: extra `name=value` server settings (-c), e.g. the
  // benchmark's shared_preload_libraries=pg_stat_statements.
  static std::unique_ptr<PgCluster> start(bool detached = false,
                                          const std::vector<std::string>& settings = {});
  ~PgCluster();  // stops the server (immediate mode) and removes the directory
  PgCluster(const PgCluster&) = delete;
  PgCluster& operator=(const PgCluster&) = delete;

  // postgresql://postgres@127.0.0.1:PORT/DB
  std::string url(const std::string& db = "postgres") const;
  unsigned short port() const { return port_; }
  const std::filesystem::path& dir() const { return dir_; }
  pid_t pid() const { return pid_; }  // the postmaster

  static void stop_detached(const std::filesystem::path& dir);
  // Where initdb, postgres and pgbench are (throws with the fix if they are missing).
  static std::filesystem::path bindir();

 private:
  PgCluster() = default;
  std::filesystem::path dir_;
  unsigned short port_ = 0;
  pid_t pid_ = -1;
  bool detached_ = false;
};

// The cluster tests use: the fixture's (WQ_PG_TEST_CLUSTER names its state directory) when
// there is one, else one started on first use for this process. Its base URL, without a
// database name: postgresql://postgres@127.0.0.1:PORT
std::string test_cluster_url();

// A fresh, empty database on the test cluster, dropped when this goes away.
class TestDatabase {
 public:
  TestDatabase();
  ~TestDatabase();
  TestDatabase(const TestDatabase&) = delete;
  TestDatabase& operator=(const TestDatabase&) = delete;
  const std::string& url() const { return url_; }
  const std::string& name() const { return name_; }

 private:
  std::string name_;
  std::string url_;
};

// Runs one SQL command on `url` (throws std::runtime_error with the server's message).
void pg_exec(const std::string& url, const std::string& sql);
// The first column of the first row of a query ("" when there is none, or it is NULL).
std::string pg_value(const std::string& url, const std::string& sql);

}  // namespace wq::test
