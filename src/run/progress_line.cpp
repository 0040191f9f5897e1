#include <charconv>
#include <cmath>
#include <string_view>

#include "run/command_runner.hpp"

namespace wq::run {
namespace {

// Whole-token decimal parse. from_chars also takes "inf" and "nan"; the range check
// below rejects both (NaN compares false with everything).
std::optional<double> parse_fraction(std::string_view text) {
  if (text.empty()) return std::nullopt;
  if (text.front() == '+') text.remove_prefix(1);
  if (text.empty() || text.front() == '-' || text.front() == '+') return std::nullopt;
  double value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value, std::chars_format::general);
  if (ec != std::errc() || ptr != end || !std::isfinite(value)) return std::nullopt;
  if (!(value >= 0.0 && value <= 1.0)) return std::nullopt;
  return value;
}

std::optional<int> parse_percent(std::string_view text) {
  if (text.empty() || text.size() > 3) return std::nullopt;
  int value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc() || ptr != end || value < 0 || value > 100) return std::nullopt;
  return value;
}

// Length of the valid UTF-8 sequence at the start of `s` (RFC 3629: no overlongs, no
// surrogates, nothing above U+10FFFF), or 0.
std::size_t utf8_sequence_length(std::string_view s) {
  const auto b = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  const auto cont = [&](std::size_t i) { return i < s.size() && (b(i) & 0xC0) == 0x80; };
  const unsigned char c = b(0);
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) return cont(1) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    if (!cont(1) || !cont(2)) return 0;
    if (c == 0xE0 && b(1) < 0xA0) return 0;
    if (c == 0xED && b(1) >= 0xA0) return 0;
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (!cont(1) || !cont(2) || !cont(3)) return 0;
    if (c == 0xF0 && b(1) < 0x90) return 0;
    if (c == 0xF4 && b(1) >= 0x90) return 0;
    return 4;
  }
  return 0;
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

}  // namespace

std::optional<ProgressLine> parse_progress_line(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  const auto tab = line.find('\t');
  auto fraction = parse_fraction(line.substr(0, tab));
  if (!fraction) return std::nullopt;
  if (tab == std::string_view::npos) return ProgressLine{*fraction, std::nullopt};
  return ProgressLine{*fraction, valid_utf8(line.substr(tab + 1))};
}

std::optional<ProgressLine> parse_status_file(std::string_view content) {
  while (!content.empty() && (content.back() == '\n' || content.back() == '\r')) {
    content.remove_suffix(1);
  }
  if (const auto newline = content.rfind('\n'); newline != std::string_view::npos) {
    content.remove_prefix(newline + 1);
  }
  std::string_view trimmed = content;
  while (!trimmed.empty() && is_space(trimmed.front())) trimmed.remove_prefix(1);
  while (!trimmed.empty() && is_space(trimmed.back())) trimmed.remove_suffix(1);
  if (auto percent = parse_percent(trimmed)) return ProgressLine{*percent / 100.0, std::nullopt};
  return parse_progress_line(content);
}

std::string valid_utf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  while (!text.empty()) {
    if (std::size_t n = utf8_sequence_length(text)) {
      out.append(text.substr(0, n));
      text.remove_prefix(n);
    } else {
      out.append("\xEF\xBF\xBD");
      text.remove_prefix(1);
    }
  }
  return out;
}

}  // namespace wq::run
