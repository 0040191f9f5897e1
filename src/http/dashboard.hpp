// The web dashboard (DESIGN §6, GET /): static HTML, CSS and JavaScript embedded in wqd (see
// web_assets.hpp) that talk to the JSON API from the browser. Every response carries a strict
// Content-Security-Policy (scripts, styles and connections from this origin only; no inline
// script, no framing) and an ETag; a matching If-None-Match answers 304.
//
// Threading: called from handle_request (a blocking-pool thread or the connection's event loop);
// reads immutable data only and never waits.
#pragma once

#include "http/routes.hpp"

namespace wq::http {

// GET / → web/index.html.
Response dashboard_page(RequestContext& ctx, const Request& req);
// GET /dashboard/{file} → that file of web/; 404 for any other name.
Response dashboard_asset(RequestContext& ctx, const Request& req);

}  // namespace wq::http
