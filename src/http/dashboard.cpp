#include "http/dashboard.hpp"

#include <fmt/format.h>

#include "http/web_assets.hpp"

namespace wq::http {
namespace {

constexpr std::string_view kContentSecurityPolicy =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

const WebAsset* find_asset(std::string_view name) {
  for (const WebAsset& a : web_assets()) {
    if (a.name == name) return &a;
  }
  return nullptr;
}

// True if an If-None-Match value (a list of entity tags, or "*") matches `etag`. Weak
// comparison, as RFC 9110 asks for If-None-Match.
bool none_match_hits(std::string_view header, std::string_view etag) {
  while (!header.empty()) {
    const auto comma = header.find(',');
    std::string_view tag = header.substr(0, comma);
    header = comma == std::string_view::npos ? std::string_view() : header.substr(comma + 1);
    while (!tag.empty() && tag.front() == ' ') tag.remove_prefix(1);
    while (!tag.empty() && tag.back() == ' ') tag.remove_suffix(1);
    if (tag.starts_with("W/")) tag.remove_prefix(2);
    if (tag == "*" || tag == etag) return true;
  }
  return false;
}

template <class Message>
void set_common_headers(Message& res, const WebAsset& asset) {
  res.set(bhttp::field::server, "wqd");
  res.set(bhttp::field::etag, asset.etag);
  res.set(bhttp::field::cache_control, "no-cache");
  res.set("Content-Security-Policy", kContentSecurityPolicy);
  res.set("X-Content-Type-Options", "nosniff");
  res.set("Referrer-Policy", "no-referrer");
  res.set("X-Frame-Options", "DENY");
}

Response serve(const Request& req, const WebAsset& asset) {
  if (none_match_hits(req[bhttp::field::if_none_match], asset.etag)) {
    Response res{Status::not_modified, req.version()};
    set_common_headers(res, asset);
    res.keep_alive(req.keep_alive());
    return res;
  }
  Response res = text_response(req, Status::ok, std::string(asset.body), asset.content_type);
  set_common_headers(res, asset);
  return res;
}

}  // namespace

Response dashboard_page(RequestContext&, const Request& req) {
  const WebAsset* page = find_asset("index.html");
  if (!page) {
    return problem(req, Status::internal_server_error,
                   "this wqd was built without web/index.html; rebuild it from a full checkout");
  }
  return serve(req, *page);
}

Response dashboard_asset(RequestContext& ctx, const Request& req) {
  const WebAsset* asset = find_asset(ctx.args[0]);
  if (!asset) {
    return problem(req, Status::not_found,
                   fmt::format("the dashboard has no file '{}'; open / for the dashboard",
                               ctx.args[0].substr(0, 100)));
  }
  return serve(req, *asset);
}

}  // namespace wq::http
