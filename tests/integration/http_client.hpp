// A small synchronous HTTP/1.1 client for the integration tests, on Beast: one keep-alive
// connection to 127.0.0.1:PORT, plain requests, raw bytes, and incremental reading of event
// streams (SSE records or NDJSON lines) as they arrive.
//
// Threading: one client per thread.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/json/value.hpp>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace wq::test {

namespace bhttp = boost::beast::http;
using Headers = std::map<std::string, std::string>;

struct Reply {
  unsigned status = 0;
  Headers headers;  // lowercased names
  std::string body;
  bool keep_alive = false;

  boost::json::value json() const;  // throws on invalid JSON
  std::string header(const std::string& lowercase_name) const;
};

// One server-sent event, or one NDJSON line (then only `data` is set).
struct Event {
  std::optional<std::uint64_t> id;
  std::string event;  // "" for the default "message" type
  std::string data;

  boost::json::value json() const;
};

class HttpClient {
 public:
  explicit HttpClient(unsigned short port);
  ~HttpClient();

  Reply request(bhttp::verb method, const std::string& target, const std::string& body = {},
                const Headers& headers = {});
  Reply get(const std::string& target, const Headers& headers = {}) {
    return request(bhttp::verb::get, target, {}, headers);
  }
  Reply post(const std::string& target, const std::string& body, const Headers& headers = {}) {
    return request(bhttp::verb::post, target, body, headers);
  }

  // Writes `bytes` as they are and reads one response (status 0 if the server just closed).
  Reply raw(const std::string& bytes);

  // Sends a GET and reads the response head; then next_event() reads the body incrementally.
  Reply open_stream(const std::string& target, const Headers& headers = {});
  // The next SSE record (comments skipped) or NDJSON line; nullopt once the body ended.
  std::optional<Event> next_event();
  // Reads events until the body ends.
  std::vector<Event> rest_of_stream();

  // True once the server closed the connection (reads EOF within the idle timeout).
  bool closed_by_server();
  void disconnect();

 private:
  void connect();
  Reply read_reply();
  bool fill();  // reads more body into pending_; false at the end of the body

  unsigned short port_;
  boost::asio::io_context ioc_;
  std::unique_ptr<boost::asio::ip::tcp::socket> socket_;
  boost::beast::flat_buffer buffer_;
  std::unique_ptr<bhttp::response_parser<bhttp::string_body>> stream_parser_;
  std::string pending_;
  // Beast keeps a reference to the chunk callback, so it lives here.
  std::function<std::size_t(std::uint64_t, std::string_view, boost::system::error_code&)> on_chunk_;
  bool sse_ = true;
};

}  // namespace wq::test
