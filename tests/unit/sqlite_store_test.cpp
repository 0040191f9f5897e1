// What only the SQLite store does. The behaviour every store shares is the conformance suite
// (store_conformance_test.cpp), run against SQLite and PostgreSQL.
#include "support/temp_dir.hpp"
#include "wq/store.hpp"

#include <gtest/gtest.h>

namespace wq {
namespace {

TEST(SqliteStore, SecondOpenOfTheSameDatabaseIsRefused) {
  test::TempDir dir;
  Config c;
  c.data_dir = dir.path();
  auto first = open_store(c);
  ASSERT_TRUE(first) << first.error().detail;
  auto second = open_store(c);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code, Errc::locked);
  EXPECT_NE(second.error().detail.find("another process"), std::string::npos);
}

}  // namespace
}  // namespace wq
