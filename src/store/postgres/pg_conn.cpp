#include "store/postgres/pg_conn.hpp"

#include <fmt/format.h>

#include <charconv>
#include <cstdlib>

namespace wq::postgres {

Params& Params::add(double v) { return add(fmt::format("{}", v)); }

namespace {

void append_element(std::string& out, std::string_view item) {
  out += '"';
  std::size_t plain = 0;  // start of the run of characters not yet appended
  for (std::size_t i = 0; i < item.size(); ++i) {
    if (item[i] != '"' && item[i] != '\\') continue;
    out.append(item.substr(plain, i - plain));
    out += '\\';
    plain = i;
  }
  out.append(item.substr(plain));
  out += '"';
}

}  // namespace

Params& Params::add_array(const std::vector<std::string>& items) {
  std::string out = "{";
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += ',';
    append_element(out, items[i]);
  }
  out += '}';
  return add(out);
}

Params& Params::add_array(const std::vector<std::optional<std::string>>& items) {
  std::string out = "{";
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += ',';
    if (items[i]) {
      append_element(out, *items[i]);
    } else {
      out += "NULL";
    }
  }
  out += '}';
  return add(out);
}

std::int64_t PgRows::int64(int row, int col) const {
  const std::string_view t = text(row, col);
  std::int64_t v = 0;
  std::from_chars(t.data(), t.data() + t.size(), v);
  return v;
}

double PgRows::real(int row, int col) const {
  return std::strtod(PQgetvalue(r_.get(), row, col), nullptr);
}

std::int64_t PgRows::affected() const {
  const char* n = PQcmdTuples(r_.get());
  return n && *n ? std::strtoll(n, nullptr, 10) : 0;
}

Result<std::unique_ptr<PgConn>> PgConn::connect(const std::string& conninfo) {
  PGconn* c = PQconnectdb(conninfo.c_str());
  if (PQstatus(c) != CONNECTION_OK) {
    std::string why = PQerrorMessage(c);
    PQfinish(c);
    while (!why.empty() && why.back() == '\n') why.pop_back();
    return make_error(Errc::store_failed, fmt::format("cannot connect to PostgreSQL: {}", why));
  }
  // Our own notices (e.g. "relation already exists, skipping") are not worth a log line.
  PQsetNoticeProcessor(c, [](void*, const char*) {}, nullptr);
  auto conn = std::unique_ptr<PgConn>(new PgConn(c));
  // Every statement of ours reaches its few rows through an index, and joins a handful of
  // rows to the table by its primary key or id. A prepared statement's generic plan is made
  // once and kept, from whatever the statistics said then: while wq_jobs is new and never
  // analysed the planner assumes ten pages, where a sequential scan looks cheapest (a finish
  // would read the whole table); once analysed, it guesses a claim takes 10% of the queued
  // jobs and merges them with a scan of the whole primary key. With sequential scans, hash and
  // merge joins priced out the plans stay on the indexes and in nested loops. Sorts too: a
  // claim's generic plan made while the table was small sometimes read every active job
  // through the dedup index and sorted them, instead of walking the claim index in its order
  // (in PG-W1, 240-320 instead of 25-30 us of claim execution per job for the whole run).
  // Every ORDER BY of ours has an index in its order. (A plan that must scan anyway then costs
  // more than JIT's threshold: JIT is off, compiling would cost more than any of our
  // statements runs.)
  if (auto r = conn->exec("SET enable_seqscan = off; SET enable_hashjoin = off; "
                          "SET enable_mergejoin = off; SET enable_sort = off; SET jit = off");
      !r) {
    return r.error();
  }
  return conn;
}

PgConn::~PgConn() { PQfinish(conn_); }

Result<PgRows> PgConn::check(PGresult* r, std::string_view what) {
  const auto status = PQresultStatus(r);
  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) {
    last_sqlstate_.clear();
    return PgRows(r);
  }
  const char* state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
  last_sqlstate_ = state ? state : "";
  std::string why = r ? PQresultErrorMessage(r) : PQerrorMessage(conn_);
  if (why.empty()) why = PQerrorMessage(conn_);
  PQclear(r);
  while (!why.empty() && why.back() == '\n') why.pop_back();
  return make_error(Errc::store_failed, fmt::format("PostgreSQL: {}: {}", what, why));
}

Result<PgRows> PgConn::exec(std::string_view sql) {
  return check(PQexec(conn_, std::string(sql).c_str()), sql.substr(0, 60));
}

Result<PgRows> PgConn::run(const char* name, const char* sql, const Params& params) {
  if (!prepared_.contains(name)) {
    auto ok = check(PQprepare(conn_, name, sql, 0, nullptr), name);
    if (!ok) return ok.error();
    prepared_.insert(name);
  }
  std::vector<const char*> values;
  values.reserve(params.values().size());
  for (const auto& v : params.values()) values.push_back(v ? v->c_str() : nullptr);
  return check(PQexecPrepared(conn_, name, static_cast<int>(values.size()), values.data(), nullptr,
                              nullptr, 0),
               name);
}

}  // namespace wq::postgres
