#include "store/sqlite/sqlite_db.hpp"

#include <algorithm>

#include "store/sqlite/wal_write_vfs.hpp"

#include <fmt/format.h>

namespace wq::sqlite {

Result<bool> Stmt::step() {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return make_error(Errc::store_failed,
                    fmt::format("sqlite: {} (in: {})", sqlite3_errmsg(db_), sqlite3_sql(stmt_)));
}

Result<void> Stmt::run() {
  for (;;) {
    auto row = step();
    if (!row) return row.error();
    if (!*row) return {};
  }
}

namespace {

// SQLite's global memory statistics take a global mutex and update counters around every
// allocation SQLite makes (~5% of a job's instructions in W1). Turned off once, before SQLite
// initialises; if the program had already used SQLite, the call is refused and nothing changes.
void disable_memory_statistics() {
  static const int rc = sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
  (void)rc;
}

}  // namespace

Result<std::unique_ptr<Db>> Db::open(const std::string& path, int flags) {
  disable_memory_statistics();
  sqlite3* handle = nullptr;
  const int rc =
      sqlite3_open_v2(path.c_str(), &handle, flags | SQLITE_OPEN_NOMUTEX, wal_write_vfs());
  if (rc != SQLITE_OK) {
    std::string msg = handle ? sqlite3_errmsg(handle) : sqlite3_errstr(rc);
    sqlite3_close(handle);
    return make_error(Errc::store_failed, fmt::format("cannot open SQLite database {}: {}", path, msg));
  }
  sqlite3_extended_result_codes(handle, 1);
  return std::unique_ptr<Db>(new Db(handle));
}

Db::~Db() {
  cache_.clear();
  sqlite3_close(db_);
}

Result<void> Db::exec(std::string_view sql) {
  char* err = nullptr;
  std::string text(sql);
  if (sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : sqlite3_errmsg(db_);
    sqlite3_free(err);
    return make_error(Errc::store_failed, fmt::format("sqlite: {}", msg));
  }
  return {};
}

Result<Stmt*> Db::prepare(const char* sql) {
  auto it = cache_.find(sql);
  if (it == cache_.end()) {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr) != SQLITE_OK) {
      return error(fmt::format("cannot prepare {}", sql));
    }
    it = cache_.emplace(sql, std::make_unique<Stmt>(db_, stmt)).first;
  }
  Stmt* s = it->second.get();
  if (std::find(used_.begin(), used_.end(), s) == used_.end()) used_.push_back(s);
  return &s->reset();
}

Error Db::error(std::string_view what) const {
  return make_error(Errc::store_failed, fmt::format("sqlite: {}: {}", what, sqlite3_errmsg(db_)));
}

}  // namespace wq::sqlite
