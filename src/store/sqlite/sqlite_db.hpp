// A thin RAII wrapper over the SQLite C API: a connection (Db) and cached prepared statements
// (Stmt). Errors become Result values with the SQLite message.
// Threading: a Db and its statements are used by one thread at a time (SQLite's
// multi-thread mode); callers serialise access.
#pragma once

#include "wq/error.hpp"

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace wq::sqlite {

class Stmt {
 public:
  Stmt(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  ~Stmt() { sqlite3_finalize(stmt_); }

  // Resets the statement and clears its bindings; call before binding a new run.
  Stmt& reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
    return *this;
  }
  Stmt& bind(int i, std::int64_t v) { sqlite3_bind_int64(stmt_, i, v); return *this; }
  Stmt& bind(int i, int v) { sqlite3_bind_int64(stmt_, i, v); return *this; }
  Stmt& bind(int i, double v) { sqlite3_bind_double(stmt_, i, v); return *this; }
  Stmt& bind(int i, std::string_view v) {
    sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  // Binds `v` without copying it: `v` must stay alive and unchanged through every step of the
  // statement (SQLite reads bound text only while stepping; reset and re-binding do not). For
  // the writer's hot statements, whose strings live in the job being written: each copying
  // bind is a malloc, a copy and a free on the writer.
  Stmt& bind_ref(int i, std::string_view v) {
    sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
    return *this;
  }
  Stmt& bind_ref(int i, const std::optional<std::string>& v) {
    return v ? bind_ref(i, std::string_view(*v)) : bind_null(i);
  }
  Stmt& bind_ref(int i, const std::string& v) { return bind_ref(i, std::string_view(v)); }
  Stmt& bind_ref(int i, std::string&&) = delete;  // a temporary dies before the step
  Stmt& bind(int i, const char* v) { return bind(i, std::string_view(v)); }
  Stmt& bind(int i, const std::string& v) { return bind(i, std::string_view(v)); }
  Stmt& bind_null(int i) { sqlite3_bind_null(stmt_, i); return *this; }
  template <class T>
  Stmt& bind(int i, const std::optional<T>& v) {
    return v ? bind(i, *v) : bind_null(i);
  }

  // true: a row is available; false: done. Errors are returned as Errc::store_failed.
  Result<bool> step();
  // Runs to completion, ignoring rows.
  Result<void> run();

  bool is_null(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
  std::int64_t int64(int col) const { return sqlite3_column_int64(stmt_, col); }
  double real(int col) const { return sqlite3_column_double(stmt_, col); }
  std::string_view text(int col) const {
    auto p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
    return p ? std::string_view(p, sqlite3_column_bytes(stmt_, col)) : std::string_view();
  }
  std::optional<std::string> opt_text(int col) const {
    if (is_null(col)) return std::nullopt;
    return std::string(text(col));
  }
  std::optional<std::int64_t> opt_int64(int col) const {
    if (is_null(col)) return std::nullopt;
    return int64(col);
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_;
};

class Db {
 public:
  // Opens (creating if needed) the database file with the given open flags.
  static Result<std::unique_ptr<Db>> open(const std::string& path, int flags);
  ~Db();
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  // Runs one or more statements without results (schema, pragmas, BEGIN/COMMIT).
  Result<void> exec(std::string_view sql);
  // A cached prepared statement for `sql`, reset and ready to bind. The cache is keyed by the
  // address of `sql`: pass string literals. The pointer stays valid for the Db's lifetime; do
  // not use the same statement re-entrantly.
  Result<Stmt*> prepare(const char* sql);
  // Resets every statement prepare() handed out since the last call. A stepped but unreset
  // SELECT keeps its read transaction (and so an old WAL snapshot) open: call this whenever a
  // unit of work is done.
  void reset_all() {
    for (Stmt* stmt : used_) stmt->reset();
    used_.clear();
  }
  std::int64_t changes() const { return sqlite3_changes64(db_); }
  sqlite3* handle() const { return db_; }
  Error error(std::string_view what) const;

 private:
  explicit Db(sqlite3* db) : db_(db) {}
  sqlite3* db_;
  std::unordered_map<const char*, std::unique_ptr<Stmt>> cache_;
  // Handed out by prepare() since the last reset_all(): only these can hold a transaction
  // open (resetting all two dozen cached statements took ~2k instructions a commit).
  std::vector<Stmt*> used_;
};

}  // namespace wq::sqlite
