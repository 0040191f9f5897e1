#include "queue/progress_hub.hpp"

#include "core/log.hpp"

#include <boost/container/small_vector.hpp>

#include <atomic>
#include <thread>

namespace wq {

class ProgressHub::Watcher {
 public:
  Watcher(std::string id, std::uint64_t after, Callback cb)
      : id_(std::move(id)), last_seq_(after), cb_(std::move(cb)) {}

  const std::string& id() const { return id_; }
  // Its position in the hub's list for its job; guarded by the hub's mutex.
  std::size_t index = 0;

  void deliver(const Snapshot& snap) {
    std::lock_guard lock(mutex_);
    if (!active_ || finished_) return;
    const bool newer = snap.seq > last_seq_;
    const bool moved = snap.seq == last_seq_ && delivered_any_ && snap.state == JobState::queued &&
                       snap.n_ahead_in_queue != last_n_ahead_;
    if (!newer && !moved) return;
    last_seq_ = snap.seq;
    last_n_ahead_ = snap.n_ahead_in_queue;
    delivered_any_ = true;
    finished_ = snap.terminal();
    delivering_ = std::this_thread::get_id();
    try {
      cb_(snap);
    } catch (const std::exception& e) {
      log::error("a progress watcher's callback threw; it is ignored", {{"job", id_}, {"error", e.what()}});
    }
    delivering_ = std::thread::id();
  }

  void deactivate() {
    if (delivering_ == std::this_thread::get_id()) {
      active_ = false;  // inside our own callback: the lock is already held by this thread
      return;
    }
    std::lock_guard lock(mutex_);
    active_ = false;
  }

 private:
  const std::string id_;
  std::mutex mutex_;
  std::uint64_t last_seq_;           // guarded by mutex_
  std::int64_t last_n_ahead_ = -1;   // guarded by mutex_
  bool delivered_any_ = false;       // guarded by mutex_
  bool finished_ = false;            // guarded by mutex_
  bool active_ = true;               // guarded by mutex_ (or written by the delivering thread)
  std::atomic<std::thread::id> delivering_{};  // the thread inside cb_, if any
  Callback cb_;
};

ProgressHub::Subscription& ProgressHub::Subscription::operator=(Subscription&& other) noexcept {
  if (this != &other) {
    reset();
    hub_ = std::exchange(other.hub_, nullptr);
    watcher_ = std::move(other.watcher_);
  }
  return *this;
}

void ProgressHub::Subscription::reset() {
  if (!watcher_) return;
  hub_->unsubscribe(watcher_);
  watcher_->deactivate();
  watcher_.reset();
}

void ProgressHub::Subscription::offer(const Snapshot& snap) const {
  if (watcher_) watcher_->deliver(snap);
}

ProgressHub::Subscription ProgressHub::subscribe(const std::string& id, std::uint64_t after_seq,
                                                 Callback cb) {
  auto w = std::make_shared<Watcher>(id, after_seq, std::move(cb));
  std::lock_guard lock(mutex_);
  auto& list = channels_[id];
  w->index = list.size();
  list.push_back(w);
  ++count_;
  return Subscription(this, std::move(w));
}

void ProgressHub::unsubscribe(const std::shared_ptr<Watcher>& w) {
  std::lock_guard lock(mutex_);
  auto it = channels_.find(w->id());
  if (it == channels_.end()) return;
  auto& list = it->second;
  if (w->index >= list.size() || list[w->index] != w) return;
  // The last watcher takes the leaving one's place.
  list[w->index] = std::move(list.back());
  list[w->index]->index = w->index;
  list.pop_back();
  --count_;
  if (list.empty()) channels_.erase(it);
}

void ProgressHub::publish(const Snapshot& snap) {
  deliver_remote(snap);
  if (forward_) forward_(snap);
}

void ProgressHub::deliver_remote(const Snapshot& snap) {
  // Most jobs have a watcher or two: those copy without allocating.
  boost::container::small_vector<std::shared_ptr<Watcher>, 4> list;
  {
    std::lock_guard lock(mutex_);
    auto it = channels_.find(snap.id);
    if (it == channels_.end()) return;
    list.assign(it->second.begin(), it->second.end());
  }
  for (const auto& w : list) w->deliver(snap);
}

std::vector<std::string> ProgressHub::watched_ids() const {
  std::lock_guard lock(mutex_);
  std::vector<std::string> ids;
  ids.reserve(channels_.size());
  for (const auto& [id, _] : channels_) ids.push_back(id);
  return ids;
}

std::size_t ProgressHub::watcher_count() const {
  std::lock_guard lock(mutex_);
  return count_;
}

}  // namespace wq
