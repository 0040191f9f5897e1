// wq-pg-cluster start|stop STATE_DIR: one private PostgreSQL cluster for a whole ctest run (the
// `pg_cluster` fixture) or a benchmark. `start` writes STATE_DIR/url (postgresql://…:PORT,
// no database) and STATE_DIR/dir (the cluster's directory); `stop` stops that cluster and
// removes both. Exit 0 on success, 1 with the reason on stderr, 2 on a usage error.
#include "support/pg_cluster.hpp"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

namespace fs = std::filesystem;

int main(int argc, char** argv) {
  if (argc != 3 || (std::string_view(argv[1]) != "start" && std::string_view(argv[1]) != "stop")) {
    std::fprintf(stderr, "usage: wq-pg-cluster start|stop STATE_DIR\n");
    return 2;
  }
  const fs::path state = argv[2];
  try {
    if (std::string_view(argv[1]) == "start") {
      if (fs::exists(state / "dir")) {  // a previous run's cluster that was never stopped
        std::ifstream in(state / "dir");
        std::string old;
        if (std::getline(in, old) && !old.empty()) wq::test::PgCluster::stop_detached(old);
      }
      auto cluster = wq::test::PgCluster::start(true);
      fs::create_directories(state);
      std::ofstream(state / "dir") << cluster->dir().string() << "\n";
      std::ofstream(state / "url") << cluster->url("").substr(0, cluster->url("").size() - 1) << "\n";
      std::printf("%s\n", cluster->url("postgres").c_str());
    } else {
      std::ifstream in(state / "dir");
      std::string dir;
      if (std::getline(in, dir) && !dir.empty()) wq::test::PgCluster::stop_detached(dir);
      std::error_code ec;
      fs::remove_all(state, ec);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "wq-pg-cluster: %s\n", e.what());
    return 1;
  }
  return 0;
}
