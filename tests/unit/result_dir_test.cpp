#include "store/result_dir.hpp"
#include "support/temp_dir.hpp"

#include <gtest/gtest.h>

#include <fstream>

namespace wq {

TEST(ResultDir, PublishMovesTheOutputToAPathDerivedFromTheId) {
  test::TempDir dir;
  auto rd = ResultDir::open(dir.path());
  ASSERT_TRUE(rd) << rd.error().detail;
  auto a = rd->prepare("job-1", 1, true);
  ASSERT_TRUE(a);
  EXPECT_TRUE(std::filesystem::is_directory(a->job_dir));
  EXPECT_EQ(std::filesystem::file_size(a->output), 0u);
  std::ofstream(a->output) << "data";
  auto size = rd->publish("job-1", *a);
  ASSERT_TRUE(size);
  EXPECT_EQ(*size, 4u);
  EXPECT_FALSE(std::filesystem::exists(a->output));
  EXPECT_TRUE(std::filesystem::exists(rd->result_path("job-1")));
  EXPECT_TRUE(rd->result_path("job-1").string().starts_with(std::filesystem::absolute(dir.path()).string()));
  rd->discard(*a);
  EXPECT_FALSE(std::filesystem::exists(a->job_dir));
  EXPECT_TRUE(rd->remove("job-1"));
  EXPECT_FALSE(rd->remove("job-1"));
}

TEST(ResultDir, AttemptWithoutAProgramOnlyNamesItsOutput) {
  test::TempDir dir;
  auto rd = ResultDir::open(dir.path());
  ASSERT_TRUE(rd);
  auto a = rd->prepare("fn-1", 2, false);
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->job_dir.empty());
  EXPECT_FALSE(std::filesystem::exists(a->output));
  std::ofstream(a->output) << "result";
  rd->discard(*a);
  EXPECT_FALSE(std::filesystem::exists(a->output));
}

TEST(ResultDir, PublishFailureUsesTheOverviewLinkErrorText) {
  test::TempDir dir;
  auto rd = ResultDir::open(dir.path());
  ASSERT_TRUE(rd);
  auto a = rd->prepare("job-2", 1, true);
  std::ofstream(a->output) << "data";
  // A non-empty directory where the result should go: rename(2) cannot replace it.
  std::filesystem::create_directories(rd->result_path("job-2") / "blocker");
  auto size = rd->publish("job-2", *a);
  ASSERT_FALSE(size);
  EXPECT_TRUE(size.error().detail.starts_with("Failed to link destination file: ")) << size.error().detail;
}

TEST(ResultDir, SecondProcessIsRefusedAndLeftoversAreRemoved) {
  test::TempDir dir;
  std::filesystem::create_directories(dir / "tmp");
  std::ofstream(dir / "tmp" / "old.1.out") << "x";
  {
    auto rd = ResultDir::open(dir.path());
    ASSERT_TRUE(rd);
    EXPECT_FALSE(std::filesystem::exists(dir / "tmp" / "old.1.out"));
    auto second = ResultDir::open(dir.path());
    ASSERT_FALSE(second);
    EXPECT_EQ(second.error().code, Errc::locked);
  }
  EXPECT_TRUE(ResultDir::open(dir.path()));
}

}  // namespace wq
