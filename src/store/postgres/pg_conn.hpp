// One libpq connection with named prepared statements, and the rows it returns. All
// parameters and columns travel as text; a null parameter is std::nullopt.
//
// Threading: a PgConn is used by one thread at a time (the store hands connections out from
// its pool); PgRows is a plain value.
#pragma once

#include "wq/error.hpp"

#include <libpq-fe.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

namespace wq::postgres {

// Statement parameters, in $1.. order.
class Params {
 public:
  Params& add(std::optional<std::string> v) {
    values_.push_back(std::move(v));
    return *this;
  }
  Params& add(const std::string& v) { return add(std::optional<std::string>(v)); }
  Params& add(std::string_view v) { return add(std::optional<std::string>(std::string(v))); }
  Params& add(const char* v) { return add(std::string_view(v)); }
  Params& add(std::int64_t v) { return add(std::to_string(v)); }
  Params& add(int v) { return add(std::int64_t{v}); }
  Params& add(bool v) { return add(v ? "t" : "f"); }
  Params& add(double v);
  Params& add(const std::optional<std::int64_t>& v) {
    return v ? add(*v) : add(std::optional<std::string>());
  }
  // A text[] literal, e.g. {"a","b"}.
  Params& add_array(const std::vector<std::string>& items);
  // An array literal with NULL for std::nullopt; the statement casts it (e.g. $1::bigint[]).
  Params& add_array(const std::vector<std::optional<std::string>>& items);
  const std::vector<std::optional<std::string>>& values() const { return values_; }

 private:
  std::vector<std::optional<std::string>> values_;
};

// The rows of one result (owning the PGresult).
class PgRows {
 public:
  explicit PgRows(PGresult* r) : r_(r, &PQclear) {}
  int size() const { return PQntuples(r_.get()); }
  bool null(int row, int col) const { return PQgetisnull(r_.get(), row, col) != 0; }
  std::string_view text(int row, int col) const {
    return {PQgetvalue(r_.get(), row, col), static_cast<std::size_t>(PQgetlength(r_.get(), row, col))};
  }
  std::optional<std::string> opt_text(int row, int col) const {
    if (null(row, col)) return std::nullopt;
    return std::string(text(row, col));
  }
  std::int64_t int64(int row, int col) const;
  std::optional<std::int64_t> opt_int64(int row, int col) const {
    if (null(row, col)) return std::nullopt;
    return int64(row, col);
  }
  double real(int row, int col) const;
  bool boolean(int row, int col) const { return text(row, col) == "t"; }
  // Rows changed by an INSERT/UPDATE/DELETE without RETURNING.
  std::int64_t affected() const;

 private:
  std::unique_ptr<PGresult, decltype(&PQclear)> r_;
};

class PgConn {
 public:
  // Errc::store_failed with libpq's reason (credentials, host, database) if it cannot connect.
  static Result<std::unique_ptr<PgConn>> connect(const std::string& conninfo);
  ~PgConn();
  PgConn(const PgConn&) = delete;
  PgConn& operator=(const PgConn&) = delete;

  // Runs one or more statements without parameters.
  Result<PgRows> exec(std::string_view sql);
  // Runs `sql` as the prepared statement `name` (prepared on this connection's first use).
  Result<PgRows> run(const char* name, const char* sql, const Params& params = {});
  // False once the connection broke: the pool drops it.
  bool healthy() const { return PQstatus(conn_) == CONNECTION_OK; }
  // The SQLSTATE of the last failed statement ("" if none), e.g. 40P01 for a deadlock.
  const std::string& last_sqlstate() const { return last_sqlstate_; }
  PGconn* handle() { return conn_; }

 private:
  explicit PgConn(PGconn* c) : conn_(c) {}
  Result<PgRows> check(PGresult* r, std::string_view what);

  PGconn* conn_;
  std::unordered_set<std::string> prepared_;
  std::string last_sqlstate_;
};

}  // namespace wq::postgres
