// The route table and handle_request: a request in, a response (or the stream handler that
// will write one) out. Plain handlers are synchronous and may block on the store, so the
// session runs handle_request on the blocking pool (GETs against the SQLite store, which only
// read briefly, on the connection's strand); stream handlers are coroutines that run on the
// connection's strand and write their own response.
//
// Threading: ServerEnv's members are safe from any thread. handle_request and plain handlers
// run on blocking-pool threads, or for SQLite GETs on the connection's strand (so a GET handler
// must not wait for anything but a store read); stream handlers on their connection's strand.
#pragma once

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "http/auth.hpp"
#include "http/finished_job_cache.hpp"
#include "http/metrics.hpp"
#include "http/open_streams.hpp"
#include "http/response.hpp"
#include "wq/queue.hpp"

namespace wq::http {

// What every handler may use; owned by the Server.
struct ServerEnv {
  Queue& queue;
  const ServerConfig& config;
  const Authenticator& auth;
  HttpMetrics& metrics;
  StreamRegistry& streams;
  FinishedJobCache& finished_jobs;
  boost::asio::thread_pool& blocking;  // for store calls made from stream handlers
  const std::atomic<bool>& draining;   // shutdown began: readyz fails, connections close
};

struct RequestContext {
  ServerEnv& env;
  std::string tenant;             // the job owner this request acts as ("" in open mode)
  std::vector<std::string> args;  // path segments matched by "{}" in the route pattern
};

using Stream = boost::beast::tcp_stream;

// What a stream handler wrote, for the request log and the connection's keep-alive.
struct Written {
  unsigned status = 200;
  bool keep_alive = false;
};

using PlainHandler = Response (*)(RequestContext&, const Request&);
using StreamHandler = boost::asio::awaitable<Written> (*)(RequestContext&, const Request&, Stream&);

struct Route {
  bhttp::verb method;
  std::string_view pattern;  // "/v1/jobs/{}/events": each "{}" matches one non-empty segment
  PlainHandler plain = nullptr;
  StreamHandler stream = nullptr;
  bool needs_auth = true;  // false: health and metrics
};

std::span<const Route> routes();

// A stream route to run on the connection's strand, with its authenticated context.
struct StreamCall {
  StreamHandler handler;
  RequestContext context;
};

// Matches the route, authenticates, and runs a plain handler (catching anything it throws as
// a 500). Answers 404 for unknown paths, 405 (with Allow) for a known path with another method,
// 401 (with WWW-Authenticate) for a missing or wrong token. May block: call on the pool.
std::variant<Response, StreamCall> handle_request(ServerEnv& env, const Request& req);

// The percent-decoded value of query parameter `name`, if the target has it.
std::optional<std::string> query_param(const Request& req, std::string_view name);

}  // namespace wq::http
