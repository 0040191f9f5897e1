#include "store/sqlite/wal_write_vfs.hpp"

#include <sqlite3.h>

#include <cstdint>
#include <new>
#include <string>

#include "core/log.hpp"

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

// An open WAL file: the default VFS's file lives in the same allocation, after this header.
struct WalFile {
  sqlite3_file base;  // pMethods = &kWalMethods
  sqlite3_file* real = nullptr;
  std::string buffer;  // bytes not yet written, contiguous from buffer_offset
  sqlite3_int64 buffer_offset = 0;
  bool commit_frame = false;  // the header just buffered is a transaction's commit frame
};

constexpr std::size_t kRealOffset = (sizeof(WalFile) + 15) & ~std::size_t{15};

WalFile* wal(sqlite3_file* f) { return reinterpret_cast<WalFile*>(f); }
const sqlite3_io_methods& real_methods(WalFile* w) { return *w->real->pMethods; }

int flush(WalFile* w) {
  if (w->buffer.empty()) return SQLITE_OK;
  const int rc = real_methods(w).xWrite(w->real, w->buffer.data(),
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
  const int closed = real_methods(w).xClose(w->real);
  w->~WalFile();
  return flushed != SQLITE_OK ? flushed : closed;
}

int wal_read(sqlite3_file* f, void* out, int amount, sqlite3_int64 offset) {
  WalFile* w = wal(f);
  if (int rc = flush(w); rc != SQLITE_OK) return rc;
  return real_methods(w).xRead(w->real, out, amount, offset);
}

int wal_truncate(sqlite3_file* f, sqlite3_int64 size) {
  WalFile* w = wal(f);
  if (int rc = flush(w); rc != SQLITE_OK) return rc;
  return real_methods(w).xTruncate(w->real, size);
}

int wal_sync(sqlite3_file* f, int flags) {
  WalFile* w = wal(f);
  if (int rc = flush(w); rc != SQLITE_OK) return rc;
  return real_methods(w).xSync(w->real, flags);
}

int wal_file_size(sqlite3_file* f, sqlite3_int64* size) {
  WalFile* w = wal(f);
  if (int rc = flush(w); rc != SQLITE_OK) return rc;
  return real_methods(w).xFileSize(w->real, size);
}

int wal_lock(sqlite3_file* f, int level) {
  WalFile* w = wal(f);
  return real_methods(w).xLock(w->real, level);
}

int wal_unlock(sqlite3_file* f, int level) {
  WalFile* w = wal(f);
  return real_methods(w).xUnlock(w->real, level);
}

int wal_check_reserved_lock(sqlite3_file* f, int* out) {
  WalFile* w = wal(f);
  return real_methods(w).xCheckReservedLock(w->real, out);
}

int wal_file_control(sqlite3_file* f, int op, void* arg) {
  WalFile* w = wal(f);
  if (int rc = flush(w); rc != SQLITE_OK) return rc;
  return real_methods(w).xFileControl(w->real, op, arg);
}

int wal_sector_size(sqlite3_file* f) {
  WalFile* w = wal(f);
  return real_methods(w).xSectorSize(w->real);
}

int wal_device_characteristics(sqlite3_file* f) {
  WalFile* w = wal(f);
  return real_methods(w).xDeviceCharacteristics(w->real);
}

// SQLite keeps the WAL index on the database file, never on the WAL, and maps only the
// database: these are forwarded for completeness.
int wal_shm_map(sqlite3_file* f, int region, int size, int extend, void volatile** out) {
  WalFile* w = wal(f);
  return real_methods(w).xShmMap(w->real, region, size, extend, out);
}

int wal_shm_lock(sqlite3_file* f, int offset, int n, int flags) {
  WalFile* w = wal(f);
  return real_methods(w).xShmLock(w->real, offset, n, flags);
}

void wal_shm_barrier(sqlite3_file* f) {
  WalFile* w = wal(f);
  real_methods(w).xShmBarrier(w->real);
}

int wal_shm_unmap(sqlite3_file* f, int delete_flag) {
  WalFile* w = wal(f);
  return real_methods(w).xShmUnmap(w->real, delete_flag);
}

int wal_fetch(sqlite3_file* f, sqlite3_int64 offset, int amount, void** out) {
  WalFile* w = wal(f);
  if (int rc = flush(w); rc != SQLITE_OK) return rc;
  return real_methods(w).xFetch(w->real, offset, amount, out);
}

int wal_unfetch(sqlite3_file* f, sqlite3_int64 offset, void* page) {
  WalFile* w = wal(f);
  return real_methods(w).xUnfetch(w->real, offset, page);
}

const sqlite3_io_methods kWalMethods = {
    3,
    wal_close,
    wal_read,
    wal_write,
    wal_truncate,
    wal_sync,
    wal_file_size,
    wal_lock,
    wal_unlock,
    wal_check_reserved_lock,
    wal_file_control,
    wal_sector_size,
    wal_device_characteristics,
    wal_shm_map,
    wal_shm_lock,
    wal_shm_barrier,
    wal_shm_unmap,
    wal_fetch,
    wal_unfetch,
};

// A WAL file gets the buffer; any other file is the default VFS's own, opened in place (this
// VFS's file size only adds room in front of it for a WAL file's header).
int vfs_open(sqlite3_vfs*, sqlite3_filename name, sqlite3_file* file, int flags, int* out_flags) {
  sqlite3_vfs* r = root();
  if ((flags & SQLITE_OPEN_WAL) == 0) return r->xOpen(r, name, file, flags, out_flags);
  auto* w = new (file) WalFile{};
  w->base.pMethods = nullptr;  // until the real file is open: SQLite closes only what opened
  w->real = reinterpret_cast<sqlite3_file*>(reinterpret_cast<char*>(file) + kRealOffset);
  const int rc = r->xOpen(r, name, w->real, flags, out_flags);
  if (rc != SQLITE_OK || w->real->pMethods == nullptr || w->real->pMethods->iVersion < 3) {
    if (rc == SQLITE_OK && w->real->pMethods) w->real->pMethods->xClose(w->real);
    w->~WalFile();
    file->pMethods = nullptr;
    return rc != SQLITE_OK ? rc : SQLITE_CANTOPEN;
  }
  w->base.pMethods = &kWalMethods;
  return SQLITE_OK;
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
    log::warn("SQLite's default VFS is older than version 3: WAL frames are written unbuffered");
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
    log::warn("cannot register the WAL-buffering SQLite VFS: WAL frames are written unbuffered",
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
