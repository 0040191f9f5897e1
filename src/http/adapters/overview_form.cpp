#include "http/adapters/overview_form.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <boost/algorithm/string/predicate.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/url/encoding_opts.hpp>
#include <boost/url/params_view.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/parse_query.hpp>

#include "http/auth.hpp"

namespace wq::http::adapters {
namespace {

using Fields = std::map<std::string, std::string>;

constexpr std::string_view kExpected =
    "Expected form data ?server=...&documentSetId=... and Authorization header. Problem: ";
constexpr std::size_t kMaxValue = 4096;
// Overview's own API spells the password x-auth-token; its plugin docs x-api-token. Both mean
// "the user name is the token".
constexpr std::string_view kTokenPasswords[] = {"x-api-token", "x-auth-token"};

Error bad(std::string_view problem) {
  return make_error(Errc::bad_input, fmt::format("{}{}", kExpected, problem));
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

Result<Fields> read_query(std::string_view query) {
  if (!boost::urls::parse_query(query))
    return bad("the form data is not valid application/x-www-form-urlencoded");
  // Boost.URL 1.81's params_view(string_view, encoding_opts) decodes the last value up to the
  // end of the underlying buffer, not of the view: give it a string that ends where the view does.
  const std::string owned(query);
  Fields fields;
  for (auto param : boost::urls::params_view(owned, boost::urls::encoding_opts(true))) {
    fields.emplace(param.key, param.value);
  }
  return fields;
}

// The value of `name="…"` (or name=…) in a header's parameters.
std::string_view header_param(std::string_view header, std::string_view name) {
  for (std::size_t pos = 0; pos < header.size();) {
    std::size_t semi = header.find(';', pos);
    if (semi == std::string_view::npos) semi = header.size();
    std::string_view part = trim(header.substr(pos, semi - pos));
    pos = semi + 1;
    const auto eq = part.find('=');
    if (eq == std::string_view::npos || !boost::algorithm::iequals(trim(part.substr(0, eq)), name))
      continue;
    std::string_view value = trim(part.substr(eq + 1));
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"')
      value = value.substr(1, value.size() - 2);
    return value;
  }
  return {};
}

// RFC 7578 as browsers send it: parts separated by --BOUNDARY, each with a
// Content-Disposition: form-data; name="…" header. File parts are kept as their bytes.
Result<Fields> read_multipart(std::string_view content_type, std::string_view body) {
  const std::string_view boundary = header_param(content_type, "boundary");
  if (boundary.empty()) return bad("multipart/form-data without a boundary parameter");
  const std::string delimiter = fmt::format("--{}", boundary);
  Fields fields;
  std::size_t pos = body.find(delimiter);
  if (pos == std::string_view::npos) return bad("the multipart body has no part");
  for (;;) {
    pos += delimiter.size();
    if (body.substr(pos, 2) == "--") return fields;
    if (body.substr(pos, 2) != "\r\n") return bad("the multipart body is malformed");
    pos += 2;
    const auto head_end = body.find("\r\n\r\n", pos);
    const auto next = body.find("\r\n" + delimiter, pos);
    if (head_end == std::string_view::npos || next == std::string_view::npos || head_end > next)
      return bad("the multipart body is malformed or truncated");
    std::string_view name;
    for (std::string_view head = body.substr(pos, head_end - pos); !head.empty();) {
      const auto eol = head.find("\r\n");
      std::string_view line = head.substr(0, eol);
      head = eol == std::string_view::npos ? std::string_view() : head.substr(eol + 2);
      const auto colon = line.find(':');
      if (colon != std::string_view::npos &&
          boost::algorithm::iequals(trim(line.substr(0, colon)), "content-disposition"))
        name = header_param(line.substr(colon + 1), "name");
    }
    if (name.empty()) return bad("a multipart part has no Content-Disposition name");
    fields.emplace(name, body.substr(head_end + 4, next - head_end - 4));
    pos = next + 2;
  }
}

Result<Fields> read_json(std::string_view body) {
  boost::system::error_code ec;
  auto value = boost::json::parse(body, ec);
  if (ec || !value.is_object()) return bad("the JSON body is not an object");
  Fields fields;
  for (const auto& [key, v] : value.as_object()) {
    if (v.is_string()) {
      fields.emplace(key, v.as_string());
    } else if (v.is_int64() || v.is_uint64()) {
      fields.emplace(key, boost::json::serialize(v));
    } else {
      return bad(fmt::format("JSON field '{}' must be a string", std::string_view(key)));
    }
  }
  return fields;
}

// The seed's _extract_api_token.
Result<std::string> token_of_header(std::string_view header) {
  header = trim(header);
  const auto space = header.find(' ');
  if (space == std::string_view::npos ||
      !boost::algorithm::iequals(header.substr(0, space), "Basic"))
    return bad("Authorization header must look like \"Basic [base64-encoded data]\"");
  auto decoded = decode_base64(trim(header.substr(space + 1)));
  if (!decoded) return bad("Authorization header must look like \"Basic [base64-encoded data]\"");
  const auto colon = decoded->find(':');
  const bool shaped =
      colon != std::string::npos && colon > 0 &&
      std::find(std::begin(kTokenPasswords), std::end(kTokenPasswords),
                std::string_view(*decoded).substr(colon + 1)) != std::end(kTokenPasswords);
  if (!shaped)
    return bad("base64-encoded Basic HTTP Auth value must look like \"[api_token]:x-api-token\"");
  return decoded->substr(0, colon);
}

bool has_control_chars(std::string_view s) {
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) return true;
  }
  return false;
}

// The value of a field sent as `camelCase` (the seed's code) or `snake_case` (its prose).
const std::string* field(const Fields& fields, std::string_view camel, std::string_view snake) {
  for (std::string_view name : {camel, snake}) {
    auto it = fields.find(std::string(name));
    if (it != fields.end() && !it->second.empty()) return &it->second;
  }
  return nullptr;
}

Result<OverviewView> view_of(const Fields& fields, std::string_view authorization) {
  OverviewView view;
  const struct {
    std::string_view field;
    std::string_view alias;
    std::string OverviewView::*member;
  } kFields[] = {{"server", "server", &OverviewView::server},
                 {"documentSetId", "document_set_id", &OverviewView::document_set_id}};
  for (const auto& f : kFields) {
    const std::string* value = field(fields, f.field, f.alias);
    if (!value) return bad(fmt::format("missing form field '{}'", f.field));
    if (value->size() > kMaxValue || has_control_chars(*value))
      return bad(fmt::format("form field '{}' is over {} bytes or has control characters", f.field,
                             kMaxValue));
    view.*(f.member) = *value;
  }
  auto url = boost::urls::parse_absolute_uri(view.server);
  if (!url || (url->scheme() != "http" && url->scheme() != "https") || url->host().empty())
    return bad(
        fmt::format("server must be an http(s) URL like https://www.overviewdocs.com, "
                    "got '{}'",
                    view.server.substr(0, 200)));
  if (!authorization.empty()) {
    auto token = token_of_header(authorization);
    if (!token) return token.error();
    view.api_token = std::move(*token);
  } else if (const std::string* token = field(fields, "apiToken", "api_token")) {
    view.api_token = *token;
  } else {
    return bad("missing Authorization header (or apiToken form field)");
  }
  if (view.api_token.size() > kMaxValue || has_control_chars(view.api_token))
    return bad(fmt::format("the API token is over {} bytes or has control characters", kMaxValue));
  return view;
}

}  // namespace

