// The PostgreSQL schema as an ordered list of migrations; the table wq_schema records how many
// have been applied. Every node applies the missing ones at start-up in one transaction under
// a transaction-level advisory lock, so nodes starting at once on an empty database are safe.
// RECIPE for a schema change: append a new migration (never edit one that has shipped), and
// for a new job column update the column lists in pg_job_rows.hpp together with row_to_job().
//
// Threading: migrate() runs on the connection it is given, by one thread.
#pragma once

#include "wq/error.hpp"

#include <array>
#include <string_view>

namespace wq::postgres {

class PgConn;

// pg_advisory_xact_lock key held while migrating ("wq-migrate" as an integer).
inline constexpr long long kMigrationLockKey = 0x77712d6d6967LL;

inline constexpr std::array<std::string_view, 4> kMigrations = {
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
    // 3: enqueueing from an application's own transaction (DESIGN §5; docs/POSTGRES.md):
    // wq.enqueue() inserts a job as a submit would (dedup by (owner, key): an active job or a
    // retained success of the key is returned instead) and wakes the nodes with a NOTIFY that
    // PostgreSQL delivers only if the transaction commits. wq_tasks lists the task names some
    // node runs (each node adds its own when it first claims), so an unknown task is an error
    // rather than a job that never starts. A key left NULL is derived from the task and the
    // jsonb text of the params ("sql:" + SHA-256): not the key an HTTP submit of the same work
    // derives, whose canonical JSON differs from jsonb's.
    R"sql(
CREATE TABLE wq_tasks (name TEXT PRIMARY KEY);
CREATE SCHEMA IF NOT EXISTS wq;
CREATE FUNCTION wq.enqueue(task text, params jsonb DEFAULT '{}', key text DEFAULT NULL,
                           owner text DEFAULT '', priority integer DEFAULT 0,
                           max_attempts integer DEFAULT 1, run_at timestamptz DEFAULT NULL,
                           timeout interval DEFAULT NULL)
RETURNS text LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
#variable_conflict use_column
DECLARE
  v_now bigint := floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint;
  v_hash text;
  v_key text;
  v_prev record;
  v_ts text;
  v_rand text;
  v_id text;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM wq_tasks t WHERE t.name = enqueue.task) THEN
    RAISE EXCEPTION 'wq.enqueue: unknown task ''%''; tasks the nodes run: %', enqueue.task,
      (SELECT coalesce(string_agg(t.name, ', ' ORDER BY t.name), 'none yet') FROM wq_tasks t)
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF enqueue.params IS NULL OR jsonb_typeof(enqueue.params) <> 'object' THEN
    RAISE EXCEPTION 'wq.enqueue: params must be a JSON object, got %',
      coalesce(jsonb_typeof(enqueue.params), 'NULL') USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF enqueue.key IS NOT NULL AND (length(enqueue.key) < 1 OR length(enqueue.key) > 512) THEN
    RAISE EXCEPTION 'wq.enqueue: key must be 1 to 512 characters'
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF enqueue.owner IS NULL OR enqueue.priority IS NULL THEN
    RAISE EXCEPTION 'wq.enqueue: owner and priority must not be NULL'
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF enqueue.max_attempts IS NULL OR enqueue.max_attempts NOT BETWEEN 1 AND 1000 THEN
    RAISE EXCEPTION 'wq.enqueue: max_attempts must be 1 to 1000, got %', enqueue.max_attempts
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF enqueue.timeout IS NOT NULL AND enqueue.timeout <= interval '0' THEN
    RAISE EXCEPTION 'wq.enqueue: timeout must be positive, got %', enqueue.timeout
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  v_hash := encode(sha256(convert_to(enqueue.task || E'\n' || enqueue.params::text, 'UTF8')), 'hex');
  v_key := coalesce(enqueue.key, 'sql:' || v_hash);
  -- Each pass sees what committed before it; a lost race into the unique index (another
  -- submitter of the key, on any node) is settled by the next pass.
  FOR pass IN 1..8 LOOP
    SELECT j.id, j.state, j.retained INTO v_prev FROM wq_jobs j
      WHERE j.owner = enqueue.owner AND j.key = v_key ORDER BY j.seqno DESC LIMIT 1;
    IF FOUND AND (v_prev.state < 2 OR (v_prev.state = 2 AND v_prev.retained)) THEN
      RETURN v_prev.id;
    END IF;
    -- A UUIDv7, as the nodes make: 48-bit Unix ms, version 7, random bits (with the variant).
    v_ts := lpad(to_hex(v_now), 12, '0');
    v_rand := gen_random_uuid()::text;
    v_id := substr(v_ts, 1, 8) || '-' || substr(v_ts, 9, 4) || '-7' || substr(v_rand, 16, 3)
            || substr(v_rand, 19);
    INSERT INTO wq_jobs AS j (id, task, params, spec_hash, key, owner, priority, max_attempts,
                              timeout_ms, run_at, state, seq, created_at)
      VALUES (v_id, enqueue.task, enqueue.params::text, v_hash, v_key, enqueue.owner,
              enqueue.priority, enqueue.max_attempts,
              (extract(epoch FROM enqueue.timeout) * 1000)::bigint,
              coalesce(floor(extract(epoch FROM enqueue.run_at) * 1000)::bigint, v_now), 0, 1,
              v_now)
      ON CONFLICT DO NOTHING RETURNING j.id INTO v_id;
    IF v_id IS NOT NULL THEN
      PERFORM pg_notify('wq_events', '{"k":"w"}');  -- delivered on commit only
      RETURN v_id;
    END IF;
  END LOOP;
  RAISE EXCEPTION 'wq.enqueue: concurrent enqueues of key % kept conflicting; retry', v_key
    USING ERRCODE = 'serialization_failure';
END
$$;
)sql",
    // 4: claims that write no index entry. An update that changes no indexed column (nor a
    // column of an index's predicate) is heap-only (HOT): no new entry in any index. The
    // indexes of active and finished jobs now depend on `finished_at IS NULL` (which is
    // `state < 2`: the constraint says so) and not on `state`, and no index tells running jobs
    // from queued ones, so a claim changes no indexed column. Queued and running jobs share
    // one index (a claim passes over the running ones, at most the nodes' total concurrency);
    // a node renews its leases by the ids of the jobs it holds, and recovery looks for expired
    // leases among the active jobs. Index entries per job: 5 at submit, none at claim, 4 at
    // finish (were 5, 5 and 4).
    R"sql(
ALTER TABLE wq_jobs ADD CONSTRAINT wq_jobs_active_unfinished
  CHECK ((state < 2) = (finished_at IS NULL));
DROP INDEX wq_jobs_active_key, wq_jobs_ready, wq_jobs_running, wq_jobs_finished;
CREATE UNIQUE INDEX wq_jobs_active_key ON wq_jobs (owner, key) WHERE finished_at IS NULL;
CREATE INDEX wq_jobs_active ON wq_jobs (priority DESC, seqno) WHERE finished_at IS NULL;
CREATE INDEX wq_jobs_finished ON wq_jobs (finished_at) WHERE finished_at IS NOT NULL;
)sql",
};

// Applies the migrations the database lacks, in one transaction under the advisory lock.
// Errc::store_failed naming the failed migration, or a schema newer than this build.
Result<void> migrate(PgConn& c);

}  // namespace wq::postgres
