#include "http/stream_ticket.hpp"

#include <fmt/format.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <array>
#include <boost/json/object.hpp>
#include <charconv>
#include <stdexcept>

#include "http/event_stream.hpp"

namespace wq::http {
namespace {

using Mac = std::array<unsigned char, 32>;

const std::array<unsigned char, 32>& process_key() {
  static const std::array<unsigned char, 32> key = [] {
    std::array<unsigned char, 32> k{};
    if (RAND_bytes(k.data(), static_cast<int>(k.size())) != 1) {
      throw std::runtime_error("stream tickets: the system random generator failed");
    }
    return k;
  }();
  return key;
}

Mac mac_of(std::string_view job_id, std::string_view tenant, std::int64_t expiry) {
  // NUL separators: neither a job id nor a tenant contains one, so fields cannot be shifted.
  std::string message = "wq-stream-ticket";
  message += '\0';
  message += job_id;
  message += '\0';
  message += tenant;
  message += '\0';
  message += std::to_string(expiry);
  Mac mac{};
  unsigned int len = 0;
  const auto& key = process_key();
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(message.data()), message.size(), mac.data(), &len);
  return mac;
}

std::string to_hex(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) out += fmt::format("{:02x}", c);
  return out;
}

std::optional<std::string> from_hex(std::string_view hex) {
  if (hex.size() % 2 != 0) return std::nullopt;
  std::string out;
  out.reserve(hex.size() / 2);
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    unsigned v = 0;
    auto [p, ec] = std::from_chars(hex.data() + i, hex.data() + i + 2, v, 16);
    if (ec != std::errc() || p != hex.data() + i + 2) return std::nullopt;
    out.push_back(static_cast<char>(v));
  }
  return out;
}

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

std::string issue_ticket(std::string_view job_id, std::string_view tenant) {
  const std::int64_t expiry = unix_now() + kTicketLifetime.count();
  const Mac mac = mac_of(job_id, tenant, expiry);
  return fmt::format("{}.{}.{}", to_hex(tenant), expiry,
                     to_hex({reinterpret_cast<const char*>(mac.data()), mac.size()}));
}

std::optional<std::string> verify_ticket(std::string_view ticket, std::string_view job_id) {
  const auto dot1 = ticket.find('.');
  const auto dot2 = dot1 == std::string_view::npos ? dot1 : ticket.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos) return std::nullopt;
  auto tenant = from_hex(ticket.substr(0, dot1));
  const std::string_view expiry_text = ticket.substr(dot1 + 1, dot2 - dot1 - 1);
  auto given = from_hex(ticket.substr(dot2 + 1));
  std::int64_t expiry = 0;
  auto [p, ec] =
      std::from_chars(expiry_text.data(), expiry_text.data() + expiry_text.size(), expiry);
  if (!tenant || !given || given->size() != Mac{}.size() || ec != std::errc() ||
      p != expiry_text.data() + expiry_text.size()) {
    return std::nullopt;
  }
  const Mac want = mac_of(job_id, *tenant, expiry);
  if (CRYPTO_memcmp(want.data(), given->data(), want.size()) != 0) return std::nullopt;
  if (unix_now() >= expiry) return std::nullopt;
  return tenant;
}

Response issue_stream_ticket(RequestContext& ctx, const Request& req) {
  auto job = ctx.env.queue.get(ctx.args[0], ctx.tenant);
  if (!job) return problem(req, job.error());
  const std::string ticket = issue_ticket(job->id, ctx.tenant);
  boost::json::object body;
  body["ticket"] = ticket;
  body["expires_in"] = kTicketLifetime.count();
  // Job ids are [A-Za-z0-9._-] and tickets [0-9a-f.]: both are safe in a URL as they are.
  body["events_url"] = fmt::format("/v1/jobs/{}/events/stream?ticket={}", job->id, ticket);
  return json_response(req, Status::created, body);
}

boost::asio::awaitable<Written> stream_events_by_ticket(RequestContext& ctx, const Request& req,
                                                        Stream& stream) {
  auto ticket = query_param(req, "ticket");
  std::optional<std::string> tenant;
  if (ticket) tenant = verify_ticket(*ticket, ctx.args[0]);
  if (!tenant) {
    ctx.env.metrics.auth_failures.fetch_add(1, std::memory_order_relaxed);
    co_return co_await send(
        stream,
        problem(req, Status::unauthorized,
                ticket ? "the stream ticket is not valid for this job or has expired; get a new "
                         "one with POST /v1/jobs/{id}/events/ticket"
                       : "this stream needs ?ticket=T from POST /v1/jobs/{id}/events/ticket "
                         "(or use /v1/jobs/{id}/events with an Authorization header)"));
  }
  ctx.tenant = std::move(*tenant);
  co_return co_await stream_events(ctx, req, stream);
}

}  // namespace wq::http
