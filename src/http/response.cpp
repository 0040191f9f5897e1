#include "http/response.hpp"

#include "core/json_text.hpp"

namespace wq::http {
namespace {

struct ErrcStatus {
  Errc code;
  Status status;
  std::string_view type;
};

constexpr ErrcStatus kErrcStatus[] = {
    {Errc::bad_input, Status::bad_request, "bad-input"},
    {Errc::unknown_task, Status::not_found, "unknown-task"},
    {Errc::not_found, Status::not_found, "not-found"},
    {Errc::conflict, Status::conflict, "conflict"},
    {Errc::not_finished, Status::conflict, "not-finished"},
    {Errc::queue_full, Status::too_many_requests, "queue-full"},
    {Errc::too_large, Status::payload_too_large, "too-large"},
    {Errc::shutting_down, Status::service_unavailable, "shutting-down"},
};

std::string_view type_of(Status status) noexcept {
  for (const auto& e : kErrcStatus) {
    if (e.status == status) return e.type;
  }
  return bhttp::obsolete_reason(status);
}

Response base(const Request& req, Status status) {
  Response res{status, req.version()};
  res.set(bhttp::field::server, "wqd");
  res.keep_alive(req.keep_alive());
  return res;
}

}  // namespace

Status status_of(Errc code) noexcept {
  for (const auto& e : kErrcStatus) {
    if (e.code == code) return e.status;
  }
  return Status::internal_server_error;
}

std::string_view path_of(const Request& req) noexcept {
  std::string_view target = req.target();
  return target.substr(0, target.find('?'));
}

Response json_response(const Request& req, Status status, const boost::json::value& body) {
  Response res = base(req, status);
  res.set(bhttp::field::content_type, "application/json");
  res.body() = json_text(body);
  res.prepare_payload();
  return res;
}

Response text_response(const Request& req, Status status, std::string body,
                       std::string_view content_type) {
  Response res = base(req, status);
  res.set(bhttp::field::content_type, content_type);
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

Response problem(const Request& req, Status status, std::string_view detail) {
  boost::json::object body;
  std::string type = "https://workqueue.dev/problems/";
  for (char c : type_of(status)) type += c == ' ' ? '-' : static_cast<char>(std::tolower(c));
  body["type"] = type;
  body["title"] = bhttp::obsolete_reason(status);
  body["status"] = static_cast<int>(status);
  body["detail"] = detail;
  body["instance"] = path_of(req);
  Response res = base(req, status);
  res.set(bhttp::field::content_type, "application/problem+json");
  if (status == Status::too_many_requests || status == Status::service_unavailable) {
    res.set(bhttp::field::retry_after, "1");
  }
  res.body() = json_text(body);
  res.prepare_payload();
  return res;
}

Response problem(const Request& req, const Error& error) {
  return problem(req, status_of(error.code), error.detail);
}

}  // namespace wq::http
