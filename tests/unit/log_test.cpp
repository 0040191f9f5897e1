// core/log: one JSON object per line, with the fields in the order given.
#include "core/log.hpp"

#include <boost/json/parse.hpp>
#include <gtest/gtest.h>

#include <regex>
#include <string>

namespace wq {
namespace {

TEST(Log, ALineIsOneJsonObjectWithTimestampLevelMessageAndFieldsInOrder) {
  std::string line;
  log::set_sink([&](log::Level, std::string_view, std::string_view l) { line = l; });
  log::warn("plain", {});
  const std::string plain = line;
  log::info("a \"quoted\"\tmessage", {{"rid", std::string("0a1b-2c")}, {"status", 200}, {"ms", 0.25}});
  log::set_sink(nullptr);

  const std::regex plain_form(
      R"(\{"ts":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ","level":"warn","msg":"plain"\}\n)");
  EXPECT_TRUE(std::regex_match(plain, plain_form)) << plain;
  const std::regex fields_form(
      R"(\{"ts":"[0-9T:-]{19}Z","level":"info","msg":"a \\"quoted\\"\\tmessage",)"
      R"("rid":"0a1b-2c","status":200,"ms":0.25\}\n)");
  EXPECT_TRUE(std::regex_match(line, fields_form)) << line;
  EXPECT_EQ(boost::json::parse(line).at("msg").as_string(), "a \"quoted\"\tmessage");
}

}  // namespace
}  // namespace wq
