// One client connection: a coroutine that owns its stream (passed by value, as in Beast's
// awaitable server example) and serves requests one after another with keep-alive; pipelined
// requests wait in its buffer and are answered in order. One bad connection never affects
// another: every error ends only this coroutine.
//
// Threading: each session runs on its connection's event loop (one thread's io_context, see
// server.hpp). Plain handlers run on the blocking pool, except GETs against the SQLite store,
// which only read and run on the event loop (see run_session). ConnectionRegistry is safe from
// any thread.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <memory>
#include <mutex>
#include <unordered_set>

#include "http/routes.hpp"

namespace wq::http {

// The open connections, so that shutdown can close those waiting for a next request.
class ConnectionRegistry {
 public:
  struct Handle {
    explicit Handle(boost::asio::any_io_executor l) : loop(std::move(l)) {}
    boost::asio::any_io_executor loop;  // the connection's event loop
    Stream* stream = nullptr;  // loop only; null once the session ended
    bool idle = false;         // loop only; true while waiting for a request to start
  };

  std::shared_ptr<Handle> add(boost::asio::any_io_executor loop);
  void remove(const std::shared_ptr<Handle>& handle);
  // Cancels the read of every idle connection (it then closes). Busy ones finish their request
  // and close when they see ServerEnv::draining, which must be set before calling this.
  void close_idle();

 private:
  std::mutex mutex_;
  std::unordered_set<std::shared_ptr<Handle>> open_;  // guarded by mutex_
};

// Serves `stream` until the client leaves, an error, an idle timeout or draining.
boost::asio::awaitable<void> run_session(ServerEnv& env, ConnectionRegistry& connections,
                                         Stream stream);

}  // namespace wq::http
