#include "http/finished_job_cache.hpp"

namespace wq::http {

FinishedJobCache::FinishedJobCache(const Queue& queue, bool enabled, std::size_t capacity)
    : queue_(queue), enabled_(enabled), capacity_(capacity) {}

std::shared_ptr<const std::string> FinishedJobCache::find(std::string_view id,
                                                          std::string_view owner) const {
  if (!enabled_) return nullptr;
  const std::uint64_t now = epoch();
  std::lock_guard lock(mutex_);
  auto it = entries_.find(id);
  if (it == entries_.end() || it->second.epoch != now || it->second.owner != owner) return nullptr;
  return it->second.body;
}

void FinishedJobCache::remember(const Job& job, std::string body, std::uint64_t epoch) {
  if (!enabled_ || !is_terminal(job.state) || epoch % 2 != 0) return;
  // A sweep began during the read: find() would never return this entry, so do not keep it.
  if (this->epoch() != epoch) return;
  auto kept = std::make_shared<const std::string>(std::move(body));
  std::lock_guard lock(mutex_);
  if (entries_.size() >= capacity_ && !entries_.contains(job.id)) {
    std::erase_if(entries_, [&](const auto& kv) { return kv.second.epoch != epoch; });
    if (entries_.size() >= capacity_) entries_.erase(entries_.begin());
  }
  entries_.insert_or_assign(job.id, Entry{job.owner, std::move(kept), epoch});
}

}  // namespace wq::http
