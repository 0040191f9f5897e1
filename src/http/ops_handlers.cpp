#include "http/ops_handlers.hpp"

#include <boost/json/array.hpp>

namespace wq::http {

namespace json = boost::json;

Response list_tasks(RequestContext& ctx, const Request& req) {
  json::array tasks;
  for (const auto& [name, task] : ctx.env.queue.config().tasks) {
    json::array params;
    for (const auto& p : task.params) {
      json::object param{{"name", p.name}, {"required", p.required}, {"secret", p.secret}};
      if (p.default_value && !p.secret) param["default"] = *p.default_value;
      params.push_back(std::move(param));
    }
    json::object t;
    t["name"] = name;
    t["params"] = std::move(params);
    t["concurrency"] = task.concurrency;
    t["timeout"] =
        task.timeout ? json::value(task.timeout->count() / 1000.0) : json::value(nullptr);
    t["max_attempts"] = task.max_attempts;
    tasks.push_back(std::move(t));
  }
  return json_response(req, Status::ok, json::object{{"tasks", std::move(tasks)}});
}

Response healthz(RequestContext&, const Request& req) {
  return json_response(req, Status::ok, json::object{{"status", "ok"}});
}

Response readyz(RequestContext& ctx, const Request& req) {
  if (ctx.env.draining.load()) {
    return problem(req, Status::service_unavailable,
                   "the server is shutting down; send work to another node");
  }
  return json_response(req, Status::ok, json::object{{"status", "ready"}});
}

Response metrics(RequestContext& ctx, const Request& req) {
  return text_response(req, Status::ok,
                       render_metrics(ctx.env.queue.stats(), ctx.env.metrics,
                                      ctx.env.streams.open_count(), ctx.env.streams.max_streams()),
                       "text/plain; version=0.0.4; charset=utf-8");
}

}  // namespace wq::http
