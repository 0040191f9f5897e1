// Records each group commit for StoreStats (the commit latency histogram behind /metrics).
//
// Threading: record() from any thread (the stores call it from their writer); snapshot() from
// any other thread at the same time. Counters are relaxed atomics: a snapshot taken during a
// record may count a commit in `commits` before its bucket, never lose one.
#pragma once

#include "wq/store.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>

namespace wq {

class CommitStats {
 public:
  void record(std::chrono::steady_clock::duration latency, std::size_t writes) noexcept {
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(latency).count();
    const double seconds = static_cast<double>(ns) / 1e9;
    const auto& bounds = StoreStats::kCommitBuckets;
    const auto bucket = static_cast<std::size_t>(
        std::lower_bound(bounds.begin(), bounds.end(), seconds) - bounds.begin());
    counts_[bucket].fetch_add(1, std::memory_order_relaxed);
    sum_ns_.fetch_add(static_cast<std::uint64_t>(ns), std::memory_order_relaxed);
    writes_.fetch_add(writes, std::memory_order_relaxed);
    commits_.fetch_add(1, std::memory_order_relaxed);
  }

  StoreStats snapshot() const noexcept {
    StoreStats s;
    s.commits = commits_.load(std::memory_order_relaxed);
    s.writes = writes_.load(std::memory_order_relaxed);
    for (std::size_t i = 0; i < counts_.size(); ++i) {
      s.commit_latency_counts[i] = counts_[i].load(std::memory_order_relaxed);
    }
    s.commit_latency_sum = static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) / 1e9;
    return s;
  }

 private:
  std::array<std::atomic<std::uint64_t>, StoreStats::kCommitBuckets.size() + 1> counts_ = {};
  std::atomic<std::uint64_t> sum_ns_{0};
  std::atomic<std::uint64_t> writes_{0};
  std::atomic<std::uint64_t> commits_{0};
};

}  // namespace wq
