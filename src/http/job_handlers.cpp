#include "http/job_handlers.hpp"

#include <fmt/format.h>

#include <boost/json/array.hpp>
#include <charconv>

#include "http/blocking_call.hpp"
#include "http/job_json_text.hpp"
#include "http/job_spec_json.hpp"

namespace wq::http {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;

constexpr std::size_t kMaxPageSize = 1000;

Response job_response(RequestContext& ctx, const Request& req, Status status, const Job& job,
                      std::optional<std::int64_t> n_ahead = std::nullopt) {
  return text_response(req, status,
                       job_json_text(job, n_ahead ? *n_ahead : ctx.env.queue.n_ahead(job)),
                       "application/json");
}

Result<std::size_t> page_size(const Request& req) {
  auto text = query_param(req, "limit");
  if (!text) return std::size_t{100};
  std::size_t n = 0;
  auto [p, ec] = std::from_chars(text->data(), text->data() + text->size(), n);
  if (ec != std::errc() || p != text->data() + text->size() || n < 1 || n > kMaxPageSize) {
    return make_error(Errc::bad_input,
                      fmt::format("limit: expected an integer from 1 to {}, got '{}'", kMaxPageSize,
                                  text->substr(0, 40)));
  }
  return n;
}

}  // namespace

namespace {

Response submit_response(RequestContext& ctx, const Request& req,
                         const Result<Submitted>& submitted) {
  if (!submitted) return problem(req, submitted.error());
  Response res = job_response(ctx, req, submitted->created ? Status::created : Status::ok,
                              submitted->job, submitted->n_ahead);
  res.set(bhttp::field::location, "/v1/jobs/" + submitted->job.id);
  return res;
}

// Queue::submit_async as an awaitable: resumes on the awaiting coroutine's executor.
asio::awaitable<Result<Submitted>> submitted(Queue& queue, const JobSpec& spec) {
  co_return co_await asio::async_initiate<const asio::use_awaitable_t<>, void(Result<Submitted>)>(
      [&queue, &spec](auto handler) {
        // std::function needs a copyable callable; the handler is move-only.
        auto shared = std::make_shared<decltype(handler)>(std::move(handler));
        queue.submit_async(spec, [shared](Result<Submitted> r) {
          auto ex = asio::get_associated_executor(*shared);
          asio::post(ex, [shared, r = std::move(r)]() mutable {
            std::move(*shared)(std::move(r));
          });
        });
      },
      asio::use_awaitable);
}

}  // namespace

asio::awaitable<Response> submit_job(RequestContext& ctx, const Request& req) {
  Queue& queue = ctx.env.queue;
  if (queue.submit_blocks()) {
    // The store waits for its commit (and the queue position is a network read): both belong
    // on the blocking pool, not on this event loop.
    co_return co_await on_pool(ctx.env.blocking, [&ctx, &req] {
      auto spec = parse_job_spec(req.body(), ctx.tenant);
      if (!spec) return problem(req, spec.error());
      return submit_response(ctx, req, ctx.env.queue.submit(*spec));
    });
  }
  auto spec = parse_job_spec(req.body(), ctx.tenant);
  if (!spec) co_return problem(req, spec.error());
  auto result = co_await submitted(queue, *spec);
  co_return submit_response(ctx, req, result);
}

Response get_job(RequestContext& ctx, const Request& req) {
  FinishedJobCache& cache = ctx.env.finished_jobs;
  if (auto body = cache.find(ctx.args[0], ctx.tenant))
    return text_response(req, Status::ok, *body, "application/json");
  const std::uint64_t epoch = cache.epoch();
  auto job = ctx.env.queue.get(ctx.args[0], ctx.tenant);
  if (!job) return problem(req, job.error());
  Response res = job_response(ctx, req, Status::ok, *job);
  cache.remember(*job, res.body(), epoch);
  return res;
}

Response list_jobs(RequestContext& ctx, const Request& req) {
  JobFilter filter;
  filter.owner = ctx.tenant;
  if (auto state = query_param(req, "state")) {
    filter.state = parse_job_state(*state);
    if (!filter.state) {
      return problem(
          req, Status::bad_request,
          fmt::format("state: expected queued, running, succeeded, failed or cancelled, got '{}'",
                      state->substr(0, 40)));
    }
  }
  if (auto task = query_param(req, "task")) filter.task = std::move(*task);
  if (auto cursor = query_param(req, "cursor")) filter.cursor = std::move(*cursor);
  auto limit = page_size(req);
  if (!limit) return problem(req, limit.error());
  filter.limit = *limit;
  auto page = ctx.env.queue.list(filter);
  if (!page) return problem(req, page.error());
  json::array jobs;
  jobs.reserve(page->jobs.size());
  for (const auto& job : page->jobs) jobs.push_back(to_json(job));
  json::object body;
  body["jobs"] = std::move(jobs);
  body["next_cursor"] = page->next_cursor ? json::value(*page->next_cursor) : json::value(nullptr);
  return json_response(req, Status::ok, body);
}

Response search_jobs(RequestContext& ctx, const Request& req) {
  auto ids = parse_search_ids(req.body());
  if (!ids) return problem(req, ids.error());
  json::array found;
  json::array missing;
  for (const auto& id : *ids) {
    auto snap = ctx.env.queue.snapshot(id, ctx.tenant);
    if (snap) {
      found.push_back(to_json(*snap));
    } else if (snap.error().code == Errc::not_found) {
      missing.push_back(json::value(id));
    } else {
      return problem(req, snap.error());
    }
  }
  json::object body;
  body["jobs"] = std::move(found);
  body["not_found"] = std::move(missing);
  return json_response(req, Status::ok, body);
}

Response cancel_job(RequestContext& ctx, const Request& req) {
  auto job = ctx.env.queue.cancel(ctx.args[0], ctx.tenant);
  if (!job) return problem(req, job.error());
  return job_response(ctx, req, Status::ok, *job);
}

}  // namespace wq::http
