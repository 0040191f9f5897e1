#include "http/auth.hpp"

#include <fmt/format.h>

#include <boost/algorithm/string/predicate.hpp>

#include "core/json_text.hpp"

namespace wq::http {
namespace {

constexpr std::string_view kOverviewPassword = "x-api-token";

std::string_view trim(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

std::string_view host_of(std::string_view listen) {
  if (listen.starts_with('[')) return listen.substr(1, listen.find(']') - 1);
  return listen.substr(0, listen.rfind(':'));
}

}  // namespace

bool is_loopback_listen(std::string_view listen) noexcept {
  const std::string_view host = host_of(listen);
  return host == "localhost" || host == "::1" || host.starts_with("127.");
}

std::optional<std::string> decode_base64(std::string_view in) {
  while (!in.empty() && in.back() == '=') in.remove_suffix(1);
  std::string out;
  out.reserve(in.size() * 3 / 4);
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    int v;
    if (c >= 'A' && c <= 'Z')
      v = c - 'A';
    else if (c >= 'a' && c <= 'z')
      v = c - 'a' + 26;
    else if (c >= '0' && c <= '9')
      v = c - '0' + 52;
    else if (c == '+')
      v = 62;
    else if (c == '/')
      v = 63;
    else
      return std::nullopt;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return out;
}

Result<Authenticator> Authenticator::create(const ServerConfig& config) {
  Authenticator a;
  a.open_ = config.open;
  for (const auto& t : config.tokens) a.tenant_by_hash_.emplace(t.sha256, t.tenant);
  if (!a.open_ && a.tenant_by_hash_.empty()) {
    return make_error(Errc::config_invalid,
                      "server.tokens: no tokens are configured and server.open is false, so no "
                      "request could be served; add tokens = [{ sha256 = \"…\", tenant = \"…\" }] "
                      "or set open = true for local use");
  }
  if (a.open_ && !config.open_public && !is_loopback_listen(config.listen)) {
    return make_error(
        Errc::config_invalid,
        fmt::format("server.open: open mode serves anyone who can reach {}; listen on "
                    "127.0.0.1, configure tokens, or set open_public = true",
                    config.listen));
  }
  return a;
}

std::optional<std::string> Authenticator::tenant(std::string_view authorization) const {
  authorization = trim(authorization);
  if (authorization.empty()) return open_ ? std::optional<std::string>("") : std::nullopt;
  std::string token;
  const auto space = authorization.find(' ');
  if (space == std::string_view::npos) return std::nullopt;
  const std::string_view scheme = authorization.substr(0, space);
  const std::string_view credentials = trim(authorization.substr(space + 1));
  if (boost::algorithm::iequals(scheme, "Bearer")) {
    token = credentials;
  } else if (boost::algorithm::iequals(scheme, "Basic")) {
    auto decoded = decode_base64(credentials);
    if (!decoded) return std::nullopt;
    const auto colon = decoded->find(':');
    const std::string_view password = colon == std::string::npos
                                          ? std::string_view()
                                          : std::string_view(*decoded).substr(colon + 1);
    if (!password.empty() && password != kOverviewPassword) return std::nullopt;
    token = decoded->substr(0, colon);
  } else {
    return std::nullopt;
  }
  if (token.empty()) return std::nullopt;
  auto it = tenant_by_hash_.find(sha256_hex(token));
  if (it == tenant_by_hash_.end()) return std::nullopt;
  return it->second;
}

}  // namespace wq::http
