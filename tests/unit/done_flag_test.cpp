// DoneFlag, what a store's writer uses to wake a caller waiting for its commit.
#include "store/done_flag.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <thread>

namespace wq {
namespace {

TEST(DoneFlag, SetBeforeWaitReturnsAtOnce) {
  DoneFlag flag;
  EXPECT_FALSE(flag.is_set());
  flag.set();
  flag.wait();
  EXPECT_TRUE(flag.is_set());
}

// The waiter wakes whether the set comes before or while it sleeps, and may destroy the flag
// as soon as wait() returns, as a caller does with the write on its stack.
TEST(DoneFlag, EveryWaiterWakesAndMayDestroyTheFlagAtOnce) {
  for (int i = 0; i < 2000; ++i) {
    auto flag = std::make_unique<DoneFlag>();
    std::thread setter([raw = flag.get(), i] {
      if (i % 2 == 0) std::this_thread::yield();  // half of them after the waiter sleeps
      raw->set();
    });
    flag->wait();
    ASSERT_TRUE(flag->is_set());
    flag.reset();
    setter.join();
  }
}

}  // namespace
}  // namespace wq
