#include "integration/fake_overview_api.hpp"

#include <fmt/format.h>

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <boost/url/parse.hpp>

namespace wq::test {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using asio::ip::tcp;

std::string base64(std::string_view in) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::uint32_t acc = 0;
  int bits = 0;
  for (unsigned char c : in) {
    acc = (acc << 8) | c;
    for (bits += 8; bits >= 6;) out += kAlphabet[(acc >> (bits -= 6)) & 0x3f];
  }
  if (bits > 0) out += kAlphabet[(acc << (6 - bits)) & 0x3f];
  while (out.size() % 4 != 0) out += '=';
  return out;
}

std::size_t number_param(const boost::urls::url_view& url, std::string_view name,
                         std::size_t fallback) {
  auto it = url.params().find(name);
  return it == url.params().end() ? fallback : std::stoul(std::string((*it).value));
}

}  // namespace

FakeOverviewApi::FakeOverviewApi(std::string document_set_id, std::string token,
                                 std::vector<std::string> texts)
    : document_set_id_(std::move(document_set_id)),
      expected_auth_("Basic " + base64(token + ":x-auth-token")),
      texts_(std::move(texts)),
      acceptor_(ioc_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
  thread_ = std::thread([this] { serve(); });
}

FakeOverviewApi::~FakeOverviewApi() {
  // Closing the acceptor from here would race the serving thread: wake it with a connection
  // that asks it to stop.
  boost::system::error_code ec;
  tcp::socket s(ioc_);
  s.connect(acceptor_.local_endpoint(), ec);
  if (!ec)
    bhttp::write(s, bhttp::request<bhttp::empty_body>{bhttp::verb::delete_, "/stop", 11}, ec);
  thread_.join();
}

std::string FakeOverviewApi::url() const {
  return fmt::format("http://127.0.0.1:{}", acceptor_.local_endpoint().port());
}

std::vector<FakeOverviewApi::Seen> FakeOverviewApi::requests_seen() {
  std::lock_guard lock(mutex_);
  return seen_;
}

void FakeOverviewApi::serve() {
  for (;;) {
    tcp::socket socket(ioc_);
    acceptor_.accept(socket);
    beast::flat_buffer buffer;
    bhttp::request<bhttp::string_body> req;
    boost::system::error_code ec;
    bhttp::read(socket, buffer, req, ec);
    if (ec) continue;
    if (req.method() == bhttp::verb::delete_ && req.target() == "/stop") return;
    bhttp::response<bhttp::string_body> res{bhttp::status::ok, 11};
    res.set(bhttp::field::content_type, "application/json");
    auto url = boost::urls::parse_origin_form(req.target());
    const std::string prefix = fmt::format("/api/v1/document-sets/{}/documents", document_set_id_);
    if (req[bhttp::field::authorization] != expected_auth_) {
      res.result(bhttp::status::unauthorized);
      res.body() = R"({"message":"bad API token"})";
    } else if (req.method() != bhttp::verb::get || !url || url->path() != prefix) {
      res.result(bhttp::status::not_found);
      res.body() = R"({"message":"not found"})";
    } else {
      const std::size_t offset = number_param(*url, "offset", 0);
      const std::size_t limit = number_param(*url, "limit", 1000);
      boost::json::array items;
      for (std::size_t i = offset; i < texts_.size() && i < offset + limit; ++i) {
        items.push_back(boost::json::object{
            {"id", i + 1}, {"title", fmt::format("doc {}", i + 1)}, {"text", texts_[i]}});
      }
      res.body() = boost::json::serialize(boost::json::object{
          {"pagination", {{"offset", offset}, {"limit", limit}, {"total", texts_.size()}}},
          {"items", std::move(items)}});
    }
    res.keep_alive(false);
    res.prepare_payload();
    {
      std::lock_guard lock(mutex_);
      seen_.push_back({std::string(req.target()), res.result_int()});
    }
    bhttp::write(socket, res, ec);
    socket.shutdown(tcp::socket::shutdown_both, ec);
  }
}

}  // namespace wq::test
