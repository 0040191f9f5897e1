// Runs function tasks (C++ callables registered by name) on a pool of worker threads, giving
// each a TaskContext for progress, cancellation and its result.
// Threading: start() and cancel() from any thread. The task and its progress/done callbacks
// run on a worker thread; `done` is called exactly once per start, on that thread, after the
// function returned or threw. Cancellation is cooperative (a thread cannot be killed): the
// task sees ctx.cancelled() and its stop_token. The workers run under SCHED_BATCH
// (run/batch_policy.hpp): HTTP-W1, four interleaved pairs, 12.7-13.9k -> 13.6-15.7k jobs/s,
// server CPU 96-103 -> 85-101 us a job.
#pragma once

#include "wq/exec/thread_pool.hpp"
#include "wq/queue.hpp"

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <stop_token>
#include <unordered_map>

namespace wq::run {

struct FunctionSpec {
  Job job;
  // All params with the secrets merged in; unset when there are no secrets (job.params are
  // all of them): no copy of them a job.
  std::optional<boost::json::object> params;
  std::string output;  // made a std::filesystem::path only if the task asks for it
  TaskFn fn;
};

struct FunctionResult {
  bool ok = false;            // returned normally
  bool stop_requested = false;  // cancel/timeout/shutdown was requested before it ended
  std::string error;          // what() of the exception when !ok
  std::uint64_t output_size = 0;
  // The task asked for its output path or set a result: without that no file can be there,
  // and nobody need look for one (a stat and an unlink a job).
  bool output_used = false;
};

class FunctionRunner {
 public:
  using ProgressFn = std::function<void(double fraction, std::optional<std::string> message)>;
  using DoneFn = std::function<void(FunctionResult)>;

  explicit FunctionRunner(int threads);
  // Requests every running task to stop and waits for them (they must return).
  ~FunctionRunner();

  std::uint64_t start(FunctionSpec spec, ProgressFn progress, DoneFn done);
  // Requests the run to stop; no effect once it ended.
  void cancel(std::uint64_t run_id);

 private:
  std::mutex mutex_;
  std::uint64_t next_id_ = 1;                                   // guarded by mutex_
  std::unordered_map<std::uint64_t, std::stop_source> active_;  // guarded by mutex_
  exec::ThreadPool pool_;  // last: shut down and joined first
};

}  // namespace wq::run
