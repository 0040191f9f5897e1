// The SAJE adapter (DESIGN §7, the saje-sanic-job-executor seed): its two endpoints on wqd's
// queue, for SAJE's HTTP clients. Each POST starts a new job, as SAJE does (no dedup by
// params); a caller-supplied uid makes the POST idempotent. Jobs belong to the request's
// tenant, like every /v1 endpoint.
//
// Threading: plain handlers, called on blocking-pool threads.
#pragma once

#include "http/routes.hpp"

namespace wq::http::adapters {

// POST /v1/job/ {task, kwargs?, uid?} → 200 text/plain: the job's uid (SAJE's `text(uid)`).
// 400 bad body (detail names the field), 404 unknown task, 409 a uid taken by other work,
// 429 queue full.
Response saje_submit(RequestContext& ctx, const Request& req);

// GET /v1/job/{uid} → SAJE's JobDetails {uid, name, complete, timestamp, kwargs} plus state
// and error. `complete` is true once the job ended (succeeded, failed or cancelled: `state`
// says which; `error` is null unless it failed or was cancelled). `timestamp` is SAJE's
// naive UTC isoformat (2021-05-03T07:00:00.123000) of the latest of created, started and
// finished. 404 for an unknown uid.
Response saje_get(RequestContext& ctx, const Request& req);

}  // namespace wq::http::adapters
