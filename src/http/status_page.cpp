// GET /v1/jobs/{id}/status.html (declared in job_handlers.hpp): a page a person can keep open.
// It refreshes itself while the job is unfinished; its ETag is a hash of the page, so an
// unchanged job answers 304 to If-None-Match however often it is polled.
#include <fmt/format.h>

#include <functional>

#include "http/job_handlers.hpp"

namespace wq::http {
namespace {

std::string escape_html(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string describe(const Snapshot& s) {
  switch (s.state) {
    case JobState::queued:
      return fmt::format("queued, {} job{} ahead", s.n_ahead_in_queue,
                         s.n_ahead_in_queue == 1 ? "" : "s");
    case JobState::running:
      return s.message.value_or("running");
    case JobState::succeeded:
      return "succeeded";
    default:
      return fmt::format("{}: {}", to_string(s.state), s.error.value_or(""));
  }
}

std::string render(const Job& job, const Snapshot& s) {
  const std::string id = escape_html(job.id);
  const std::string refresh = s.terminal() ? "" : "<meta http-equiv=\"refresh\" content=\"2\">\n";
  const std::string result =
      job.state == JobState::succeeded && job.result_size
          ? fmt::format("<p><a href=\"/v1/jobs/{}/result\">result</a> ({} bytes)</p>\n", id,
                        *job.result_size)
          : "";
  return fmt::format(
      "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n{}"
      "<title>{} · {}</title>\n"
      "<style>body{{font:16px system-ui,sans-serif;margin:2em;max-width:40em}}"
      "progress{{width:100%;height:1.5em}}.state{{font-weight:bold}}</style></head>\n"
      "<body><h1>{}</h1>\n<p>job <code>{}</code></p>\n"
      "<progress value=\"{:.4f}\" max=\"1\">{:.0f}%</progress>\n"
      "<p><span class=\"state\">{}</span> · {:.0f}% · {}</p>\n{}</body></html>\n",
      refresh, escape_html(job.task), to_string(s.state), escape_html(job.task), id, s.fraction,
      s.fraction * 100, to_string(s.state), s.fraction * 100, escape_html(describe(s)), result);
}

}  // namespace

Response status_page(RequestContext& ctx, const Request& req) {
  auto job = ctx.env.queue.get(ctx.args[0], ctx.tenant);
  if (!job) return problem(req, job.error());
  auto snap = ctx.env.queue.snapshot(ctx.args[0], ctx.tenant);
  if (!snap) return problem(req, snap.error());
  std::string page = render(*job, *snap);
  const std::string etag = fmt::format("\"{:016x}\"", std::hash<std::string>{}(page));
  if (req[bhttp::field::if_none_match] == etag) {
    Response res{Status::not_modified, req.version()};
    res.set(bhttp::field::server, "wqd");
    res.set(bhttp::field::etag, etag);
    res.keep_alive(req.keep_alive());
    return res;
  }
  Response res = text_response(req, Status::ok, std::move(page), "text/html; charset=utf-8");
  res.set(bhttp::field::etag, etag);
  res.set(bhttp::field::cache_control, "no-cache");
  return res;
}

}  // namespace wq::http
