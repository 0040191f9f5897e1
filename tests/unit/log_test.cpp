// core/log: one JSON object per line, with the fields in the order given.
#include "core/log.hpp"

#include <boost/json/parse.hpp>
#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "support/temp_dir.hpp"

namespace wq {
namespace {

// "YYYY-MM-DDTHH:MM:SSZ" (no std::regex: GCC 12 at -O1 with ASan warns inside <regex>).
bool is_timestamp(std::string_view ts) {
  constexpr std::string_view kForm = "dddd-dd-ddTdd:dd:ddZ";
  if (ts.size() != kForm.size()) return false;
  for (std::size_t i = 0; i < ts.size(); ++i) {
    if (kForm[i] == 'd' ? !std::isdigit(static_cast<unsigned char>(ts[i])) : ts[i] != kForm[i])
      return false;
  }
  return true;
}

// The line after its timestamp, which must be well formed.
std::string after_timestamp(const std::string& line) {
  constexpr std::string_view kStart = R"({"ts":")";
  if (!line.starts_with(kStart)) return "no ts: " + line;
  const std::string_view ts = std::string_view(line).substr(kStart.size(), 20);
  if (!is_timestamp(ts)) return "bad ts: " + line;
  return line.substr(kStart.size() + ts.size());
}

TEST(Log, ALineIsOneJsonObjectWithTimestampLevelMessageAndFieldsInOrder) {
  std::string line;
  log::set_sink([&](log::Level, std::string_view, std::string_view l) { line = l; });
  log::warn("plain", {});
  const std::string plain = line;
  log::info("a \"quoted\"\tmessage",
            {{"rid", std::string("0a1b-2c")}, {"status", 200}, {"ms", 0.25}});
  log::set_sink(nullptr);

  EXPECT_EQ(after_timestamp(plain), R"(","level":"warn","msg":"plain"})" "\n");
  EXPECT_EQ(after_timestamp(line),
            R"(","level":"info","msg":"a \"quoted\"\tmessage","rid":"0a1b-2c","status":200,)"
            R"("ms":0.25})" "\n");
  EXPECT_EQ(boost::json::parse(line).at("msg").as_string(), "a \"quoted\"\tmessage");
}

// Points fd 2 at a file for its lifetime; lines() reads what reached it.
class CapturedStderr {
 public:
  CapturedStderr() : saved_(::dup(STDERR_FILENO)) {
    const int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(fd, STDERR_FILENO);
    ::close(fd);
  }
  ~CapturedStderr() {
    // Flushes what is gathered under the lock the flusher thread writes under: its writes to
    // fd 2 happen before the dup2 (ThreadSanitizer tracks descriptors).
    log::set_sink(nullptr);
    ::dup2(saved_, STDERR_FILENO);
    ::close(saved_);
  }
  std::vector<std::string> messages() const {
    std::ifstream in(path_);
    std::vector<std::string> out;
    for (std::string line; std::getline(in, line);)
      out.push_back(std::string(boost::json::parse(line).at("msg").as_string()));
    return out;
  }

 private:
  test::TempDir dir_;
  std::string path_ = dir_.path() / "stderr";
  int saved_;
};

TEST(Log, BatchedLinesReachStderrInOrderBeforeTheNextLineOfAnyOtherKind) {
  log::set_level(log::Level::info);
  CapturedStderr err;
  log::info_batched("first");
  log::info_batched("second");
  log::warn("third");
  EXPECT_EQ(err.messages(), (std::vector<std::string>{"first", "second", "third"}));
}

TEST(Log, ABatchedLineIsWrittenWhenNoOtherLineFollows) {
  log::set_level(log::Level::info);
  CapturedStderr err;
  log::info_batched("alone");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (err.messages().empty() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(err.messages(), std::vector<std::string>{"alone"});
}

}  // namespace
}  // namespace wq
