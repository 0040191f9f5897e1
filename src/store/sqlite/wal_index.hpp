// SQLite's WAL index (the "-shm" shared memory) of a database, kept in this process's memory
// with its locks taken in-process, for the VFS of store/sqlite/wal_write_vfs.hpp.
//
// A WAL database's connections share a hash table of the WAL's frames and the header of the
// last commit, and coordinate through eight locks beside them (the writer, the checkpointer,
// recovery, five read marks). SQLite's unix VFS keeps them in the -shm file, mapped by every
// process, and takes each lock with fcntl(2): ~6 system calls a commit. Only one process ever
// opens a workqueue data directory (store/file_lock.hpp), so nothing needs to be shared with
// another process: here each database file (by device and inode) has one index in heap memory,
// shared by every connection of this process that opens it, and its locks are counters under
// a mutex. SQLite does the same itself in locking_mode=EXCLUSIVE, for its one connection.
//
// An index starts zeroed, so the first connection rebuilds it from the WAL (SQLite's recovery,
// as after a crash); the last connection to let go frees it. Meanwhile no other process may
// use the WAL: it would rebuild its own index and reset the WAL under ours. While an index
// exists this process holds a write lock on byte 128 of the real -shm file (created if need
// be), the byte on which the unix VFS of any process tests, before using the file, whether
// another process is setting it up. Finding the lock, its xShmMap reports SQLITE_BUSY, which
// SQLite takes for a passing state: it retries for ~10 s, then fails the statement with
// SQLITE_PROTOCOL ("locking protocol"), having read and written nothing. The lock is an open
// file description lock (F_OFD_SETLK): SQLite's own POSIX locks belong to the process, so a
// default-VFS connection in this process is refused in the same way, and its closing the file
// cannot drop our lock. If another process already uses the -shm file, our first map fails
// with SQLITE_BUSY (and SQLite here retries and fails in the same way).
//
// Threading: the index's memory is read and written by its connections' threads as SQLite
// orders them with the locks; the locks' state and the regions are guarded by the index's
// mutex, the table of indexes by a process-wide mutex. A WalIndexHandle is one connection's
// and is used by one thread at a time (SQLite uses a file from one connection at a time).
#pragma once

#include <cstdint>

namespace wq::sqlite {

class WalIndex;

// One connection's use of its database's WAL index: the xShm* methods of its database file.
// Results are SQLite result codes. Used by one thread at a time, as SQLite uses the file.
class WalIndexHandle {
 public:
  WalIndexHandle() = default;
  WalIndexHandle(const WalIndexHandle&) = delete;
  WalIndexHandle& operator=(const WalIndexHandle&) = delete;
  ~WalIndexHandle() { unmap(false); }

  // xShmMap: the address of region `region` (of `size` bytes; SQLite always asks 32 KiB) of
  // the index of the database at `db_path`, zeroed when first created. A region that does not
  // exist yet is created, with any before it, if `extend`; otherwise *out is null and the
  // result SQLITE_OK. The first call attaches the connection (SQLITE_BUSY: another process
  // uses the -shm file).
  int map(const char* db_path, int region, int size, bool extend, void volatile** out);

  // xShmLock: flags are SQLITE_SHM_LOCK or SQLITE_SHM_UNLOCK with SQLITE_SHM_SHARED or
  // SQLITE_SHM_EXCLUSIVE, over slots offset .. offset+n-1 of SQLITE_SHM_NLOCK. Never waits:
  // SQLITE_BUSY (and nothing taken) if another connection holds a conflicting lock. Unlocking
  // releases whatever this connection holds in the range. REQUIRES: attached (map called).
  int lock(int offset, int n, int flags);

  // xShmBarrier: a full memory fence.
  static void barrier();

  // xShmUnmap: releases this connection's locks and detaches it. The last connection to
  // detach frees the index and releases the -shm file's lock, first removing the file if
  // `delete_file` (SQLite asks when it has removed the WAL). A no-op if not attached.
  int unmap(bool delete_file);

 private:
  WalIndex* index_ = nullptr;  // while attached; the index outlives its attached handles
  std::uint8_t shared_ = 0;     // slots this connection holds shared, bit i for slot i
  std::uint8_t exclusive_ = 0;  // slots this connection holds exclusively
};

}  // namespace wq::sqlite
