// process-docset: the example Overview plugin's program (see README.md beside it). wqd runs it
// for each view, as the overview-plugin-workqueue seed runs process-docset.py:
//
//   process-docset SERVER DOCUMENT_SET_ID OUTPUT            the token in $WQ_SECRET_API_TOKEN
//   process-docset SERVER DOCUMENT_SET_ID API_TOKEN OUTPUT  the seed's form (secrets_via = "argv")
//
// It reads every document's text from the Overview API at SERVER (http or https), prints
// progress lines "FRACTION<TAB>MESSAGE" on stdout, and overwrites OUTPUT with the view's
// "database": the most frequent words, as JSON
//   {"document_set_id": "…", "documents": N, "words": [{"word": "…", "count": N}, …]}.
// Errors go to stderr with exit code 1; the token is never printed.
//
// Threading: single-threaded, blocking I/O.
#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/json.hpp>
#include <boost/url/parse.hpp>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using tcp = asio::ip::tcp;

constexpr int kPageSize = 100;
constexpr std::size_t kTopWords = 100;
constexpr auto kTimeout = std::chrono::seconds(60);

std::string base64(std::string_view in) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::uint32_t acc = 0;
  int bits = 0;
  for (unsigned char c : in) {
    acc = (acc << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += kAlphabet[(acc >> bits) & 0x3f];
    }
  }
  if (bits > 0) out += kAlphabet[(acc << (6 - bits)) & 0x3f];
  while (out.size() % 4 != 0) out += '=';
  return out;
}

struct Server {
  bool tls = false;
  std::string host;
  std::string port;
  std::string prefix;  // path before /api/v1, without a trailing slash
};

Server parse_server(const std::string& text) {
  auto url = boost::urls::parse_absolute_uri(text);
  if (!url || (url->scheme() != "http" && url->scheme() != "https") || url->host().empty())
    throw std::runtime_error("SERVER must be an http(s) URL like https://www.overviewdocs.com");
  Server s;
  s.tls = url->scheme() == "https";
  s.host = url->host();
  s.port = url->has_port() ? std::string(url->port()) : (s.tls ? "443" : "80");
  s.prefix = url->path();
  while (!s.prefix.empty() && s.prefix.back() == '/') s.prefix.pop_back();
  return s;
}

// One GET over a fresh connection; the response body, or an exception naming the status.
class OverviewApi {
 public:
  OverviewApi(Server server, std::string token)
      : server_(std::move(server)), auth_("Basic " + base64(token + ":x-auth-token")) {
    tls_.set_default_verify_paths();
    tls_.set_verify_mode(asio::ssl::verify_peer);
  }

  json::value get(const std::string& path_and_query) {
    http::request<http::empty_body> req{http::verb::get, server_.prefix + path_and_query, 11};
    req.set(http::field::host, server_.host);
    req.set(http::field::authorization, auth_);
    req.set(http::field::accept, "application/json");
    req.set(http::field::user_agent, "workqueue-overview-plugin-example");
    http::response<http::string_body> res = server_.tls ? fetch_tls(req) : fetch_plain(req);
    if (res.result() != http::status::ok) {
      throw std::runtime_error(
          "the Overview API answered " + std::to_string(res.result_int()) + " to GET " +
          path_and_query +
          (res.result() == http::status::unauthorized || res.result() == http::status::forbidden
               ? " (is the API token right for this document set?)"
               : ""));
    }
    return json::parse(res.body());
  }

 private:
  template <class Stream>
  http::response<http::string_body> exchange(Stream& stream,
                                             const http::request<http::empty_body>& req) {
    http::write(stream, req);
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(std::uint64_t{256} << 20);
    http::read(stream, buffer, parser);
    return parser.release();
  }

  http::response<http::string_body> fetch_plain(const http::request<http::empty_body>& req) {
    beast::tcp_stream stream(ioc_);
    stream.expires_after(kTimeout);
    stream.connect(tcp::resolver(ioc_).resolve(server_.host, server_.port));
    auto res = exchange(stream, req);
    beast::error_code ec;
    stream.socket().shutdown(tcp::socket::shutdown_both, ec);
    return res;
  }

  http::response<http::string_body> fetch_tls(const http::request<http::empty_body>& req) {
    beast::ssl_stream<beast::tcp_stream> stream(ioc_, tls_);
    if (!SSL_set_tlsext_host_name(stream.native_handle(), server_.host.c_str()))
      throw std::runtime_error("cannot set the TLS server name");
    stream.set_verify_callback(asio::ssl::host_name_verification(server_.host));
    beast::get_lowest_layer(stream).expires_after(kTimeout);
    beast::get_lowest_layer(stream).connect(
        tcp::resolver(ioc_).resolve(server_.host, server_.port));
    stream.handshake(asio::ssl::stream_base::client);
    auto res = exchange(stream, req);
    beast::error_code ec;
    stream.shutdown(ec);  // servers often just close; nothing to report
    return res;
  }

