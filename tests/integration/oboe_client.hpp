// Reads an Overview plugin's POST /generate the way Oboe.js does in Overview's front ends: the
// chunked body as it arrives, each element of the top-level JSON array handed over as soon as
// its closing brace is in, long before the array ends.
//
// Threading: one client per thread.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/json/value.hpp>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

namespace wq::test {

class OboeClient {
 public:
  struct Head {
    unsigned status = 0;
    std::map<std::string, std::string> headers;  // lowercased names
    bool chunked = false;
    std::string body;  // the whole body when the answer was not chunked
    std::string header(const std::string& name) const {
      auto it = headers.find(name);
      return it == headers.end() ? std::string() : it->second;
    }
  };

  explicit OboeClient(unsigned short port);
  ~OboeClient();

  // Sends the POST and reads the response head.
  Head post(const std::string& target, const std::string& body,
            const std::map<std::string, std::string>& headers);

  // The next complete array element; nullopt once the array closed or the body ended.
  std::optional<boost::json::value> next_element();
  // True once the closing ']' of the array arrived.
  bool array_closed() const { return closed_; }
  // Every body byte received so far.
  const std::string& received() const { return received_; }

  // Hangs up mid-stream, as a browser tab that is closed.
  void disconnect();

 private:
  bool fill();

  boost::asio::io_context ioc_;
  boost::asio::ip::tcp::socket socket_;
  boost::beast::flat_buffer buffer_;
  std::unique_ptr<boost::beast::http::response_parser<boost::beast::http::string_body>> parser_;
  std::function<std::size_t(std::uint64_t, std::string_view, boost::system::error_code&)> on_chunk_;
  std::string received_;
  std::size_t scanned_ = 0;
  int depth_ = 0;
  bool in_string_ = false;
  bool escaped_ = false;
  std::size_t element_start_ = std::string::npos;
  bool closed_ = false;
};

}  // namespace wq::test
