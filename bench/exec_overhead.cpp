// EXEC-OVERHEAD: the cost per future of wq::exec against a raw std::packaged_task pushed on a
// mutex+condvar queue and consumed by the same number of threads, measured in the same run.
// Each figure is the median of several rounds, rounds interleaved so machine noise hits all.
//
//   wq-bench-exec [futures_per_round] [rounds] [threads]
#include <fmt/core.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "wq/exec/thread_pool.hpp"

namespace {

using Clock = std::chrono::steady_clock;
constexpr std::size_t kBatch = 10'000;  // futures in flight at once

int work(int x) { return x + 1; }

// The baseline: what anyone would write by hand.
class PackagedTaskQueue {
 public:
  explicit PackagedTaskQueue(std::size_t threads) {
    for (std::size_t i = 0; i < threads; ++i) {
      threads_.emplace_back([this] {
        for (;;) {
          std::packaged_task<int()> task;
          {
            std::unique_lock lock(mu_);
            cv_.wait(lock, [&] { return stop_ || !tasks_.empty(); });
            if (tasks_.empty()) return;
            task = std::move(tasks_.front());
            tasks_.pop_front();
          }
          task();
        }
      });
    }
  }
  ~PackagedTaskQueue() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
  }
  std::future<int> submit(int x) {
    std::packaged_task<int()> task([x] { return work(x); });
    auto future = task.get_future();
    {
      std::lock_guard lock(mu_);
      tasks_.push_back(std::move(task));
    }
    cv_.notify_one();
    return future;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::packaged_task<int()>> tasks_;
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

// Nanoseconds per future for `n` futures submitted in batches and all waited for.
template <class Submit, class Get>
double measure(std::size_t n, Submit submit, Get get) {
  using Future = decltype(submit(0));
  std::vector<Future> futures;
  futures.reserve(kBatch);
  long long sum = 0;
  const auto start = Clock::now();
  for (std::size_t done = 0; done < n; done += kBatch) {
    futures.clear();
    for (std::size_t i = 0; i < kBatch; ++i) futures.push_back(submit(static_cast<int>(i)));
    for (auto& f : futures) sum += get(f);
  }
  const auto elapsed = std::chrono::duration<double, std::nano>(Clock::now() - start).count();
  if (sum == 0) std::abort();  // keeps the work observable
  return elapsed / static_cast<double>(n);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

void report(const char* note, double value, double baseline) {
  fmt::print("RESULT workload=EXEC-OVERHEAD value={:.0f} unit=ns/future limit={:.0f} "
             "ratio={:.2f} note=\"{}\"\n",
             value, baseline, value / baseline, note);
}

}  // namespace

int main(int argc, char** argv) {
  namespace ex = wq::exec;
  const std::size_t n = argc > 1 ? std::stoul(argv[1]) / kBatch * kBatch : 200'000;
  const int rounds = argc > 2 ? std::stoi(argv[2]) : 5;
  const std::size_t threads = argc > 3 ? std::stoul(argv[3]) : 2;

  PackagedTaskQueue baseline_queue(threads);
  ex::ThreadPool pool(threads, "bench-pool");
  auto chain = ex::ThreadPool(threads, "bench-chain")
                   .with_map([](int x) { return x + 1; })
                   .with_map([](int x) { return x - 1; })
                   .with_retry(ex::ExceptionRetryPolicy{})
                   .with_timeout(std::chrono::seconds(60));

  std::vector<double> baseline, plain, chained;
  for (int r = 0; r < rounds; ++r) {
    baseline.push_back(measure(
        n, [&](int x) { return baseline_queue.submit(x); }, [](auto& f) { return f.get(); }));
    plain.push_back(measure(
        n, [&](int x) { return pool.submit(&work, x); }, [](auto& f) { return f.result(); }));
    chained.push_back(measure(
        n, [&](int x) { return chain.submit(&work, x); }, [](auto& f) { return f.result(); }));
  }
  const double b = median(baseline);
  report("ThreadPool", median(plain), b);
  report("ThreadPool.with_map.with_map.with_retry.with_timeout", median(chained), b);
  fmt::print("\n  {:<52} {:>10}\n", "EXEC-OVERHEAD (median of rounds)", "ns/future");
  fmt::print("  {:<52} {:>10.0f}\n", "packaged_task + mutex/condvar queue (baseline)", b);
  fmt::print("  {:<52} {:>10.0f}\n", "ThreadPool", median(plain));
  fmt::print("  {:<52} {:>10.0f}\n", "map+map+retry+timeout chain", median(chained));
  fmt::print("  {} futures per round, {} rounds, {} threads\n", n, rounds, threads);
  chain.shutdown();
  pool.shutdown();
}
