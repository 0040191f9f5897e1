// Test helpers around Queue::watch: collect every snapshot of a job until its terminal one,
// and capture warning log lines.
#pragma once

#include "core/log.hpp"
#include "wq/queue.hpp"

#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <string>
#include <vector>

namespace wq::test {

// All snapshots delivered to one watcher, from after_seq until the terminal one. Fails the
// test (instead of hanging) if the job has not ended within `guard`.
inline std::vector<Snapshot> collect(Queue& q, const std::string& id, std::uint64_t after_seq = 0,
                                     std::chrono::seconds guard = std::chrono::seconds(90)) {
  std::mutex m;
  std::condition_variable cv;
  std::vector<Snapshot> got;
  bool done = false;
  auto w = q.watch(id, after_seq, [&](const Snapshot& s) {
    std::lock_guard lock(m);
    got.push_back(s);
    if (s.terminal()) {
      done = true;
      cv.notify_all();
    }
  });
  EXPECT_TRUE(w) << (w ? "" : w.error().detail);
  std::unique_lock lock(m);
  if (!cv.wait_for(lock, guard, [&] { return done; })) {
    auto job = q.get(id);
    auto stats = q.stats();
    ADD_FAILURE() << "job " << id << " did not end within " << guard.count() << "s; it is "
                  << (job ? std::string(to_string(job->state)) + " attempt " + std::to_string(job->attempt) + " seq " + std::to_string(job->seq) : job.error().detail) << ", "
                  << got.size() << " snapshots seen, " << stats.running << " running, "
                  << stats.started << " started";
  }
  lock.unlock();
  if (w) w->reset();
  return got;
}

inline Snapshot wait_terminal(Queue& q, const std::string& id) {
  auto all = collect(q, id);
  return all.empty() ? Snapshot{} : all.back();
}

// Captures log messages at warn level and above while alive.
class LogCapture {
 public:
  LogCapture() {
    log::set_sink([this](log::Level level, std::string_view msg, std::string_view) {
      if (level < log::Level::warn) return;
      std::lock_guard lock(mutex_);
      messages_.emplace_back(msg);
    });
  }
  ~LogCapture() { log::set_sink(nullptr); }
  std::vector<std::string> messages() const {
    std::lock_guard lock(mutex_);
    return messages_;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<std::string> messages_;
};

}  // namespace wq::test
