// Transport: requests to one wqd over a pool of keep-alive connections, with the client's
// retry rule and the translation of answers into wq::Error (problem+json `detail` kept).
//
// Threading: thread-safe. Each request runs on the calling thread on a connection taken from
// the pool (or a new one) and returned after a complete keep-alive answer.
#pragma once

#include <atomic>
#include <boost/beast/http/string_body.hpp>
#include <boost/json/value.hpp>
#include <cstdint>
#include <iosfwd>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "client/connection.hpp"
#include "wq/error.hpp"

namespace wq::client {

// Whether a request may be sent again after its connection failed.
enum class Repeat : bool { no, yes };

struct Reply {
  unsigned status = 0;
  std::string content_type;
  std::string body;
};

struct TransportOptions {
  Endpoint endpoint;
  std::optional<std::string> token;
  Millis timeout{30'000};
  int attempts = 4;
};

class Transport {
 public:
  // Parses an http://HOST[:PORT] URL (bad_input with a fix otherwise).
  static Result<Endpoint> parse_server(const std::string& url);

  explicit Transport(TransportOptions options) : options_(std::move(options)) {}

  // Sends the request and reads the whole answer, whatever its status. Connection failures
  // are retried (with a short backoff) when `repeat` says so, and always when nothing was
  // sent yet (the connect failed); else they are Errc::unreachable.
  Result<Reply> call(bhttp::verb method, const std::string& target, std::string body,
                     Repeat repeat);
  // As call(), then: a 2xx answer's JSON body, or the Error the answer describes.
  Result<boost::json::value> call_json(bhttp::verb method, const std::string& target,
                                       std::string body, Repeat repeat);
  // GET `target` and write a 200 answer's body to `out`; the size written.
  Result<std::uint64_t> download(const std::string& target, std::ostream& out);

  // The Error an unsuccessful answer describes: the problem+json detail, its code mapped
  // from the status.
  Error error_of(const Reply& reply) const;
  // Errc::unreachable, naming the server and what failed.
  Error unreachable(const error_code& ec) const;

  // A request with the Host and Authorization headers set.
  bhttp::request<bhttp::string_body> make_request(bhttp::verb method, const std::string& target,
                                                  std::string body = {}) const;
  // A new, unpooled connection (event streams keep theirs).
  std::unique_ptr<Connection> new_connection() const {
    return std::make_unique<Connection>(options_.endpoint);
  }

  const TransportOptions& options() const { return options_; }
  // The backoff before attempt `attempt` (1, 2, …) of a repeated request.
  static Millis backoff(int attempt);

  std::atomic<std::uint64_t> requests{0};
  std::atomic<std::uint64_t> retries{0};

 private:
  std::unique_ptr<Connection> take();
  void give_back(std::unique_ptr<Connection> c);
  // One attempt; `sent` tells whether the request may have reached the server.
  error_code attempt(Connection& c, bhttp::request<bhttp::string_body>& req,
                     bhttp::response<bhttp::string_body>& res, bool& sent);

  const TransportOptions options_;
  std::mutex mu_;
  std::vector<std::unique_ptr<Connection>> idle_;  // guarded by mu_
};

}  // namespace wq::client
