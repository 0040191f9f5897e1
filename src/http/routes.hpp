// The route table, route() and run_plain(): a request in, a response (or the handler that will
// make or write one) out. Plain handlers are synchronous and may block on the store, so the
// session runs them on the blocking pool (GETs against the SQLite store, which only read
// briefly, on the connection's event loop); async handlers are coroutines that run on the
// connection's event loop and await the store without blocking it; stream handlers are
// coroutines that run on the connection's event loop and write their own response.
//
// Threading: ServerEnv's members are safe from any thread. route() is cheap (matching and a
// token hash) and runs on the connection's event loop; plain handlers on blocking-pool
// threads, or for SQLite GETs on the event loop (so a GET handler must not wait for anything
// but a store read); async and stream handlers on their connection's event loop.
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
using AsyncHandler = boost::asio::awaitable<Response> (*)(RequestContext&, const Request&);

struct Route {
  bhttp::verb method;
  std::string_view pattern;  // "/v1/jobs/{}/events": each "{}" matches one non-empty segment
  PlainHandler plain = nullptr;
  StreamHandler stream = nullptr;
  bool needs_auth = true;  // false: health and metrics
  AsyncHandler async = nullptr;
};

std::span<const Route> routes();

// A matched route with its authenticated context.
struct Routed {
  const Route* route;
  RequestContext context;
};

// Matches the route and authenticates. Answers 404 for unknown paths, 405 (with Allow) for a
// known path with another method, 401 (with WWW-Authenticate) for a missing or wrong token.
std::variant<Response, Routed> route(ServerEnv& env, const Request& req);

// Run a plain route's handler (may block) or an async route's, answering anything it throws
// with a 500.
Response run_plain(Routed& routed, const Request& req);
boost::asio::awaitable<Response> run_async(Routed& routed, const Request& req);

// The percent-decoded value of query parameter `name`, if the target has it.
std::optional<std::string> query_param(const Request& req, std::string_view name);

}  // namespace wq::http
