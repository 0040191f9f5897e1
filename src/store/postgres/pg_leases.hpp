// This node's leases on its running jobs (DESIGN §5, issue 5). A heartbeat renews them every
// lease/3 on its own connection, so a busy writer never delays a renewal. If renewals fail for
// 2/3 of the lease (the database is unreachable: a network cut), the node stops its jobs
// itself before the lease can expire — another node will recover and re-run them, and the same
// job must never run twice at once. Such jobs are forfeited: this node records no outcome for
// them, and once the database answers again their leases are expired at once rather than
// renewed, so a live node recovers them (retried or failed as interrupted, per on_crash).
//
// Threading: one heartbeat thread; hold/release from any thread. `lost` runs on the heartbeat
// thread and must not block.
#pragma once

#include "wq/job.hpp"

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

namespace wq::postgres {

class PgConn;

class PgLeases {
 public:
  // `lost(ids)`: the leases of these jobs may lapse; stop them.
  PgLeases(std::string conninfo, std::string node, Millis lease,
           std::function<void(const std::vector<std::string>&)> lost);
  ~PgLeases();
  PgLeases(const PgLeases&) = delete;
  PgLeases& operator=(const PgLeases&) = delete;

  void start();
  // Jobs this node claimed (after the claim committed) / no longer runs.
  void hold(const std::vector<std::string>& ids);
  void release(const std::string& id);
  // True if this node gave the job up (its outcome must not be recorded here).
  bool forfeited(const std::string& id);

 private:
  void loop();
  bool renew();

  const std::string conninfo_;  // with timeouts bounded by the lease
  const std::string node_;
  const Millis lease_;
  const std::function<void(const std::vector<std::string>&)> lost_;
  std::unique_ptr<PgConn> conn_;  // the heartbeat thread's

  std::mutex mutex_;
  std::condition_variable cv_;
  std::unordered_set<std::string> held_;       // guarded by mutex_
  std::unordered_set<std::string> forfeited_;  // guarded by mutex_; to be expired
  bool stop_ = false;                     // guarded by mutex_
  std::thread thread_;
};

}  // namespace wq::postgres
