#include "http/metrics.hpp"

#include <fmt/format.h>

#include <array>

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

// A label value in the exposition format: backslash, double quote and newline escaped.
std::string label_value(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

// One histogram's samples from per-bucket (not cumulative) counts: cumulative _bucket lines
// ending with le="+Inf", then _sum and _count. `labels` (may be empty) precede le.
template <std::size_t N>
void histogram(std::string& out, std::string_view name, const std::array<double, N>& bounds,
               const std::array<std::uint64_t, N + 1>& counts, double sum,
               std::string_view labels = {}) {
  const std::string prefix = labels.empty() ? std::string() : fmt::format("{},", labels);
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < N; ++i) {
    cumulative += counts[i];
    out += fmt::format("{}_bucket{{{}le=\"{}\"}} {}\n", name, prefix, bounds[i], cumulative);
  }
  cumulative += counts[N];
  out += fmt::format("{}_bucket{{{}le=\"+Inf\"}} {}\n", name, prefix, cumulative);
  sample(out, fmt::format("{}_sum", name), sum, labels);
  sample(out, fmt::format("{}_count", name), cumulative, labels);
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
  family(out, "wq_job_run_seconds", "histogram",
         "Run time of job attempts, from claim to outcome, by task.");
  for (const auto& [task, runs] : q.run_durations) {
    histogram(out, "wq_job_run_seconds", RunDurations::kBuckets, runs.counts, runs.sum,
              fmt::format("task=\"{}\"", label_value(task)));
  }
  family(out, "wq_store_commits_total", "counter", "Store transactions committed (group commits).");
  sample(out, "wq_store_commits_total", q.store.commits);
  family(out, "wq_store_writes_total", "counter", "Store writes carried by those commits.");
  sample(out, "wq_store_writes_total", q.store.writes);
  family(out, "wq_store_commit_seconds", "histogram",
         "Store commit latency, from BEGIN to the end of COMMIT.");
  histogram(out, "wq_store_commit_seconds", StoreStats::kCommitBuckets,
            q.store.commit_latency_counts, q.store.commit_latency_sum);
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
