// Fans job snapshots out to watchers (DESIGN §4), event-driven: a publish calls each watcher
// of that job directly; nobody polls.
//
// Delivery rules, per watcher: a snapshot is delivered only if its seq is larger than the last
// one delivered (or, for a queued job, the same seq with a new n_ahead_in_queue — queue-position
// refreshes carry the job's current seq); after the terminal snapshot nothing more is
// delivered. Publishers coalesce (a burst of progress lines is one publish per read), and a
// watcher that falls behind simply gets the newest snapshot next.
//
// Threading: any thread may subscribe, publish or drop a subscription. Callbacks run on the
// publishing thread, one at a time per watcher and in seq order; they must not block. Dropping
// a Subscription waits for a callback in progress on another thread, so after it returns the
// callback will not run again (dropping it from inside its own callback is allowed).
#pragma once

#include "wq/job.hpp"

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace wq {

class ProgressHub {
 public:
  using Callback = std::function<void(const Snapshot&)>;

  class Watcher;

  // Keeps a watcher registered; unsubscribes when destroyed or reset.
  class Subscription {
   public:
    Subscription() = default;
    Subscription(ProgressHub* hub, std::shared_ptr<Watcher> w) : hub_(hub), watcher_(std::move(w)) {}
    Subscription(Subscription&&) noexcept = default;
    Subscription& operator=(Subscription&& other) noexcept;
    ~Subscription() { reset(); }
    void reset();
    explicit operator bool() const { return watcher_ != nullptr; }
    // Offers a snapshot to this watcher only (the subscriber's initial state).
    void offer(const Snapshot& snap) const;

   private:
    ProgressHub* hub_ = nullptr;
    std::shared_ptr<Watcher> watcher_;
  };

  // Registers `cb` for job `id`; snapshots with seq <= after_seq are not delivered.
  Subscription subscribe(const std::string& id, std::uint64_t after_seq, Callback cb);

  // Delivers `snap` to every watcher of snap.id (subject to the rules above), and hands it to
  // the forward callback, if any.
  void publish(const Snapshot& snap);
  // Many nodes: every snapshot published here also goes to `forward` (the store, which fans it
  // out to the other nodes). Set once, before anything is published.
  void set_forward(Callback forward) { forward_ = std::move(forward); }
  // Delivers a snapshot published on another node (not forwarded again).
  void deliver_remote(const Snapshot& snap);

  // Ids that currently have watchers.
  std::vector<std::string> watched_ids() const;
  std::size_t watcher_count() const;

 private:
  void unsubscribe(const std::shared_ptr<Watcher>& w);

  mutable std::mutex mutex_;
  // Each job's watchers; a Watcher knows its index, so subscribe and unsubscribe are O(1)
  // (10,000 streams on one job open and close in linear time). A publish copies the list
  // under the lock and delivers outside it: O(n) for n deliveries anyway.
  std::unordered_map<std::string, std::vector<std::shared_ptr<Watcher>>> channels_;  // guarded
  std::size_t count_ = 0;                                                             // guarded
  Callback forward_;  // set before the first publish, then only read
};

}  // namespace wq