Result<Fields> read_form(std::string_view content_type, std::string_view body) {
  const std::string_view mime = trim(content_type.substr(0, content_type.find(';')));
  if (boost::algorithm::iequals(mime, "application/x-www-form-urlencoded")) return read_query(body);
  if (boost::algorithm::iequals(mime, "multipart/form-data"))
    return read_multipart(content_type, body);
  if (boost::algorithm::iequals(mime, "application/json")) return read_json(body);
  if (mime.empty() && body.empty()) return Fields{};
  return bad(
      fmt::format("Content-Type must be application/x-www-form-urlencoded, "
                  "multipart/form-data or application/json, got '{}'",
                  mime.substr(0, 100)));
}

Result<OverviewView> read_generate_request(const Request& req) {
  auto fields = read_form(req[bhttp::field::content_type], req.body());
  if (!fields) return fields.error();
  return view_of(*fields, req[bhttp::field::authorization]);
}

Result<OverviewView> read_view_query(const Request& req) {
  const std::string_view target = req.target();
  const auto q = target.find('?');
  auto fields = read_query(q == std::string_view::npos ? std::string_view() : target.substr(q + 1));
  if (!fields) return fields.error();
  return view_of(*fields, req[bhttp::field::authorization]);
}

}  // namespace wq::http::adapters
