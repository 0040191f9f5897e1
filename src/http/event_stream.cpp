#include "http/event_stream.hpp"

#include "core/json_text.hpp"

#include <fmt/format.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/chunk_encode.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/write.hpp>
#include <charconv>

#include "http/blocking_call.hpp"

namespace wq::http {
namespace {

namespace asio = boost::asio;
using namespace boost::asio::experimental::awaitable_operators;
using std::chrono::steady_clock;

constexpr auto kHeartbeat = std::chrono::seconds(15);
constexpr std::int64_t kMaxWaitSeconds = 300;
constexpr std::string_view kShutdownDetail =
    "the server is shutting down; reconnect (with Last-Event-ID) to resume";

enum class End { terminal, closed, abandoned, write_failed, hangup };

Result<std::uint64_t> parse_seq(std::string_view text, std::string_view what) {
  std::uint64_t v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size()) {
    return make_error(
        Errc::bad_input,
        fmt::format("{}: expected a non-negative integer seq, got '{}'", what, text.substr(0, 40)));
  }
  return v;
}

Result<std::uint64_t> after_of(const Request& req, bool use_last_event_id) {
  if (use_last_event_id) {
    if (auto it = req.find("Last-Event-ID"); it != req.end())
      return parse_seq(it->value(), "Last-Event-ID");
  }
  auto after = query_param(req, "after");
  return after ? parse_seq(*after, "after") : Result<std::uint64_t>(0);
}

std::string shutdown_json() {
  return json_text(boost::json::object{{"event", "shutdown"}, {"detail", kShutdownDetail}});
}

constexpr StreamFraming kSse{
    .content_type = "text/event-stream",
    .snapshot =
        [](const Snapshot& s, std::string_view json, bool) {
          return fmt::format("id: {}\ndata: {}\n\n", s.seq, json);
        },
    .heartbeat = ": keep-alive\n\n",
    .shutdown = [] { return fmt::format("event: shutdown\ndata: {}\n\n", shutdown_json()); },
};

constexpr StreamFraming kNdjson{
    .content_type = "application/x-ndjson",
    .snapshot = [](const Snapshot&, std::string_view json,
                   bool) { return std::string(json) + "\n"; },
    .shutdown = [] { return shutdown_json() + "\n"; },
};

// One chunk of a chunked body (RFC 9112 §7.1: hex size, CRLF, data, CRLF), written straight
// into the non-blocking socket when it takes it all, as it nearly always does: an async write
// per event per stream (its operation and completion hop through the event loop) was a large
// part of the fan-out's CPU. Only what the socket did not take waits for the client.
asio::awaitable<bool> write_chunk(Stream& stream, std::string_view text) {
  if (text.empty()) co_return true;  // a zero-size chunk would end the body
  std::string chunk = fmt::format("{:x}\r\n", text.size());
  chunk.reserve(chunk.size() + text.size() + 2);
  chunk += text;
  chunk += "\r\n";
  boost::system::error_code ec;
  std::size_t n = stream.socket().write_some(asio::buffer(chunk), ec);
  if (ec == asio::error::would_block || ec == asio::error::try_again) n = 0, ec = {};
  if (!ec && n < chunk.size()) {
    const auto rest = asio::buffer(chunk.data() + n, chunk.size() - n);
    std::tie(ec, n) = co_await asio::async_write(stream, rest, asio::as_tuple(asio::use_awaitable));
  }
  co_return !ec;
}

asio::awaitable<End> pump(SnapshotMailbox& box, Stream& stream, const StreamFraming& framing) {
  bool first = true;
  for (;;) {
    if (auto s = box.take()) {
      if (!co_await write_chunk(stream, framing.snapshot(s->snap, s->json, first)))
        co_return End::write_failed;
      first = false;
      if (s->snap.terminal()) co_return End::terminal;
      continue;
    }
    if (box.closed()) {
      if (!framing.shutdown) co_return End::abandoned;
      co_return co_await write_chunk(stream, framing.shutdown()) ? End::closed : End::write_failed;
    }
    const auto deadline = steady_clock::now() + kHeartbeat;
    co_await box.wait(deadline);
    auto cs = co_await asio::this_coro::cancellation_state;
    if (cs.cancelled() != asio::cancellation_type::none) co_return End::hangup;
    if (!framing.heartbeat.empty() && steady_clock::now() >= deadline) {
      if (!co_await write_chunk(stream, framing.heartbeat)) co_return End::write_failed;
    }
  }
}

// Completes when the client hangs up (EOF or error on the socket) without consuming any bytes;
// a client that sends more (pipelining) is still there, so then it waits until cancelled.
// The socket is non-blocking (run_session): a readiness that was spurious reads would_block,
// and the wait starts again.
asio::awaitable<End> watch_hangup(Stream& stream) {
  auto& socket = stream.socket();
  for (;;) {
    auto [ec] = co_await socket.async_wait(asio::ip::tcp::socket::wait_read,
                                           asio::as_tuple(asio::use_awaitable));
    if (ec) co_return End::hangup;
    char c;
    boost::system::error_code peek_ec;
    const auto n =
        socket.receive(asio::buffer(&c, 1), asio::ip::tcp::socket::message_peek, peek_ec);
    if (peek_ec == asio::error::would_block || peek_ec == asio::error::try_again) continue;
    if (!peek_ec && n > 0) {
      asio::steady_timer forever(co_await asio::this_coro::executor,
                                 steady_clock::time_point::max());
      co_await forever.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    co_return End::hangup;
  }
}

struct Subscribed {
  Snapshot current;
  Queue::Watch watch;  // empty when the job already ended at or before `after`
};

// Reads the job (404 for other tenants) and subscribes the mailbox unless it already ended.
// `box` by reference and captured by reference (the caller's outlives the co_await): with an
// owning copy in this lambda, GCC 12 drops one reference too many when streams end, and the
// mailbox is freed while still in use (heap corruption; found by bench/run FANOUT).
asio::awaitable<Result<Subscribed>> subscribe(RequestContext& ctx,
                                              const std::shared_ptr<SnapshotMailbox>& box,
                                              std::uint64_t after) {
  co_return co_await on_pool(ctx.env.blocking, [&ctx, &box, after]() -> Result<Subscribed> {
    Queue& queue = ctx.env.queue;
    auto snap = queue.snapshot(ctx.args[0], ctx.tenant);
    if (!snap) return snap.error();
    if (snap->terminal() && snap->seq <= after) return Subscribed{*snap, {}};
    auto watch = queue.watch(
        ctx.args[0], after, [box](const Snapshot& s) { box->offer(s); }, ctx.tenant);
    if (!watch) return watch.error();
    return Subscribed{*snap, std::move(*watch)};
  });
}

Response too_many_streams(RequestContext& ctx, const Request& req) {
  ctx.env.metrics.streams_refused.fetch_add(1, std::memory_order_relaxed);
  if (ctx.env.draining.load()) return problem(req, Status::service_unavailable, kShutdownDetail);
  return problem(
      req, Status::service_unavailable,
      fmt::format("too many open event streams and waits (server.max_streams = {}); close "
                  "some or retry later",
                  ctx.env.streams.max_streams()));
}

}  // namespace

asio::awaitable<Written> send(Stream& stream, Response res) {
  Written w{res.result_int(), res.keep_alive()};
  auto [ec, n] =
      co_await boost::beast::http::async_write(stream, res, asio::as_tuple(asio::use_awaitable));
  if (ec) w.keep_alive = false;
  co_return w;
}

asio::awaitable<Written> stream_events(RequestContext& ctx, const Request& req, Stream& stream) {
  auto after = after_of(req, true);
  if (!after) co_return co_await send(stream, problem(req, after.error()));
  const bool ndjson =
      req[bhttp::field::accept].find("application/x-ndjson") != std::string_view::npos;
  co_return co_await stream_snapshots(ctx, req, stream, *after, ndjson ? kNdjson : kSse);
}

asio::awaitable<Written> stream_snapshots(RequestContext& ctx, const Request& req, Stream& stream,
                                          std::uint64_t after, const StreamFraming& framing,
                                          ExtraHeaders headers) {
  auto box = std::make_shared<SnapshotMailbox>(stream.get_executor());
  auto slot = ctx.env.streams.open(box);
  if (!slot) co_return co_await send(stream, too_many_streams(ctx, req));
  auto sub = co_await subscribe(ctx, box, after);
  if (!sub) co_return co_await send(stream, problem(req, sub.error()));
  if (sub->current.terminal() && sub->current.seq <= after) {
    Response res{Status::no_content, req.version()};
    res.keep_alive(req.keep_alive());
    co_return co_await send(stream, std::move(res));
  }

  bhttp::response<bhttp::empty_body> head{Status::ok, req.version()};
  head.set(bhttp::field::server, "wqd");
  head.set(bhttp::field::content_type, framing.content_type);
  head.set(bhttp::field::cache_control, "no-cache");
  head.set("X-Accel-Buffering", "no");
  for (const auto& [name, value] : headers) head.set(name, value);
  head.chunked(true);
  head.keep_alive(req.keep_alive());
  bhttp::response_serializer<bhttp::empty_body> serializer{head};
  stream.expires_never();
  auto [ec, n] =
      co_await bhttp::async_write_header(stream, serializer, asio::as_tuple(asio::use_awaitable));
  if (ec) co_return Written{200, false};
  if (!framing.opening.empty() && !co_await write_chunk(stream, framing.opening)) {
    co_return Written{200, false};
  }

  auto ended = co_await (pump(*box, stream, framing) || watch_hangup(stream));
  const End end = ended.index() == 0 ? std::get<0>(ended) : std::get<1>(ended);
  sub->watch.reset();
  if (end == End::write_failed || end == End::hangup || end == End::abandoned) {
    co_return Written{200, false};
  }
  if (end == End::terminal && !framing.closing.empty() &&
      !co_await write_chunk(stream, framing.closing)) {
    co_return Written{200, false};
  }
  auto [last_ec, m] = co_await asio::async_write(stream, bhttp::make_chunk_last(),
                                                 asio::as_tuple(asio::use_awaitable));
  co_return Written{200, !last_ec && end == End::terminal && req.keep_alive()};
}

asio::awaitable<Written> wait_for_change(RequestContext& ctx, const Request& req, Stream& stream) {
  auto after = after_of(req, false);
  if (!after) co_return co_await send(stream, problem(req, after.error()));
  std::int64_t seconds = 30;
  if (auto t = query_param(req, "timeout")) {
    auto [p, ec] = std::from_chars(t->data(), t->data() + t->size(), seconds);
    if (ec != std::errc() || p != t->data() + t->size() || seconds < 0 ||
        seconds > kMaxWaitSeconds) {
      co_return co_await send(
          stream, problem(req, Status::bad_request,
                          fmt::format("timeout: expected whole seconds from 0 to {}, got '{}'",
                                      kMaxWaitSeconds, t->substr(0, 40))));
    }
  }
  auto box = std::make_shared<SnapshotMailbox>(stream.get_executor());
  auto slot = ctx.env.streams.open(box);
  if (!slot) co_return co_await send(stream, too_many_streams(ctx, req));
  auto sub = co_await subscribe(ctx, box, *after);
  if (!sub) co_return co_await send(stream, problem(req, sub.error()));
  if (sub->current.terminal() && sub->current.seq <= *after) {
    co_return co_await send(stream, json_response(req, Status::ok, to_json(sub->current)));
  }
  stream.expires_never();
  const auto deadline = steady_clock::now() + std::chrono::seconds(seconds);
  for (;;) {
    if (auto s = box->take()) {
      sub->watch.reset();
      co_return co_await send(stream, text_response(req, Status::ok, s->json, "application/json"));
    }
    if (box->closed())
      co_return co_await send(stream, problem(req, Status::service_unavailable, kShutdownDetail));
    if (steady_clock::now() >= deadline) break;
    co_await box->wait(deadline);
  }
  sub->watch.reset();
  Response res{Status::no_content, req.version()};
  res.set(bhttp::field::server, "wqd");
  res.keep_alive(req.keep_alive());
  co_return co_await send(stream, std::move(res));
}

}  // namespace wq::http
