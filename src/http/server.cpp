#include "http/server.hpp"

#include <fmt/format.h>
#include <pthread.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <charconv>
#include <csignal>

#include "core/log.hpp"
#include "run/batch_policy.hpp"

namespace wq::http {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;

int io_threads(const ServerConfig& c) {
  if (c.threads > 0) return c.threads;
  return std::clamp(static_cast<int>(std::thread::hardware_concurrency()), 1, 4);
}

std::vector<std::unique_ptr<asio::io_context>> make_iocs(int n) {
  std::vector<std::unique_ptr<asio::io_context>> iocs;
  for (int i = 0; i < n; ++i) iocs.push_back(std::make_unique<asio::io_context>(1));
  return iocs;
}

void log_exception(std::exception_ptr e, std::string_view what) {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    log::error(what, {{"error", ex.what()}});
  }
}

}  // namespace

Result<tcp::endpoint> parse_listen(std::string_view listen) {
  const auto colon = listen.rfind(':');
  auto bad = [&](std::string_view why) {
    return make_error(Errc::config_invalid,
                      fmt::format("listen address '{}': {}; expected HOST:PORT like "
                                  "127.0.0.1:8080 or [::1]:8080",
                                  listen, why));
  };
  if (colon == std::string_view::npos) return bad("no port");
  std::string_view host = listen.substr(0, colon);
  const std::string_view port_text = listen.substr(colon + 1);
  unsigned port = 0;
  auto [p, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || p != port_text.data() + port_text.size() || port > 65535)
    return bad("bad port");
  if (host.starts_with('[') && host.ends_with(']')) host = host.substr(1, host.size() - 2);
  if (host == "localhost") host = "127.0.0.1";
  boost::system::error_code aec;
  auto address = asio::ip::make_address(host.empty() ? "0.0.0.0" : host, aec);
  if (aec) return bad("the host must be an IP address or localhost");
  return tcp::endpoint(address, static_cast<unsigned short>(port));
}

Server::Server(Queue& queue, ServerConfig config, Authenticator auth)
    : queue_(queue),
      config_(std::move(config)),
      auth_(std::move(auth)),
      streams_(config_.max_streams),
      finished_jobs_(queue_, queue_.config().store_url().starts_with("sqlite:")),
      iocs_(make_iocs(io_threads(config_))),
      blocking_(std::max<std::size_t>(8, 4 * iocs_.size())),
      env_{queue_, config_, auth_, metrics_, streams_, finished_jobs_, blocking_, draining_},
      acceptor_(*iocs_.front()),
      signals_(*iocs_.front(), SIGINT, SIGTERM) {}

Server::~Server() {
  if (stopper_.joinable()) stopper_.join();
  blocking_.join();
}

Result<tcp::endpoint> Server::listen() {
  auto endpoint = parse_listen(config_.listen);
  if (!endpoint) return endpoint.error();
  boost::system::error_code ec;
  acceptor_.open(endpoint->protocol(), ec);
  if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(*endpoint, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return make_error(Errc::config_invalid,
                      fmt::format("cannot listen on {}: {}", config_.listen, ec.message()));
  }
  return acceptor_.local_endpoint();
}

asio::awaitable<void> Server::accept_loop() {
  while (acceptor_.is_open()) {
    asio::io_context& ioc = *iocs_[next_ioc_++ % iocs_.size()];
    auto [ec, socket] = co_await acceptor_.async_accept(ioc.get_executor(),
                                                        asio::as_tuple(asio::use_awaitable));
    if (ec == asio::error::operation_aborted || !acceptor_.is_open()) break;
    if (ec) {
      // Out of descriptors and the like: back off instead of spinning on the error.
      log::warn("accept failed", {{"error", ec.message()}});
      asio::steady_timer pause(acceptor_.get_executor(), std::chrono::milliseconds(100));
      co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
      continue;
    }
    socket.set_option(tcp::no_delay(true), ec);
    auto executor = socket.get_executor();
    asio::co_spawn(executor, run_session(env_, connections_, Stream(std::move(socket))),
                   [](std::exception_ptr e) { log_exception(e, "connection failed"); });
  }
}

void Server::run() {
  for (auto& ioc : iocs_) work_.push_back(asio::make_work_guard(*ioc));
  signals_.async_wait([this](const boost::system::error_code& ec, int signal) {
    if (ec) return;
    log::info("signal received; shutting down", {{"signal", signal}});
    shutdown();
  });
  asio::co_spawn(acceptor_.get_executor(), accept_loop(),
                 [](std::exception_ptr e) { log_exception(e, "accept loop failed"); });
  // SCHED_BATCH (see server.hpp). HTTP-W1, four interleaved pairs: 15,450 / 14,020 / 13,220 /
  // 15,100 -> 16,510 / 15,710 / 15,870 / 15,680 jobs/s, server CPU 82-96 -> 73-78 us a job;
  // HTTP-W2-start p50 (0.143-0.156 against 0.142-0.165 ms), HTTP-GET and FANOUT no worse.
  // This thread first: once a wq-http thread exists, every HTTP thread is under the policy.
  run::run_as_batch();
  std::vector<std::thread> threads;
  for (std::size_t i = 1; i < iocs_.size(); ++i) {
    threads.emplace_back([this, i] {
      run::run_as_batch();
      pthread_setname_np(pthread_self(), "wq-http");  // after: named means batch (tests)
      iocs_[i]->run();
    });
  }
  iocs_.front()->run();
  for (auto& t : threads) t.join();
  if (stopper_.joinable()) stopper_.join();
}

void Server::shutdown() {
  if (draining_.exchange(true)) return;
  asio::post(acceptor_.get_executor(), [this] {
    boost::system::error_code ec;
    acceptor_.close(ec);
    signals_.cancel(ec);
  });
  connections_.close_idle();
  stopper_ = std::thread([this] { drain(); });
}

// Runs on stopper_: jobs first get their grace period while streams keep reporting them, so a
// job that finishes in time still reaches its watchers with its terminal snapshot.
void Server::drain() {
  log::info("draining: waiting for running jobs", {{"grace_ms", config_.shutdown_grace.count()}});
  queue_.stop(config_.shutdown_grace);
  streams_.close_all();
  connections_.close_idle();
  asio::post(*iocs_.front(), [this] { work_.clear(); });
  log::info("drained: jobs stopped, streams closed");
}

}  // namespace wq::http
