#include "http/metrics.hpp"

#include <fmt/format.h>

namespace wq::http {
namespace {

void family(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
  out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

template <class V>
void sample(std::string& out, std::string_view name, V value, std::string_view labels = {}) {
  out += labels.empty() ? fmt::format("{} {}\n", name, value)
                        : fmt::format("{}{{{}}} {}\n", name, labels, value);
}

}  // namespace

std::string render_metrics(const QueueStats& q, const HttpMetrics& h, std::size_t open_streams,
                           std::size_t max_streams) {
  std::string out;
  family(out, "wq_jobs_submitted_total", "counter", "Jobs created by submits.");
  sample(out, "wq_jobs_submitted_total", q.submitted);
  family(out, "wq_jobs_deduplicated_total", "counter", "Submits answered with an existing job.");
  sample(out, "wq_jobs_deduplicated_total", q.deduplicated);
  family(out, "wq_jobs_started_total", "counter", "Job attempts started.");
  sample(out, "wq_jobs_started_total", q.started);
  family(out, "wq_jobs_retried_total", "counter", "Attempts that ended in a retry.");
  sample(out, "wq_jobs_retried_total", q.retried);
  family(out, "wq_jobs_finished_total", "counter", "Jobs that reached a terminal state, by state.");
  sample(out, "wq_jobs_finished_total", q.succeeded, "state=\"succeeded\"");
  sample(out, "wq_jobs_finished_total", q.failed, "state=\"failed\"");
  sample(out, "wq_jobs_finished_total", q.cancelled, "state=\"cancelled\"");
  family(out, "wq_jobs_running", "gauge", "Jobs running now.");
  sample(out, "wq_jobs_running", q.running);
  family(out, "wq_watchers", "gauge", "Progress watchers subscribed in the queue.");
  sample(out, "wq_watchers", q.watchers);
  family(out, "wq_http_responses_total", "counter", "HTTP responses by status class.");
  for (int cls = 1; cls <= 5; ++cls) {
    sample(out, "wq_http_responses_total", h.responses[cls].load(),
           fmt::format("code=\"{}xx\"", cls));
  }
  family(out, "wq_http_connections_open", "gauge", "Open client connections.");
  sample(out, "wq_http_connections_open", h.open_connections.load());
  family(out, "wq_http_connections_total", "counter", "Client connections accepted.");
  sample(out, "wq_http_connections_total", h.connections_total.load());
  family(out, "wq_http_streams_open", "gauge", "Open event streams and long-polls.");
  sample(out, "wq_http_streams_open", open_streams);
  family(out, "wq_http_streams_max", "gauge", "The configured limit on open streams.");
  sample(out, "wq_http_streams_max", max_streams);
  family(out, "wq_http_streams_refused_total", "counter", "Streams refused with 503 at the limit.");
  sample(out, "wq_http_streams_refused_total", h.streams_refused.load());
  family(out, "wq_http_auth_failures_total", "counter", "Requests refused with 401.");
  sample(out, "wq_http_auth_failures_total", h.auth_failures.load());
  return out;
}

}  // namespace wq::http
