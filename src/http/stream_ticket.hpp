// Stream tickets: how a browser watches a job's events with a token. EventSource cannot send
// an Authorization header, so the dashboard first asks (with its token) for a ticket, then
// opens GET /v1/jobs/{id}/events/stream?ticket=T. A ticket is not a token: it is bound to one
// job and one tenant, grants only reading that job's event stream, and expires after
// kTicketLifetime. It is an HMAC-SHA256 over (job, tenant, expiry) with a key drawn at random
// when the process starts, so tickets need no server-side state and die with the process
// (a client then gets 401 and asks for a new one). Tickets travel in the query string, which
// wqd never logs (request logs carry the path only).
//
// Threading: the key is created once (thread-safe static); every function is safe from any
// thread.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "http/routes.hpp"

namespace wq::http {

constexpr std::chrono::seconds kTicketLifetime{600};

// A ticket for `tenant` to read job `job_id`'s events until now + kTicketLifetime.
std::string issue_ticket(std::string_view job_id, std::string_view tenant);

// The tenant a ticket was issued to, if it is genuine, unexpired and issued for `job_id`.
std::optional<std::string> verify_ticket(std::string_view ticket, std::string_view job_id);

// POST /v1/jobs/{id}/events/ticket (authenticated) → 201 {ticket, expires_in, events_url};
// 404 for a job this tenant cannot see.
Response issue_stream_ticket(RequestContext& ctx, const Request& req);

// GET /v1/jobs/{id}/events/stream?ticket=T (no Authorization needed): the SSE/NDJSON stream
// of stream_events, as the ticket's tenant; 401 for a missing, forged or expired ticket.
boost::asio::awaitable<Written> stream_events_by_ticket(RequestContext& ctx, const Request& req,
                                                        Stream& stream);

}  // namespace wq::http
