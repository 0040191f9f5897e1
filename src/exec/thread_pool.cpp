#include "wq/exec/thread_pool.hpp"

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
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::shared_ptr<detail::Runnable>> tasks;
  bool stopping = false;
  int idle = 0;

  void work() {
    for (;;) {
      std::shared_ptr<detail::Runnable> task;
      {
        std::unique_lock lock(mu);
        while (tasks.empty() && !stopping) {
          ++idle;
          cv.wait(lock);
          --idle;
        }
        if (tasks.empty()) return;
        task = std::move(tasks.front());
        tasks.pop_front();
      }
      task->run();
    }
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
    bool wake;
    {
      std::lock_guard lock(queue_->mu);
      if (queue_->stopping) {
        throw ShutdownError("cannot submit after shutdown (" + name_ + ")");
      }
      queue_->tasks.push_back(std::move(task));
      wake = queue_->idle > 0;
    }
    detail::Counters::bump(counters_.futures);
    if (wake) queue_->cv.notify_one();
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
