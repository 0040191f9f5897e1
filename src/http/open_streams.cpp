#include "http/open_streams.hpp"

#include "core/json_text.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <vector>

namespace wq::http {

namespace asio = boost::asio;

std::shared_ptr<const SharedSnapshot> SharedSnapshot::of(const Snapshot& snap) {
  thread_local std::shared_ptr<const SharedSnapshot> last;
  if (!last || last->snap != snap) {
    last = std::make_shared<const SharedSnapshot>(SharedSnapshot{snap, json_text(to_json(snap))});
  }
  return last;
}

SnapshotMailbox::SnapshotMailbox(asio::any_io_executor loop) : timer_(std::move(loop)) {}

void SnapshotMailbox::offer(const Snapshot& snap) {
  auto shared = SharedSnapshot::of(snap);
  {
    std::lock_guard lock(mutex_);
    if (pending_ && pending_->snap.terminal()) return;
    pending_ = std::move(shared);
  }
  wake();
}

void SnapshotMailbox::close() {
  {
    std::lock_guard lock(mutex_);
    if (closed_) return;
    closed_ = true;
  }
  wake();
}

// The cancel runs on the event loop, so it either lands while the reader waits (and wakes it) or
// before the reader's next take()/closed() check, which then sees what was offered.
void SnapshotMailbox::wake() {
  asio::post(timer_.get_executor(), [self = shared_from_this()] { self->timer_.cancel(); });
}

std::shared_ptr<const SharedSnapshot> SnapshotMailbox::take() {
  std::lock_guard lock(mutex_);
  return std::move(pending_);
}

bool SnapshotMailbox::closed() const {
  std::lock_guard lock(mutex_);
  return closed_ && !pending_;
}

asio::awaitable<void> SnapshotMailbox::wait(std::chrono::steady_clock::time_point deadline) {
  timer_.expires_at(deadline);
  co_await timer_.async_wait(asio::as_tuple(asio::use_awaitable));
}

std::unique_ptr<StreamRegistry::Slot> StreamRegistry::open(
    std::shared_ptr<SnapshotMailbox> mailbox) {
  std::lock_guard lock(mutex_);
  if (closed_ || open_.size() >= max_) return nullptr;
  open_.emplace(mailbox.get(), mailbox);
  count_.store(open_.size(), std::memory_order_relaxed);
  return std::make_unique<Slot>(*this, std::move(mailbox));
}

void StreamRegistry::release(SnapshotMailbox* mailbox) {
  std::lock_guard lock(mutex_);
  open_.erase(mailbox);
  count_.store(open_.size(), std::memory_order_relaxed);
}

void StreamRegistry::close_all() {
  std::vector<std::shared_ptr<SnapshotMailbox>> to_close;
  {
    std::lock_guard lock(mutex_);
    closed_ = true;
    for (const auto& [_, w] : open_) {
      if (auto p = w.lock()) to_close.push_back(std::move(p));
    }
  }
  for (const auto& m : to_close) m->close();
}

}  // namespace wq::http
