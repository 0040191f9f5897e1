#include "wq/exec/timer_thread.hpp"

#include "wq/exec/future_state.hpp"

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
    std::shared_ptr<TimerEntry> entry;  // either an entry to fire
    std::shared_ptr<StateBase> target;  // or a state to cancel
    bool obsolete() const { return target ? target->done() : entry->obsolete(); }
    bool fire() const { return target ? !target->done() && target->cancel() : entry->fire(); }
    void abandon() const {
      if (entry) entry->abandon();
    }
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

  bool schedule(Slot slot) {
    bool wake;
    {
      std::lock_guard lock(mu);
      if (stopping) return false;
      if (heap.size() >= compact_at) compact();
      wake = heap.empty() || slot.when < heap.front().when;
      slot.seq = next_seq++;
      heap.push_back(std::move(slot));
      std::push_heap(heap.begin(), heap.end(), later);
    }
    if (wake) cv.notify_one();
    return true;
  }

  // REQUIRES: mu held. Amortised O(1) per schedule: runs when the heap doubled since the last.
  void compact() {
    std::erase_if(heap, [](const Slot& s) { return s.obsolete(); });
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
      Slot slot = std::move(heap.back());
      heap.pop_back();
      lock.unlock();
      if (slot.fire()) fired.fetch_add(1, std::memory_order_relaxed);
      slot = {};
      lock.lock();
    }
    auto abandoned = std::move(heap);
    heap.clear();
    lock.unlock();
    for (auto& slot : abandoned) slot.abandon();
  }
};

TimerThread::TimerThread(std::string name) : shared_(std::make_shared<Shared>()) {
  thread_ = NamedThread(std::move(name), [shared = shared_] { shared->run(); });
}

TimerThread::~TimerThread() { stop(true); }

bool TimerThread::schedule(std::chrono::steady_clock::time_point when,
                           std::shared_ptr<TimerEntry> entry) {
  return shared_->schedule(Shared::Slot{.when = when, .entry = std::move(entry)});
}

bool TimerThread::schedule_cancel(std::chrono::steady_clock::time_point when,
                                  std::shared_ptr<StateBase> state) {
  return shared_->schedule(Shared::Slot{.when = when, .target = std::move(state)});
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
