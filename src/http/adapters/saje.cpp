#include "http/adapters/saje.hpp"

#include <fmt/format.h>
#include <time.h>

#include <boost/json/parse.hpp>

namespace wq::http::adapters {
namespace {

namespace json = boost::json;

constexpr std::string_view kShape =
    R"(send {"task": "NAME", "kwargs": {...}} (and optionally "uid"))";

Error bad(std::string_view detail) {
  return make_error(Errc::bad_input, fmt::format("{}; {}", detail, kShape));
}

Result<JobSpec> read_submit(std::string_view body, const std::string& tenant) {
  json::error_code ec;
  json::value v = json::parse(body, ec);
  if (ec) return bad(fmt::format("the body is not JSON ({})", ec.message()));
  if (!v.is_object()) return bad("the body must be a JSON object");
  JobSpec spec;
  spec.owner = tenant;
  for (const auto& [key, value] : v.as_object()) {
    if (key == "task") {
      if (!value.is_string() || value.as_string().empty())
        return bad("task must be a non-empty string");
      spec.task = value.as_string();
    } else if (key == "kwargs") {
      if (value.is_null()) continue;
      if (!value.is_object()) return bad("kwargs must be an object of keyword arguments");
      spec.params = value.as_object();
    } else if (key == "uid") {
      if (!value.is_string() || !valid_job_id(value.as_string()))
        return bad("uid must be a string of 1 to 128 characters of A-Z a-z 0-9 . _ -, e.g. a UUID");
      spec.id = std::string(value.as_string());
    } else {
      return bad(fmt::format("unknown field '{}'", std::string_view(key)));
    }
  }
  if (spec.task.empty()) return bad("task is missing");
  // SAJE runs every POST: the job's own uid is its dedup key.
  if (!spec.id) spec.id = new_job_id();
  spec.key = "saje:" + *spec.id;
  return spec;
}

// Python's datetime.isoformat() of a naive UTC datetime, always with microseconds.
std::string iso_timestamp(TimePoint t) {
  const auto ms = t.time_since_epoch().count();
  const time_t secs = static_cast<time_t>(ms / 1000);
  struct tm tm {};
  gmtime_r(&secs, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (ms % 1000) * 1000);
}

}  // namespace

Response saje_submit(RequestContext& ctx, const Request& req) {
  auto spec = read_submit(req.body(), ctx.tenant);
  if (!spec) return problem(req, spec.error());
  auto submitted = ctx.env.queue.submit(*spec);
  if (!submitted) return problem(req, submitted.error());
  Response res = text_response(req, Status::ok, submitted->job.id, "text/plain; charset=utf-8");
  res.set(bhttp::field::location, "/v1/job/" + submitted->job.id);
  return res;
}

Response saje_get(RequestContext& ctx, const Request& req) {
  auto job = ctx.env.queue.get(ctx.args[0], ctx.tenant);
  if (!job) {
    if (job.error().code == Errc::not_found)
      return problem(req, Status::not_found,
                     fmt::format("no job with uid '{}'", ctx.args[0].substr(0, 140)));
    return problem(req, job.error());
  }
  const TimePoint latest = job->finished_at.value_or(job->started_at.value_or(job->created_at));
  json::object o;
  o["uid"] = job->id;
  o["name"] = job->task;
  o["complete"] = is_terminal(job->state);
  o["timestamp"] = iso_timestamp(latest);
  o["kwargs"] = job->params;
  o["state"] = to_string(job->state);
  o["error"] = job->error ? json::value(*job->error) : json::value(nullptr);
  return json_response(req, Status::ok, o);
}

}  // namespace wq::http::adapters
