// The SQL of the store's write verbs (DESIGN §3, §5): each runs inside the caller's transaction
// on the connection given; pg_store.cpp queues, batches and commits them. Submits dedup by
// (owner, key) and settle races through the unique indexes; finishes are fenced by this node's
// lease; cancels of running jobs tell the node running them (a NOTIFY delivered on commit).
// Batched forms take a whole batch's submits or finishes in one statement and settle what
// they can; the one-by-one form decides the rest, after them in the same transaction.
//
// Threading: const methods, any thread, each on its own connection. t_made_work belongs to the
// calling thread.
#pragma once

#include "store/postgres/pg_conn.hpp"
#include "wq/store.hpp"

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace wq::postgres {

// Set (never cleared) by a write that made jobs runnable now: a submit, a retry, a recovery.
// The writer clears it before a batch and, after the commit, tells the other nodes.
extern thread_local bool t_made_work;

class PgJobWrites {
 public:
  explicit PgJobWrites(std::string node);

  // A submit or finish a batched statement may settle: it then sets *result and `settled`.
  struct SubmitArgs {
    const NewJob* nj;
    const std::string* params;                  // nj's params as JSON text
    const std::optional<std::string>* secrets;  // its secrets as JSON text
    std::optional<Result<Submitted>>* result;
    bool settled = false;
  };
  struct FinishArgs {
    std::string_view id;
    const Outcome* outcome;
    std::optional<Oid> result_oid;  // the large object holding its result, already stored
    std::optional<Result<Job>>* result;
    bool settled = false;
  };

  // Store::submit() (DESIGN §3) in statements: the job, or the one it dedups to.
  Result<Submitted> submit(PgConn& c, const NewJob& nj, const std::string& params,
                           const std::optional<std::string>& secrets) const;
  // Inserts every job whose key has no active job and no retained success (unless forced);
  // one a unique index refuses (a race, an existing id) is left unsettled.
  Result<void> submit_many(PgConn& c, const std::vector<SubmitArgs*>& args) const;
  // Records an outcome of a job running under this node's lease; Errc::not_found otherwise.
  Result<Job> finish(PgConn& c, std::string_view id, const Outcome& o,
                     std::optional<Oid> result) const;
  // The same for many jobs; one not running here is left unsettled.
  Result<void> finish_many(PgConn& c, const std::vector<FinishArgs*>& args) const;
  // Store::cancel(): a queued job is cancelled, a running one marked and its node told.
  Result<Job> cancel(PgConn& c, std::string_view id,
                     const std::optional<std::string>& owner) const;
  // Settles the running jobs whose lease expired (their node died): queued again when
  // `retry(job)` says so, else failed as interrupted.
  Result<std::vector<Recovered>> recover(PgConn& c,
                                         const std::function<bool(const Job&)>& retry) const;
  // Store::sweep(): expired results and old finished jobs; unlinks their large objects.
  Result<Swept> sweep(PgConn& c, TimePoint now, std::optional<TimePoint> finished_before) const;
  // Removes large objects no job names any more.
  static Result<void> unlink(PgConn& c, const std::vector<Oid>& oids);

 private:
  const std::string node_;
};

}  // namespace wq::postgres
