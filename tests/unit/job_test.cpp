#include "core/json_text.hpp"
#include "wq/job.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <set>

namespace wq {

TEST(Job, StatesRoundTripThroughTheirNames) {
  for (auto s : {JobState::queued, JobState::running, JobState::succeeded, JobState::failed,
                 JobState::cancelled}) {
    EXPECT_EQ(parse_job_state(to_string(s)), s);
  }
  EXPECT_FALSE(parse_job_state("done"));
  EXPECT_FALSE(is_terminal(JobState::running));
  EXPECT_TRUE(is_terminal(JobState::cancelled));
}

TEST(Job, NewIdsAreUuidV7TextAndSortByCreation) {
  std::set<std::string> seen;
  std::string previous;
  for (int i = 0; i < 1000; ++i) {
    std::string id = new_job_id();
    ASSERT_EQ(id.size(), 36u);
    EXPECT_EQ(id[14], '7');
    EXPECT_TRUE(id[19] == '8' || id[19] == '9' || id[19] == 'a' || id[19] == 'b') << id;
    EXPECT_TRUE(valid_job_id(id));
    EXPECT_TRUE(seen.insert(id).second);
    // The first 12 hex digits are milliseconds: never decreasing.
    EXPECT_GE(id.substr(0, 13), previous.substr(0, std::min<size_t>(13, previous.size())));
    previous = id;
  }
}

TEST(Job, CallerIdsAreLimitedToSafeCharacters) {
  EXPECT_TRUE(valid_job_id("report-2026.11_a"));
  EXPECT_FALSE(valid_job_id(""));
  EXPECT_FALSE(valid_job_id("."));
  EXPECT_FALSE(valid_job_id(".."));
  EXPECT_FALSE(valid_job_id("a/b"));
  EXPECT_FALSE(valid_job_id("a b"));
  EXPECT_FALSE(valid_job_id(std::string(129, 'a')));
  EXPECT_TRUE(valid_job_id(std::string(128, 'a')));
}

TEST(Job, TerminalSnapshotHasFractionOneAndTheOutcome) {
  Job j;
  j.id = "x";
  j.state = JobState::failed;
  j.seq = 7;
  j.fraction = 0.3;
  j.returncode = 1;
  j.error = "Exited with code 1\nstderr:\nboom";
  Snapshot s = snapshot_of(j);
  EXPECT_EQ(s.fraction, 1.0);
  EXPECT_EQ(s.seq, 7u);
  EXPECT_EQ(s.returncode, 1);
  auto o = to_json(s);
  EXPECT_EQ(o.at("state").as_string(), "failed");
  EXPECT_TRUE(o.contains("n_ahead_in_queue"));
  EXPECT_TRUE(o.at("message").is_null());
}

TEST(JsonText, CanonicalFormSortsKeysAtEveryDepth) {
  auto a = boost::json::parse(R"({"b":1,"a":{"y":[1,{"d":2,"c":3}],"x":"s"}})");
  auto b = boost::json::parse(R"({"a":{"x":"s","y":[1,{"c":3,"d":2}]},"b":1})");
  EXPECT_EQ(canonical_json(a), canonical_json(b));
  EXPECT_EQ(canonical_json(a), R"({"a":{"x":"s","y":[1,{"c":3,"d":2}]},"b":1})");
}

TEST(JsonText, NumbersAreWrittenAsPeopleWriteThemAndReadBackUnchanged) {
  EXPECT_EQ(json_text(0.25), "0.25");
  EXPECT_EQ(json_text(0.2), "0.2");
  EXPECT_EQ(json_text(1.0), "1.0");  // still a double when read back
  EXPECT_EQ(json_text(0.0), "0.0");
  EXPECT_EQ(json_text(-3.5e-7), "-3.5e-07");
  EXPECT_EQ(json_text(std::numeric_limits<double>::infinity()), "null");
  EXPECT_EQ(json_text(std::int64_t{-42}), "-42");
  EXPECT_EQ(json_text(std::uint64_t{18446744073709551615u}), "18446744073709551615");
  const double third = 1.0 / 3.0;
  EXPECT_EQ(boost::json::parse(json_text(third)).as_double(), third);
}

TEST(JsonText, StringsAndStructureMatchWhatAParserReadsBack) {
  const boost::json::value v = boost::json::parse(
      R"({"b":[1,2.5,"x\"y\\z",null,true,false,{}],"a":"tab\there\nnew \u0001 é ✓","c":[]})");
  const std::string text = json_text(v);
  EXPECT_EQ(boost::json::parse(text), v);
  EXPECT_EQ(text.find("E"), std::string::npos);
  EXPECT_LT(text.find("\"b\""), text.find("\"a\""));  // keys keep their order
  EXPECT_NE(text.find("\\u0001"), std::string::npos);
}

// Escapes at the start, the end, side by side and alone, every control character, and UTF-8:
// the same bytes as Boost.JSON writes (dedup keys hash this text, so it must never change).
TEST(JsonText, StringEscapesAreTheBytesBoostJsonWrites) {
  std::string controls;
  for (char c = 1; c < 0x20; ++c) controls += c;
  for (const std::string& s : {std::string("\"start"), std::string("end\\"), std::string("\"\"\\\n"),
                              std::string("a\"b\\c\nd"), std::string("plain é ✓ \x7f"), controls,
                              std::string(1, '\0') + "x", std::string()}) {
    const boost::json::value v(s);
    EXPECT_EQ(json_text(v), boost::json::serialize(v)) << s;
    EXPECT_EQ(canonical_json(v), boost::json::serialize(v)) << s;
  }
}

TEST(JsonText, Sha256MatchesAKnownVector) {
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

}  // namespace wq
