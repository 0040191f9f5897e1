// An exclusive advisory lock on a file (flock), held for the owner's lifetime, so a second
// process cannot open the same store or data directory. The file records the holder's pid for
// the error message. Move-only; not shared between threads.
#pragma once

#include "wq/error.hpp"

#include <string>

namespace wq {

class FileLock {
 public:
  // Errc::locked (naming the holder's pid) if another process holds it.
  static Result<FileLock> acquire(const std::string& path);

  FileLock(FileLock&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  FileLock& operator=(FileLock&& other) noexcept;
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  ~FileLock();

 private:
  explicit FileLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace wq
