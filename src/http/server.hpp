// wqd's HTTP server: one io_context on a small pool of threads, a coroutine per connection
// (never a thread per connection), and a blocking pool for store calls. Shutdown drains:
// stop accepting, close idle connections, let running jobs finish for server.shutdown_grace
// (Queue::stop), then end every open event stream with a final event.
//
// Threading: construct, listen() and run() on one thread; run() blocks until the drain is
// complete, serving on the calling thread and on server.threads - 1 more ("wq-http"), all under
// SCHED_BATCH like the job threads (run/batch_policy.hpp): an HTTP thread woken by a request or
// by the store's answer does not preempt the thread running, most often the store's writer in
// the middle of the batch every request waits for. shutdown() is safe from any thread; SIGINT
// and SIGTERM call it.
#pragma once

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/thread_pool.hpp>
#include <optional>
#include <thread>

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
  boost::asio::io_context ioc_;
  boost::asio::thread_pool blocking_;
  ServerEnv env_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::signal_set signals_;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
  std::thread stopper_;  // runs Queue::stop(grace) during the drain
};

// Parses HOST:PORT or [V6HOST]:PORT ("localhost" is 127.0.0.1).
Result<boost::asio::ip::tcp::endpoint> parse_listen(std::string_view listen);

}  // namespace wq::http
