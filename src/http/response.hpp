// How wqd builds responses: the message types, JSON bodies, and RFC 9457 problem+json errors
// whose `detail` tells the client what to fix. Pure functions; no threading concerns.
#pragma once

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/json/value.hpp>
#include <string>
#include <string_view>

#include "wq/error.hpp"

namespace wq::http {

namespace bhttp = boost::beast::http;
using Request = bhttp::request<bhttp::string_body>;
using Response = bhttp::response<bhttp::string_body>;
using Status = bhttp::status;

// The HTTP status an error code maps to: bad_input 400, unknown_task and not_found 404,
// conflict and not_finished 409, too_large 413, queue_full 429, shutting_down 503, the rest 500.
Status status_of(Errc code) noexcept;

// A JSON response with `status` (serialized compactly, Content-Type application/json).
Response json_response(const Request& req, Status status, const boost::json::value& body);

// An application/problem+json response: {type, title, status, detail, instance}.
// `instance` is the request path without its query. 429 and 503 carry Retry-After.
Response problem(const Request& req, Status status, std::string_view detail);
// The problem for an error value; its status from status_of(error.code).
Response problem(const Request& req, const Error& error);

// A plain response with a body and content type.
Response text_response(const Request& req, Status status, std::string body,
                       std::string_view content_type);

// The request path without the query string.
std::string_view path_of(const Request& req) noexcept;

}  // namespace wq::http
