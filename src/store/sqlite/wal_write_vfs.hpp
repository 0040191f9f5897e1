// A SQLite VFS that cuts the system calls of a commit: it writes each commit's WAL frames with
// one call instead of two per page, and keeps the WAL index in process memory instead of
// locking and mapping the -shm file.
//
// SQLite writes a WAL frame as two pwrite(2)s, its 24-byte header and its page. A W1 commit
// of ~12 pages made 24 calls (~60 us on this VM, against ~21 us for one call of the same
// bytes), on the writer thread that every write waits for. This VFS is SQLite's default
// ("unix") with two changes. First, writes to a WAL file that continue the previous one are
// gathered in a buffer and written together when a transaction's commit frame is complete,
// before SQLite publishes the frames to other connections (it updates the shared WAL index only
// after the last frame is written), so readers and the checkpointer never see a frame that
// is not in the file. Any other call on the file (read, sync, size, truncate, close, a write
// elsewhere) writes the buffer first, so SQLite sees the file exactly as without buffering;
// a failed write is reported by the call that made it, within the same commit.
//
// Second, a main database file's WAL index (the xShm* methods) is the process's own
// (store/sqlite/wal_index.hpp): its locks cost a mutex instead of ~6 fcntl(2)s a commit. Only
// one process may then use the database's WAL: a workqueue data directory is only ever opened
// by one (store/file_lock.hpp), and another process that tries, a sqlite3 shell or a
// connection of SQLite's default VFS, even in this process, fails after ~10 s of retries with
// SQLITE_PROTOCOL, having read and written nothing. Other
// calls on database files, and every call on journal and temporary files, are the default
// VFS's own. Without this VFS (null below) SQLite's default shares the index through the
// -shm file.
//
// Threading: SQLite uses each open file from one connection at a time, so a WAL file's buffer
// needs no lock; the WAL index's own locking is described in wal_index.hpp. Registration is
// once per process (thread-safe static initialisation).
#pragma once

namespace wq::sqlite {

// The VFS's name for sqlite3_open_v2, registered on first use (not as the default VFS); null
// (SQLite's default VFS) if it cannot be, which is logged once.
const char* wal_write_vfs();

}  // namespace wq::sqlite
