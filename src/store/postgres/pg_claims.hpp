// Claims (DESIGN §5, issue 5): moving runnable queued jobs to running under this node's lease,
// inside the caller's transaction (the writer's batch, so a job is durable before it starts).
// `SELECT … ORDER BY priority DESC, seqno LIMIT n FOR UPDATE SKIP LOCKED`: nodes claiming at
// once take disjoint jobs, in start order, and one statement takes a whole batch, so the claim
// cost per job falls as load grows. Per-task budgets are honoured with a second statement
// when they bind. The first claim that names a task also adds it to wq_tasks, the list
// wq.enqueue() checks task names against.
//
// Threading: claim() from any thread, each on its own connection and transaction; the set of
// task names already registered is guarded by a mutex.
#pragma once

#include "store/postgres/pg_conn.hpp"
#include "wq/store.hpp"

#include <cstdint>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace wq::postgres {

class PgClaims {
 public:
  PgClaims(std::string node, Millis lease);

  // Moves up to req.max_jobs runnable jobs of req.tasks (each within its budget) to running,
  // leased to this node for the lease, and returns them in start order.
  Result<std::vector<ClaimedJob>> claim(PgConn& c, const ClaimRequest& req);
  // The transaction of a claim rolled back: the task names it added to wq_tasks are gone too,
  // so the next claim adds them again.
  void forget_registered_tasks();

  // Claimed jobs with their seqno, for start order across several statements.
  using Taken = std::vector<std::pair<std::int64_t, ClaimedJob>>;

 private:
  Result<void> register_tasks(PgConn& c, const ClaimRequest& req);
  Result<void> take_batch(PgConn& c, const std::vector<std::string>& tasks, std::size_t n,
                          std::int64_t now, Taken& out);
  Result<void> take(PgConn& c, const std::string& seqnos, std::int64_t now, Taken& out);

  const std::string node_;
  const Millis lease_;
  std::mutex tasks_mutex_;
  std::set<std::string> registered_tasks_;  // known to be in wq_tasks; guarded by tasks_mutex_
};

}  // namespace wq::postgres
