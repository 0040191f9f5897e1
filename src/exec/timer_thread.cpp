#include "wq/exec/timer_thread.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <utility>
#include <vector>

namespace wq::exec::detail {

struct TimerThread::Shared {
  struct Slot {
    std::chrono::steady_clock::time_point when;
    std::uint64_t seq;
    std::shared_ptr<TimerEntry> entry;
  };
  // std::push_heap keeps the greatest on top: "greater" means later.
  static bool later(const Slot& a, const Slot& b) {
    return a.when != b.when ? a.when > b.when : a.seq > b.seq;
  }
  static constexpr std::size_t kMinCompact = 1024;

  std::mutex mu;
  std::condition_variable cv;
  std::vector<Slot> heap;
  std::uint64_t next_seq = 0;
  std::size_t compact_at = kMinCompact;
  bool stopping = false;
  std::mutex join_mu;
  std::atomic<std::uint64_t> fired{0};

  bool schedule(std::chrono::steady_clock::time_point when, std::shared_ptr<TimerEntry> entry) {
    bool wake;
    {
      std::lock_guard lock(mu);
      if (stopping) return false;
      if (heap.size() >= compact_at) compact();
      wake = heap.empty() || when < heap.front().when;
      heap.push_back(Slot{when, next_seq++, std::move(entry)});
      std::push_heap(heap.begin(), heap.end(), later);
    }
    if (wake) cv.notify_one();
    return true;
  }

  // REQUIRES: mu held. Amortised O(1) per schedule: runs when the heap doubled since the last.
  void compact() {
    std::erase_if(heap, [](const Slot& s) { return s.entry->obsolete(); });
    std::make_heap(heap.begin(), heap.end(), later);
    compact_at = std::max(kMinCompact, heap.size() * 2);
  }

  void run() {
    std::unique_lock lock(mu);
    while (!stopping) {
      if (heap.empty()) {
        cv.wait(lock);
        continue;
      }
      const auto when = heap.front().when;
      if (std::chrono::steady_clock::now() < when) {
        cv.wait_until(lock, when);
        continue;
      }
      std::pop_heap(heap.begin(), heap.end(), later);
      auto entry = std::move(heap.back().entry);
      heap.pop_back();
      lock.unlock();
      if (entry->fire()) fired.fetch_add(1, std::memory_order_relaxed);
      entry.reset();
      lock.lock();
    }
    auto abandoned = std::move(heap);
    heap.clear();
    lock.unlock();
    for (auto& slot : abandoned) slot.entry->abandon();
  }
};

TimerThread::TimerThread(std::string name) : shared_(std::make_shared<Shared>()) {
  thread_ = NamedThread(std::move(name), [shared = shared_] { shared->run(); });
}

TimerThread::~TimerThread() { stop(true); }

bool TimerThread::schedule(std::chrono::steady_clock::time_point when,
                           std::shared_ptr<TimerEntry> entry) {
  return shared_->schedule(when, std::move(entry));
}

void TimerThread::stop(bool wait) {
  {
    std::lock_guard lock(shared_->mu);
    shared_->stopping = true;
  }
  shared_->cv.notify_all();
  if (!wait) return;
  std::lock_guard lock(shared_->join_mu);
  thread_.join();
}

std::uint64_t TimerThread::fired() const noexcept {
  return shared_->fired.load(std::memory_order_relaxed);
}

}  // namespace wq::exec::detail

namespace wq::exec::detail {

TimerThread& process_timer() {
  static TimerThread timer("wq-f-timeout");
  return timer;
}

}  // namespace wq::exec::detail
