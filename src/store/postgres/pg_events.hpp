// Fan-out between wqd nodes over PostgreSQL LISTEN/NOTIFY on the channel `wq_events`.
// Payloads are small JSON objects naming the sending node ("n") and the kind ("k"):
//   {"k":"w"}                          work became runnable: idle nodes claim
//   {"k":"c","id":…}                   cancel asked for a running job: its node stops it
//   {"k":"s","id":…,"q":seq,…}         a job's newer snapshot, for other nodes' watchers
// Snapshots are coalesced per job (the newest wins) and sent in one statement per batch.
// Messages and errors are truncated to keep payloads far below NOTIFY's 8000-byte limit; a
// terminal snapshot whose error was truncated is re-read from the database by the receiving
// node, so watchers get the exact final error.
//
// Threading: a listener thread (its own connection, blocked in poll(2) on the socket and a
// wake-up pipe: no polling loop) calls the sink; a notifier thread (its own connection) sends
// published snapshots. publish() and set_sink() are safe from any thread.
#pragma once

#include "wq/store.hpp"

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>

namespace wq::postgres {

class PgConn;

class PgEvents {
 public:
  // `fetch` re-reads a job (for terminal snapshots); called on the listener thread.
  using Fetch = std::function<std::optional<Job>(const std::string& id)>;
  PgEvents(std::string conninfo, std::string node, Fetch fetch);
  ~PgEvents();
  PgEvents(const PgEvents&) = delete;
  PgEvents& operator=(const PgEvents&) = delete;

  // Connects and LISTENs before returning, so nothing sent after it is missed.
  Result<void> start();
  void set_sink(std::function<void(const StoreEvent&)> sink);
  void publish(const Snapshot& snap);
  // Tells the other nodes that runnable work is waiting (sent with the next batch).
  void announce_work();
  // Hands an event to the sink as if it came from another node (this node's own decisions,
  // e.g. stopping jobs whose leases it cannot renew).
  void emit(const StoreEvent& e);

  // Payloads: work (sent by announce_work) and cancel (sent by the store inside the cancel's
  // transaction, delivered on commit).
  static std::string work_payload(const std::string& node);
  static std::string cancel_payload(const std::string& node, std::string_view id);

 private:
  void listen_loop();
  void notify_loop();
  Result<void> connect_listener();
  void handle(std::string_view payload);

  const std::string conninfo_;
  const std::string node_;
  const std::string own_prefix_;  // how every payload this node sends begins
  const Fetch fetch_;
  int wake_pipe_[2] = {-1, -1};

  std::unique_ptr<PgConn> listener_;  // the listener thread's (and start()'s, before it runs)
  std::unique_ptr<PgConn> notifier_;  // the notifier thread's

  std::mutex sink_mutex_;  // held while the sink runs
  std::function<void(const StoreEvent&)> sink_;  // guarded by sink_mutex_

  std::mutex mutex_;
  std::condition_variable cv_;
  std::unordered_map<std::string, Snapshot> pending_;  // guarded by mutex_; newest per job
  bool work_pending_ = false;                          // guarded by mutex_
  bool notifier_idle_ = false;  // guarded by mutex_; waiting for something to send
  bool stopping_ = false;                              // guarded by mutex_

  std::thread listen_thread_;
  std::thread notify_thread_;
};

}  // namespace wq::postgres
