// wqd as an Overview plugin's web server (DESIGN §7, the overview-plugin-workqueue seed), on
// when [adapters.overview] names a task. Overview's front end POSTs /generate and reads the
// response with Oboe.js as it arrives: a JSON array of Progress objects, one element per
// snapshot, `[]` when the result is already there. The API token in these requests belongs to
// Overview, not to wqd: these routes take no wqd token, and their jobs belong to the
// configured tenant. The token travels as the task's secret param api_token.
//
// Threading: stream handlers run on the connection's event loop (store calls on the blocking
// pool); the plain handlers run on blocking-pool threads.
#pragma once

#include "http/routes.hpp"

namespace wq::http::adapters {

// POST /generate (form server, documentSetId; Authorization: Basic base64(TOKEN:x-api-token)
// or an apiToken field): submits the task with (server, document_set_id, api_token) — the same
// view gets the same job (dedup), so a reconnecting client resumes it — and streams
// `[`, the snapshots separated by `,`, `]` chunk by chunk until the job ends (the last element
// carries returncode and error). `[]` when a retained result exists. Every answer names the
// job in X-Job-Id. A client that disconnects leaves the job running. When the server drains
// before the job ended the array is left unfinished (no `]`), so the client sees an error and
// POSTs again. 400 bad form or token, 403 a server not in [adapters.overview] servers, 404
// adapter off.
boost::asio::awaitable<Written> overview_generate(RequestContext& ctx, const Request& req,
                                                  Stream& stream);

// GET /generate/{id}/result?server=…&documentSetId=… with the same token: the job's result
// file (Content-Type result_type). The three values must be the ones the job ran with, else
// 404 as for an unknown id; 409 while it has not succeeded.
boost::asio::awaitable<Written> overview_result(RequestContext& ctx, const Request& req,
                                                Stream& stream);

// GET /metadata and GET /show: metadata.json and show.html from static_dir, read fresh on
// every request (404 naming the missing file when absent).
Response overview_metadata(RequestContext& ctx, const Request& req);
Response overview_show(RequestContext& ctx, const Request& req);

}  // namespace wq::http::adapters
