// The JSON of finished jobs as GET /v1/jobs/{id} answers it, kept so that polling a finished
// job (what a poll-based client does until it sees the end, and often after) costs neither a
// store read nor a serialisation: ~45k of a GET's ~94k instructions (bench/http_callgrind.sh).
//
// Why an entry stays true: a finished job changes again only when the sweeper drops its
// result or removes it. Each entry keeps Queue::finished_jobs_epoch() as read before the store
// read it came from, and counts only while the epoch still has that value, so a GET that
// starts after a sweep began never gets what was read before it. Jobs that are not finished
// are never kept: they change at any moment. Only for the SQLite store: other nodes of a
// PostgreSQL store sweep without this process knowing (disabled, every lookup misses).
//
// Threading: safe from any thread (one mutex; a hit copies a shared_ptr).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "core/string_map.hpp"
#include "wq/queue.hpp"

namespace wq::http {

class FinishedJobCache {
 public:
  // `queue` must outlive the cache. At most `capacity` jobs are kept.
  FinishedJobCache(const Queue& queue, bool enabled, std::size_t capacity = 4096);

  // Read before the store read whose result goes to remember().
  std::uint64_t epoch() const noexcept { return queue_.finished_jobs_epoch(); }

  // The body for job `id` as tenant `owner` sees it, if kept and still current; else null.
  std::shared_ptr<const std::string> find(std::string_view id, std::string_view owner) const;

  // Keeps `body`, the answer for `job` read from the store after epoch() returned `epoch`, if
  // the job is finished and no sweep ran or began since `epoch`.
  void remember(const Job& job, std::string body, std::uint64_t epoch);

 private:
  struct Entry {
    std::string owner;
    std::shared_ptr<const std::string> body;
    std::uint64_t epoch = 0;
  };
  const Queue& queue_;
  const bool enabled_;
  const std::size_t capacity_;
  mutable std::mutex mutex_;
  StringMap<Entry> entries_;  // guarded by mutex_
};

}  // namespace wq::http
