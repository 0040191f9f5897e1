#include <gtest/gtest.h>

#include <string>

#include "run/command_runner.hpp"

namespace wq::run {
namespace {

using namespace std::string_literals;

TEST(ProgressLine, AcceptsAFractionAlone) {
  for (auto [text, value] : {std::pair{"0", 0.0},
                             {"1", 1.0},
                             {"0.25", 0.25},
                             {"1.0", 1.0},
                             {".5", 0.5},
                             {"+0.5", 0.5},
                             {"2.5e-1", 0.25},
                             {"0.000", 0.0}}) {
    auto p = parse_progress_line(text);
    ASSERT_TRUE(p) << text;
    EXPECT_DOUBLE_EQ(p->fraction, value) << text;
    EXPECT_FALSE(p->message) << text;
  }
}

TEST(ProgressLine, TakesTheMessageAfterTheFirstTab) {
  auto p = parse_progress_line("0.3\thi\tthere");
  ASSERT_TRUE(p);
  EXPECT_DOUBLE_EQ(p->fraction, 0.3);
  EXPECT_EQ(p->message, "hi\tthere");
}

TEST(ProgressLine, KeepsAnEmptyMessageAsEmpty) {
  auto p = parse_progress_line("0.5\t");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->message, "");
}

TEST(ProgressLine, ToleratesATrailingCarriageReturn) {
  auto p = parse_progress_line("0.9\tbye\r");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->message, "bye");
  EXPECT_TRUE(parse_progress_line("1\r"));
}

TEST(ProgressLine, RejectsJunkOutOfRangeAndNonFiniteValues) {
  for (const char* text : {"",       "\t",    "not progress", "nan", "NaN",  "inf",  "-inf",
                           "1.0001", "-0.1",  "-0",           "2",   "0.5 ", " 0.5", "0.5x",
                           "0x1p-1", "1e999", "+-0.5",        "0,5", "50%",  "0.5\n"}) {
    EXPECT_FALSE(parse_progress_line(text)) << "'" << text << "'";
  }
}

TEST(ProgressLine, ReplacesInvalidUtf8InTheMessage) {
  auto p = parse_progress_line("0.5\tok \xff done");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->message, "ok \xEF\xBF\xBD done");
}

TEST(StatusFile, ReadsAnIntegerPercent) {
  for (auto [text, value] : {std::pair{"0", 0.0},
                             {"50", 0.5},
                             {"100", 1.0},
                             {"1", 0.01},
                             {"50\n", 0.5},
                             {" 75 \r\n", 0.75},
                             {"007", 0.07}}) {
    auto p = parse_status_file(text);
    ASSERT_TRUE(p) << text;
    EXPECT_DOUBLE_EQ(p->fraction, value) << text;
    EXPECT_FALSE(p->message);
  }
}

TEST(StatusFile, ReadsTheProgressLineForm) {
  auto p = parse_status_file("0.75\tthree quarters\n");
  ASSERT_TRUE(p);
  EXPECT_DOUBLE_EQ(p->fraction, 0.75);
  EXPECT_EQ(p->message, "three quarters");
}

TEST(StatusFile, UsesTheLastNonEmptyLine) {
  auto p = parse_status_file("10\n20\n\n");
  ASSERT_TRUE(p);
  EXPECT_DOUBLE_EQ(p->fraction, 0.2);
}

TEST(StatusFile, IgnoresTornEmptyAndOutOfRangeContent) {
  for (const char* text : {"", "\n", "   ", "101", "-5", "1000", "5x", "0.5.", "nan", "abc"}) {
    EXPECT_FALSE(parse_status_file(text)) << "'" << text << "'";
  }
}

TEST(ValidUtf8, KeepsValidTextAndReplacesEachInvalidByte) {
  EXPECT_EQ(valid_utf8("plain"), "plain");
  EXPECT_EQ(valid_utf8("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"),
            "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80");
  EXPECT_EQ(valid_utf8("a\x80z"), "a\xEF\xBF\xBDz");
  EXPECT_EQ(valid_utf8("\xC3"), "\xEF\xBF\xBD");                                  // truncated
  EXPECT_EQ(valid_utf8("\xC0\xAF"), "\xEF\xBF\xBD\xEF\xBF\xBD");                  // overlong
  EXPECT_EQ(valid_utf8("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // surrogate
  EXPECT_EQ(valid_utf8("nul\0ok"s), "nul\0ok"s);
}

}  // namespace
}  // namespace wq::run
