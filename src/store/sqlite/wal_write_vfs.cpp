#include "store/sqlite/wal_write_vfs.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <cstdint>
#include <new>
#include <string>

#include "core/log.hpp"
#include "store/sqlite/wal_index.hpp"

namespace wq::sqlite {
namespace {

constexpr int kFrameHeaderSize = 24;  // a WAL frame's header, written before its page
// The default VFS writes at most 128 KiB - 1 bytes a call (and reports a longer write as a
// full disk): a larger transaction's frames are written in parts of up to this.
constexpr std::size_t kMaxBuffered = 0x1ffff;

sqlite3_vfs* root() {
  static sqlite3_vfs* const vfs = sqlite3_vfs_find(nullptr);
  return vfs;
}

// Either kind of open file: the default VFS's file lives in the same allocation, at
// kRealOffset, after the wrapper's own fields.
struct Wrapped {
  sqlite3_file base;  // pMethods = &kWalMethods or &kDbMethods
  sqlite3_file* real = nullptr;
};

// An open WAL file.
struct WalFile {
  Wrapped file;
  std::string buffer;  // bytes not yet written, contiguous from buffer_offset
  sqlite3_int64 buffer_offset = 0;
  bool commit_frame = false;  // the header just buffered is a transaction's commit frame
};

// An open main database file: its WAL index is this process's (store/sqlite/wal_index.hpp).
struct DbFile {
  Wrapped file;
  const char* path = nullptr;  // SQLite keeps the name valid until the file is closed
  WalIndexHandle index;
};

constexpr std::size_t kRealOffset =
    (std::max(sizeof(WalFile), sizeof(DbFile)) + 15) & ~std::size_t{15};

sqlite3_file* real(sqlite3_file* f) { return reinterpret_cast<Wrapped*>(f)->real; }
const sqlite3_io_methods& real_methods(sqlite3_file* f) { return *real(f)->pMethods; }
WalFile* wal(sqlite3_file* f) { return reinterpret_cast<WalFile*>(f); }
DbFile* db(sqlite3_file* f) { return reinterpret_cast<DbFile*>(f); }

// The calls either kind of file passes to the default VFS's file unchanged.

int forward_read(sqlite3_file* f, void* out, int amount, sqlite3_int64 offset) {
  return real_methods(f).xRead(real(f), out, amount, offset);
}
int forward_write(sqlite3_file* f, const void* data, int amount, sqlite3_int64 offset) {
  return real_methods(f).xWrite(real(f), data, amount, offset);
}
int forward_truncate(sqlite3_file* f, sqlite3_int64 size) {
  return real_methods(f).xTruncate(real(f), size);
}
int forward_sync(sqlite3_file* f, int flags) { return real_methods(f).xSync(real(f), flags); }
int forward_file_size(sqlite3_file* f, sqlite3_int64* size) {
  return real_methods(f).xFileSize(real(f), size);
}
int forward_lock(sqlite3_file* f, int level) { return real_methods(f).xLock(real(f), level); }
int forward_unlock(sqlite3_file* f, int level) { return real_methods(f).xUnlock(real(f), level); }
int forward_check_reserved_lock(sqlite3_file* f, int* out) {
  return real_methods(f).xCheckReservedLock(real(f), out);
}
int forward_file_control(sqlite3_file* f, int op, void* arg) {
  return real_methods(f).xFileControl(real(f), op, arg);
}
int forward_sector_size(sqlite3_file* f) { return real_methods(f).xSectorSize(real(f)); }
int forward_device_characteristics(sqlite3_file* f) {
  return real_methods(f).xDeviceCharacteristics(real(f));
}
int forward_shm_map(sqlite3_file* f, int region, int size, int extend, void volatile** out) {
  return real_methods(f).xShmMap(real(f), region, size, extend, out);
}
int forward_shm_lock(sqlite3_file* f, int offset, int n, int flags) {
  return real_methods(f).xShmLock(real(f), offset, n, flags);
}
void forward_shm_barrier(sqlite3_file* f) { real_methods(f).xShmBarrier(real(f)); }
int forward_shm_unmap(sqlite3_file* f, int delete_flag) {
  return real_methods(f).xShmUnmap(real(f), delete_flag);
}
int forward_fetch(sqlite3_file* f, sqlite3_int64 offset, int amount, void** out) {
  return real_methods(f).xFetch(real(f), offset, amount, out);
}
int forward_unfetch(sqlite3_file* f, sqlite3_int64 offset, void* page) {
  return real_methods(f).xUnfetch(real(f), offset, page);
}

// ---- WAL files: writes gathered per commit ----

int flush(WalFile* w) {
  if (w->buffer.empty()) return SQLITE_OK;
  const int rc = forward_write(&w->file.base, w->buffer.data(),
                               static_cast<int>(w->buffer.size()), w->buffer_offset);
  w->buffer.clear();
  return rc;
}

int wal_write(sqlite3_file* f, const void* data, int amount, sqlite3_int64 offset) {
  WalFile* w = wal(f);
  const bool continues = offset == w->buffer_offset + static_cast<sqlite3_int64>(w->buffer.size());
  if (!w->buffer.empty() &&
      (!continues || w->buffer.size() + static_cast<std::size_t>(amount) > kMaxBuffered)) {
    if (int rc = flush(w); rc != SQLITE_OK) return rc;
  }
  if (w->buffer.empty()) w->buffer_offset = offset;
  w->buffer.append(static_cast<const char*>(data), static_cast<std::size_t>(amount));
  if (amount == kFrameHeaderSize) {
    // Bytes 4-7 of a frame header: the database size after a commit, zero in other frames.
    const auto* h = static_cast<const unsigned char*>(data);
    w->commit_frame = (h[4] | h[5] | h[6] | h[7]) != 0;
    return SQLITE_OK;
  }
  // The commit frame's page is the transaction's last write before SQLite publishes it.
  if (w->commit_frame) {
    w->commit_frame = false;
    return flush(w);
  }
  return SQLITE_OK;
}

int wal_close(sqlite3_file* f) {
  WalFile* w = wal(f);
  const int flushed = flush(w);
  const int closed = real_methods(f).xClose(real(f));
  w->~WalFile();
  return flushed != SQLITE_OK ? flushed : closed;
}

int wal_read(sqlite3_file* f, void* out, int amount, sqlite3_int64 offset) {
  if (int rc = flush(wal(f)); rc != SQLITE_OK) return rc;
  return forward_read(f, out, amount, offset);
}

int wal_truncate(sqlite3_file* f, sqlite3_int64 size) {
  if (int rc = flush(wal(f)); rc != SQLITE_OK) return rc;
  return forward_truncate(f, size);
}

int wal_sync(sqlite3_file* f, int flags) {
  if (int rc = flush(wal(f)); rc != SQLITE_OK) return rc;
  return forward_sync(f, flags);
}

int wal_file_size(sqlite3_file* f, sqlite3_int64* size) {
  if (int rc = flush(wal(f)); rc != SQLITE_OK) return rc;
  return forward_file_size(f, size);
}

int wal_file_control(sqlite3_file* f, int op, void* arg) {
  if (int rc = flush(wal(f)); rc != SQLITE_OK) return rc;
  return forward_file_control(f, op, arg);
}

int wal_fetch(sqlite3_file* f, sqlite3_int64 offset, int amount, void** out) {
  if (int rc = flush(wal(f)); rc != SQLITE_OK) return rc;
  return forward_fetch(f, offset, amount, out);
}

// SQLite keeps the WAL index on the database file, never on the WAL, and maps only the
// database: the xShm* calls are forwarded for completeness.
const sqlite3_io_methods kWalMethods = {
    3,
    wal_close,
    wal_read,
    wal_write,
    wal_truncate,
    wal_sync,
    wal_file_size,
    forward_lock,
    forward_unlock,
    forward_check_reserved_lock,
    wal_file_control,
    forward_sector_size,
    forward_device_characteristics,
    forward_shm_map,
    forward_shm_lock,
    forward_shm_barrier,
    forward_shm_unmap,
    wal_fetch,
    forward_unfetch,
};

// ---- Main database files: the WAL index in process memory ----

int db_close(sqlite3_file* f) {
  DbFile* d = db(f);
  d->index.unmap(false);
  const int closed = real_methods(f).xClose(real(f));
  d->~DbFile();
  return closed;
}

int db_shm_map(sqlite3_file* f, int region, int size, int extend, void volatile** out) {
  DbFile* d = db(f);
  return d->index.map(d->path, region, size, extend != 0, out);
}

int db_shm_lock(sqlite3_file* f, int offset, int n, int flags) {
  return db(f)->index.lock(offset, n, flags);
}

void db_shm_barrier(sqlite3_file*) { WalIndexHandle::barrier(); }

int db_shm_unmap(sqlite3_file* f, int delete_flag) {
  return db(f)->index.unmap(delete_flag != 0);
}

const sqlite3_io_methods kDbMethods = {
    3,
    db_close,
    forward_read,
    forward_write,
    forward_truncate,
    forward_sync,
    forward_file_size,
    forward_lock,
    forward_unlock,
    forward_check_reserved_lock,
    forward_file_control,
    forward_sector_size,
    forward_device_characteristics,
    db_shm_map,
    db_shm_lock,
    db_shm_barrier,
    db_shm_unmap,
    forward_fetch,
    forward_unfetch,
};

// Constructs `T` (WalFile or DbFile) in `file` and opens the default VFS's file behind it.
template <class T>
int open_wrapped(sqlite3_filename name, sqlite3_file* file, int flags, int* out_flags,
                 const sqlite3_io_methods* methods, T** out) {
  sqlite3_vfs* r = root();
  auto* w = new (file) T{};
  w->file.base.pMethods = nullptr;  // until the real file is open: SQLite closes only what opened
  w->file.real = reinterpret_cast<sqlite3_file*>(reinterpret_cast<char*>(file) + kRealOffset);
  sqlite3_file* real_file = w->file.real;
  const int rc = r->xOpen(r, name, real_file, flags, out_flags);
  if (rc != SQLITE_OK || real_file->pMethods == nullptr || real_file->pMethods->iVersion < 3) {
    if (rc == SQLITE_OK && real_file->pMethods) real_file->pMethods->xClose(real_file);
    w->~T();
    file->pMethods = nullptr;
    return rc != SQLITE_OK ? rc : SQLITE_CANTOPEN;
  }
  w->file.base.pMethods = methods;
  *out = w;
  return SQLITE_OK;
}

// A WAL file gets the buffer and a main database file the in-process WAL index; any other
// file is the default VFS's own, opened in place (this VFS's file size only adds room in
// front of it for a wrapper's fields).
int vfs_open(sqlite3_vfs*, sqlite3_filename name, sqlite3_file* file, int flags, int* out_flags) {
  if (flags & SQLITE_OPEN_WAL) {
    WalFile* w = nullptr;
    return open_wrapped(name, file, flags, out_flags, &kWalMethods, &w);
  }
  if ((flags & SQLITE_OPEN_MAIN_DB) && name != nullptr) {
    DbFile* d = nullptr;
    const int rc = open_wrapped(name, file, flags, out_flags, &kDbMethods, &d);
    if (rc == SQLITE_OK) d->path = name;
    return rc;
  }
  sqlite3_vfs* r = root();
  return r->xOpen(r, name, file, flags, out_flags);
}

int vfs_delete(sqlite3_vfs*, const char* name, int sync_dir) {
  return root()->xDelete(root(), name, sync_dir);
}
int vfs_access(sqlite3_vfs*, const char* name, int flags, int* out) {
  return root()->xAccess(root(), name, flags, out);
}
int vfs_full_pathname(sqlite3_vfs*, const char* name, int n, char* out) {
  return root()->xFullPathname(root(), name, n, out);
}
void* vfs_dl_open(sqlite3_vfs*, const char* name) { return root()->xDlOpen(root(), name); }
void vfs_dl_error(sqlite3_vfs*, int n, char* out) { root()->xDlError(root(), n, out); }
void (*vfs_dl_sym(sqlite3_vfs*, void* handle, const char* symbol))(void) {
  return root()->xDlSym(root(), handle, symbol);
}
void vfs_dl_close(sqlite3_vfs*, void* handle) { root()->xDlClose(root(), handle); }
int vfs_randomness(sqlite3_vfs*, int n, char* out) { return root()->xRandomness(root(), n, out); }
int vfs_sleep(sqlite3_vfs*, int us) { return root()->xSleep(root(), us); }
int vfs_current_time(sqlite3_vfs*, double* out) { return root()->xCurrentTime(root(), out); }
int vfs_get_last_error(sqlite3_vfs*, int n, char* out) {
  return root()->xGetLastError(root(), n, out);
}
int vfs_current_time_int64(sqlite3_vfs*, sqlite3_int64* out) {
  return root()->xCurrentTimeInt64(root(), out);
}
int vfs_set_system_call(sqlite3_vfs*, const char* name, sqlite3_syscall_ptr p) {
  return root()->xSetSystemCall(root(), name, p);
}
sqlite3_syscall_ptr vfs_get_system_call(sqlite3_vfs*, const char* name) {
  return root()->xGetSystemCall(root(), name);
}
const char* vfs_next_system_call(sqlite3_vfs*, const char* name) {
  return root()->xNextSystemCall(root(), name);
}

sqlite3_vfs* make_vfs() {
  sqlite3_vfs* r = root();
  if (r == nullptr || r->iVersion < 3) {
    log::warn("SQLite's default VFS is older than version 3: WAL frames are written unbuffered "
              "and the WAL index is shared through the -shm file");
    return nullptr;
  }
  static sqlite3_vfs vfs = {
      3,
      static_cast<int>(kRealOffset) + r->szOsFile,
      r->mxPathname,
      nullptr,
      "wq-wal-write",
      nullptr,
      vfs_open,
      vfs_delete,
      vfs_access,
      vfs_full_pathname,
      vfs_dl_open,
      vfs_dl_error,
      vfs_dl_sym,
      vfs_dl_close,
      vfs_randomness,
      vfs_sleep,
      vfs_current_time,
      vfs_get_last_error,
      vfs_current_time_int64,
      vfs_set_system_call,
      vfs_get_system_call,
      vfs_next_system_call,
  };
  if (int rc = sqlite3_vfs_register(&vfs, 0); rc != SQLITE_OK) {
    log::warn("cannot register the WAL-buffering SQLite VFS: WAL frames are written unbuffered "
              "and the WAL index is shared through the -shm file",
              {{"error", sqlite3_errstr(rc)}});
    return nullptr;
  }
  return &vfs;
}

}  // namespace

const char* wal_write_vfs() {
  static sqlite3_vfs* const vfs = make_vfs();
  return vfs ? vfs->zName : nullptr;
}

}  // namespace wq::sqlite
