#include "http/adapters/overview.hpp"


#include <fmt/format.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/file_body.hpp>
#include <boost/beast/http/write.hpp>
#include <fstream>
#include <sstream>

#include "core/log.hpp"
#include "core/spec.hpp"
#include "http/adapters/overview_form.hpp"
#include "http/blocking_call.hpp"
#include "http/event_stream.hpp"

namespace wq::http::adapters {
namespace {

namespace asio = boost::asio;

constexpr std::size_t kMaxStaticFile = 4 << 20;

// The seed's json_stream: "[", elements separated by ",", "]". Whitespace between elements is
// valid JSON, so it doubles as the heartbeat that keeps proxies from closing a quiet stream.
constexpr StreamFraming kJsonArray{
    .content_type = "application/json",
    .opening = "[",
    .snapshot = [](const Snapshot&, std::string_view json,
                   bool first) { return (first ? "" : ",") + std::string(json); },
    .heartbeat = " ",
    .shutdown = nullptr,
    .closing = "]",
};

const OverviewAdapterConfig& config_of(const RequestContext& ctx) {
  return ctx.env.config.adapters.overview;
}

Response adapter_off(const Request& req) {
  return problem(req, Status::not_found,
                 fmt::format("no such endpoint: {} {}; the Overview plugin adapter is off "
                             "(configure [adapters.overview] task = \"…\")",
                             req.method_string(), path_of(req)));
}

// A configured server matches with or without a trailing slash.
bool server_allowed(const OverviewAdapterConfig& config, std::string_view server) {
  if (config.servers.empty()) return true;
  auto bare = [](std::string_view s) { return s.ends_with('/') ? s.substr(0, s.size() - 1) : s; };
  return std::any_of(config.servers.begin(), config.servers.end(),
                     [&](const std::string& s) { return bare(s) == bare(server); });
}

JobSpec spec_of(const OverviewAdapterConfig& config, const OverviewView& view) {
  JobSpec spec;
  spec.task = config.task;
  spec.params = {{"server", view.server},
                 {"document_set_id", view.document_set_id},
                 {"api_token", view.api_token}};
  spec.owner = config.tenant;
  return spec;
}

Response server_refused(const Request& req, const OverviewAdapterConfig& config) {
  std::string list;
  for (const auto& s : config.servers) list += fmt::format("{}{}", list.empty() ? "" : ", ", s);
  return problem(req, Status::forbidden,
                 fmt::format("this plugin serves only these Overview servers: {}", list));
}

Response static_file(RequestContext& ctx, const Request& req, std::string_view name,
                     std::string_view content_type) {
  const auto& config = config_of(ctx);
  if (config.task.empty()) return adapter_off(req);
  if (config.static_dir.empty()) {
    return problem(req, Status::not_found,
                   fmt::format("{} is not served: set [adapters.overview] static_dir to the "
                               "folder holding {}",
                               path_of(req), name));
  }
  const auto path = config.static_dir / name;
  std::ifstream in(path, std::ios::binary);
  std::ostringstream body;
  if (in) body << in.rdbuf();
  if (!in || body.str().size() > kMaxStaticFile) {
    log::warn("static file unreadable", {{"path", path.string()}});
    return problem(req, Status::not_found,
                   fmt::format("{} is missing or over 4 MiB in the plugin's static_dir", name));
  }
  Response res = text_response(req, Status::ok, body.str(), content_type);
  res.set(bhttp::field::cache_control, "no-cache");
  return res;
}

}  // namespace

asio::awaitable<Written> overview_generate(RequestContext& ctx, const Request& req,
                                           Stream& stream) {
  const auto& config = config_of(ctx);
  if (config.task.empty()) co_return co_await send(stream, adapter_off(req));
  auto view = read_generate_request(req);
  if (!view) co_return co_await send(stream, problem(req, view.error()));
  if (!server_allowed(config, view->server))
    co_return co_await send(stream, server_refused(req, config));
  const JobSpec spec = spec_of(config, *view);
  auto submitted =
      co_await on_pool(ctx.env.blocking, [&ctx, &spec] { return ctx.env.queue.submit(spec); });
  if (!submitted) co_return co_await send(stream, problem(req, submitted.error()));
  const Job& job = submitted->job;
  const std::pair<std::string_view, std::string> headers[] = {{"X-Job-Id", job.id}};
  if (!submitted->created && job.state == JobState::succeeded) {
    // The seed's ensure_run() -> None: the result is there, nothing to report.
    Response res = text_response(req, Status::ok, "[]", kJsonArray.content_type);
    res.set("X-Job-Id", job.id);
    res.set(bhttp::field::cache_control, "no-cache");
    co_return co_await send(stream, std::move(res));
  }
  ctx.args = {job.id};
  ctx.tenant = config.tenant;
  co_return co_await stream_snapshots(ctx, req, stream, 0, kJsonArray, headers);
}

asio::awaitable<Written> overview_result(RequestContext& ctx, const Request& req, Stream& stream) {
  const auto& config = config_of(ctx);
  if (config.task.empty()) co_return co_await send(stream, adapter_off(req));
  auto view = read_view_query(req);
  if (!view) co_return co_await send(stream, problem(req, view.error()));
  const std::string& id = ctx.args[0];
  auto path = co_await on_pool(ctx.env.blocking, [&]() -> Result<std::filesystem::path> {
    Queue& queue = ctx.env.queue;
    auto job = queue.get(id, config.tenant);
    if (!job && job.error().code != Errc::not_found) return job.error();
    // The job's key is the hash of the params it ran with, the token included: only a caller
    // presenting the same view may read its result.
    const auto& tasks = queue.config().tasks;
    auto task = tasks.find(config.task);
    auto expected = task == tasks.end()
                        ? Result<NewJob>(make_error(Errc::not_found, ""))
                        : prepare_job(spec_of(config, *view), task->second, now_ms());
    // An unknown id and a wrong view answer alike: no oracle for which ids exist.
    if (!job || !expected || job->task != config.task || expected->spec_hash != job->key) {
      return make_error(Errc::not_found,
                        fmt::format("no Overview result {} for this server, document set and "
                                    "token; POST /generate first",
                                    id.substr(0, 140)));
    }
    return queue.result_path(id, config.tenant);
  });
  if (!path) co_return co_await send(stream, problem(req, path.error()));
  bhttp::response<bhttp::file_body> res{Status::ok, req.version()};
  boost::beast::error_code ec;
  res.body().open(path->c_str(), boost::beast::file_mode::scan, ec);
  if (ec) {
    co_return co_await send(
        stream, problem(req, Status::not_found,
                        fmt::format("job {} has no result file any more: it expired", id)));
  }
  res.set(bhttp::field::server, "wqd");
  res.set(bhttp::field::content_type, config.result_type);
  res.set(bhttp::field::cache_control, "private, no-cache");
  res.keep_alive(req.keep_alive());
  res.prepare_payload();
  auto [write_ec, n] =
      co_await bhttp::async_write(stream, res, asio::as_tuple(asio::use_awaitable));
  co_return Written{200, !write_ec && req.keep_alive()};
}

Response overview_metadata(RequestContext& ctx, const Request& req) {
  return static_file(ctx, req, "metadata.json", "application/json");
}

Response overview_show(RequestContext& ctx, const Request& req) {
  return static_file(ctx, req, "show.html", "text/html; charset=utf-8");
}

}  // namespace wq::http::adapters
