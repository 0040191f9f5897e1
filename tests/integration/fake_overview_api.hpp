// A stand-in for the Overview server's public API, for the example plugin's end-to-end test:
// GET /api/v1/document-sets/{id}/documents?fields=…&limit=L&offset=O answers one page of
// {pagination: {offset, limit, total}, items: [{id, title, text}]} for the right
// `Authorization: Basic base64(TOKEN:x-auth-token)`, 401 for any other, 404 for another set.
// It is the external system, not our code: a plain Beast server on a loopback port.
//
// Threading: serves on its own thread; requests_seen() is safe from any thread.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace wq::test {

class FakeOverviewApi {
 public:
  FakeOverviewApi(std::string document_set_id, std::string token, std::vector<std::string> texts);
  ~FakeOverviewApi();
  FakeOverviewApi(const FakeOverviewApi&) = delete;
  FakeOverviewApi& operator=(const FakeOverviewApi&) = delete;

  // http://127.0.0.1:PORT
  std::string url() const;

  struct Seen {
    std::string target;
    unsigned status = 0;
  };
  std::vector<Seen> requests_seen();

 private:
  void serve();

  const std::string document_set_id_;
  const std::string expected_auth_;
  const std::vector<std::string> texts_;
  boost::asio::io_context ioc_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::thread thread_;
  std::mutex mutex_;
  std::vector<Seen> seen_;  // guarded by mutex_
};

}  // namespace wq::test
