// GET /v1/jobs/{id}/result: the published result file, streamed from disk with its
// Content-Length (no Range). 409 until the job has succeeded, 404 when it wrote no result or
// the result expired.
//
// Threading: a coroutine on the connection's event loop; the store lookup runs on the blocking
// pool.
#pragma once

#include "http/routes.hpp"

namespace wq::http {

boost::asio::awaitable<Written> download_result(RequestContext& ctx, const Request& req,
                                                Stream& stream);

}  // namespace wq::http
