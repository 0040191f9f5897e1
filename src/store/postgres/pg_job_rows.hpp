// How a job row travels between wq_jobs and wq::Job: the column list every job query selects,
// in the order row_to_job() reads it, and the time conversions (times are Unix milliseconds).
// RECIPE: a new job column goes into both column lists and row_to_job() together (and into a
// migration, see migrations.hpp).
//
// Threading: pure functions.
#pragma once

#include "store/postgres/pg_conn.hpp"
#include "wq/job.hpp"

#include <boost/json/object.hpp>

#include <cstdint>
#include <string_view>

// The columns of a job, in row_to_job()'s order (macros: they are pasted into SQL literals).
#define WQ_PG_JOB_COLUMNS                                                                        \
  "seqno, id, task, params, key, owner, priority, max_attempts, timeout_ms, run_at, attempt, " \
  "state, seq, fraction, message, returncode, error, result_size, created_at, started_at, "    \
  "finished_at"
// The same columns of the table aliased `j` (in statements that join another row source).
#define WQ_PG_JOB_COLUMNS_J                                                                    \
  "j.seqno, j.id, j.task, j.params, j.key, j.owner, j.priority, j.max_attempts, "              \
  "j.timeout_ms, j.run_at, j.attempt, j.state, j.seq, j.fraction, j.message, j.returncode, "   \
  "j.error, j.result_size, j.created_at, j.started_at, j.finished_at"

namespace wq::postgres {

// How many columns WQ_PG_JOB_COLUMNS names: a query's extra columns start at this index.
inline constexpr int kJobColumnCount = 21;

inline std::int64_t ms(TimePoint t) { return t.time_since_epoch().count(); }
inline TimePoint from_ms(std::int64_t v) { return TimePoint(Millis(v)); }

// A JSON object from its text; an empty object if the text is not one.
boost::json::object parse_object(std::string_view text);

// Row `i` of a result whose first columns are WQ_PG_JOB_COLUMNS.
Job row_to_job(const PgRows& r, int i);

}  // namespace wq::postgres