  Server server_;
  std::string auth_;
  asio::io_context ioc_;
  asio::ssl::context tls_{asio::ssl::context::tls_client};
};

bool is_stopword(const std::string& w) {
  static const char* const kStop[] = {
      "the",  "and",   "for",   "that", "with", "this", "from", "are",  "was",   "were",
      "have", "has",   "had",   "not",  "but",  "you",  "your", "they", "their", "them",
      "his",  "her",   "she",   "him",  "its",  "our",  "who",  "what", "which", "when",
      "will", "would", "there", "been", "into", "than", "then", "also", "can",   "all"};
  for (const char* s : kStop) {
    if (w == s) return true;
  }
  return false;
}

// Words are runs of letters (UTF-8 bytes count as letters), ASCII lowercased, 3+ bytes long.
void count_words(std::string_view text, std::map<std::string, std::int64_t>& counts) {
  std::string word;
  auto flush = [&] {
    if (word.size() >= 3 && !is_stopword(word)) ++counts[word];
    word.clear();
  };
  for (unsigned char c : text) {
    if (std::isalpha(c) || c >= 0x80) {
      word += static_cast<char>(std::tolower(c));
    } else {
      flush();
    }
  }
  flush();
}

void progress(double fraction, const std::string& message) {
  std::cout << fraction << '\t' << message << std::endl;  // one flushed line per update
}

json::object build_database(OverviewApi& api, const std::string& document_set_id) {
  std::map<std::string, std::int64_t> counts;
  std::int64_t total = -1;
  std::int64_t read = 0;
  progress(0.0, "Reading documents");
  while (total < 0 || read < total) {
    const json::value page =
        api.get("/api/v1/document-sets/" + document_set_id +
                "/documents?fields=id,title,text&limit=" + std::to_string(kPageSize) +
                "&offset=" + std::to_string(read));
    total = page.at("pagination").at("total").to_number<std::int64_t>();
    const json::array& items = page.at("items").as_array();
    if (items.empty()) break;  // the set shrank while we read it
    for (const auto& item : items) {
      if (const auto* text = item.as_object().if_contains("text"); text && text->is_string())
        count_words(text->as_string(), counts);
    }
    read += static_cast<std::int64_t>(items.size());
    progress(
        0.95 * static_cast<double>(read) / static_cast<double>(std::max<std::int64_t>(total, 1)),
        "Read " + std::to_string(read) + " of " + std::to_string(total) + " documents");
  }
  std::vector<std::pair<std::string, std::int64_t>> words(counts.begin(), counts.end());
  std::stable_sort(words.begin(), words.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  if (words.size() > kTopWords) words.resize(kTopWords);
  json::array top;
  for (const auto& [word, count] : words)
    top.push_back(json::object{{"word", word}, {"count", count}});
  return json::object{{"document_set_id", document_set_id}, {"documents", read}, {"words", top}};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4 && argc != 5) {
    std::cerr << "usage: process-docset SERVER DOCUMENT_SET_ID OUTPUT   (token in "
                 "$WQ_SECRET_API_TOKEN)\n"
                 "       process-docset SERVER DOCUMENT_SET_ID API_TOKEN OUTPUT\n";
    return 2;
  }
  std::string token;
  if (argc == 5) {
    token = argv[3];
  } else if (const char* env = std::getenv("WQ_SECRET_API_TOKEN")) {
    token = env;
  }
  if (token.empty()) {
    std::cerr << "process-docset: no API token: set WQ_SECRET_API_TOKEN or pass it as the third "
                 "argument\n";
    return 2;
  }
  const std::string document_set_id = argv[2];
  const bool id_ok = !document_set_id.empty() && document_set_id.size() <= 64 &&
                     std::all_of(document_set_id.begin(), document_set_id.end(), [](char c) {
                       return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
                     });
  if (!id_ok) {
    std::cerr << "process-docset: DOCUMENT_SET_ID must be letters, digits, '-' or '_', like 1234\n";
    return 2;
  }
  const std::string output = argv[argc - 1];
  try {
    OverviewApi api(parse_server(argv[1]), token);
    const json::object database = build_database(api, document_set_id);
    std::ofstream out(output, std::ios::binary | std::ios::trunc);
    out << json::serialize(database);
    out.close();
    if (!out) throw std::runtime_error("cannot write " + output);
    progress(1.0, "Done");
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "process-docset: " << e.what() << '\n';
    return 1;
  }
}
