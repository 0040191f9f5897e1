// A fixed set of named threads running posted closures in FIFO order.
// Threading: post() from any thread; closures run on the pool's threads. The destructor runs
// what was already posted, then joins. A throwing closure is logged and does not stop a thread.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace wq::run {

class WorkerPool {
 public:
  WorkerPool(int threads, std::string name);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  void post(std::function<void()> fn);

 private:
  void loop();

  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;  // guarded by mutex_
  bool stopping_ = false;                    // guarded by mutex_
  std::vector<std::thread> threads_;
  std::string name_;
};

}  // namespace wq::run
