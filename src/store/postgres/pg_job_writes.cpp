#include "store/postgres/pg_job_writes.hpp"

#include "store/postgres/pg_events.hpp"
#include "store/postgres/pg_job_rows.hpp"

#include <fmt/format.h>

#include <unordered_map>

namespace wq::postgres {

thread_local bool t_made_work = false;

namespace {

// As in the SQLite store: a recovered job's seq moves past anything its dead node may have
// published without persisting.
constexpr std::int64_t kSeqGapAfterRecovery = std::int64_t{1} << 20;
constexpr int kSubmitAttempts = 8;

// One array parameter of a batched statement: a column of values, NULL for std::nullopt.
using Column = std::vector<std::optional<std::string>>;
std::optional<std::string> text(std::int64_t v) { return std::to_string(v); }

}  // namespace

PgJobWrites::PgJobWrites(std::string node) : node_(std::move(node)) {}

Result<Submitted> PgJobWrites::submit(PgConn& c, const NewJob& nj, const std::string& params,
                                      const std::optional<std::string>& secrets) const {
  const Job& job = nj.job;
  std::optional<std::int64_t> timeout;
  if (job.timeout) timeout = job.timeout->count();
  // Each pass sees what committed before it; a lost race into the unique indexes (another
  // submitter of the key or id, on any node) is settled by the next pass.
  for (int pass = 0; pass < kSubmitAttempts; ++pass) {
    if (nj.id_given) {
      auto r = c.run("submit_by_id",
                     "SELECT " WQ_PG_JOB_COLUMNS ", spec_hash FROM wq_jobs WHERE id = $1",
                     Params().add(job.id));
      if (!r) return r.error();
      if (r->size() > 0) {
        if (r->text(0, kJobColumnCount) == nj.spec_hash && r->text(0, 5) == job.owner) {
          return Submitted{row_to_job(*r, 0), false};
        }
        return make_error(Errc::conflict,
                          fmt::format("a job with id '{}' already exists with a different "
                                      "task or params; choose another id or omit it", job.id));
      }
    }
    // The newest job for the key decides: an active job is always the newest one.
    auto prev = c.run("submit_by_key",
                      "SELECT " WQ_PG_JOB_COLUMNS ", retained FROM wq_jobs WHERE owner = $1 "
                      "AND key = $2 ORDER BY seqno DESC LIMIT 1",
                      Params().add(job.owner).add(job.key));
    if (!prev) return prev.error();
    if (prev->size() > 0) {
      const auto state = static_cast<JobState>(prev->int64(0, 11));
      const bool retained_success =
          state == JobState::succeeded && prev->boolean(0, kJobColumnCount) && !nj.force;
      if (!is_terminal(state) || retained_success) return Submitted{row_to_job(*prev, 0), false};
    }
    if (nj.max_queued > 0) {
      auto n = c.run("count_queued",
                     "SELECT count(*) FROM wq_jobs WHERE finished_at IS NULL AND state = 0");
      if (!n) return n.error();
      if (static_cast<std::size_t>(n->int64(0, 0)) >= nj.max_queued) {
        return make_error(Errc::queue_full,
                          fmt::format("the queue holds {} jobs, its limit (max_queued); retry "
                                      "later", n->int64(0, 0)));
      }
    }
    auto ins = c.run(
        "submit_insert",
        "INSERT INTO wq_jobs (id, task, params, secrets, spec_hash, key, owner, priority, "
        "max_attempts, timeout_ms, run_at, state, seq, created_at) VALUES ($1, $2, $3, $4, $5, "
        "$6, $7, $8, $9, $10, $11, 0, $12, $13) ON CONFLICT DO NOTHING RETURNING seqno",
        Params().add(job.id).add(job.task).add(params).add(secrets).add(nj.spec_hash)
            .add(job.key).add(job.owner).add(job.priority).add(job.max_attempts).add(timeout)
            .add(ms(job.run_at)).add(static_cast<std::int64_t>(job.seq))
            .add(ms(job.created_at)));
    if (!ins) return ins.error();
    if (ins->size() > 0) {
      if (job.run_at <= now_ms()) t_made_work = true;
      return Submitted{job, true};
    }
  }
  return make_error(Errc::store_failed,
                    fmt::format("submitting job {}: concurrent submits of its key or id kept "
                                "conflicting; retry", job.id));
}

Result<Job> PgJobWrites::finish(PgConn& c, std::string_view id, const Outcome& o,
                                std::optional<Oid> result) const {
  const bool retry = o.state == JobState::queued;
  std::optional<std::int64_t> rc, size, expires, finished, run_at;
  if (o.returncode) rc = *o.returncode;
  if (o.result_size) size = static_cast<std::int64_t>(*o.result_size);
  if (o.result_expires_at) expires = ms(*o.result_expires_at);
  if (!retry) finished = ms(now_ms());
  if (retry) run_at = ms(o.retry_at.value_or(now_ms()));
  // Fenced by the lease: if this node's lease lapsed and the job was recovered elsewhere,
  // this outcome is not recorded.
  auto r = c.run(
      "finish",
      "UPDATE wq_jobs SET state = $1::smallint, seq = greatest(seq + 1, $2), fraction = $3, message = $4, "
      "returncode = $5, error = $6, result_size = $7, result_expires_at = $8, retained = $9, "
      "finished_at = $10, run_at = coalesce($11, run_at), cancel_requested = false, "
      "lease_node = NULL, lease_expires_at = NULL, result_oid = $14::oid, "
      "secrets = CASE WHEN $1::smallint >= 2 THEN NULL ELSE secrets END "
      "WHERE id = $12 AND state = 1 AND lease_node = $13 RETURNING " WQ_PG_JOB_COLUMNS,
      Params().add(static_cast<int>(o.state)).add(static_cast<std::int64_t>(o.seq))
          .add(o.fraction).add(o.message).add(rc).add(o.error).add(size).add(expires)
          .add(o.state == JobState::succeeded).add(finished).add(run_at).add(id).add(node_)
          .add(result ? std::optional<std::int64_t>(*result) : std::optional<std::int64_t>()));
  if (!r) return r.error();
  if (r->size() == 0) {
    return make_error(Errc::not_found, fmt::format("job {} is not running on this node", id));
  }
  if (retry) t_made_work = true;
  return row_to_job(*r, 0);
}

Result<Job> PgJobWrites::cancel(PgConn& c, std::string_view id,
                                const std::optional<std::string>& owner) const {
  auto found = c.run("cancel_get", "SELECT " WQ_PG_JOB_COLUMNS " FROM wq_jobs WHERE id = $1",
                     Params().add(id));
  if (!found) return found.error();
  if (found->size() == 0 || (owner && found->text(0, 5) != *owner)) {
    return make_error(Errc::not_found, fmt::format("no job with id '{}'", id));
  }
  Job job = row_to_job(*found, 0);
  if (job.state == JobState::queued) {
    auto r = c.run("cancel_queued",
                   "UPDATE wq_jobs SET state = 4, seq = seq + 1, finished_at = $1, "
                   "error = 'cancelled', secrets = NULL WHERE id = $2 AND state = 0 "
                   "RETURNING " WQ_PG_JOB_COLUMNS,
                   Params().add(ms(now_ms())).add(id));
    if (!r) return r.error();
    if (r->size() > 0) return row_to_job(*r, 0);
    job.state = JobState::running;  // claimed meanwhile, by some node
  }
  if (job.state == JobState::running) {
    auto r = c.run("cancel_running",
                   "UPDATE wq_jobs SET cancel_requested = true WHERE id = $1 AND state = 1 "
                   "RETURNING " WQ_PG_JOB_COLUMNS,
                   Params().add(id));
    if (!r) return r.error();
    if (r->size() > 0) {
      // The node running it stops it when this commits.
      auto n = c.run("notify_cancel", "SELECT pg_notify('wq_events', $1)",
                     Params().add(PgEvents::cancel_payload(node_, id)));
      if (!n) return n.error();
      return row_to_job(*r, 0);
    }
    auto again = c.run("cancel_get", "SELECT " WQ_PG_JOB_COLUMNS " FROM wq_jobs WHERE id = $1",
                       Params().add(id));
    if (!again) return again.error();
    if (again->size() > 0) return row_to_job(*again, 0);
  }
  return job;
}

Result<std::vector<Recovered>> PgJobWrites::recover(
    PgConn& c, const std::function<bool(const Job&)>& retry) const {
  auto expired = c.run("recover_expired",
                       "SELECT " WQ_PG_JOB_COLUMNS " FROM wq_jobs WHERE finished_at IS NULL AND "
                       "state = 1 AND lease_expires_at < now() FOR UPDATE SKIP LOCKED");
  if (!expired) return expired.error();
  std::vector<Recovered> out;
  const std::int64_t now = ms(now_ms());
  for (int i = 0; i < expired->size(); ++i) {
    const Job job = row_to_job(*expired, i);
    Result<PgRows> r = retry(job)
        ? c.run("recover_requeue",
                "UPDATE wq_jobs SET state = 0, seq = seq + $1, run_at = $2, fraction = 0, "
                "message = NULL, cancel_requested = false, lease_node = NULL, "
                "lease_expires_at = NULL WHERE id = $3 RETURNING " WQ_PG_JOB_COLUMNS,
                Params().add(kSeqGapAfterRecovery).add(now).add(job.id))
        : c.run("recover_fail",
                "UPDATE wq_jobs SET state = 3, seq = seq + $1, finished_at = $2, "
                "returncode = -1, error = $3, secrets = NULL, cancel_requested = false, "
                "lease_node = NULL, lease_expires_at = NULL WHERE id = $4 "
                "RETURNING " WQ_PG_JOB_COLUMNS,
                Params().add(kSeqGapAfterRecovery).add(now)
                    .add(fmt::format("interrupted: the node running this job stopped during "
                                     "attempt {} of {}", job.attempt, job.max_attempts))
                    .add(job.id));
    if (!r) return r.error();
    if (r->size() == 0) continue;
    out.push_back(Recovered{row_to_job(*r, 0)});
    if (out.back().job.state == JobState::queued) t_made_work = true;
  }
  return out;
}

Result<Swept> PgJobWrites::sweep(PgConn& c, TimePoint now,
                                 std::optional<TimePoint> finished_before) const {
  Swept swept;
  std::vector<Oid> unlink;
  auto expired = c.run("sweep_results",
                       "WITH x AS (SELECT seqno, result_oid FROM wq_jobs WHERE retained AND "
                       "result_expires_at <= $1 FOR UPDATE) UPDATE wq_jobs j SET retained = "
                       "false, result_size = NULL, result_oid = NULL FROM x WHERE j.seqno = "
                       "x.seqno RETURNING j.id, x.result_oid",
                       Params().add(ms(now)));
  if (!expired) return expired.error();
  for (int i = 0; i < expired->size(); ++i) {
    swept.results_expired.emplace_back(expired->text(i, 0));
    if (!expired->null(i, 1)) unlink.push_back(static_cast<Oid>(expired->int64(i, 1)));
  }
  if (finished_before) {
    auto del = c.run("sweep_jobs",
                     "DELETE FROM wq_jobs WHERE state >= 2 AND finished_at < $1 "
                     "RETURNING id, result_size, result_oid",
                     Params().add(ms(*finished_before)));
    if (!del) return del.error();
    for (int i = 0; i < del->size(); ++i) {
      ++swept.jobs_removed;
      if (!del->null(i, 1)) swept.results_expired.emplace_back(del->text(i, 0));
      if (!del->null(i, 2)) unlink.push_back(static_cast<Oid>(del->int64(i, 2)));
    }
  }
  if (auto r = PgJobWrites::unlink(c, unlink); !r) return r.error();
  return swept;
}

Result<void> PgJobWrites::unlink(PgConn& c, const std::vector<Oid>& oids) {
  if (oids.empty()) return {};
  std::string list = "{";
  for (std::size_t i = 0; i < oids.size(); ++i) list += (i ? "," : "") + std::to_string(oids[i]);
  list += "}";
  auto r = c.run("lo_unlink", "SELECT lo_unlink(o) FROM unnest($1::oid[]) AS o", Params().add(list));
  if (!r) return r.error();
  return {};
}

// HAZARD: the check is a scalar subquery, not NOT EXISTS: PostgreSQL turns NOT EXISTS into
// an anti join, and the generic plan made while the table was empty (a seq scan and a hash)
// then reads the whole table for every insert; the subquery always probes the key's index.
Result<void> PgJobWrites::submit_many(PgConn& c, const std::vector<SubmitArgs*>& args) const {
  Column id, task, params, secrets, spec, key, owner, priority, attempts, timeout, run_at, seq,
      created, force;
  for (const SubmitArgs* a : args) {
    const NewJob& nj = *a->nj;
    const Job& j = nj.job;
    id.push_back(j.id);
    task.push_back(j.task);
    params.push_back(*a->params);
    secrets.push_back(*a->secrets);
    spec.push_back(nj.spec_hash);
    key.push_back(j.key);
    owner.push_back(j.owner);
    priority.push_back(text(j.priority));
    attempts.push_back(text(j.max_attempts));
    timeout.push_back(j.timeout ? text(j.timeout->count()) : std::nullopt);
    run_at.push_back(text(ms(j.run_at)));
    seq.push_back(text(static_cast<std::int64_t>(j.seq)));
    created.push_back(text(ms(j.created_at)));
    force.push_back(nj.force ? "t" : "f");
  }
  auto r = c.run(
      "submit_many",
      "INSERT INTO wq_jobs (id, task, params, secrets, spec_hash, key, owner, priority, "
      "max_attempts, timeout_ms, run_at, state, seq, created_at) SELECT n.id, n.task, n.params, "
      "n.secrets, n.spec_hash, n.key, n.owner, n.priority, n.max_attempts, n.timeout_ms, "
      "n.run_at, 0, n.seq, n.created_at FROM unnest($1::text[], $2::text[], $3::text[], "
      "$4::text[], $5::text[], $6::text[], $7::text[], $8::int[], $9::int[], $10::bigint[], "
      "$11::bigint[], $12::bigint[], $13::bigint[], $14::bool[]) AS n(id, task, params, secrets, "
      "spec_hash, key, owner, priority, max_attempts, timeout_ms, run_at, seq, created_at, "
      "force) WHERE (SELECT 1 FROM wq_jobs p WHERE p.owner = n.owner AND p.key = n.key AND "
      "(p.state < 2 OR (p.state = 2 AND p.retained AND NOT n.force)) LIMIT 1) IS NULL "
      "ON CONFLICT DO NOTHING RETURNING id",
      Params().add_array(id).add_array(task).add_array(params).add_array(secrets)
          .add_array(spec).add_array(key).add_array(owner).add_array(priority)
          .add_array(attempts).add_array(timeout).add_array(run_at).add_array(seq)
          .add_array(created).add_array(force));
  if (!r) return r.error();
  std::unordered_map<std::string_view, SubmitArgs*> by_id;
  for (SubmitArgs* a : args) by_id.emplace(a->nj->job.id, a);
  const TimePoint now = now_ms();
  for (int i = 0; i < r->size(); ++i) {
    auto it = by_id.find(r->text(i, 0));
    if (it == by_id.end()) continue;
    SubmitArgs* a = it->second;
    const Job& job = a->nj->job;
    *a->result = Submitted{job, true};
    a->settled = true;
    if (job.run_at <= now) t_made_work = true;
  }
  return {};
}

// `j.id = ANY` lets the planner reach the rows by their id whatever it thinks of unnest()'s
// size.
Result<void> PgJobWrites::finish_many(PgConn& c, const std::vector<FinishArgs*>& args) const {
  Column id, state, seq, fraction, message, rc, error, size, expires, retained, finished, run_at,
      oid;
  const std::int64_t now = ms(now_ms());
  for (const FinishArgs* a : args) {
    const Outcome& o = *a->outcome;
    const bool retry = o.state == JobState::queued;
    id.emplace_back(std::string(a->id));
    state.push_back(text(static_cast<std::int64_t>(o.state)));
    seq.push_back(text(static_cast<std::int64_t>(o.seq)));
    fraction.push_back(fmt::format("{}", o.fraction));
    message.push_back(o.message);
    rc.push_back(o.returncode ? text(*o.returncode) : std::nullopt);
    error.push_back(o.error);
    size.push_back(o.result_size ? text(static_cast<std::int64_t>(*o.result_size)) : std::nullopt);
    expires.push_back(o.result_expires_at ? text(ms(*o.result_expires_at)) : std::nullopt);
    retained.push_back(o.state == JobState::succeeded ? "t" : "f");
    finished.push_back(retry ? std::nullopt : text(now));
    run_at.push_back(retry ? text(ms(o.retry_at.value_or(now_ms()))) : std::nullopt);
    oid.push_back(a->result_oid ? text(static_cast<std::int64_t>(*a->result_oid))
                                         : std::nullopt);
  }
  auto r = c.run(
      "finish_many",
      "UPDATE wq_jobs j SET state = u.state, seq = greatest(j.seq + 1, u.seq), fraction = "
      "u.fraction, message = u.message, returncode = u.returncode, error = u.error, "
      "result_size = u.result_size, result_expires_at = u.result_expires_at, retained = "
      "u.retained, finished_at = u.finished_at, run_at = coalesce(u.run_at, j.run_at), "
      "cancel_requested = false, lease_node = NULL, lease_expires_at = NULL, result_oid = "
      "u.result_oid, secrets = CASE WHEN u.state >= 2 THEN NULL ELSE j.secrets END FROM "
      "unnest($1::text[], $2::smallint[], $3::bigint[], $4::float8[], $5::text[], $6::int[], "
      "$7::text[], $8::bigint[], $9::bigint[], $10::bool[], $11::bigint[], $12::bigint[], "
      "$13::oid[]) AS u(id, state, seq, fraction, message, returncode, error, result_size, "
      "result_expires_at, retained, finished_at, run_at, result_oid) WHERE j.id = u.id AND "
      "j.id = ANY($1::text[]) AND j.state = 1 AND j.lease_node = $14 RETURNING "
      WQ_PG_JOB_COLUMNS_J,
      Params().add_array(id).add_array(state).add_array(seq).add_array(fraction)
          .add_array(message).add_array(rc).add_array(error).add_array(size)
          .add_array(expires).add_array(retained).add_array(finished).add_array(run_at)
          .add_array(oid).add(node_));
  if (!r) return r.error();
  std::unordered_map<std::string_view, FinishArgs*> by_id;
  for (FinishArgs* a : args) by_id.emplace(a->id, a);
  for (int i = 0; i < r->size(); ++i) {
    auto it = by_id.find(r->text(i, 1));
    if (it == by_id.end()) continue;
    FinishArgs* a = it->second;
    Job job = row_to_job(*r, i);
    if (job.state == JobState::queued) t_made_work = true;
    *a->result = std::move(job);
    a->settled = true;
  }
  return {};
}

}  // namespace wq::postgres
