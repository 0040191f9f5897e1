// Who is asking (DESIGN §6): `Authorization: Bearer TOKEN`, or the Overview form
// `Basic base64(TOKEN:x-api-token)`. Tokens are configured as SHA-256 hex digests, each mapping
// to a tenant; the presented token is hashed and looked up, never stored, compared in clear or
// logged. Open mode (no token needed, tenant "") exists only when configured, and only on a
// loopback listen address unless open_public is set.
//
// Threading: immutable after create(); safe from any thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "wq/config.hpp"
#include "wq/error.hpp"

namespace wq::http {

class Authenticator {
 public:
  // Validates the auth settings against the listen address: Errc::config_invalid when nobody
  // could authenticate (no tokens, not open) or open mode would face a public address.
  static Result<Authenticator> create(const ServerConfig& config);

  // The tenant an Authorization header value authenticates as; empty `authorization` means
  // no header. nullopt: refuse (401). A header with a wrong token is refused even in open mode.
  std::optional<std::string> tenant(std::string_view authorization) const;

  bool open() const noexcept { return open_; }

 private:
  std::unordered_map<std::string, std::string> tenant_by_hash_;
  bool open_ = false;
};

// True for 127.0.0.0/8, ::1 and "localhost" (the host part of HOST:PORT or [HOST]:PORT).
bool is_loopback_listen(std::string_view listen) noexcept;

// Standard base64 (RFC 4648, padding optional); nullopt on any invalid character.
std::optional<std::string> decode_base64(std::string_view in);

}  // namespace wq::http
