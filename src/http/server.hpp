// wqd's HTTP server: a small pool of threads with an io_context each, a coroutine per
// connection (never a thread per connection), and a blocking pool for store calls. Shutdown
// drains: stop accepting, close idle connections, let running jobs finish for
// server.shutdown_grace (Queue::stop), then end every open event stream with a final event.
//
// Threading: construct, listen() and run() on one thread; run() blocks until the drain is
// complete, serving on the calling thread and on server.threads - 1 more ("wq-http"). Each
// thread runs an io_context of its own, and accepted connections go to them in turn: a
// connection lives on one thread, its event loop: its handlers never run at once, with no
// strand to pay for (a strand a connection cost 2.9k instructions a GET, 21.1k against 24.0k,
// and 6.6k a HTTP-W1 job; callgrind). (One io_context shared by the threads: HTTP-W1's median
// 14,480 against 15,700 jobs/s in 10 alternating runs, 82.5 against 79.5 us of server CPU a
// job. The price: a thread cannot take over another's connections, so FANOUT's last stream
// waits for the busier thread; its p50 was 90-128 against 78-115 ms in nine runs each.)
// All are under SCHED_BATCH like the job threads (run/batch_policy.hpp): an HTTP thread woken
// by a request or by the store's answer does not preempt the thread running, most often the
// store's writer in the middle of the batch every request waits for. shutdown() is safe from
// any thread; SIGINT and SIGTERM call it.
#pragma once

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/thread_pool.hpp>
#include <memory>
#include <thread>
#include <vector>

#include "http/auth.hpp"
#include "http/metrics.hpp"
#include "http/open_streams.hpp"
#include "http/routes.hpp"
#include "http/session.hpp"
#include "wq/queue.hpp"

namespace wq::http {

class Server {
 public:
  // `queue` must outlive the server; run() stops it (with the grace period) on shutdown.
  Server(Queue& queue, ServerConfig config, Authenticator auth);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds config.listen (port 0 picks a free port) and listens. Errc::config_invalid for an
  // unparsable address or one it cannot bind, saying why.
  Result<boost::asio::ip::tcp::endpoint> listen();

  // Serves until SIGINT, SIGTERM or shutdown(), then drains and returns. Call after listen().
  // Leaves the calling thread under SCHED_BATCH.
  void run();

  // Begins the drain. Idempotent.
  void shutdown();

 private:
  boost::asio::awaitable<void> accept_loop();
  void drain();

  Queue& queue_;
  const ServerConfig config_;
  const Authenticator auth_;
  HttpMetrics metrics_;
  StreamRegistry streams_;
  FinishedJobCache finished_jobs_;
  ConnectionRegistry connections_;
  std::atomic<bool> draining_{false};
  // One per io thread, each run by that thread alone (hence concurrency hint 1).
  std::vector<std::unique_ptr<boost::asio::io_context>> iocs_;
  std::size_t next_ioc_ = 0;  // the accept loop's round-robin; only it touches this
  boost::asio::thread_pool blocking_;
  ServerEnv env_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::signal_set signals_;
  std::vector<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
  std::thread stopper_;  // runs Queue::stop(grace) during the drain
};

// Parses HOST:PORT or [V6HOST]:PORT ("localhost" is 127.0.0.1).
Result<boost::asio::ip::tcp::endpoint> parse_listen(std::string_view listen);

}  // namespace wq::http
