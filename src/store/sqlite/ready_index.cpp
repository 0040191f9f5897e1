#include "store/sqlite/ready_index.hpp"

#include <iterator>

namespace wq::sqlite {

void ReadyIndex::add(const QueuedEntry& e, TimePoint now) {
  if (e.run_at > now) {
    delayed_.emplace(DelayedKey{e.run_at.time_since_epoch().count(), e.rowid},
                     std::pair{e.priority, e.task});
  } else {
    ready_.insert({ReadyKey{-std::int64_t{e.priority}, e.rowid}, e.task});
  }
}

bool ReadyIndex::remove(const QueuedEntry& e) {
  if (ready_.erase(ReadyKey{-std::int64_t{e.priority}, e.rowid})) return true;
  return delayed_.erase(DelayedKey{e.run_at.time_since_epoch().count(), e.rowid}) > 0;
}

void ReadyIndex::promote(TimePoint now) {
  const std::int64_t limit = now.time_since_epoch().count();
  while (!delayed_.empty() && delayed_.begin()->first.first <= limit) {
    auto it = delayed_.begin();
    ready_.insert({ReadyKey{-std::int64_t{it->second.first}, it->first.second}, it->second.second});
    delayed_.erase(it);
  }
}

std::vector<QueuedEntry> ReadyIndex::pick(std::size_t n,
                                          const std::function<bool(std::uint32_t)>& skip) const {
  std::vector<QueuedEntry> out;
  for (auto it = ready_.begin(); it != ready_.end() && out.size() < n; ++it) {
    if (skip && skip(it->second)) continue;
    out.push_back(QueuedEntry{it->first.second, static_cast<int>(-it->first.first), TimePoint{},
                              it->second});
  }
  return out;
}

std::int64_t ReadyIndex::rank(const QueuedEntry& e) const {
  const ReadyKey key{-std::int64_t{e.priority}, e.rowid};
  if (ready_.find(key) != ready_.end()) return static_cast<std::int64_t>(ready_.order_of_key(key));
  auto it = delayed_.lower_bound(DelayedKey{e.run_at.time_since_epoch().count(), e.rowid});
  return static_cast<std::int64_t>(ready_.size()) +
         static_cast<std::int64_t>(std::distance(delayed_.begin(), it));
}

std::optional<TimePoint> ReadyIndex::next_run_at() const {
  if (delayed_.empty()) return std::nullopt;
  return TimePoint(Millis(delayed_.begin()->first.first));
}

void ReadyIndex::clear() {
  ready_.clear();
  delayed_.clear();
}

}  // namespace wq::sqlite
