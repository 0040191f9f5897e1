#include "http/session.hpp"

#include <fmt/format.h>

#include <array>
#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <charconv>
#include <chrono>
#include <iterator>
#include <optional>
#include <random>
#include <variant>

#include "core/log.hpp"
#include "http/blocking_call.hpp"
#include "http/event_stream.hpp"

namespace wq::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;

constexpr std::uint32_t kHeaderLimit = 16 * 1024;

// "PREFIX-COUNTER" in hex: PREFIX (8 digits) random per process, COUNTER per request.
std::string next_request_id() {
  static const std::string prefix = fmt::format("{:08x}-", std::random_device{}());
  static std::atomic<std::uint64_t> counter{0};
  char digits[16];
  const auto [end, ec] = std::to_chars(digits, digits + sizeof digits,
                                       counter.fetch_add(1, std::memory_order_relaxed), 16);
  std::string id;
  id.reserve(prefix.size() + sizeof digits);
  id += prefix;
  id.append(digits, end);
  return id;
}

std::string request_id_of(const Request& req) {
  const std::string_view given = req["X-Request-Id"];
  if (!given.empty() && given.size() <= 64 && valid_job_id(given)) return std::string(given);
  return next_request_id();
}

// Errors after which the client is simply gone or silent: close without answering.
bool is_disconnect(const beast::error_code& ec) {
  return ec == bhttp::error::end_of_stream || ec == asio::error::eof ||
         ec == asio::error::operation_aborted || ec == beast::error::timeout ||
         ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
         ec == bhttp::error::partial_message;
}

// The answer to a request that could not be read; always closes the connection.
Response unreadable(const beast::error_code& ec, std::uint64_t max_body) {
  Request req{bhttp::verb::get, "/", 11};
  req.keep_alive(false);
  if (ec == bhttp::error::body_limit) {
    return problem(
        req, Status::payload_too_large,
        fmt::format("the request body is over the limit of {} bytes (server.max_body); send "
                    "less, e.g. large inputs as a reference the task fetches",
                    max_body));
  }
  if (ec == bhttp::error::header_limit) {
    return problem(req, Status::request_header_fields_too_large,
                   fmt::format("the request headers are over the limit of {} bytes; send fewer or "
                               "shorter headers",
                               kHeaderLimit));
  }
  return problem(req, Status::bad_request,
                 fmt::format("malformed HTTP request ({}); send HTTP/1.1", ec.message()));
}

// Reads one request; nullopt with `reply` set when it must be refused, nullopt alone when the
// client left.
asio::awaitable<std::optional<Request>> read_request(ServerEnv& env, Stream& stream,
                                                     beast::flat_buffer& buffer,
                                                     ConnectionRegistry::Handle& handle,
                                                     std::optional<Response>& reply) {
  bhttp::request_parser<bhttp::string_body> parser;
  parser.header_limit(kHeaderLimit);
  parser.body_limit(env.config.max_body);
  stream.expires_after(env.config.idle_timeout);
  handle.idle = true;
  auto [ec, n] = co_await bhttp::async_read_header(stream, buffer, parser,
                                                   asio::as_tuple(asio::use_awaitable));
  handle.idle = false;
  if (!ec && parser.content_length() && *parser.content_length() > env.config.max_body)
    ec = bhttp::error::body_limit;
  if (!ec && beast::iequals(parser.get()[bhttp::field::expect], "100-continue")) {
    static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
    std::tie(ec, n) = co_await asio::async_write(stream, asio::buffer(kContinue),
                                                 asio::as_tuple(asio::use_awaitable));
  }
  // A small body nearly always arrives with its header, already in `buffer`: parse it here.
  // async_read would parse the same bytes but, finishing without I/O, must post its completion:
  // a scheduler round trip and a dispatch, ~3k instructions per POST (callgrind,
  // HTTP-W1). A body not all there yet is still read below.
  while (!ec && !parser.is_done() && buffer.size() > 0) {
    const std::size_t used = parser.put(buffer.data(), ec);
    buffer.consume(used);
    if (ec == bhttp::error::need_more) ec = {};
    if (used == 0) break;
  }
  // A request without a body (every GET) is complete with its header: skip the second read.
  if (!ec && !parser.is_done())
    std::tie(ec, n) =
        co_await bhttp::async_read(stream, buffer, parser, asio::as_tuple(asio::use_awaitable));
  if (ec) {
    if (!is_disconnect(ec)) reply = unreadable(ec, env.config.max_body);
    co_return std::nullopt;
  }
  co_return parser.release();
}

// A refused request's unread body may still be arriving: closing now would reset the
// connection and could destroy the answer before the client reads it, so read and discard
// for a while first (a lingering close).
asio::awaitable<void> linger(Stream& stream) {
  beast::error_code ec;
  stream.socket().shutdown(asio::ip::tcp::socket::shutdown_send, ec);
  stream.expires_after(std::chrono::seconds(5));
  std::array<char, 16384> scratch;
  for (std::size_t total = 0; total < (std::size_t{64} << 20);) {
    auto [read_ec, n] =
        co_await stream.async_read_some(asio::buffer(scratch), asio::as_tuple(asio::use_awaitable));
    if (read_ec) break;
    total += n;
  }
}

