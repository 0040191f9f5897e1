// What the C++ benchmark programs share: a scratch directory, the RESULT line of DESIGN §10,
// elapsed time and percentiles. Single-threaded helpers.
#pragma once

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <random>
#include <string_view>
#include <system_error>
#include <vector>

namespace wq::bench {

using SteadyClock = std::chrono::steady_clock;

// A fresh directory under the system temp dir, removed with everything in it.
struct TempDir {
  std::filesystem::path path;
  TempDir() {
    path = std::filesystem::temp_directory_path() /
           fmt::format("wq-bench-{}", std::random_device{}());
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
};

// RESULT workload=W value=V unit=U [limit=L ratio=R] note="..."
inline void result(std::string_view workload, double value, std::string_view unit,
                   std::optional<double> limit, std::string_view note) {
  if (limit) {
    fmt::print("RESULT workload={} value={:.4g} unit={} limit={:.4g} ratio={:.3g} note=\"{}\"\n",
               workload, value, unit, *limit, value / *limit, note);
  } else {
    fmt::print("RESULT workload={} value={:.4g} unit={} note=\"{}\"\n", workload, value, unit, note);
  }
  std::fflush(stdout);
}

inline double seconds_since(SteadyClock::time_point t0) {
  return std::chrono::duration<double>(SteadyClock::now() - t0).count();
}

// The nearest-rank percentile p (0-100] of v; v must not be empty.
inline double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  const auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(v.size())));
  return v[std::clamp<std::size_t>(rank, 1, v.size()) - 1];
}

}  // namespace wq::bench
