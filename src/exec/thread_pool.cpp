#include "wq/exec/thread_pool.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <stdexcept>
#include <vector>

#include "wq/exec/named_thread.hpp"

namespace wq::exec {
namespace {

// Everything the workers touch; owned jointly by the pool and each worker.
struct WorkQueue {
  // A worker finding the queue empty yields this many times before sleeping: submissions
  // arriving meanwhile then need no futex wake-up, the main cost of a naive queue. One worker
  // per pool spins at a time; more only burn the cores (sched_yield) that others' work needs,
  // which showed as dozens of context switches per job with several pools on two cores.
  // 1,000 yields last ~0.3-0.5 ms on an idle core: long enough to catch the next job of a
  // client submitting one at a time (W2 p50 0.088-0.102 -> 0.075-0.094 ms against 64 yields),
  // with no change in W1, W3, HTTP-W1 or EXEC-OVERHEAD.
  // A yield that took longer than kGaveWay gave the core to another thread: the core is busy,
  // so every further yield is a context switch (and the spinner comes back each time the
  // other thread blocks). The worker then sleeps at once. In PG-W1 (three nodes' pools and
  // PostgreSQL on two cores) the pools' threads took 88-116 us of CPU per job and wqd 22-35
  // context switches; stopping at the first yield that gave way, 19-28 us and 7-8.
  static constexpr int kSpins = 1000;
  static constexpr auto kGaveWay = std::chrono::microseconds(20);

  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::shared_ptr<detail::Runnable>> tasks;  // guarded by mu
  bool stopping = false;                                // guarded by mu
  int idle = 0;    // workers in cv.wait; guarded by mu
  bool spinning = false;  // a worker is in spin(); guarded by mu
  int waking = 0;  // notifications not yet taken by a worker; guarded by mu
  std::atomic<std::size_t> queued{0};  // tasks.size(), read without mu while spinning

  void work() {
    for (;;) {
      std::shared_ptr<detail::Runnable> task;
      bool wake = false;
      {
        std::unique_lock lock(mu);
        if (tasks.empty() && !stopping && !spinning) {
          spinning = true;
          lock.unlock();
          spin();
          lock.lock();
          spinning = false;
        }
        while (tasks.empty() && !stopping) {
          ++idle;
          cv.wait(lock);
          --idle;
          if (waking > 0) --waking;
        }
        if (tasks.empty()) return;
        task = std::move(tasks.front());
        tasks.pop_front();
        queued.store(tasks.size(), std::memory_order_relaxed);
        wake = !tasks.empty() && wake_one_locked();
      }
      if (wake) cv.notify_one();
      task->run();
    }
  }

  void spin() const {
    auto before = std::chrono::steady_clock::now();
    for (int i = 0; i < kSpins; ++i) {
      if (queued.load(std::memory_order_relaxed) > 0) return;
      std::this_thread::yield();
      const auto after = std::chrono::steady_clock::now();
      if (after - before > kGaveWay) return;
      before = after;
    }
  }

  // False if stopping.
  bool push(std::shared_ptr<detail::Runnable> task) {
    bool wake;
    {
      std::lock_guard lock(mu);
      if (stopping) return false;
      tasks.push_back(std::move(task));
      queued.store(tasks.size(), std::memory_order_relaxed);
      wake = wake_one_locked();
    }
    if (wake) cv.notify_one();
    return true;
  }

  // Whether to wake a sleeping worker for the queued tasks (counted in `waking` if so): only
  // if none is on its way to them already, woken or spinning. Wake-ups cascade instead: a
  // worker that takes a task and leaves others queued wakes the next (work()). Tasks pushed
  // in a burst then cost their pusher one wake-up, not one each, and short tasks are done by
  // the workers already awake: the store's writer, delivering a batch of claimed jobs, made
  // a futex call a job.
  bool wake_one_locked() {
    if (spinning || waking > 0 || idle == 0) return false;
    ++waking;
    return true;
  }
};

}  // namespace

class ThreadPool::Impl {
 public:
  Impl(std::size_t threads, std::string name)
      : name_(std::move(name)), queue_(std::make_shared<WorkQueue>()) {
    if (threads == 0) throw std::invalid_argument("ThreadPool needs at least one thread");
    threads_.reserve(threads);
    for (std::size_t i = 0; i < threads; ++i) {
      threads_.emplace_back(name_ + "-" + std::to_string(i), [q = queue_] { q->work(); });
    }
  }
  ~Impl() { shutdown(true); }

  void enqueue(std::shared_ptr<detail::Runnable> task) {
    if (!queue_->push(std::move(task))) {
      throw ShutdownError("cannot submit after shutdown (" + name_ + ")");
    }
    detail::Counters::bump(counters_.futures);
  }

  void shutdown(bool wait) {
    {
      std::lock_guard lock(queue_->mu);
      queue_->stopping = true;
    }
    queue_->cv.notify_all();
    if (!wait) return;
    std::lock_guard lock(join_mu_);
    for (auto& t : threads_) t.join();
  }

  std::size_t size() const noexcept { return threads_.size(); }

  const std::string name_;
  detail::Counters counters_;

 private:
  std::shared_ptr<WorkQueue> queue_;
  std::mutex join_mu_;
  std::vector<detail::NamedThread> threads_;
};

ThreadPool::ThreadPool(std::size_t threads, std::string name)
    : impl_(std::make_shared<Impl>(threads, std::move(name))) {}

void ThreadPool::enqueue(std::shared_ptr<detail::Runnable> task) {
  impl_->enqueue(std::move(task));
}

void ThreadPool::shutdown(bool wait) { impl_->shutdown(wait); }

ExecutorStats ThreadPool::stats() const { return impl_->counters_.snapshot(impl_->name_); }

const std::string& ThreadPool::name() const { return impl_->name_; }

std::size_t ThreadPool::size() const { return impl_ ? impl_->size() : 0; }

std::size_t ThreadPool::default_size() noexcept {
  const unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 4 : n;
}

}  // namespace wq::exec
