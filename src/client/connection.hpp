// Connection: one HTTP/1.1 keep-alive connection to wqd, with a deadline on every operation.
// Blocking calls on the caller's thread; each runs the connection's own io_context until the
// operation completes or its deadline passes (then the socket is closed: error timed_out).
//
// Threading: one thread uses a Connection at a time; interrupt() may be called from any
// thread and aborts the operation in progress (or the next one) with operation_aborted.
#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <chrono>
#include <optional>
#include <string>

namespace wq::client {

namespace bhttp = boost::beast::http;
using boost::system::error_code;
using Millis = std::chrono::milliseconds;

// Where wqd listens, from an http:// URL.
struct Endpoint {
  std::string host;  // as the URL names it (an IPv6 literal without brackets)
  std::string port;
  std::string url;  // the URL as given, for messages
};

class Connection {
 public:
  explicit Connection(const Endpoint& endpoint) : endpoint_(endpoint), stream_(ioc_) {}
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Resolves and connects (a no-op when already connected).
  error_code connect(Millis timeout);
  bool connected() const { return stream_.socket().is_open(); }
  // False if the server closed this idle connection (or sent something unasked for).
  bool still_open() const;
  void close();

  // Thread-safe: aborts the current or next operation.
  void interrupt();

  template <class Request>
  error_code write(Request& req, Millis timeout) {
    return run(timeout, [&](auto handler) { bhttp::async_write(stream_, req, handler); });
  }
  template <class Parser>
  error_code read_header(Parser& parser, Millis timeout) {
    return run(timeout,
               [&](auto handler) { bhttp::async_read_header(stream_, buffer_, parser, handler); });
  }
  template <class Parser>
  error_code read(Parser& parser, Millis timeout) {
    return run(timeout,
               [&](auto handler) { bhttp::async_read(stream_, buffer_, parser, handler); });
  }
  template <class Parser>
  error_code read_some(Parser& parser, Millis timeout) {
    return run(timeout,
               [&](auto handler) { bhttp::async_read_some(stream_, buffer_, parser, handler); });
  }

 private:
  // Starts one operation with `start(handler)` and runs the io_context until it completes.
  template <class Start>
  error_code run(Millis timeout, Start start) {
    if (interrupted_.load()) return boost::asio::error::operation_aborted;
    error_code result;
    bool done = false;
    stream_.expires_after(timeout);
    start([&](error_code ec, std::size_t) {
      result = ec;
      done = true;
    });
    ioc_.restart();
    while (!done && ioc_.run_one() > 0) {
    }
    if (result == boost::beast::error::timeout) result = boost::asio::error::timed_out;
    if (result) close();
    return result;
  }

  const Endpoint endpoint_;
  boost::asio::io_context ioc_;
  boost::beast::tcp_stream stream_;
  boost::beast::flat_buffer buffer_;
  std::atomic<bool> interrupted_{false};
};

}  // namespace wq::client
