// The dashboard's static files (web/), compiled into wqd: cmake/embed_web.cmake generates
// web_assets.cpp from them at build time, so the binary serves the page without any files
// beside it. Immutable data; no threading concerns.
#pragma once

#include <span>
#include <string_view>

namespace wq::http {

struct WebAsset {
  std::string_view name;          // file name under web/, e.g. "app.js"
  std::string_view content_type;  // from the extension
  std::string_view etag;          // quoted strong validator: a prefix of the file's SHA-256
  std::string_view body;
};

std::span<const WebAsset> web_assets();

}  // namespace wq::http
