// The job endpoints of DESIGN §6 that answer with one response. Each acts as ctx.tenant:
// another tenant's job is a 404, exactly like a job that does not exist.
//
// Threading: the plain ones are called on blocking-pool threads (or, for SQLite GETs, on the
// connection's event loop) and block on the store; submit_job runs on the connection's event
// loop and awaits the store's commit without blocking it (or, with a store that can only
// block, runs its work on the blocking pool).
#pragma once

#include "http/routes.hpp"

namespace wq::http {

// POST /v1/jobs → 201 new (Location header) / 200 existing (dedup or idempotent id) / 400 /
// 404 unknown task / 409 id conflict / 429 queue full (Retry-After) / 503 shutting down.
boost::asio::awaitable<Response> submit_job(RequestContext& ctx, const Request& req);
// GET /v1/jobs/{id} → the job with n_ahead_in_queue.
Response get_job(RequestContext& ctx, const Request& req);
// GET /v1/jobs?state=&task=&limit=&cursor= → {jobs: [...], next_cursor}, newest first.
Response list_jobs(RequestContext& ctx, const Request& req);
// POST /v1/jobs/search {ids} → {jobs: [snapshot…], not_found: [id…]}.
Response search_jobs(RequestContext& ctx, const Request& req);
// POST /v1/jobs/{id}/cancel and DELETE /v1/jobs/{id} → the job after the request.
Response cancel_job(RequestContext& ctx, const Request& req);
// GET /v1/jobs/{id}/status.html → an HTML page with a progress bar; ETag, 304 on If-None-Match.
Response status_page(RequestContext& ctx, const Request& req);

}  // namespace wq::http
