// EventWatch: follows one job's SSE stream (GET /v1/jobs/{id}/events) until its terminal
// snapshot, reconnecting with Last-Event-ID after a lost connection, a server restart or a
// `shutdown` event, and resolving a promise with the terminal snapshot.
//
// Threading: run() is the body of the watch's own thread and calls the callbacks there;
// stop() may be called from any thread, and makes run() return soon.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "client/transport.hpp"
#include "wq/exec/future.hpp"
#include "wq/job.hpp"

namespace wq::client {

class EventWatch {
 public:
  struct Callbacks {
    std::function<void(const Snapshot&)> on_snapshot;
    std::function<void(const Error&)> on_reconnecting;
  };

  EventWatch(std::shared_ptr<Transport> transport, std::string id, std::uint64_t after_seq,
             Millis reconnect_for, Callbacks callbacks, exec::Promise<Snapshot> promise);

  void run();
  void stop();
  bool finished() const;

 private:
  enum class Step { done, reconnect, more };
  // One connection's worth of stream; `answered` is set once the server answered at all.
  Step follow(bool& answered);
  Step on_snapshot_data(const std::string& data);
  // Resolves with the job's current snapshot (the stream had nothing newer than last_seq_).
  void resolve_from_job();
  // Sleeps the backoff before the next connection; false if stopped meanwhile.
  bool pause(int attempt);
  void fail(Error e);

  const std::shared_ptr<Transport> transport_;
  const std::string id_;
  const Millis reconnect_for_;
  const Callbacks callbacks_;
  exec::Promise<Snapshot> promise_;
  std::uint64_t last_seq_;  // used by the watch thread only
  Error last_problem_;      // why the last connection ended; watch thread only

  mutable std::mutex mu_;
  std::condition_variable cv_;
  Connection* current_ = nullptr;  // guarded by mu_
  bool stopping_ = false;          // guarded by mu_
  bool finished_ = false;          // guarded by mu_
};

}  // namespace wq::client
