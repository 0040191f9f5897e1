#include "integration/oboe_client.hpp"

#include <boost/algorithm/string/case_conv.hpp>
#include <boost/asio/connect.hpp>
#include <boost/json/parse.hpp>

namespace wq::test {

namespace asio = boost::asio;
namespace bhttp = boost::beast::http;
using asio::ip::tcp;

OboeClient::OboeClient(unsigned short port) : socket_(ioc_) {
  socket_.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
}

OboeClient::~OboeClient() { disconnect(); }

void OboeClient::disconnect() {
  boost::system::error_code ec;
  socket_.shutdown(tcp::socket::shutdown_both, ec);
  socket_.close(ec);
}

OboeClient::Head OboeClient::post(const std::string& target, const std::string& body,
                                  const std::map<std::string, std::string>& headers) {
  bhttp::request<bhttp::string_body> req{bhttp::verb::post, target, 11};
  req.set(bhttp::field::host, "127.0.0.1");
  for (const auto& [k, v] : headers) req.set(k, v);
  req.body() = body;
  req.prepare_payload();
  bhttp::write(socket_, req);
  parser_ = std::make_unique<bhttp::response_parser<bhttp::string_body>>();
  parser_->body_limit(boost::none);
  on_chunk_ = [this](std::uint64_t, std::string_view data, boost::system::error_code&) {
    received_.append(data);
    return data.size();
  };
  parser_->on_chunk_body(on_chunk_);
  bhttp::read_header(socket_, buffer_, *parser_);
  const auto& res = parser_->get();
  Head head{res.result_int(), {}, res.chunked(), {}};
  for (const auto& f : res)
    head.headers[boost::algorithm::to_lower_copy(std::string(f.name_string()))] = f.value();
  if (!head.chunked) {
    while (!parser_->is_done()) {
      boost::system::error_code ec;
      bhttp::read_some(socket_, buffer_, *parser_, ec);
      if (ec) break;
    }
    head.body = parser_->get().body();
    received_ = head.body;
  }
  return head;
}

bool OboeClient::fill() {
  if (!parser_ || parser_->is_done()) return false;
  boost::system::error_code ec;
  bhttp::read_some(socket_, buffer_, *parser_, ec);
  return !ec;
}

std::optional<boost::json::value> OboeClient::next_element() {
  for (;;) {
    for (; scanned_ < received_.size() && !closed_; ++scanned_) {
      const char c = received_[scanned_];
      if (in_string_) {
        if (escaped_) {
          escaped_ = false;
        } else if (c == '\\') {
          escaped_ = true;
        } else if (c == '"') {
          in_string_ = false;
        }
      } else if (c == '"') {
        in_string_ = true;
      } else if (c == '{' || c == '[') {
        if (++depth_ == 2) element_start_ = scanned_;
      } else if (c == '}' || c == ']') {
        if (--depth_ == 0) closed_ = true;
        if (depth_ == 1 && element_start_ != std::string::npos) {
          std::string text = received_.substr(element_start_, scanned_ + 1 - element_start_);
          element_start_ = std::string::npos;
          ++scanned_;
          return boost::json::parse(text);
        }
      }
    }
    if (closed_ || !fill()) return std::nullopt;
  }
}

}  // namespace wq::test
