#include "store/result_dir.hpp"

#include "core/log.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace fs = std::filesystem;

namespace wq {
namespace {

std::string shard(std::string_view id) {
  return std::string(id.size() >= 2 ? id.substr(id.size() - 2) : id);
}

}  // namespace

Result<ResultDir> ResultDir::open(const fs::path& data_dir) {
  std::error_code ec;
  for (const char* sub : {"results", "jobs", "tmp"}) {
    fs::create_directories(data_dir / sub, ec);
    if (ec) {
      return make_error(Errc::store_failed, fmt::format("cannot create {}: {}",
                                                        (data_dir / sub).string(), ec.message()));
    }
  }
  auto lock = FileLock::acquire((data_dir / "LOCK").string());
  if (!lock) {
    if (lock.error().code == Errc::locked) {
      return make_error(Errc::locked, fmt::format("data directory {} is in use: {}",
                                                  data_dir.string(), lock.error().detail));
    }
    return lock.error();
  }
  // Nothing can be using these now: they belong to a process that is gone.
  for (const char* sub : {"jobs", "tmp"}) {
    for (const auto& entry : fs::directory_iterator(data_dir / sub, ec)) {
      std::error_code rm;
      fs::remove_all(entry.path(), rm);
    }
  }
  return ResultDir(fs::absolute(data_dir), std::move(*lock));
}

Result<ResultDir::Attempt> ResultDir::prepare(std::string_view id, int attempt, Needs needs) const {
  Attempt a;
  // One string, not path joins: this runs on the committing thread for every start.
  a.output = fmt::format("{}/tmp/{}.{}.out", root_.native(), id, attempt);
  if (needs.job_dir) {
    auto dir = take_job_dir();
    if (!dir) return dir.error();
    a.status_file = *dir + "/status";
    a.job_dir = std::move(*dir);
  }
  if (needs.output_file) {
    const int fd = ::open(a.output.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
      const int err = errno;
      discard(a);
      return make_error(Errc::store_failed, fmt::format("cannot create output file {}: {}",
                                                        a.output, std::strerror(err)));
    }
    ::close(fd);
    a.output_made = true;
  }
  return a;
}

Result<std::string> ResultDir::take_job_dir() const {
  std::uint64_t n;
  {
    std::lock_guard lock(free_->mutex);
    if (!free_->dirs.empty()) {
      std::string dir = std::move(free_->dirs.back());
      free_->dirs.pop_back();
      return dir;
    }
    n = free_->made++;
  }
  std::string dir = fmt::format("{}/jobs/w{}", root_.native(), n);
  if (::mkdir(dir.c_str(), 0755) != 0) {
    return make_error(Errc::store_failed, fmt::format("cannot create job directory {}: {}",
                                                      dir, std::strerror(errno)));
  }
  return dir;
}

Result<std::uint64_t> ResultDir::publish(std::string_view id, const Attempt& attempt) const {
  struct stat st {};
  if (::stat(attempt.output.c_str(), &st) != 0) {
    return make_error(Errc::store_failed,
                      fmt::format("Failed to stat output file: {}", std::strerror(errno)));
  }
  const fs::path dest = result_path(id);
  std::error_code ec;
  fs::create_directories(dest.parent_path(), ec);
  if (ec) {
    return make_error(Errc::store_failed, fmt::format("Failed to link destination file: {}", ec.message()));
  }
  if (::rename(attempt.output.c_str(), dest.c_str()) != 0) {
    return make_error(Errc::store_failed,
                      fmt::format("Failed to link destination file: {}", std::strerror(errno)));
  }
  return static_cast<std::uint64_t>(st.st_size);
}

void ResultDir::discard(const Attempt& attempt) const {
  // A program is not told the output path unless prepare() made the file.
  if (attempt.output_made || attempt.job_dir.empty()) ::unlink(attempt.output.c_str());
  if (attempt.job_dir.empty()) return;
  // An empty directory is kept for the next attempt. Reading it costs no journal write,
  // unlike rmdir now and mkdir later.
  if (empty_but_status(attempt.job_dir, attempt.status_file)) {
    std::lock_guard lock(free_->mutex);
    free_->dirs.push_back(attempt.job_dir);
    return;
  }
  std::error_code ec;
  fs::remove_all(attempt.job_dir, ec);  // what the program left behind goes with it
  if (ec) {
    log::warn("cannot remove a job directory", {{"dir", attempt.job_dir}, {"error", ec.message()}});
  }
}

// By its path, not a descriptor kept open: a program may have removed or moved its
// directory, and the next attempt is given the path. Not opendir(): its fstat is not needed.
bool ResultDir::empty_but_status(const std::string& dir, const std::string& status_file) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return false;
  alignas(dirent64) char buffer[1024];
  bool empty = true, status = false;
  for (;;) {
    const ssize_t n = ::getdents64(fd, buffer, sizeof buffer);
    if (n <= 0) {
      empty = empty && n == 0;
      break;
    }
    for (ssize_t at = 0; empty && at < n;) {
      const auto* e = reinterpret_cast<const dirent64*>(buffer + at);
      at += e->d_reclen;
      const std::string_view name = e->d_name;
      if (name == "status") {
        status = true;
      } else if (name != "." && name != "..") {
        empty = false;
      }
    }
    if (!empty) break;
  }
  ::close(fd);
  return empty && (!status || ::unlink(status_file.c_str()) == 0 || errno == ENOENT);
}

fs::path ResultDir::result_path(std::string_view id) const {
  return root_ / "results" / shard(id) / std::string(id);
}

bool ResultDir::remove(std::string_view id) const {
  std::error_code ec;
  return fs::remove(result_path(id), ec);
}

}  // namespace wq
