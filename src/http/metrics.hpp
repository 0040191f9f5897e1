// Counters the HTTP layer keeps, and the Prometheus text exposition of them together with the
// queue's own statistics (GET /metrics).
//
// Threading: every member is atomic; safe from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "wq/queue.hpp"

namespace wq::http {

struct HttpMetrics {
  std::atomic<std::uint64_t> responses[6] = {};  // by status class: [2] counts 2xx
  std::atomic<std::int64_t> open_connections{0};
  std::atomic<std::uint64_t> connections_total{0};
  std::atomic<std::uint64_t> auth_failures{0};
  std::atomic<std::uint64_t> streams_refused{0};

  void count_response(unsigned status) noexcept {
    const unsigned cls = status / 100;
    responses[cls < 6 ? cls : 0].fetch_add(1, std::memory_order_relaxed);
  }
};

// Prometheus text format 0.0.4: jobs by outcome, submits, dedup hits, running jobs, watchers,
// run time of attempts by task and store commit latency (histograms), responses by class, open
// connections and streams.
std::string render_metrics(const QueueStats& queue, const HttpMetrics& http,
                           std::size_t open_streams, std::size_t max_streams);

}  // namespace wq::http
