#include "client/connection.hpp"

#include <poll.h>

#include <boost/asio/ip/tcp.hpp>

namespace wq::client {

namespace asio = boost::asio;
using asio::ip::tcp;

error_code Connection::connect(Millis timeout) {
  if (connected()) return {};
  if (interrupted_.load()) return asio::error::operation_aborted;
  buffer_.clear();
  tcp::resolver resolver(ioc_);
  error_code ec;
  // Numeric hosts (the usual case) resolve without a lookup; names block briefly here.
  auto endpoints = resolver.resolve(endpoint_.host, endpoint_.port, ec);
  if (ec) return ec;
  return run(timeout, [&](auto handler) {
    stream_.async_connect(endpoints,
                          [handler](error_code e, const tcp::endpoint&) mutable { handler(e, 0); });
  });
}

bool Connection::still_open() const {
  if (!connected()) return false;
  // Readable while idle means the server closed it (EOF) or broke protocol: either way unusable.
  pollfd p{};
  p.fd = const_cast<boost::beast::tcp_stream&>(stream_).socket().native_handle();
  p.events = POLLIN;
  return ::poll(&p, 1, 0) == 0 && buffer_.size() == 0;
}

void Connection::close() {
  error_code ec;
  stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
  stream_.socket().close(ec);
  buffer_.clear();
}

void Connection::interrupt() {
  interrupted_.store(true);
  asio::post(ioc_, [this] { stream_.cancel(); });
}

}  // namespace wq::client
