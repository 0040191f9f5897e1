// A SQLite VFS that writes each commit's WAL frames with one system call instead of two per
// page.
//
// SQLite writes a WAL frame as two pwrite(2)s, its 24-byte header and its page. A W1 commit
// of ~12 pages made 24 calls (~60 us on this VM, against ~21 us for one call of the same
// bytes), on the writer thread that every write waits for. This VFS is SQLite's default
// ("unix") with one change: writes to a WAL file that continue the previous one are gathered
// in a buffer and written together when a transaction's commit frame is complete, before
// SQLite publishes the frames to other connections (it updates the shared WAL index only
// after the last frame is written), so readers and the checkpointer never see a frame that
// is not in the file. Any other call on the file (read, sync, size, truncate, close, a write
// elsewhere) writes the buffer first, so SQLite sees the file exactly as without buffering;
// a failed write is reported by the call that made it, within the same commit. Database and
// journal files are the default VFS's own, untouched.
//
// Threading: SQLite uses each open file from one connection at a time, so a file's buffer
// needs no lock. Registration is once per process (thread-safe static initialisation).
#pragma once

namespace wq::sqlite {

// The VFS's name for sqlite3_open_v2, registered on first use (not as the default VFS); null
// (SQLite's default VFS) if it cannot be, which is logged once.
const char* wal_write_vfs();

}  // namespace wq::sqlite
