#include "store/result_dir.hpp"

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

Result<ResultDir::Attempt> ResultDir::prepare(std::string_view id, int attempt, bool for_program) const {
  Attempt a;
  // One string, not path joins: this runs on the store's writer thread for every start.
  a.output = fmt::format("{}/tmp/{}.{}.out", root_.native(), id, attempt);
  if (!for_program) return a;
  a.job_dir = root_ / "jobs" / std::string(id);
  a.status_file = a.job_dir / "status";
  if (::mkdir(a.job_dir.c_str(), 0755) != 0) {
    std::error_code ec;
    if (errno == EEXIST) fs::remove_all(a.job_dir, ec);  // a previous attempt's leftovers
    if (ec || ::mkdir(a.job_dir.c_str(), 0755) != 0) {
      return make_error(Errc::store_failed, fmt::format("cannot create job directory {}: {}",
                                                        a.job_dir.string(), std::strerror(errno)));
    }
  }
  const int fd = ::open(a.output.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    return make_error(Errc::store_failed, fmt::format("cannot create output file {}: {}",
                                                      a.output.string(), std::strerror(errno)));
  }
  ::close(fd);
  return a;
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
  ::unlink(attempt.output.c_str());
  if (!attempt.job_dir.empty() && ::rmdir(attempt.job_dir.c_str()) != 0 && errno != ENOENT) {
    std::error_code ec;
    fs::remove_all(attempt.job_dir, ec);
  }
}

fs::path ResultDir::result_path(std::string_view id) const {
  return root_ / "results" / shard(id) / std::string(id);
}

bool ResultDir::remove(std::string_view id) const {
  std::error_code ec;
  return fs::remove(result_path(id), ec);
}

}  // namespace wq
