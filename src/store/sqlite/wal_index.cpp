#include "store/sqlite/wal_index.hpp"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <vector>

#include "core/log.hpp"

namespace wq::sqlite {
namespace {

constexpr int kSlots = SQLITE_SHM_NLOCK;
// The unix VFS's UNIX_SHM_DMS, the -shm byte whose lock tells whether another process uses
// the file (UNIX_SHM_BASE + SQLITE_SHM_NLOCK = (22 + 8) * 4 + 8 in os_unix.c).
constexpr off_t kDmsByte = 128;

struct FileId {
  dev_t dev;
  ino_t ino;
  auto operator<=>(const FileId&) const = default;
};

}  // namespace

// One database's index. Threading: see wal_index.hpp; `users` is the table's, the rest the
// index's own mutex's.
class WalIndex {
 public:
  ~WalIndex() {
    if (guard_fd_ >= 0) ::close(guard_fd_);
  }

  // Opens the -shm file of `db_path` and takes its lock against other processes.
  int guard(const char* db_path, mode_t mode) {
    shm_path_ = std::string(db_path) + "-shm";
    guard_fd_ = ::open(shm_path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, mode & 0777);
    if (guard_fd_ < 0) {
      log::warn("cannot open the SQLite -shm file to lock it",
                {{"path", shm_path_}, {"error", std::strerror(errno)}});
      return SQLITE_IOERR_SHMOPEN;
    }
    struct flock lock {};
    lock.l_type = F_WRLCK;
    lock.l_whence = SEEK_SET;
    lock.l_start = kDmsByte;
    lock.l_len = 1;
    if (::fcntl(guard_fd_, F_OFD_SETLK, &lock) != 0) {
      if (errno == EAGAIN || errno == EACCES) return SQLITE_BUSY;
      log::warn("cannot lock the SQLite -shm file",
                {{"path", shm_path_}, {"error", std::strerror(errno)}});
      return SQLITE_IOERR_SHMOPEN;
    }
    return SQLITE_OK;
  }

  // Removes the -shm file; the lock goes when the index is destroyed. A file that cannot be
  // removed is harmless (the next process to use it starts it afresh), as in the unix VFS.
  void remove_file() const { ::unlink(shm_path_.c_str()); }

  int users = 0;  // attached handles; guarded by the table's mutex

  std::mutex mutex;
  std::vector<std::unique_ptr<std::byte[]>> regions;  // guarded by mutex
  int region_size = 0;                                 // guarded by mutex; 0 until mapped
  std::array<int, kSlots> shared{};     // connections holding each slot shared; guarded by mutex
  std::array<bool, kSlots> exclusive{};  // a connection holds the slot exclusively; guarded by mutex

 private:
  std::string shm_path_;
  int guard_fd_ = -1;
};

namespace {

// Every attached index of the process.
struct IndexTable {
  std::mutex mutex;
  std::map<FileId, std::unique_ptr<WalIndex>> indexes;  // guarded by mutex
};

IndexTable& table() {
  static IndexTable t;
  return t;
}

int attach(const char* db_path, WalIndex** out) {
  struct stat st {};
  if (::stat(db_path, &st) != 0) return SQLITE_IOERR_SHMOPEN;
  const FileId id{st.st_dev, st.st_ino};
  IndexTable& t = table();
  std::lock_guard lock(t.mutex);
  auto it = t.indexes.find(id);
  if (it == t.indexes.end()) {
    auto index = std::make_unique<WalIndex>();
    if (int rc = index->guard(db_path, st.st_mode); rc != SQLITE_OK) return rc;
    it = t.indexes.emplace(id, std::move(index)).first;
  }
  ++it->second->users;
  *out = it->second.get();
  return SQLITE_OK;
}

void detach(WalIndex* index, bool delete_file) {
  IndexTable& t = table();
  std::lock_guard lock(t.mutex);
  if (--index->users > 0) return;
  if (delete_file) index->remove_file();
  std::erase_if(t.indexes, [index](const auto& entry) { return entry.second.get() == index; });
}

std::uint8_t bit(int slot) { return static_cast<std::uint8_t>(1u << slot); }

}  // namespace

int WalIndexHandle::map(const char* db_path, int region, int size, bool extend,
                        void volatile** out) {
  *out = nullptr;
  if (region < 0 || size <= 0) return SQLITE_IOERR_SHMMAP;
  try {
    if (index_ == nullptr) {
      if (int rc = attach(db_path, &index_); rc != SQLITE_OK) return rc;
    }
    std::lock_guard lock(index_->mutex);
    if (index_->region_size == 0) index_->region_size = size;
    if (size != index_->region_size) return SQLITE_IOERR_SHMSIZE;
    auto& regions = index_->regions;
    const auto wanted = static_cast<std::size_t>(region);
    if (wanted >= regions.size()) {
      if (!extend) return SQLITE_OK;
      regions.reserve(wanted + 1);
      while (regions.size() <= wanted) {
        regions.push_back(std::make_unique<std::byte[]>(static_cast<std::size_t>(size)));
      }
    }
    *out = regions[wanted].get();
    return SQLITE_OK;
  } catch (const std::bad_alloc&) {
    return SQLITE_NOMEM;  // SQLite reports it; nothing was attached or is half-made
  }
}

int WalIndexHandle::lock(int offset, int n, int flags) {
  if (index_ == nullptr || offset < 0 || n < 1 || offset + n > kSlots) return SQLITE_IOERR_SHMLOCK;
  std::lock_guard lock(index_->mutex);
  auto& shared = index_->shared;
  auto& exclusive = index_->exclusive;
  const int end = offset + n;
  if (flags & SQLITE_SHM_UNLOCK) {
    for (int i = offset; i < end; ++i) {
      if (shared_ & bit(i)) --shared[i];
      if (exclusive_ & bit(i)) exclusive[i] = false;
      shared_ &= static_cast<std::uint8_t>(~bit(i));
      exclusive_ &= static_cast<std::uint8_t>(~bit(i));
    }
    return SQLITE_OK;
  }
  if (flags & SQLITE_SHM_SHARED) {
    for (int i = offset; i < end; ++i) {
      const bool mine = (shared_ | exclusive_) & bit(i);
      if (!mine && exclusive[i]) return SQLITE_BUSY;
    }
    for (int i = offset; i < end; ++i) {
      if ((shared_ | exclusive_) & bit(i)) continue;
      ++shared[i];
      shared_ |= bit(i);
    }
    return SQLITE_OK;
  }
  for (int i = offset; i < end; ++i) {
    if (exclusive_ & bit(i)) continue;
    const int others = shared[i] - ((shared_ & bit(i)) ? 1 : 0);
    if (exclusive[i] || others > 0) return SQLITE_BUSY;
  }
  for (int i = offset; i < end; ++i) {
    if (shared_ & bit(i)) --shared[i];
    shared_ &= static_cast<std::uint8_t>(~bit(i));
    exclusive[i] = true;
    exclusive_ |= bit(i);
  }
  return SQLITE_OK;
}

void WalIndexHandle::barrier() { std::atomic_thread_fence(std::memory_order_seq_cst); }

int WalIndexHandle::unmap(bool delete_file) {
  if (index_ == nullptr) return SQLITE_OK;
  lock(0, kSlots, SQLITE_SHM_UNLOCK | SQLITE_SHM_EXCLUSIVE);
  detach(index_, delete_file);
  index_ = nullptr;
  return SQLITE_OK;
}

}  // namespace wq::sqlite
