#include "integration/http_client.hpp"

#include <boost/algorithm/string/case_conv.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/json/parse.hpp>
#include <charconv>
#include <stdexcept>

namespace wq::test {

namespace asio = boost::asio;
using asio::ip::tcp;

boost::json::value Reply::json() const { return boost::json::parse(body); }

std::string Reply::header(const std::string& name) const {
  auto it = headers.find(name);
  return it == headers.end() ? std::string() : it->second;
}

boost::json::value Event::json() const { return boost::json::parse(data); }

HttpClient::HttpClient(unsigned short port) : port_(port) { connect(); }

HttpClient::~HttpClient() { disconnect(); }

void HttpClient::connect() {
  socket_ = std::make_unique<tcp::socket>(ioc_);
  socket_->connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_));
  buffer_.clear();
}

void HttpClient::disconnect() {
  if (!socket_) return;
  boost::system::error_code ec;
  socket_->shutdown(tcp::socket::shutdown_both, ec);
  socket_->close(ec);
  socket_.reset();
  stream_parser_.reset();
}

template <class Message>
static Headers headers_of(const Message& m) {
  Headers h;
  for (const auto& f : m)
    h[boost::algorithm::to_lower_copy(std::string(f.name_string()))] = std::string(f.value());
  return h;
}

Reply HttpClient::read_reply() {
  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(std::uint64_t{1} << 30);
  boost::system::error_code ec;
  bhttp::read(*socket_, buffer_, parser, ec);
  if (ec == bhttp::error::end_of_stream || ec == asio::error::eof ||
      ec == asio::error::connection_reset) {
    disconnect();
    return Reply{};
  }
  if (ec) throw boost::system::system_error(ec);
  auto res = parser.release();
  Reply r{res.result_int(), headers_of(res), std::move(res.body()), res.keep_alive()};
  if (!r.keep_alive) disconnect();
  return r;
}

Reply HttpClient::request(bhttp::verb method, const std::string& target, const std::string& body,
                          const Headers& headers) {
  bhttp::request<bhttp::string_body> req{method, target, 11};
  req.set(bhttp::field::host, "127.0.0.1");
  for (const auto& [k, v] : headers) req.set(k, v);
  if (!body.empty() || method == bhttp::verb::post) {
    if (req[bhttp::field::content_type].empty())
      req.set(bhttp::field::content_type, "application/json");
    req.body() = body;
  }
  req.prepare_payload();
  // A kept-alive connection may have been closed by the server meanwhile: reconnect once.
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (!socket_) connect();
    boost::system::error_code ec;
    bhttp::write(*socket_, req, ec);
    if (!ec) {
      Reply r = read_reply();
      if (r.status != 0 || attempt == 1) return r;
    }
    disconnect();
  }
  return Reply{};
}

Reply HttpClient::raw(const std::string& bytes) {
  if (!socket_) connect();
  boost::system::error_code ec;
  asio::write(*socket_, asio::buffer(bytes), ec);
  return read_reply();
}

Reply HttpClient::open_stream(const std::string& target, const Headers& headers) {
  if (!socket_) connect();
  bhttp::request<bhttp::empty_body> req{bhttp::verb::get, target, 11};
  req.set(bhttp::field::host, "127.0.0.1");
  for (const auto& [k, v] : headers) req.set(k, v);
  bhttp::write(*socket_, req);
  stream_parser_ = std::make_unique<bhttp::response_parser<bhttp::string_body>>();
  stream_parser_->body_limit(boost::none);
  on_chunk_ = [this](std::uint64_t, std::string_view data, boost::system::error_code&) {
    pending_.append(data);
    return data.size();
  };
  stream_parser_->on_chunk_body(on_chunk_);
  pending_.clear();
  bhttp::read_header(*socket_, buffer_, *stream_parser_);
  const auto& head = stream_parser_->get();
  Reply r{head.result_int(), headers_of(head), {}, head.keep_alive()};
  sse_ = r.header("content-type").starts_with("text/event-stream");
  if (!head.chunked()) {
    // A plain answer (error, 204): read its body whole.
    while (!stream_parser_->is_done()) {
      boost::system::error_code ec;
      bhttp::read_some(*socket_, buffer_, *stream_parser_, ec);
      if (ec) break;
    }
    r.body = stream_parser_->get().body();
  }
  return r;
}

bool HttpClient::fill() {
  if (!stream_parser_ || stream_parser_->is_done()) return false;
  boost::system::error_code ec;
  bhttp::read_some(*socket_, buffer_, *stream_parser_, ec);
  return !ec;
}

std::optional<Event> HttpClient::next_event() {
  for (;;) {
    const std::string_view sep = sse_ ? "\n\n" : "\n";
    if (auto end = pending_.find(sep); end != std::string::npos) {
      std::string record = pending_.substr(0, end);
      pending_.erase(0, end + sep.size());
      Event e;
      if (!sse_) {
        e.data = std::move(record);
        return e;
      }
      bool any = false;
      for (size_t pos = 0; pos <= record.size();) {
        size_t nl = record.find('\n', pos);
        if (nl == std::string::npos) nl = record.size();
        std::string_view line(record.data() + pos, nl - pos);
        pos = nl + 1;
        if (line.starts_with(':') || line.empty()) continue;
        any = true;
        if (line.starts_with("id: ")) {
          std::uint64_t v = 0;
          std::from_chars(line.data() + 4, line.data() + line.size(), v);
          e.id = v;
        } else if (line.starts_with("event: ")) {
          e.event = line.substr(7);
        } else if (line.starts_with("data: ")) {
          e.data += line.substr(6);
        }
      }
      if (any) return e;
      continue;
    }
    if (!fill()) return std::nullopt;
  }
}

std::vector<Event> HttpClient::rest_of_stream() {
  std::vector<Event> events;
  while (auto e = next_event()) events.push_back(std::move(*e));
  stream_parser_.reset();
  return events;
}

bool HttpClient::closed_by_server() {
  if (!socket_) return true;
  char c;
  boost::system::error_code ec;
  socket_->read_some(asio::buffer(&c, 1), ec);
  return ec == asio::error::eof || ec == asio::error::connection_reset;
}

}  // namespace wq::test
