// The bridge between Queue::watch and a connection's coroutine, and the registry of every open
// stream (event streams and long-polls): it enforces server.max_streams and closes them all on
// shutdown.
//
// SnapshotMailbox threading: offer() and close() are called from any thread (queue threads
// run watch callbacks); take(), closed() and wait() only on the owning connection's event loop.
// Snapshots coalesce: the reader gets the newest one it has not seen, never a backlog, and the
// terminal snapshot is always the last one offered, so it is never lost.
//
// StreamRegistry threading: every method is safe from any thread.
#pragma once

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "wq/job.hpp"

namespace wq::http {

// A snapshot with its JSON text (json_text(to_json(snap))), serialised once and shared by all
// the streams that send it: a publish reaches every watcher of the job with the same snapshot,
// one after another on the publishing thread, and 10,000 streams each serialising it for
// themselves made most of the fan-out's CPU (bench/run FANOUT).
struct SharedSnapshot {
  Snapshot snap;
  std::string json;

  // The shared form of `snap`: the one this thread made last if it is equal, else a new one.
  static std::shared_ptr<const SharedSnapshot> of(const Snapshot& snap);
};

class SnapshotMailbox : public std::enable_shared_from_this<SnapshotMailbox> {
 public:
  // `loop` is the executor of the one coroutine that reads the mailbox.
  explicit SnapshotMailbox(boost::asio::any_io_executor loop);

  // Keeps `snap` as the newest undelivered snapshot and wakes the reader.
  void offer(const Snapshot& snap);
  // Wakes the reader for good: once nothing is pending, closed() is true. Idempotent.
  void close();

  // Strand only: the newest undelivered snapshot, if any.
  std::shared_ptr<const SharedSnapshot> take();
  bool closed() const;
  // Strand only: returns once something was offered, the mailbox closed, the deadline passed
  // or the coroutine was cancelled. Spurious returns are allowed: re-check take()/closed().
  boost::asio::awaitable<void> wait(std::chrono::steady_clock::time_point deadline);

 private:
  void wake();

  mutable std::mutex mutex_;
  std::shared_ptr<const SharedSnapshot> pending_;  // guarded by mutex_
  bool closed_ = false;              // guarded by mutex_
  boost::asio::steady_timer timer_;  // loop only
};

class StreamRegistry {
 public:
  explicit StreamRegistry(std::size_t max_streams) : max_(max_streams) {}

  // Registers an open stream; nullptr when max_streams are already open (answer 503) or the
  // registry is closed (answer 503: shutting down). The stream counts until `Slot` dies.
  class Slot;
  std::unique_ptr<Slot> open(std::shared_ptr<SnapshotMailbox> mailbox);

  // Closes every open mailbox and refuses new ones.
  void close_all();

  std::size_t open_count() const noexcept { return count_.load(std::memory_order_relaxed); }
  std::size_t max_streams() const noexcept { return max_; }

 private:
  void release(SnapshotMailbox* mailbox);

  const std::size_t max_;
  std::atomic<std::size_t> count_{0};
  std::mutex mutex_;
  std::unordered_map<SnapshotMailbox*, std::weak_ptr<SnapshotMailbox>> open_;  // guarded by mutex_
  bool closed_ = false;                                                        // guarded by mutex_
};

class StreamRegistry::Slot {
 public:
  Slot(StreamRegistry& registry, std::shared_ptr<SnapshotMailbox> mailbox)
      : registry_(registry), mailbox_(std::move(mailbox)) {}
  ~Slot() { registry_.release(mailbox_.get()); }
  Slot(const Slot&) = delete;
  Slot& operator=(const Slot&) = delete;

 private:
  StreamRegistry& registry_;
  std::shared_ptr<SnapshotMailbox> mailbox_;
};

}  // namespace wq::http
