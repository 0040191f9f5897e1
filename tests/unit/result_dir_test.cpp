#include "store/result_dir.hpp"
#include "support/temp_dir.hpp"

#include <gtest/gtest.h>

#include <fstream>

namespace wq {

TEST(ResultDir, PublishMovesTheOutputToAPathDerivedFromTheId) {
  test::TempDir dir;
  auto rd = ResultDir::open(dir.path());
  ASSERT_TRUE(rd) << rd.error().detail;
  auto a = rd->prepare("job-1", 1, {.job_dir = true, .output_file = true});
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
  EXPECT_TRUE(rd->remove("job-1"));
  EXPECT_FALSE(rd->remove("job-1"));
}

TEST(ResultDir, AttemptWithoutAProgramOnlyNamesItsOutput) {
  test::TempDir dir;
  auto rd = ResultDir::open(dir.path());
  ASSERT_TRUE(rd);
  auto a = rd->prepare("fn-1", 2, {});
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
  auto a = rd->prepare("job-2", 1, {.job_dir = true, .output_file = true});
  std::ofstream(a->output) << "data";
  // A non-empty directory where the result should go: rename(2) cannot replace it.
  std::filesystem::create_directories(rd->result_path("job-2") / "blocker");
  auto size = rd->publish("job-2", *a);
  ASSERT_FALSE(size);
  EXPECT_TRUE(size.error().detail.starts_with("Failed to link destination file: ")) << size.error().detail;
}

TEST(ResultDir, AJobDirectoryLeftEmptyIsReusedAndOneLeftWithFilesIsRemoved) {
  namespace fs = std::filesystem;
  test::TempDir dir;
  auto rd = ResultDir::open(dir.path());
  ASSERT_TRUE(rd);
  const ResultDir::Needs program{.job_dir = true};
  auto first = rd->prepare("a", 1, program);
  ASSERT_TRUE(first) << first.error().detail;
  std::ofstream(first->status_file) << "50";  // the status file goes at the end of the attempt
  rd->discard(*first);
  EXPECT_FALSE(fs::exists(first->status_file));

  auto second = rd->prepare("b", 1, program);
  ASSERT_TRUE(second);
  EXPECT_EQ(second->job_dir, first->job_dir);
  EXPECT_TRUE(fs::is_empty(second->job_dir));
  std::ofstream(fs::path(second->job_dir) / "scratch.txt") << "left behind";
  fs::create_directories(fs::path(second->job_dir) / "sub" / "dir");
  rd->discard(*second);
  EXPECT_FALSE(fs::exists(second->job_dir));  // with everything the program left there

  // Two at once never share a directory; each is empty.
  auto third = rd->prepare("c", 1, program);
  auto fourth = rd->prepare("d", 1, program);
  ASSERT_TRUE(third && fourth);
  EXPECT_NE(third->job_dir, fourth->job_dir);
  EXPECT_TRUE(fs::is_empty(third->job_dir) && fs::is_empty(fourth->job_dir));
}

TEST(ResultDir, AJobDirectoryTheProgramRemovedOrMovedIsNotHandedOutAgain) {
  namespace fs = std::filesystem;
  test::TempDir dir;
  auto rd = ResultDir::open(dir.path());
  ASSERT_TRUE(rd);
  const ResultDir::Needs program{.job_dir = true};
  auto removed = rd->prepare("a", 1, program);
  auto moved = rd->prepare("b", 1, program);
  ASSERT_TRUE(removed && moved);
  fs::remove(removed->job_dir);
  fs::rename(moved->job_dir, dir / "elsewhere");
  rd->discard(*removed);
  rd->discard(*moved);
  for (const char* id : {"c", "d"}) {
    auto next = rd->prepare(id, 1, program);
    ASSERT_TRUE(next) << next.error().detail;
    EXPECT_TRUE(fs::is_directory(next->job_dir)) << next->job_dir;
  }
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
