// Fan-out: 1,000 concurrent SSE streams on one job, against a real wqd. All 1,000 connect
// while the job waits in the queue; only when every one of them has its first event does the
// job get to run; each must then see increasing seqs and exactly one terminal snapshot, the
// last thing before the end of its chunked body.
//
// Threading: the streams are coroutines on one io_context run by the test thread.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/json.hpp>
#include <functional>

#include "integration/http_client.hpp"
#include "integration/wqd_process.hpp"

namespace wq::test {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;

constexpr int kStreams = 1000;

// The descriptors for 1,000 client sockets (and, in wqd, which inherits the limit, 1,000
// server sockets): soft limit up to the hard one.
void raise_fd_limit() {
  rlimit lim{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &lim), 0);
  lim.rlim_cur = lim.rlim_max;
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &lim), 0);
  ASSERT_GE(lim.rlim_cur, static_cast<rlim_t>(kStreams + 100))
      << "the hard limit on open files is too low for this test; raise it (ulimit -Hn)";
}

// Decodes a chunked HTTP/1.1 response as it arrives: the head, then the chunks' bytes.
class ChunkedReader {
 public:
  // Consumes what it can from `raw`. False on a malformed response.
  bool feed(std::string& raw) {
    if (!head_done_) {
      const auto end = raw.find("\r\n\r\n");
      if (end == std::string::npos) return true;
      head_ = raw.substr(0, end);
      raw.erase(0, end + 4);
      head_done_ = true;
    }
    while (!finished_) {
      const auto eol = raw.find("\r\n");
      if (eol == std::string::npos) return true;
      std::size_t size = 0;
      try {
        size = std::stoul(raw.substr(0, eol), nullptr, 16);
      } catch (const std::exception&) {
        return false;
      }
      if (raw.size() < eol + 2 + size + 2) return true;
      body_.append(raw, eol + 2, size);
      raw.erase(0, eol + 2 + size + 2);
      if (size == 0) finished_ = true;
    }
    return true;
  }
  const std::string& head() const { return head_; }
  const std::string& body() const { return body_; }
  bool finished() const { return finished_; }

 private:
  bool head_done_ = false;
  bool finished_ = false;
  std::string head_;
  std::string body_;
};

struct StreamResult {
  std::string head;
  std::string body;  // the SSE text
  bool finished = false;
  std::string error;
};

asio::awaitable<void> watch_one(tcp::endpoint server, std::string target, StreamResult& out,
                                std::function<void()> on_first_event) {
  tcp::socket socket(co_await asio::this_coro::executor);
  auto [connect_ec] = co_await socket.async_connect(server, asio::as_tuple(asio::use_awaitable));
  if (connect_ec) {
    out.error = "connect: " + connect_ec.message();
    co_return;
  }
  const std::string request =
      fmt::format("GET {} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n", target);
  auto [write_ec, written] =
      co_await asio::async_write(socket, asio::buffer(request), asio::as_tuple(asio::use_awaitable));
  if (write_ec) {
    out.error = "write: " + write_ec.message();
    co_return;
  }
  ChunkedReader reader;
  std::string raw;
  char buf[4096];
  bool first = true;
  while (!reader.finished()) {
    auto [ec, n] = co_await socket.async_read_some(asio::buffer(buf), asio::as_tuple(asio::use_awaitable));
    if (ec) {
      out.error = "read: " + ec.message();
      break;
    }
    raw.append(buf, n);
    if (!reader.feed(raw)) {
      out.error = "malformed chunked body";
      break;
    }
    if (first && reader.body().find("\n\n") != std::string::npos) {
      first = false;
      on_first_event();
    }
  }
  out.head = reader.head();
  out.body = reader.body();
  out.finished = reader.finished();
}

struct SseEvent {
  std::uint64_t id = 0;
  boost::json::value data;
};

std::vector<SseEvent> parse_sse(const std::string& text) {
  std::vector<SseEvent> events;
  std::size_t pos = 0;
  for (auto end = text.find("\n\n"); end != std::string::npos; end = text.find("\n\n", pos)) {
    const std::string record = text.substr(pos, end - pos);
    pos = end + 2;
    if (record.starts_with(":")) continue;  // keep-alive comment
    SseEvent e;
    std::size_t line_start = 0;
    while (line_start < record.size()) {
      auto nl = record.find('\n', line_start);
      if (nl == std::string::npos) nl = record.size();
      const std::string line = record.substr(line_start, nl - line_start);
      line_start = nl + 1;
      if (line.starts_with("id: ")) e.id = std::stoull(line.substr(4));
      if (line.starts_with("data: ")) e.data = boost::json::parse(line.substr(6));
    }
    events.push_back(std::move(e));
  }
  return events;
}

