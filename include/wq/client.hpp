// wq::Client: a C++ client for wqd's HTTP API (DESIGN §6).
//
//   wq::Client client({.server = "http://127.0.0.1:8080", .token = "…"});
//   wq::exec::Future<wq::Job> f = client.submit({.task = "count", .params = {{"n", 10}}});
//   wq::Job done = f.result();                // the job as it ended: succeeded, failed, cancelled
//   f.cancel();                               // cancels the job on the server too
//   auto w = client.watch(id, [](const wq::Snapshot& s) { … });   // live progress over SSE
//
// submit() is a wq::exec pipeline: a ThreadPool sends the POST, then `.with_poll(batch_status)`
// resolves every outstanding future with ONE `POST /v1/jobs/search` per poll (1,000 ids per
// request at most), so a thousand jobs in flight cost a few dozen requests, not thousands.
//
// Errors are values: the synchronous calls return Result<T>, whose Error carries the server's
// problem+json `detail` (or, for Errc::unreachable, what failed on the way). Futures fail with
// wq::ErrorException holding the same Error. Requests that are safe to repeat (GET, search,
// cancel, and POST /v1/jobs when the spec has an id or key) are retried on a fresh connection
// when a connection fails; a plain submit is not, as the server may have created the job.
//
// Threading: every member may be called from any thread. Requests run on the calling thread
// over pooled keep-alive connections, except submit() (a pool of `options.threads` threads,
// "wq-client-N", plus one poll thread, "wq-client-poll") and watch() (one thread per watch,
// "wq-watch", which also runs the callback). Destroying the Client stops its watches (their
// futures fail with exec::ShutdownError), sends the submits already queued, fails the submit
// futures still being polled with exec::ShutdownError (their jobs go on), and joins its threads.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "wq/error.hpp"
#include "wq/exec/executor_stats.hpp"
#include "wq/exec/future.hpp"
#include "wq/job.hpp"
#include "wq/store.hpp"

namespace wq {

struct ClientOptions {
  // http://HOST[:PORT]; wqd's default is http://127.0.0.1:8080. (https is not supported.)
  std::string server = "http://127.0.0.1:8080";
  // Sent as `Authorization: Bearer TOKEN` when set.
  std::optional<std::string> token;
  // Threads sending submits for submit(); also the most connections those use at once.
  std::size_t threads = 4;
  // How often outstanding submit() futures are polled (one search for all of them).
  std::chrono::milliseconds poll_interval{500};
  // A request (connect, send, receive the whole answer) that takes longer fails.
  std::chrono::milliseconds request_timeout{30'000};
  // Attempts of a request that may be repeated, when its connection fails.
  int attempts = 4;
  // How long watch() and submit() futures keep trying while the server is unreachable
  // (say, restarting) before they fail with Errc::unreachable.
  std::chrono::milliseconds reconnect_for{std::chrono::minutes(5)};
};

// One configured task, as GET /v1/tasks describes it.
struct TaskInfo {
  struct Param {
    std::string name;
    bool required = true;
    bool secret = false;
    std::optional<boost::json::value> default_value;
  };
  std::string name;
  std::vector<Param> params;
  int concurrency = 0;                    // 0: no per-task limit
  std::optional<double> timeout_seconds;  // none: no runtime limit
  int max_attempts = 1;
};

// Counters of one Client (relaxed: a snapshot may mix moments).
struct ClientStats {
  std::uint64_t requests = 0;  // HTTP requests sent, retries and event streams included
  std::uint64_t searches = 0;  // POST /v1/jobs/search requests (the submit futures' polls)
  std::uint64_t retries = 0;   // requests repeated after a connection failure
  exec::ExecutorStats poll;    // the poll executor's counters (futures, poll calls)
};

class Client {
 public:
  // Throws ErrorException (Errc::bad_input) if options.server is not an http:// URL.
  explicit Client(ClientOptions options = {});
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  const ClientOptions& options() const;

  // POST /v1/jobs: creates the job or returns the one it dedups to (created == false).
  Result<Submitted> enqueue(const JobSpec& spec);

  // Enqueues and returns a future that resolves with the job once it ended (any of
  // succeeded, failed, cancelled: look at job.state). The Job's state, seq, fraction,
  // message, returncode and error are the final ones, from the batched status poll; its other
  // fields are as the submit answered them (get() reads the whole record again).
  // The future fails with ErrorException if the submit is refused, the job disappears, or the
  // server stays unreachable for options.reconnect_for. cancel() on it cancels the job on the
  // server (true once the server accepted: a running job is then stopped and ends cancelled).
  exec::Future<Job> submit(JobSpec spec);

  // Calls `on_snapshot` with each snapshot newer than `after_seq`, in order, ending with the
  // terminal one, over the job's SSE stream. After a lost connection or a server restart it
  // reconnects with Last-Event-ID and resumes where it was (for options.reconnect_for);
  // `on_reconnecting`, if given, hears why each time. The future resolves with the terminal
  // snapshot (without calling on_snapshot again if it was at or before `after_seq`); it fails
  // with ErrorException (not_found, unauthorized, unreachable before the first answer, …).
  // Cancelling it stops the watch. Callbacks run on the watch's thread, one at a time.
  exec::Future<Snapshot> watch(std::string id, std::function<void(const Snapshot&)> on_snapshot,
                               std::uint64_t after_seq = 0,
                               std::function<void(const Error&)> on_reconnecting = {});

  Result<Job> get(const std::string& id);
  // A page of jobs, newest first (filter.owner is ignored: the token decides).
  Result<JobPage> list(const JobFilter& filter = {});
  // Current snapshots of up to 1,000 jobs in one request; ids not found are left out.
  Result<std::vector<Snapshot>> search(const std::vector<std::string>& ids);
  // POST /v1/jobs/{id}/cancel: the job as it is after the request.
  Result<Job> cancel(const std::string& id);
  Result<std::vector<TaskInfo>> tasks();

  // Downloads the result of a succeeded job (Errc::not_finished before that). To a file: the
  // bytes go to `path` + ".part", renamed to `path` once complete. Returns the size.
  Result<std::uint64_t> result(const std::string& id, const std::filesystem::path& path);
  Result<std::uint64_t> result(const std::string& id, std::ostream& out);

  ClientStats stats() const;

  class Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace wq
