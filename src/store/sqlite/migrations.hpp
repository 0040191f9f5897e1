// The SQLite schema as an ordered list of migrations; PRAGMA user_version records how many
// have been applied. RECIPE for a schema change: append a new migration (never edit one that
// has shipped), keep it to statements SQLite can run inside one transaction, and update the
// column list kJobColumns in sqlite_store.cpp together with row_to_job().
#pragma once

#include <array>
#include <string_view>

namespace wq::sqlite {

inline constexpr std::array<std::string_view, 2> kMigrations = {
    // 1: jobs. state: 0 queued, 1 running, 2 succeeded, 3 failed, 4 cancelled. Times are Unix
    // milliseconds. `secrets` holds secret params until the job finishes. `retained` is 1 while
    // a succeeded job's result is kept (dedup returns it), 0 once swept. Every index costs a
    // page write per commit, so there are few: one active job per (owner, key) is guaranteed
    // by the single writer checking jobs_owner_key inside its transaction, not by a unique
    // index (the PostgreSQL store, with many writers, has one).
    R"sql(
CREATE TABLE jobs (
  rowid             INTEGER PRIMARY KEY,
  id                TEXT NOT NULL UNIQUE,
  task              TEXT NOT NULL,
  params            TEXT NOT NULL,
  secrets           TEXT,
  spec_hash         TEXT NOT NULL,
  key               TEXT NOT NULL,
  owner             TEXT NOT NULL,
  priority          INTEGER NOT NULL,
  max_attempts      INTEGER NOT NULL,
  timeout_ms        INTEGER,
  run_at            INTEGER NOT NULL,
  attempt           INTEGER NOT NULL DEFAULT 0,
  state             INTEGER NOT NULL,
  seq               INTEGER NOT NULL,
  fraction          REAL NOT NULL DEFAULT 0,
  message           TEXT,
  returncode        INTEGER,
  error             TEXT,
  result_size       INTEGER,
  result_expires_at INTEGER,
  retained          INTEGER NOT NULL DEFAULT 0,
  cancel_requested  INTEGER NOT NULL DEFAULT 0,
  created_at        INTEGER NOT NULL,
  started_at        INTEGER,
  finished_at       INTEGER
);
CREATE INDEX jobs_owner_key ON jobs(owner, key, rowid);
CREATE INDEX jobs_active ON jobs(state, rowid) WHERE state < 2;
CREATE INDEX jobs_finished ON jobs(finished_at) WHERE state >= 2;
CREATE INDEX jobs_result_expiry ON jobs(result_expires_at)
  WHERE retained = 1 AND result_expires_at IS NOT NULL;
)sql",
    // 2: the active and finished indexes keyed on finished_at alone, which a claim never
    // changes: the claim's UPDATE then touches no index at all (SQLite rewrites an index only
    // when one of its columns, or a column of its WHERE, is assigned). finished_at is NULL
    // exactly while a job is queued or running.
    R"sql(
DROP INDEX jobs_active;
DROP INDEX jobs_finished;
CREATE INDEX jobs_unfinished ON jobs(rowid) WHERE finished_at IS NULL;
CREATE INDEX jobs_finished ON jobs(finished_at) WHERE finished_at IS NOT NULL;
)sql",
};

}  // namespace wq::sqlite