TEST(EventStreams, AThousandConcurrentStreamsOnOneJobAllReceiveTheTerminalEvent) {
  raise_fd_limit();
  // One job at a time: `hold` keeps the slot until it is cancelled, and the watched job waits
  // behind it in the queue.
  WqdProcess server("concurrency = 1\n[server]\nopen = true\nmax_streams = 1100\n" +
                    test_tasks_toml());
  ASSERT_NE(server.port(), 0) << "wqd did not start";
  HttpClient api(server.port());
  Reply blocker = api.post("/v1/jobs", R"({"task":"hold","params":{"ms":120000}})");
  ASSERT_EQ(blocker.status, 201u) << blocker.body;
  const std::string blocker_id(blocker.json().at("id").as_string());
  Reply watched = api.post("/v1/jobs", R"({"task":"count","params":{"n":5,"delay":0.01}})");
  ASSERT_EQ(watched.status, 201u) << watched.body;
  const std::string id(watched.json().at("id").as_string());
  ASSERT_EQ(watched.json().at("state").as_string(), "queued");

  asio::io_context ioc(1);
  const tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), server.port());
  std::vector<StreamResult> results(kStreams);
  int first_events = 0;
  bool released = false;
  std::string release_error;
  auto on_first_event = [&] {
    if (++first_events < kStreams) return;
    // Every stream is open and subscribed: let the watched job run.
    Reply cancel = api.post("/v1/jobs/" + blocker_id + "/cancel", "");
    released = cancel.status == 200;
    if (!released) release_error = cancel.body;
  };
  for (auto& result : results) {
    asio::co_spawn(ioc, watch_one(endpoint, "/v1/jobs/" + id + "/events", result, on_first_event),
                   asio::detached);
  }
  // Hang guard only: a healthy run takes a few seconds.
  ioc.run_for(std::chrono::seconds(90));
  ASSERT_TRUE(released) << "only " << first_events << " of " << kStreams
                        << " streams got their first event; " << release_error;

  int succeeded = 0;
  for (int i = 0; i < kStreams; ++i) {
    const StreamResult& r = results[static_cast<std::size_t>(i)];
    ASSERT_TRUE(r.error.empty()) << "stream " << i << ": " << r.error;
    ASSERT_TRUE(r.head.starts_with("HTTP/1.1 200")) << "stream " << i << ": " << r.head;
    ASSERT_TRUE(r.finished) << "stream " << i << " did not end";
    const auto events = parse_sse(r.body);
    ASSERT_FALSE(events.empty()) << "stream " << i;
    std::uint64_t last = 0;
    int terminals = 0;
    for (const auto& e : events) {
      const auto state = e.data.at("state").as_string();
      // A queued job's position refresh repeats its seq (DESIGN §4); anything else is newer.
      if (state == "queued") {
        ASSERT_GE(e.id, last) << "stream " << i << ": seqs must not go back";
      } else {
        ASSERT_GT(e.id, last) << "stream " << i << ": seqs must increase";
      }
      last = e.id;
      if (state == "succeeded" || state == "failed" || state == "cancelled") ++terminals;
    }
    ASSERT_EQ(terminals, 1) << "stream " << i << ": exactly one terminal event";
    const auto& terminal = events.back().data;
    ASSERT_EQ(terminal.at("state").as_string(), "succeeded") << "stream " << i;
    EXPECT_EQ(terminal.at("fraction").to_number<double>(), 1.0);
    EXPECT_EQ(terminal.at("returncode").as_int64(), 0);
    EXPECT_EQ(events.front().data.at("state").as_string(), "queued")
        << "stream " << i << " should have connected while the job was queued";
    ++succeeded;
  }
  EXPECT_EQ(succeeded, kStreams);
  // The server is still healthy.
  EXPECT_EQ(api.get("/healthz").status, 200u);
}

}  // namespace
}  // namespace wq::test
