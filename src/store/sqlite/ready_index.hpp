// The order in which queued jobs will start, kept in memory by the SQLite store (the only
// process that can write its database, see the data-directory lock): ready jobs by priority
// (higher first) then FIFO (rowid), delayed jobs by run_at. Claims read it instead of scanning
// SQL, and n_ahead_in_queue is a rank query, O(log n).
// Threading: not synchronised; the store guards it with its index mutex.
#pragma once

#include "wq/job.hpp"

#include <ext/pb_ds/assoc_container.hpp>
#include <ext/pb_ds/tree_policy.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <utility>
#include <vector>

namespace wq::sqlite {

struct QueuedEntry {
  std::int64_t rowid = 0;
  int priority = 0;
  TimePoint run_at{};
  std::uint32_t task = 0;  // interned task name
};

class ReadyIndex {
 public:
  void add(const QueuedEntry& e, TimePoint now);
  // Removes a queued job; false if it was not there.
  bool remove(const QueuedEntry& e);
  // Moves delayed entries whose run_at has come to the ready set.
  void promote(TimePoint now);
  // Up to `n` ready entries in start order, skipping those for which `skip(task)` is true
  // (called once per candidate, in order, so it may keep per-task budgets).
  std::vector<QueuedEntry> pick(std::size_t n, const std::function<bool(std::uint32_t)>& skip) const;
  // Queued jobs that start before `e` (ready ones ahead of it, or all ready ones plus the
  // delayed ones due earlier).
  std::int64_t rank(const QueuedEntry& e) const;
  std::optional<TimePoint> next_run_at() const;
  std::size_t size() const { return ready_.size() + delayed_.size(); }
  void clear();

 private:
  using ReadyKey = std::pair<std::int64_t, std::int64_t>;  // (-priority, rowid)
  using Ready = __gnu_pbds::tree<ReadyKey, std::uint32_t, std::less<ReadyKey>,
                                 __gnu_pbds::rb_tree_tag,
                                 __gnu_pbds::tree_order_statistics_node_update>;
  using DelayedKey = std::pair<std::int64_t, std::int64_t>;  // (run_at ms, rowid)
  Ready ready_;
  std::map<DelayedKey, std::pair<int, std::uint32_t>> delayed_;  // -> (priority, task)
};

}  // namespace wq::sqlite
