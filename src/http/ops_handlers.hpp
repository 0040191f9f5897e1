// The endpoints for operators and discovery: tasks, liveness, readiness and metrics.
//
// Threading: called on blocking-pool threads.
#pragma once

#include "http/routes.hpp"

namespace wq::http {

// GET /v1/tasks → {tasks: [{name, params: [{name, required, secret, default?}], concurrency,
// timeout, max_attempts}]}.
Response list_tasks(RequestContext& ctx, const Request& req);
// GET /healthz → 200 while the process serves requests.
Response healthz(RequestContext& ctx, const Request& req);
// GET /readyz → 200 while accepting work, 503 once shutdown began.
Response readyz(RequestContext& ctx, const Request& req);
// GET /metrics → Prometheus text.
Response metrics(RequestContext& ctx, const Request& req);

}  // namespace wq::http
