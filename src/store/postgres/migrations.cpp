#include "store/postgres/migrations.hpp"

#include "core/log.hpp"
#include "store/postgres/pg_conn.hpp"

#include <fmt/format.h>

#include <string_view>

namespace wq::postgres {
namespace {

void roll_back(PgConn& c) {
  if (auto r = c.exec("ROLLBACK"); !r && c.healthy()) {
    log::error("postgresql rollback failed", {{"error", r.error().detail}});
  }
}

}  // namespace

Result<void> migrate(PgConn& c) {
  auto begin = c.exec(fmt::format(
      "BEGIN; SELECT pg_advisory_xact_lock({}); "
      "CREATE TABLE IF NOT EXISTS wq_schema (version INTEGER NOT NULL); ",
      kMigrationLockKey));
  if (!begin) return begin.error();
  auto fail = [&](const Error& e, std::string_view what) -> Result<void> {
    roll_back(c);
    return make_error(Errc::store_failed, fmt::format("{}: {}", what, e.detail));
  };
  auto v = c.exec("SELECT coalesce(max(version), 0) FROM wq_schema");
  if (!v) return fail(v.error(), "reading the schema version");
  const auto version = static_cast<std::size_t>(v->int64(0, 0));
  if (version > kMigrations.size()) {
    roll_back(c);
    return make_error(Errc::store_failed,
                      fmt::format("the database's schema version {} is newer than this build "
                                  "understands ({}); run a newer wqd",
                                  version, kMigrations.size()));
  }
  for (std::size_t i = version; i < kMigrations.size(); ++i) {
    if (auto r = c.exec(kMigrations[i]); !r) {
      return fail(r.error(), fmt::format("PostgreSQL migration {} failed", i + 1));
    }
  }
  if (version < kMigrations.size()) {
    auto r = c.exec(fmt::format("DELETE FROM wq_schema; INSERT INTO wq_schema VALUES ({})",
                                kMigrations.size()));
    if (!r) return fail(r.error(), "recording the schema version");
  }
  if (auto r = c.exec("COMMIT"); !r) return fail(r.error(), "committing the migrations");
  if (version < kMigrations.size()) {
    log::info("migrated the postgresql schema", {{"from", version}, {"to", kMigrations.size()}});
  }
  return {};
}

}  // namespace wq::postgres
