#include "client/transport.hpp"

#include <fmt/format.h>

#include <boost/beast/http/buffer_body.hpp>
#include <boost/json/parse.hpp>
#include <boost/url/parse.hpp>
#include <ostream>
#include <thread>

namespace wq::client {
namespace {

namespace json = boost::json;

constexpr std::size_t kMaxIdle = 16;
constexpr std::uint64_t kMaxReplyBody = std::uint64_t{64} << 20;

struct StatusErrc {
  unsigned status;
  Errc code;
};

// Statuses not listed are server_error (5xx) or bad_input (other 4xx). A 404 or 409 means
// more than one thing (unknown task or job; conflict or not finished): callers that know
// which refine it (wqd's problem `type` names the status, not the cause).
constexpr StatusErrc kStatusErrc[] = {
    {400, Errc::bad_input},  {401, Errc::unauthorized},  {403, Errc::unauthorized},
    {404, Errc::not_found},  {409, Errc::conflict},      {413, Errc::too_large},
    {429, Errc::queue_full}, {503, Errc::shutting_down},
};

bool is_connection_failure(const error_code& ec) {
  return ec && ec != boost::asio::error::operation_aborted;
}

}  // namespace

Result<Endpoint> Transport::parse_server(const std::string& given) {
  const std::string url = given.find("://") == std::string::npos ? "http://" + given : given;
  auto parsed = boost::urls::parse_uri(url);
  auto bad = [&](std::string_view why) {
    return make_error(
        Errc::bad_input,
        fmt::format("server '{}' {}; give it like http://127.0.0.1:8080", given, why));
  };
  if (!parsed) return bad("is not a URL");
  if (parsed->scheme() != "http") {
    return bad(parsed->scheme() == "https"
                   ? "uses https, which this client does not speak; reach wqd over http"
                   : "must start with http://");
  }
  if (parsed->encoded_host().empty()) return bad("names no host");
  if (!parsed->encoded_path().empty() && parsed->encoded_path() != "/")
    return bad("has a path; give only the scheme, host and port");
  Endpoint e;
  e.host = parsed->host_type() == boost::urls::host_type::ipv6
               ? parsed->host_ipv6_address().to_string()
               : std::string(parsed->host());
  e.port = parsed->has_port() ? std::string(parsed->port()) : "80";
  e.url = fmt::format("http://{}", std::string_view(parsed->encoded_host_and_port()));
  return e;
}

Millis Transport::backoff(int attempt) {
  return Millis(std::min<std::int64_t>(1000, std::int64_t{50} << std::min(attempt, 5)));
}

bhttp::request<bhttp::string_body> Transport::make_request(bhttp::verb method,
                                                           const std::string& target,
                                                           std::string body) const {
  bhttp::request<bhttp::string_body> req{method, target, 11};
  req.set(bhttp::field::host, options_.endpoint.host);
  req.set(bhttp::field::user_agent, "wq-client");
  if (options_.token) req.set(bhttp::field::authorization, "Bearer " + *options_.token);
  if (method == bhttp::verb::post || !body.empty()) {
    req.set(bhttp::field::content_type, "application/json");
    req.body() = std::move(body);
  }
  req.keep_alive(true);
  req.prepare_payload();
  return req;
}

std::unique_ptr<Connection> Transport::take() {
  std::lock_guard lock(mu_);
  while (!idle_.empty()) {
    auto c = std::move(idle_.back());
    idle_.pop_back();
    if (c->still_open()) return c;
  }
  return new_connection();
}

void Transport::give_back(std::unique_ptr<Connection> c) {
  std::lock_guard lock(mu_);
  if (idle_.size() < kMaxIdle) idle_.push_back(std::move(c));
}

error_code Transport::attempt(Connection& c, bhttp::request<bhttp::string_body>& req,
                              bhttp::response<bhttp::string_body>& res, bool& sent) {
  sent = false;
  requests.fetch_add(1, std::memory_order_relaxed);
  if (auto ec = c.connect(options_.timeout)) return ec;
  sent = true;
  if (auto ec = c.write(req, options_.timeout)) return ec;
  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(kMaxReplyBody);
  if (auto ec = c.read(parser, options_.timeout)) return ec;
  res = parser.release();
  return {};
}

Result<Reply> Transport::call(bhttp::verb method, const std::string& target, std::string body,
                              Repeat repeat) {
  auto req = make_request(method, target, std::move(body));
  error_code last;
  for (int n = 1; n <= std::max(1, options_.attempts); ++n) {
    if (n > 1) {
      retries.fetch_add(1, std::memory_order_relaxed);
      std::this_thread::sleep_for(backoff(n - 1));
    }
    auto c = take();
    bhttp::response<bhttp::string_body> res;
    bool sent = false;
    last = attempt(*c, req, res, sent);
    if (!last) {
      Reply r{res.result_int(), std::string(res[bhttp::field::content_type]),
              std::move(res.body())};
      if (res.keep_alive()) give_back(std::move(c));
      return r;
    }
    if (!is_connection_failure(last) || (sent && repeat == Repeat::no)) break;
  }
  return unreachable(last);
}

Result<json::value> Transport::call_json(bhttp::verb method, const std::string& target,
                                         std::string body, Repeat repeat) {
  auto reply = call(method, target, std::move(body), repeat);
  if (!reply) return reply.error();
  if (reply->status < 200 || reply->status >= 300) return error_of(*reply);
  error_code ec;
  json::value v = json::parse(reply->body, ec);
  if (ec) {
    return make_error(Errc::server_error,
                      fmt::format("wqd at {} answered {} with a body that is not JSON ({}); is "
                                  "that address really wqd?",
                                  options_.endpoint.url, target, ec.message()));
  }
  return v;
}

Result<std::uint64_t> Transport::download(const std::string& target, std::ostream& out) {
  auto req = make_request(bhttp::verb::get, target);
  error_code last;
  for (int n = 1; n <= std::max(1, options_.attempts); ++n) {
    if (n > 1) {
      retries.fetch_add(1, std::memory_order_relaxed);
      std::this_thread::sleep_for(backoff(n - 1));
    }
    auto c = take();
    requests.fetch_add(1, std::memory_order_relaxed);
    if ((last = c->connect(options_.timeout)) || (last = c->write(req, options_.timeout))) continue;
    bhttp::response_parser<bhttp::buffer_body> parser;
    parser.body_limit(boost::none);
    if ((last = c->read_header(parser, options_.timeout))) continue;
    const unsigned status = parser.get().result_int();
    Reply error_reply{status, std::string(parser.get()[bhttp::field::content_type]), {}};
    std::uint64_t written = 0;
    char buf[64 * 1024];
    while (!parser.is_done()) {
      parser.get().body().data = buf;
      parser.get().body().size = sizeof buf;
      last = c->read_some(parser, options_.timeout);
      if (last == bhttp::error::need_buffer) last = {};
      if (last) break;
      const std::size_t got = sizeof buf - parser.get().body().size;
      if (status == 200) {
        out.write(buf, static_cast<std::streamsize>(got));
        if (!out) {
          return make_error(Errc::bad_input,
                            "cannot write the result: the output stream failed (disk full?)");
        }
        written += got;
      } else if (error_reply.body.size() < (1u << 20)) {
        error_reply.body.append(buf, got);
      }
    }
    // Bytes already written cannot be taken back from a caller's stream: no retry then.
    if (last && written > 0) break;
    if (last) continue;
    if (parser.get().keep_alive()) give_back(std::move(c));
    if (status != 200) {
      Error e = error_of(error_reply);
      if (status == 409) e.code = Errc::not_finished;  // the only conflict a download has
      return e;
    }
    return written;
  }
  return unreachable(last);
}

Error Transport::error_of(const Reply& reply) const {
  std::string detail;
  error_code ec;
  json::value v = json::parse(reply.body, ec);
  if (!ec && v.is_object()) {
    const auto& o = v.as_object();
    if (auto d = o.if_contains("detail"); d && d->is_string()) detail = d->as_string();
  }
  if (detail.empty()) {
    detail =
        fmt::format("wqd at {} answered HTTP {} without a problem detail{}", options_.endpoint.url,
                    reply.status, reply.body.empty() ? "" : ": " + reply.body.substr(0, 200));
  }
  Errc code = reply.status >= 500 ? Errc::server_error : Errc::bad_input;
  for (const auto& e : kStatusErrc) {
    if (e.status == reply.status) {
      code = e.code;
      break;
    }
  }
  return make_error(code, std::move(detail));
}

Error Transport::unreachable(const error_code& ec) const {
  std::string why = ec.message();
  if (ec == boost::asio::error::timed_out) {
    why = fmt::format("no answer within {} ms", options_.timeout.count());
  } else if (ec == bhttp::error::end_of_stream || ec == boost::asio::error::eof ||
             ec == boost::asio::error::connection_reset || ec == bhttp::error::partial_message) {
    why = "the connection was lost";
  }
  for (auto& c : why) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return make_error(Errc::unreachable,
                    fmt::format("cannot reach wqd at {}: {}", options_.endpoint.url, why));
}

}  // namespace wq::client
