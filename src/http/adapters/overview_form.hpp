// What an Overview plugin request carries (the Overview seed's OverviewViewParams): the view's
// server, document set and API token, read the ways Overview's plugin front ends send them.
// Pure functions; thread-safe.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "http/response.hpp"
#include "wq/error.hpp"

namespace wq::http::adapters {

struct OverviewView {
  std::string server;           // e.g. https://www.overviewdocs.com
  std::string document_set_id;  // e.g. 1234
  std::string api_token;        // secret: never logged or returned
};

// POST /generate: `server` and `documentSetId` from the body (application/x-www-form-urlencoded,
// multipart/form-data as a browser's FormData sends it, or a JSON object), the token from
// `Authorization: Basic base64(TOKEN:x-api-token)` or else an `apiToken` field (the seed's
// prose spells them document_set_id and api_token: accepted too). Errc::bad_input
// in the seed's words: "Expected form data ?server=...&documentSetId=... and Authorization
// header. Problem: …".
Result<OverviewView> read_generate_request(const Request& req);

// GET requests of the plugin's own pages: the same three values from the query string (and the
// Authorization header, which wins over an apiToken parameter).
Result<OverviewView> read_view_query(const Request& req);

// The fields of a form body of the given Content-Type; Errc::bad_input for a body that does
// not parse or a type that is not a form.
Result<std::map<std::string, std::string>> read_form(std::string_view content_type,
                                                     std::string_view body);

}  // namespace wq::http::adapters
