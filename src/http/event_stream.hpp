// The watch-driven endpoints: live event streams and long-polls. Both subscribe with
// Queue::watch; the callback drops the newest snapshot in the connection's SnapshotMailbox and
// wakes its coroutine, so nothing polls and a slow client only ever skips to the newest state.
// Each open stream or wait counts against server.max_streams (503 past it).
//
// Threading: coroutines on the connection's event loop; store calls go to the blocking pool.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "http/routes.hpp"

namespace wq::http {

// GET /v1/jobs/{id}/events?after=SEQ (or the Last-Event-ID header, which wins):
// `Accept: application/x-ndjson` gives one snapshot JSON per line, anything else SSE
// (`id: SEQ`, `data: SNAPSHOT`). Sends the newest snapshot with seq > after, then each newer
// one, and ends after the terminal snapshot. A job that ended at or before `after` answers 204
// (which also tells an EventSource to stop reconnecting). On shutdown the stream ends with a
// final `event: shutdown` (NDJSON: {"event":"shutdown", …}); resume with Last-Event-ID.
boost::asio::awaitable<Written> stream_events(RequestContext& ctx, const Request& req,
                                              Stream& stream);

// GET /v1/jobs/{id}/wait?after=SEQ&timeout=SECONDS (default 30, at most 300): 200 with the
// newest snapshot with seq > after as soon as there is one; 204 No Content when the timeout
// passes with nothing newer (ask again with the same after). A job that already ended answers
// 200 with its terminal snapshot at once, so a poller never waits on a finished job.
boost::asio::awaitable<Written> wait_for_change(RequestContext& ctx, const Request& req,
                                                Stream& stream);

// Writes a complete response on `stream` (as_tuple: a write error just ends the connection).
boost::asio::awaitable<Written> send(Stream& stream, Response res);

// How a snapshot stream is laid out on the wire: SSE, NDJSON, or the Overview plugin's JSON
// array (adapters/overview.hpp).
struct StreamFraming {
  std::string_view content_type;
  std::string_view opening;  // written right after the head ("" for none)
  // A snapshot's text, from the snapshot and its JSON (json_text(to_json(s))).
  std::string (*snapshot)(const Snapshot& s, std::string_view json, bool first);
  std::string_view heartbeat;  // written after 15 s of silence ("" for none)
  // The last words when the server drains; nullptr ends the response unfinished (no closing,
  // no last chunk), so the client sees an error and reconnects.
  std::string (*shutdown)();
  std::string_view closing;  // written after the terminal snapshot
};

using ExtraHeaders = std::span<const std::pair<std::string_view, std::string>>;

// The stream behind stream_events, for any framing: job ctx.args[0] as ctx.tenant (404 for
// others'), 503 past server.max_streams, 204 when the job ended at or before `after`. Else a
// chunked 200 (`headers` added to its head): the opening, the newest snapshot with
// seq > after, each newer one, and the closing after the terminal snapshot. A client that
// hangs up ends only the stream, never the job.
boost::asio::awaitable<Written> stream_snapshots(RequestContext& ctx, const Request& req,
                                                 Stream& stream, std::uint64_t after,
                                                 const StreamFraming& framing,
                                                 ExtraHeaders headers = {});

}  // namespace wq::http
