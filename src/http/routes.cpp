#include "http/routes.hpp"

#include <fmt/format.h>

#include <boost/url/parse.hpp>
#include <boost/url/pct_string_view.hpp>

#include "core/log.hpp"
#include "http/adapters/overview.hpp"
#include "http/adapters/saje.hpp"
#include "http/dashboard.hpp"
#include "http/event_stream.hpp"
#include "http/job_handlers.hpp"
#include "http/ops_handlers.hpp"
#include "http/result_download.hpp"
#include "http/stream_ticket.hpp"

namespace wq::http {
namespace {

using bhttp::verb;

constexpr Route kRoutes[] = {
    {verb::post, "/v1/jobs", nullptr, nullptr, true, submit_job},
    {verb::get, "/v1/jobs", list_jobs},
    {verb::post, "/v1/jobs/search", search_jobs},
    {verb::get, "/v1/jobs/{}", get_job},
    {verb::delete_, "/v1/jobs/{}", cancel_job},
    {verb::post, "/v1/jobs/{}/cancel", cancel_job},
    {verb::get, "/v1/jobs/{}/events", nullptr, stream_events},
    {verb::get, "/v1/jobs/{}/wait", nullptr, wait_for_change},
    {verb::get, "/v1/jobs/{}/result", nullptr, download_result},
    {verb::get, "/v1/jobs/{}/status.html", status_page},
    {verb::get, "/v1/tasks", list_tasks},
    {verb::get, "/healthz", healthz, nullptr, false},
    {verb::get, "/readyz", readyz, nullptr, false},
    {verb::get, "/metrics", metrics, nullptr, false},
    // adapters (DESIGN §7): the Overview plugin's routes take Overview's token, not wqd's
    {verb::post, "/generate", nullptr, adapters::overview_generate, false},
    {verb::get, "/generate/{}/result", nullptr, adapters::overview_result, false},
    {verb::get, "/metadata", adapters::overview_metadata, nullptr, false},
    {verb::get, "/show", adapters::overview_show, nullptr, false},
    {verb::post, "/v1/job/", adapters::saje_submit},
    {verb::get, "/v1/job/{}", adapters::saje_get},
    {verb::get, "/", dashboard_page, nullptr, false},
    {verb::get, "/dashboard/{}", dashboard_asset, nullptr, false},
    {verb::post, "/v1/jobs/{}/events/ticket", issue_stream_ticket},
    {verb::get, "/v1/jobs/{}/events/stream", nullptr, stream_events_by_ticket, false},
};

// Splits off the next '/'-separated segment of `path` (which starts after a '/').
std::string_view next_segment(std::string_view& path) {
  const auto slash = path.find('/');
  std::string_view seg = path.substr(0, slash);
  path = slash == std::string_view::npos ? std::string_view() : path.substr(slash + 1);
  return seg;
}

std::optional<std::vector<std::string>> match(std::string_view pattern, std::string_view path) {
  if (!path.starts_with('/')) return std::nullopt;
  pattern.remove_prefix(1);
  path.remove_prefix(1);
  std::vector<std::string> args;
  while (!pattern.empty() || !path.empty()) {
    if (pattern.empty() || path.empty()) return std::nullopt;
    const std::string_view want = next_segment(pattern);
    const std::string_view got = next_segment(path);
    if (want == "{}") {
      auto decoded = boost::urls::make_pct_string_view(got);
      if (got.empty() || !decoded) return std::nullopt;
      args.push_back(decoded->decode());
    } else if (want != got) {
      return std::nullopt;
    }
  }
  return args;
}

Response unauthorized(const Request& req, bool had_header) {
  Response res =
      problem(req, Status::unauthorized,
              had_header ? "the token in the Authorization header is not valid; check it "
                           "or ask for a new one"
                         : "this server needs a token: send 'Authorization: Bearer TOKEN' "
                           "(or Basic with TOKEN:x-api-token)");
  res.set(bhttp::field::www_authenticate, "Bearer realm=\"wqd\"");
  return res;
}

}  // namespace

std::span<const Route> routes() { return kRoutes; }

std::optional<std::string> query_param(const Request& req, std::string_view name) {
  auto url = boost::urls::parse_origin_form(req.target());
  if (!url) return std::nullopt;
  auto params = url->params();
  auto it = params.find(name);
  if (it == params.end()) return std::nullopt;
  return std::string((*it).value);
}

std::variant<Response, Routed> route(ServerEnv& env, const Request& req) {
  const std::string_view path = path_of(req);
  const Route* found = nullptr;
  std::vector<std::string> args;
  std::string allow;
  for (const Route& r : kRoutes) {
    auto m = match(r.pattern, path);
    if (!m) continue;
    if (r.method == req.method()) {
      found = &r;
      args = std::move(*m);
      break;
    }
    allow += fmt::format("{}{}", allow.empty() ? "" : ", ", bhttp::to_string(r.method));
  }
  if (!found && allow.empty()) {
    return problem(req, Status::not_found,
                   fmt::format("no such endpoint: {} {}; see GET /v1/tasks "
                               "and the README for the API",
                               req.method_string(), path.substr(0, 200)));
  }
  if (!found) {
    Response res = problem(req, Status::method_not_allowed,
                           fmt::format("{} does not accept {}; use {}", path.substr(0, 200),
                                       req.method_string(), allow));
    res.set(bhttp::field::allow, allow);
    return res;
  }
  RequestContext ctx{env, {}, std::move(args)};
  if (found->needs_auth) {
    const std::string_view header = req[bhttp::field::authorization];
    auto tenant = env.auth.tenant(header);
    if (!tenant) {
      env.metrics.auth_failures.fetch_add(1, std::memory_order_relaxed);
      return unauthorized(req, !header.empty());
    }
    ctx.tenant = std::move(*tenant);
  }
  return Routed{found, std::move(ctx)};
}

namespace {

Response handler_failed(const Request& req, const std::exception& e) {
  log::error("request handler failed", {{"path", path_of(req)}, {"error", e.what()}});
  return problem(req, Status::internal_server_error,
                 "the server failed to handle this request; it was logged, please report it");
}

}  // namespace

Response run_plain(Routed& routed, const Request& req) {
  try {
    return routed.route->plain(routed.context, req);
  } catch (const std::exception& e) {
    return handler_failed(req, e);
  }
}

boost::asio::awaitable<Response> run_async(Routed& routed, const Request& req) {
  try {
    co_return co_await routed.route->async(routed.context, req);
  } catch (const std::exception& e) {
    co_return handler_failed(req, e);
  }
}

}  // namespace wq::http
