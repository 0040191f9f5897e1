// wq-sqlite-peer MODE DB ...: another process using a database of the WAL VFS's tests
// (tests/unit/wal_write_vfs_test.cpp). The table is t(k INTEGER PRIMARY KEY, v BLOB, n INTEGER).
//
//   count DB             counts t's rows through SQLite's default VFS; prints "rows N", or
//                        "error CODE MESSAGE" (CODE the extended result code); exits 0
//   commit-and-die DB N  through the workqueue VFS: commits N transactions of one row each
//                        (k = 0 .. N-1), prints "committed" once they are done, writes more
//                        rows in a transaction it never commits (past the page cache, so its
//                        frames reach the WAL), then kills itself with SIGKILL
#include <sqlite3.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "store/sqlite/sqlite_db.hpp"

namespace {

int count(const char* path) {
  sqlite3* db = nullptr;
  sqlite3_stmt* st = nullptr;
  int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, nullptr);
  sqlite3_extended_result_codes(db, 1);
  if (rc == SQLITE_OK) rc = sqlite3_prepare_v2(db, "SELECT count(*) FROM t", -1, &st, nullptr);
  if (rc == SQLITE_OK) rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    std::printf("rows %lld\n", sqlite3_column_int64(st, 0));
  } else {
    std::printf("error %d %s\n", sqlite3_extended_errcode(db), sqlite3_errmsg(db));
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return 0;
}

bool exec(wq::sqlite::Db& db, const std::string& sql) {
  auto r = db.exec(sql);
  if (!r) std::fprintf(stderr, "wq-sqlite-peer: %s\n", r.error().detail.c_str());
  return static_cast<bool>(r);
}

int commit_and_die(const char* path, int n) {
  auto db = wq::sqlite::Db::open(path, SQLITE_OPEN_READWRITE);
  if (!db) {
    std::fprintf(stderr, "wq-sqlite-peer: %s\n", db.error().detail.c_str());
    return 1;
  }
  wq::sqlite::Db& d = **db;
  if (!exec(d, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA cache_size=20")) {
    return 1;
  }
  for (int i = 0; i < n; ++i) {
    if (!exec(d, "INSERT INTO t VALUES (" + std::to_string(i) + ", zeroblob(100), 100)")) return 1;
  }
  std::printf("committed\n");
  std::fflush(stdout);
  if (!exec(d, "BEGIN")) return 1;
  for (int i = n; i < n + 200; ++i) {
    if (!exec(d, "INSERT INTO t VALUES (" + std::to_string(i) + ", zeroblob(3000), 3000)")) {
      return 1;
    }
  }
  std::raise(SIGKILL);
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 3 && std::strcmp(argv[1], "count") == 0) return count(argv[2]);
  if (argc == 4 && std::strcmp(argv[1], "commit-and-die") == 0) {
    return commit_and_die(argv[2], std::atoi(argv[3]));
  }
  std::fprintf(stderr, "usage: wq-sqlite-peer count DB | commit-and-die DB N\n");
  return 2;
}
