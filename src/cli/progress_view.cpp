#include "cli/progress_view.hpp"

#include "core/json_text.hpp"

#include <fmt/format.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>

namespace wq::cli {
namespace {

constexpr int kBarWidth = 24;

int terminal_columns(std::FILE* f) {
  winsize w{};
  if (::ioctl(::fileno(f), TIOCGWINSZ, &w) == 0 && w.ws_col > 20) return w.ws_col;
  return 80;
}

std::string bar(double fraction) {
  const int filled = static_cast<int>(std::lround(std::clamp(fraction, 0.0, 1.0) * kBarWidth));
  return "[" + std::string(filled, '#') + std::string(kBarWidth - filled, '.') + "]";
}

std::string one_line(std::string_view text) {
  std::string out(text.substr(0, 300));
  for (auto& c : out) {
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  }
  return out;
}

}  // namespace

std::string duration_text(std::chrono::seconds d) {
  const auto s = d.count();
  if (s >= 3600) return fmt::format("{}h{:02}m", s / 3600, s % 3600 / 60);
  if (s >= 60) return fmt::format("{}m{:02}s", s / 60, s % 60);
  return fmt::format("{}s", s);
}

std::optional<std::chrono::seconds> ProgressView::eta(const Snapshot& s) {
  if (s.state != JobState::running) return std::nullopt;
  const auto now = std::chrono::steady_clock::now();
  if (!start_) {
    start_ = now;
    start_fraction_ = s.fraction;
    return std::nullopt;
  }
  const double elapsed = std::chrono::duration<double>(now - *start_).count();
  const double done = s.fraction - start_fraction_;
  if (elapsed < 1.0 || done <= 0) return std::nullopt;
  return std::chrono::seconds(std::llround(elapsed * (1.0 - s.fraction) / done));
}

std::string ProgressView::describe(const Snapshot& s) {
  switch (s.state) {
    case JobState::queued:
      return fmt::format("queued, {} ahead", s.n_ahead_in_queue);
    case JobState::running: {
      std::string text = fmt::format("running {:3.0f}%", s.fraction * 100);
      if (s.message && !s.message->empty()) text += "  " + one_line(*s.message);
      if (auto left = eta(s)) text += "  ETA " + duration_text(*left);
      return text;
    }
    case JobState::succeeded:
      return "succeeded";
    case JobState::failed:
      return fmt::format("failed (returncode {}): {}",
                         s.returncode ? std::to_string(*s.returncode) : "none",
                         one_line(s.error.value_or("no error text")));
    case JobState::cancelled:
      return "cancelled";
  }
  return std::string(to_string(s.state));
}

void ProgressView::show(const Snapshot& s) {
  if (style_ == Style::json) {
    std::fprintf(out_, "%s\n", json_text(to_json(s)).c_str());
    std::fflush(out_);
    return;
  }
  const std::string text = describe(s);
  if (style_ == Style::plain) {
    // ETA changes with every line; print a line when anything else does.
    const std::string key = text.substr(0, text.find("  ETA "));
    if (key == last_plain_) return;
    last_plain_ = key;
    std::fprintf(out_, "%s\n", text.c_str());
    std::fflush(out_);
    return;
  }
  if (s.terminal()) {
    std::fprintf(out_, "\r\x1b[2K%s %s\n", bar(s.fraction).c_str(), text.c_str());
    bar_drawn_ = false;
  } else {
    std::string line = fmt::format("{} {}", bar(s.fraction), text);
    const auto width = static_cast<size_t>(terminal_columns(out_) - 1);
    if (line.size() > width) line.resize(width);
    std::fprintf(out_, "\r\x1b[2K%s", line.c_str());
    bar_drawn_ = true;
  }
  std::fflush(out_);
}

void ProgressView::note(std::string_view text) {
  if (bar_drawn_) {
    std::fprintf(out_, "\r\x1b[2K");
    std::fflush(out_);
    bar_drawn_ = false;
  }
  std::fprintf(stderr, "wq: %.*s\n", static_cast<int>(text.size()), text.data());
  std::fflush(stderr);
}

}  // namespace wq::cli
