// The PostgreSQL store (DESIGN §5, issue 5): several wqd nodes share one database.
//
//   postgresql://USER@HOST:PORT/DB[?lease=30s&…libpq parameters]
//
// Versioned migrations run at start-up under an advisory lock. Dedup across nodes is the
// partial unique index on (owner, key) for active jobs. Claims take `FOR UPDATE SKIP LOCKED`
// batches in priority/FIFO order. Results are large objects (pg_results.hpp). Every claimed
// job carries a lease (this store's node id and an expiry on the database clock) that a
// heartbeat renews every lease/3 (pg_leases.hpp); recover(), which the queue also calls every
// recover_interval(), settles jobs whose lease expired (their node died): retried or failed as
// interrupted. finish() is fenced by the lease: a node
// whose job was recovered elsewhere cannot record an outcome for it.
//
// Threading: any thread may call any method. Writes are queued for the writer thread (its own
// connection), which runs every write waiting at that moment in one transaction and one commit
// (group commit, as in the SQLite store): the batch's submits in one INSERT, its finishes in
// one UPDATE, then one claim for the free slots. If a statement in a batch fails (a deadlock
// with another node, a lost connection), the batch is rolled back and each write is retried in
// its own transaction. A caller of a write waits for its commit, except finish_async()'s: its
// `done` runs on the writer thread after the commit. Reads use a pool of connections. The
// lease heartbeat (pg_leases.hpp) and LISTEN/NOTIFY (pg_events.hpp) have their own threads and
// connections.
#pragma once

#include "wq/store.hpp"

#include <memory>
#include <string>

namespace wq::postgres {

// Connects, migrates and starts the writer and heartbeat threads. Errc::config_invalid for a
// bad URL or lease; Errc::store_failed when the database cannot be reached or migrated.
// `durability` process: the writers commit with synchronous_commit off (an acknowledged write
// is in PostgreSQL, which survives the death of wqd, but a crash of PostgreSQL or its machine
// may lose the last fraction of a second of commits); fsync: with synchronous_commit on.
Result<std::unique_ptr<Store>> open_pg_store(const std::string& url,
                                             Durability durability = Durability::fsync);

}  // namespace wq::postgres
