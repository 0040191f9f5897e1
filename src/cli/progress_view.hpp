// ProgressView: how `wq watch` and `wq submit --wait` show a job's snapshots.
//   terminal:  one line redrawn in place: [#######.......]  45%  counted 9 of 20  ETA 12s
//   plain:     one line per visible change, no escape codes (stdout is a pipe or a file)
//   json:      each snapshot as one JSON line (NDJSON), for scripts
// then the outcome: "succeeded", "failed (returncode 3): …", "cancelled".
//
// Threading: one thread at a time (the watch's); notes may come from the same thread.
#pragma once

#include <chrono>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>

#include "wq/job.hpp"

namespace wq::cli {

enum class Style { terminal, plain, json };

class ProgressView {
 public:
  ProgressView(std::FILE* out, Style style) : out_(out), style_(style) {}

  void show(const Snapshot& s);
  // A remark (reconnecting, …) on stderr, without breaking the progress line.
  void note(std::string_view text);

  // What a person reads for one snapshot, without the bar ("running  45%  msg  ETA 12s").
  std::string describe(const Snapshot& s);

 private:
  std::optional<std::chrono::seconds> eta(const Snapshot& s);

  std::FILE* out_;
  Style style_;
  bool bar_drawn_ = false;
  std::string last_plain_;
  // Where the estimate starts: the first running snapshot's time and fraction.
  std::optional<std::chrono::steady_clock::time_point> start_;
  double start_fraction_ = 0;
};

// "1h02m", "3m05s", "12s".
std::string duration_text(std::chrono::seconds d);

}  // namespace wq::cli