// A Content-Length-framed response as one buffer: status line, fields in order, body; empty
// for other framings (they go through Beast's serializer). Same bytes as the serializer writes,
// without walking its nested buffer sequences, which cost ~17k instructions per response
// (callgrind, HTTP-GET in bench/run) against ~2k for this.
std::string render(const Response& res) {
  if (!res.has_content_length() || res.chunked()) return {};
  std::string out;
  out.reserve(256 + res.body().size());
  out += res.version() == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
  fmt::format_to(std::back_inserter(out), "{} ", res.result_int());
  out += res.reason();
  out += "\r\n";
  for (const auto& field : res) {
    out += field.name_string();
    out += ": ";
    out += field.value();
    out += "\r\n";
  }
  out += "\r\n";
  out += res.body();
  return out;
}

void log_request(const Request& req, const std::string& rid, unsigned status,
                 std::chrono::steady_clock::time_point start) {
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(
      std::chrono::steady_clock::now() - start);
  log::info_batched("request", {{"rid", rid},
                                {"method", req.method_string()},
                                {"path", path_of(req)},
                                {"status", status},
                                {"ms", static_cast<double>(us.count()) / 1000.0}});
}

}  // namespace

std::shared_ptr<ConnectionRegistry::Handle> ConnectionRegistry::add(asio::any_io_executor loop) {
  auto h = std::make_shared<Handle>(std::move(loop));
  std::lock_guard lock(mutex_);
  open_.insert(h);
  return h;
}

void ConnectionRegistry::remove(const std::shared_ptr<Handle>& handle) {
  std::lock_guard lock(mutex_);
  open_.erase(handle);
}

void ConnectionRegistry::close_idle() {
  std::lock_guard lock(mutex_);
  for (const auto& h : open_) {
    asio::post(h->loop, [h] {
      if (h->stream && h->idle) h->stream->cancel();
    });
  }
}

asio::awaitable<void> run_session(ServerEnv& env, ConnectionRegistry& connections, Stream stream) {
  auto handle = connections.add(stream.get_executor());
  handle->stream = &stream;
  env.metrics.open_connections.fetch_add(1, std::memory_order_relaxed);
  env.metrics.connections_total.fetch_add(1, std::memory_order_relaxed);
  struct Leave {
    ServerEnv& env;
    ConnectionRegistry& connections;
    std::shared_ptr<ConnectionRegistry::Handle> handle;
    ~Leave() {
      handle->stream = nullptr;
      connections.remove(handle);
      env.metrics.open_connections.fetch_sub(1, std::memory_order_relaxed);
    }
  } leave{env, connections, handle};

  // GETs only read. Against the embedded SQLite store a read takes microseconds and never
  // waits for the writer (WAL), so it runs right here on the event loop: the two thread hops
  // to the blocking pool and back cost more CPU than the read itself (HTTP-GET in bench/run).
  // Writes wait for a durable commit, and a PostgreSQL read waits for the network, so those
  // still go to the blocking pool.
  const bool inline_reads = env.queue.config().store_url().starts_with("sqlite:");
  // Synchronous writes (below) must never block the io thread: they fail with would_block
  // instead. Asio's own async operations work the same either way.
  beast::error_code nb_ec;
  stream.socket().non_blocking(true, nb_ec);
  if (nb_ec) co_return;
  beast::flat_buffer buffer;
  while (!env.draining.load()) {
    std::optional<Response> reply;
    auto req = co_await read_request(env, stream, buffer, *handle, reply);
    if (!req) {
      if (reply) {
        env.metrics.count_response(reply->result_int());
        co_await send(stream, std::move(*reply));
        co_await linger(stream);
      }
      break;
    }
    const auto start = std::chrono::steady_clock::now();
    const std::string rid = request_id_of(*req);
    auto routed = route(env, *req);
    // if/else, not ?: around the co_await: GCC 12 miscompiles co_await in a conditional.
    std::optional<Response> plain;
    Written written;
    if (auto* res = std::get_if<Response>(&routed)) {
      plain.emplace(std::move(*res));
    } else if (Routed& r = std::get<Routed>(routed); r.route->async) {
      plain.emplace(co_await run_async(r, *req));
    } else if (r.route->stream) {
      written = co_await r.route->stream(r.context, *req, stream);
    } else if (inline_reads && req->method() == bhttp::verb::get) {
      plain.emplace(run_plain(r, *req));
    } else {
      plain.emplace(co_await on_pool(env.blocking, [&r, &req] { return run_plain(r, *req); }));
    }
    if (plain) {
      Response* res = &*plain;
      res->set("X-Request-Id", rid);
      if (env.draining.load()) res->keep_alive(false);
      const std::string text = render(*res);
      if (!text.empty()) {
        written = Written{res->result_int(), res->keep_alive()};
        // Straight into the socket, which nearly always takes a whole response: an async
        // write (its operation, idle timer and completion hop) cost ~15k instructions per
        // request (callgrind, HTTP-GET). Only what the socket did not take waits, timed.
        beast::error_code ec;
        std::size_t n = stream.socket().write_some(asio::buffer(text), ec);
        if (ec == asio::error::would_block || ec == asio::error::try_again) n = 0, ec = {};
        if (!ec && n < text.size()) {
          stream.expires_after(env.config.idle_timeout);
          const auto rest = asio::buffer(text.data() + n, text.size() - n);
          std::tie(ec, n) =
              co_await asio::async_write(stream, rest, asio::as_tuple(asio::use_awaitable));
        }
        if (ec) written.keep_alive = false;
      } else {
        stream.expires_after(env.config.idle_timeout);
        written = co_await send(stream, std::move(*res));
      }
    }
    env.metrics.count_response(written.status);
    log_request(*req, rid, written.status, start);
    if (!written.keep_alive) break;
  }
  beast::error_code ec;
  stream.socket().shutdown(asio::ip::tcp::socket::shutdown_send, ec);
}

}  // namespace wq::http
