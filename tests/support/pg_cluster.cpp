#include "support/pg_cluster.hpp"

#include <fcntl.h>
#include <grp.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <mutex>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>

namespace wq::test {
namespace {

namespace fs = std::filesystem;

// Who runs the cluster: ourselves, or the `postgres` user when we are root.
struct Owner {
  bool switch_user = false;
  uid_t uid = 0;
  gid_t gid = 0;
};

Owner cluster_owner() {
  Owner o;
  if (::geteuid() != 0) return o;
  const passwd* pw = ::getpwnam("postgres");
  if (!pw) {
    throw std::runtime_error(
        "running as root, and initdb refuses to run as root: install Debian's postgresql "
        "package (scripts/install-deps.sh), which creates the 'postgres' user");
  }
  o.switch_user = true;
  o.uid = pw->pw_uid;
  o.gid = pw->pw_gid;
  return o;
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

fs::path find_bindir() {
  static const fs::path dir = [] {
    std::array<char, 512> buf{};
    std::string out;
    if (FILE* p = ::popen("pg_config --bindir 2>/dev/null", "r")) {
      while (std::fgets(buf.data(), buf.size(), p)) out += buf.data();
      ::pclose(p);
    }
    while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
    if (!out.empty() && fs::exists(fs::path(out) / "initdb")) return fs::path(out);
    for (const char* d : {"/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin"}) {
      if (fs::exists(fs::path(d) / "initdb")) return fs::path(d);
    }
    throw std::runtime_error(
        "PostgreSQL's initdb was not found (pg_config --bindir, /usr/lib/postgresql/15/bin): "
        "install Debian's postgresql package with scripts/install-deps.sh");
  }();
  return dir;
}

// Forks `argv` as the cluster owner with stdout and stderr appended to `log`. With
// `die_with_parent` the child gets SIGQUIT (PostgreSQL's immediate shutdown) when we die.
pid_t spawn(const Owner& owner, const std::vector<std::string>& argv, const fs::path& log,
            bool die_with_parent) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      ::close(fd);
    }
    if (owner.switch_user) {
      if (::setgroups(0, nullptr) != 0 || ::setgid(owner.gid) != 0 || ::setuid(owner.uid) != 0) {
        std::perror("pg_cluster: cannot switch to the postgres user");
        ::_exit(126);
      }
    }
    // After the user switch: changing credentials clears the parent-death signal.
    if (die_with_parent) {
      ::prctl(PR_SET_PDEATHSIG, SIGQUIT);
      if (::getppid() != parent) ::_exit(1);
    } else {
      ::setsid();  // outlives us, outside our process group
    }
    ::execv(args[0], args.data());
    std::perror("pg_cluster: exec failed");
    ::_exit(127);
  }
  return pid;
}

int run(const Owner& owner, const std::vector<std::string>& argv, const fs::path& log) {
  const pid_t pid = spawn(owner, argv, log, false);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

unsigned short free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    if (fd >= 0) ::close(fd);
    throw std::runtime_error("cannot find a free loopback port");
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

std::string base_url(unsigned short port) {
  return "postgresql://postgres@127.0.0.1:" + std::to_string(port);
}

// Waits until the server accepts connections; false if `alive` says it died first.
bool wait_ready(unsigned short port, const std::function<bool()>& alive) {
  const std::string conninfo = base_url(port) + "/postgres?connect_timeout=5";
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    if (::PQping(conninfo.c_str()) == PQPING_OK) return true;
    if (!alive()) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  return false;
}

}  // namespace

