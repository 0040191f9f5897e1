// The SQLite store (DESIGN §5): WAL mode, versioned migrations, one writer at a time with
// group commit, and an in-memory ReadyIndex for claims and queue positions.
//
// Threading: any thread may call any method. One thread at a time owns the write connection
// (`committing_`): a caller that finds the store idle commits its write on its own thread;
// writes arriving meanwhile queue, join the batch in progress if it has not committed yet,
// or are committed next by the writer thread. A batch runs every write waiting at that moment
// in one transaction (each atomic on its own: one statement, or a savepoint, so one failing
// write does not undo the others) and one commit, then wakes their callers: the LevelDB
// group-commit shape. A caller returns only after its commit (submit_async's `done` is
// called on the committing thread instead, or the syncer's with fsync durability). The
// writer thread yields once before taking a batch, so that the threads about to write join
// it. The committing thread alone keeps the jobs it set running (running_jobs_), so a finish
// updates without reading. Reads use a small pool of separate connections (WAL readers never
// block the writer). The ReadyIndex is mutated only
// by the committing thread, under index_mutex_, and read under it by n_ahead/next_run_at.
// A checkpointer thread copies the WAL back into the database (PASSIVE, off the writer's
// path) whenever it passes kCheckpointPages. A flock on "<db>.lock" keeps a second process out.
// With fsync durability a syncer thread fdatasyncs the WAL after commits (one sync for every
// commit waiting) and only then completes their writes and delivers their claims, while the
// committing thread goes on to the next batch; claims of jobs whose submit is already synced
// are delivered at the commit. Completions of fsync writes (submit_async's and
// finish_async's callbacks included) therefore run on the syncer thread.
#pragma once

#include "wq/store.hpp"

#include <memory>
#include <string>

namespace wq::sqlite {

Result<std::unique_ptr<Store>> open_sqlite_store(const std::string& path, Durability durability);

}  // namespace wq::sqlite
