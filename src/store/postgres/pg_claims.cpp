#include "store/postgres/pg_claims.hpp"

#include "store/postgres/pg_job_rows.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>

namespace wq::postgres {
namespace {

constexpr const char* kClaimSet =
    "state = 1, attempt = j.attempt + 1, started_at = $1, seq = j.seq + 1, fraction = 0, "
    "message = NULL, finished_at = NULL, lease_node = $2, "
    "lease_expires_at = now() + $3::bigint * interval '1 millisecond'";
constexpr const char* kClaimReturning = " RETURNING " WQ_PG_JOB_COLUMNS_J ", j.secrets";

Result<void> append_claimed(Result<PgRows> rows, PgClaims::Taken& out) {
  if (!rows) return rows.error();
  for (int i = 0; i < rows->size(); ++i) {
    ClaimedJob c{row_to_job(*rows, i), {}};
    if (!rows->null(i, kJobColumnCount)) c.secrets = parse_object(rows->text(i, kJobColumnCount));
    out.emplace_back(rows->int64(i, 0), std::move(c));
  }
  return {};
}

}  // namespace

PgClaims::PgClaims(std::string node, Millis lease) : node_(std::move(node)), lease_(lease) {}

void PgClaims::forget_registered_tasks() {
  std::lock_guard lock(tasks_mutex_);
  registered_tasks_.clear();
}

Result<void> PgClaims::register_tasks(PgConn& c, const ClaimRequest& req) {
  std::vector<std::string> fresh;
  {
    std::lock_guard lock(tasks_mutex_);
    for (const auto& t : req.tasks) {
      if (!registered_tasks_.contains(t.task)) fresh.push_back(t.task);
    }
  }
  if (fresh.empty()) return {};
  auto r = c.run("register_tasks",
                 "INSERT INTO wq_tasks (name) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING",
                 Params().add_array(fresh));
  if (!r) return r.error();
  std::lock_guard lock(tasks_mutex_);
  registered_tasks_.insert(fresh.begin(), fresh.end());
  return {};
}

Result<std::vector<ClaimedJob>> PgClaims::claim(PgConn& c, const ClaimRequest& req) {
  if (auto r = register_tasks(c, req); !r) return r.error();
  std::map<std::string, std::size_t> budget;
  for (const auto& t : req.tasks) {
    if (t.slots > 0) budget[t.task] = t.slots;
  }
  std::size_t remaining = req.max_jobs;
  const std::int64_t now = ms(now_ms());
  Taken taken;
  while (remaining > 0 && !budget.empty()) {
    std::vector<std::string> tasks;
    bool budgets_bind = false;
    for (const auto& [task, slots] : budget) {
      tasks.push_back(task);
      if (slots < remaining) budgets_bind = true;
    }
    if (!budgets_bind) {
      if (auto r = take_batch(c, tasks, remaining, now, taken); !r) return r.error();
      break;
    }
    // Lock a batch in start order and keep what the budgets allow; rows not taken stay
    // queued (locked by this transaction only until its commit). Then look again without
    // the tasks whose budget ran out.
    auto rows = c.run("claim_candidates",
                      "SELECT seqno, task FROM wq_jobs WHERE finished_at IS NULL AND state = 0 "
                      "AND run_at <= $1 AND task = ANY($2::text[]) ORDER BY priority DESC, "
                      "seqno LIMIT $3 FOR UPDATE SKIP LOCKED",
                      Params().add(now).add_array(tasks).add(static_cast<std::int64_t>(remaining)));
    if (!rows) return rows.error();
    std::string chosen = "{";
    bool exhausted = false;
    for (int i = 0; i < rows->size(); ++i) {
      auto it = budget.find(std::string(rows->text(i, 1)));
      if (it == budget.end()) continue;
      if (chosen.size() > 1) chosen += ',';
      chosen += rows->text(i, 0);
      if (--it->second == 0) {
        budget.erase(it);
        exhausted = true;
      }
    }
    chosen += '}';
    const std::size_t before = taken.size();
    if (chosen.size() > 2) {
      if (auto r = take(c, chosen, now, taken); !r) return r.error();
    }
    const bool more = static_cast<std::size_t>(rows->size()) == remaining;
    remaining -= taken.size() - before;
    if (!more || !exhausted) break;
  }
  std::sort(taken.begin(), taken.end(), [](const auto& a, const auto& b) {
    if (a.second.job.priority != b.second.job.priority) return a.second.job.priority > b.second.job.priority;
    return a.first < b.first;
  });
  std::vector<ClaimedJob> out;
  out.reserve(taken.size());
  for (auto& [_, job] : taken) out.push_back(std::move(job));
  return out;
}

// One statement: locks up to `n` ready jobs of `tasks` in start order and marks them running.
Result<void> PgClaims::take_batch(PgConn& c, const std::vector<std::string>& tasks, std::size_t n,
                        std::int64_t now, Taken& out) {
  static const std::string sql = fmt::format(
      "WITH picked AS (SELECT seqno FROM wq_jobs WHERE finished_at IS NULL AND state = 0 AND "
      "run_at <= $1 AND task = ANY($4::text[]) ORDER BY priority DESC, seqno LIMIT $5 "
      "FOR UPDATE SKIP LOCKED) "
      "UPDATE wq_jobs j SET {} FROM picked WHERE j.seqno = picked.seqno{}",
      kClaimSet, kClaimReturning);
  return append_claimed(c.run("claim_batch", sql.c_str(),
                              Params().add(now).add(node_).add(lease_.count())
                                  .add_array(tasks).add(static_cast<std::int64_t>(n))),
                        out);
}

// Marks the rows `seqnos` (a bigint[] literal), locked by this transaction, running.
Result<void> PgClaims::take(PgConn& c, const std::string& seqnos, std::int64_t now, Taken& out) {
  static const std::string sql = fmt::format(
      "UPDATE wq_jobs j SET {} WHERE j.seqno = ANY($4::bigint[]) AND j.state = 0{}", kClaimSet,
      kClaimReturning);
  return append_claimed(c.run("claim_chosen", sql.c_str(),
                              Params().add(now).add(node_).add(lease_.count()).add(seqnos)),
                        out);
}

}  // namespace wq::postgres