std::unique_ptr<PgCluster> PgCluster::start(bool detached, const std::vector<std::string>& settings) {
  const Owner owner = cluster_owner();
  std::unique_ptr<PgCluster> c(new PgCluster);
  std::string tmpl = (fs::temp_directory_path() / "wq-pg-XXXXXX").string();
  if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed for " + tmpl);
  c->dir_ = tmpl;
  if (owner.switch_user && ::chown(c->dir_.c_str(), owner.uid, owner.gid) != 0) {
    throw std::runtime_error("cannot give " + c->dir_.string() + " to the postgres user");
  }
  const fs::path log = c->dir_ / "log";
  const fs::path data = c->dir_ / "data";
  const int rc = run(owner,
                     {(find_bindir() / "initdb").string(), "-D", data.string(), "-U", "postgres",
                      "--auth=trust", "-E", "UTF8", "--no-locale", "--no-instructions"},
                     log);
  if (rc != 0) throw std::runtime_error("initdb failed (exit " + std::to_string(rc) + "):\n" + read_file(log));
  // Several attempts: another process may take the free port between our probe and bind.
  for (int attempt = 0; attempt < 5; ++attempt) {
    c->port_ = free_port();
    std::vector<std::string> argv = {
        (find_bindir() / "postgres").string(), "-D", data.string(), "-p", std::to_string(c->port_),
        "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=" + c->dir_.string(),
        "-c", "fsync=on", "-c", "max_connections=300", "-c", "shared_buffers=64MB"};
    for (const auto& s : settings) {
      argv.push_back("-c");
      argv.push_back(s);
    }
    const pid_t pid = spawn(owner, argv, log, !detached);
    bool exited = false;
    auto alive = [&] {
      int status = 0;
      if (::waitpid(pid, &status, WNOHANG) == pid) exited = true;
      return !exited;
    };
    if (wait_ready(c->port_, alive)) {
      c->pid_ = pid;
      c->detached_ = detached;
      return c;
    }
    if (!exited) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
  }
  throw std::runtime_error("postgres did not start:\n" + read_file(log));
}

PgCluster::~PgCluster() {
  if (detached_) return;
  if (pid_ > 0) {
    ::kill(pid_, SIGQUIT);  // immediate shutdown: the data is thrown away anyway
    ::waitpid(pid_, nullptr, 0);
  }
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

void PgCluster::stop_detached(const fs::path& dir) {
  // postmaster.pid's first line is the server's pid.
  std::ifstream pidfile(dir / "data" / "postmaster.pid");
  long pid = 0;
  if (pidfile >> pid && pid > 0) {
    ::kill(static_cast<pid_t>(pid), SIGQUIT);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (::kill(static_cast<pid_t>(pid), 0) == 0 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  std::error_code ec;
  fs::remove_all(dir, ec);
}

fs::path PgCluster::bindir() { return find_bindir(); }

std::string PgCluster::url(const std::string& db) const { return base_url(port_) + "/" + db; }

std::string test_cluster_url() {
  static std::mutex m;
  static std::unique_ptr<PgCluster> own;
  static std::string url;
  std::lock_guard lock(m);
  if (!url.empty()) return url;
  if (const char* state = std::getenv("WQ_PG_TEST_CLUSTER")) {
    std::ifstream in(fs::path(state) / "url");
    std::string u;
    if (std::getline(in, u) && !u.empty() && ::PQping((u + "/postgres").c_str()) == PQPING_OK) {
      url = u;
      return url;
    }
  }
  own = PgCluster::start();
  url = base_url(own->port());
  // Stopped at exit; PR_SET_PDEATHSIG covers the paths that skip static destructors.
  return url;
}

namespace {

std::string run_sql(const std::string& url, const std::string& sql) {
  PGconn* conn = ::PQconnectdb(url.c_str());
  std::string error, value;
  if (::PQstatus(conn) != CONNECTION_OK) {
    error = ::PQerrorMessage(conn);
  } else {
    PGresult* r = ::PQexec(conn, sql.c_str());
    if (::PQresultStatus(r) != PGRES_COMMAND_OK && ::PQresultStatus(r) != PGRES_TUPLES_OK) {
      error = ::PQresultErrorMessage(r);
    } else if (::PQntuples(r) > 0 && ::PQnfields(r) > 0) {
      value = ::PQgetvalue(r, 0, 0);
    }
    ::PQclear(r);
  }
  ::PQfinish(conn);
  if (!error.empty()) throw std::runtime_error(sql + ": " + error);
  return value;
}

}  // namespace

void pg_exec(const std::string& url, const std::string& sql) { run_sql(url, sql); }

std::string pg_value(const std::string& url, const std::string& sql) { return run_sql(url, sql); }

TestDatabase::TestDatabase() {
  const std::string base = test_cluster_url();
  std::random_device rd;
  name_ = "wq_test_" + std::to_string(rd()) + "_" + std::to_string(rd());
  pg_exec(base + "/postgres", "CREATE DATABASE " + name_);
  url_ = base + "/" + name_;
}

TestDatabase::~TestDatabase() {
  try {
    pg_exec(test_cluster_url() + "/postgres", "DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "pg_cluster: dropping %s failed: %s\n", name_.c_str(), e.what());
  }
}

}  // namespace wq::test
