// Results as PostgreSQL large objects (issue 5), streamed in and out in chunks so a result of
// any size (up to the task's cap) never sits in memory whole. Each call runs in its own
// transaction on the connection it is given.
//
// Threading: used by one thread at a time with a connection it owns (from the store's pool).
#pragma once

#include "store/postgres/pg_conn.hpp"
#include "wq/error.hpp"

#include <filesystem>

namespace wq::postgres {

// Copies `file` into a new large object; its oid once committed.
Result<Oid> put_large_object(PgConn& c, const std::filesystem::path& file);

// Writes large object `oid` to `to` through a temporary file beside it, renamed at the end:
// a reader never sees a partial result.
Result<void> get_large_object(PgConn& c, Oid oid, const std::filesystem::path& to);

}  // namespace wq::postgres
