// The PostgreSQL schema as an ordered list of migrations; the table wq_schema records how many
// have been applied. Every node applies the missing ones at start-up in one transaction under
// a transaction-level advisory lock, so nodes starting at once on an empty database are safe.
// RECIPE for a schema change: append a new migration (never edit one that has shipped), and
// update kJobColumns in pg_store.cpp together with row_to_job().
#pragma once

#include <array>
#include <string_view>

namespace wq::postgres {

// pg_advisory_xact_lock key held while migrating ("wq-migrate" as an integer).
inline constexpr long long kMigrationLockKey = 0x77712d6d6967LL;

inline constexpr std::array<std::string_view, 2> kMigrations = {
    // 1: jobs, as in the SQLite store (state 0 queued, 1 running, 2 succeeded, 3 failed,
    // 4 cancelled; times in Unix milliseconds of the submitting node's clock), plus:
    // `seqno` orders FIFO and pages lists; `lease_node`/`lease_expires_at` name the node
    // running the job until its lease (renewed by that node's heartbeat, on the database's
    // clock) expires; `result_oid` is the large object holding the result. One active job per
    // (owner, key) is the partial unique index wq_jobs_active_key: submitters on any node race
    // into it, and the loser returns the winner's job.
    R"sql(
CREATE TABLE wq_jobs (
  seqno             BIGSERIAL PRIMARY KEY,
  id                TEXT NOT NULL UNIQUE,
  task              TEXT NOT NULL,
  params            TEXT NOT NULL,
  secrets           TEXT,
  spec_hash         TEXT NOT NULL,
  key               TEXT NOT NULL,
  owner             TEXT NOT NULL,
  priority          INTEGER NOT NULL,
  max_attempts      INTEGER NOT NULL,
  timeout_ms        BIGINT,
  run_at            BIGINT NOT NULL,
  attempt           INTEGER NOT NULL DEFAULT 0,
  state             SMALLINT NOT NULL,
  seq               BIGINT NOT NULL,
  fraction          DOUBLE PRECISION NOT NULL DEFAULT 0,
  message           TEXT,
  returncode        INTEGER,
  error             TEXT,
  result_size       BIGINT,
  result_expires_at BIGINT,
  result_oid        OID,
  retained          BOOLEAN NOT NULL DEFAULT false,
  cancel_requested  BOOLEAN NOT NULL DEFAULT false,
  lease_node        TEXT,
  lease_expires_at  TIMESTAMPTZ,
  created_at        BIGINT NOT NULL,
  started_at        BIGINT,
  finished_at       BIGINT
);
CREATE UNIQUE INDEX wq_jobs_active_key ON wq_jobs (owner, key) WHERE state < 2;
CREATE INDEX wq_jobs_owner_key ON wq_jobs (owner, key, seqno);
CREATE INDEX wq_jobs_ready ON wq_jobs (priority DESC, seqno) WHERE state = 0;
CREATE INDEX wq_jobs_running ON wq_jobs (lease_node) WHERE state = 1;
CREATE INDEX wq_jobs_finished ON wq_jobs (finished_at) WHERE state >= 2;
CREATE INDEX wq_jobs_result_expiry ON wq_jobs (result_expires_at)
  WHERE retained AND result_expires_at IS NOT NULL;
)sql",
    // 2: a queue table churns: every job is inserted and updated two or three times. Vacuum it
    // after 2% of its rows changed (not PostgreSQL's default 20%) so claims do not walk dead
    // index entries, and leave room on each page so progress and lease updates (no indexed
    // column changes) stay heap-only.
    R"sql(
ALTER TABLE wq_jobs SET (fillfactor = 80, autovacuum_vacuum_scale_factor = 0.02,
  autovacuum_vacuum_insert_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.02);
)sql",
};

}  // namespace wq::postgres
