// MapExecutor chains: layered maps fuse into one future per submit, and must behave exactly as
// separate layers would (more-executors' semantics for each layer's fn and error fn).
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <thread>

#include "exec_test_support.hpp"
#include "wq/exec/sync_executor.hpp"
#include "wq/exec/thread_pool.hpp"

namespace wq::exec {
namespace {

using test::Gate;

int fail_with(const char* what) { throw std::runtime_error(what); }
int message_length(const std::exception_ptr& e) {
  return static_cast<int>(test::message_of(e).size());
}

TEST(MapChain, ValuesPassThroughEveryLayerInOrder) {
  auto e = ThreadPool(2, "map-chain")
               .with_map([](int x) { return x + 1; })
               .with_map([](int x) { return x * 10; })
               .with_map([](int x) { return std::to_string(x); });
  EXPECT_EQ(e.submit([] { return 4; }).result(), "50");
  e.shutdown();
}

TEST(MapChain, AnUpperErrorFunctionSeesTheThrowOfTheLayerBelow) {
  auto e = Sync()
               .with_map([](int) -> int { throw std::runtime_error("lower"); })
               .with_map([](int x) { return x; }, &message_length);
  EXPECT_EQ(e.submit([] { return 1; }).result(), 5);  // "lower"
}

TEST(MapChain, ALowerErrorFunctionsValueGoesOnToTheUpperFunction) {
  auto e = Sync().with_map([](int x) { return x; }, &message_length).with_map([](int x) {
    return x * 100;
  });
  EXPECT_EQ(e.submit(&fail_with, "four").result(), 400);
}

TEST(MapChain, AFailureWithoutErrorFunctionsPassesThroughUnchanged) {
  auto e = Sync().with_map([](int x) { return x; }).with_map([](int x) { return x; });
  try {
    e.submit(&fail_with, "original").result();
    FAIL() << "expected the work's own exception";
  } catch (const std::runtime_error& error) {
    EXPECT_STREQ(error.what(), "original");
  }
}

TEST(MapChain, AThrowOfTheTopLayerFailsTheFutureEvenWithAnErrorFunctionBelow) {
  auto e = Sync()
               .with_map([](int x) { return x; }, &message_length)
               .with_map([](int) -> int { throw std::out_of_range("top"); });
  EXPECT_THROW(e.submit([] { return 1; }).result(), std::out_of_range);
}

TEST(MapChain, AThrowingUpperErrorFunctionFailsTheFuture) {
  auto e = Sync()
               .with_map([](int) -> int { throw std::runtime_error("lower"); })
               .with_map([](int x) { return x; },
                         [](const std::exception_ptr&) -> int { throw std::logic_error("err"); });
  EXPECT_THROW(e.submit([] { return 1; }).result(), std::logic_error);
}

TEST(MapChain, VoidValuesFlowThroughLayers) {
  int calls = 0;
  auto e = Sync().with_map([&] { ++calls; }).with_map([&] {
    ++calls;
    return 7;
  });
  EXPECT_EQ(e.submit([] {}).result(), 7);
  EXPECT_EQ(calls, 2);
}

TEST(MapChain, EveryLayerCountsItsFuturesAndRefusesWorkAfterItsShutdown) {
  auto lower = ThreadPool(1, "map-lower").with_map([](int x) { return x; });
  auto upper = lower.with_map([](int x) { return x; });
  EXPECT_EQ(upper.submit([] { return 1; }).result(), 1);
  EXPECT_EQ(upper.submit([] { return 2; }).result(), 2);
  EXPECT_EQ(lower.stats().futures, 2u);
  EXPECT_EQ(upper.stats().futures, 2u);
  lower.shutdown();
  EXPECT_THROW(upper.submit([] { return 3; }), ShutdownError);
}

TEST(MapChain, CancellingAQueuedFusedFutureStopsTheWork) {
  auto pool = ThreadPool(1, "map-cancel");
  auto e = pool.with_map([](int x) { return x; }).with_map([](int x) { return x; });
  Gate release, started;
  auto blocker = pool.submit([&] {
    started.open();
    release.wait();
    return 0;
  });
  ASSERT_TRUE(started.wait());
  bool ran = false;
  auto f = e.submit([&] {
    ran = true;
    return 1;
  });
  EXPECT_TRUE(f.cancel());
  EXPECT_TRUE(f.cancelled() && f.done() && !f.running());
  release.open();
  blocker.result();
  pool.shutdown();
  EXPECT_FALSE(ran);
}

// A map directly over a ThreadPool runs inside the pool's task: it must keep a separate
// layer's semantics and run on the pool thread that ran the work.
TEST(MapOverPool, KeepsEachLayersSemanticsInsideThePoolsTask) {
  auto pool = ThreadPool(1, "map-pool");
  auto with_err = pool.with_map([](int x) { return x * 100; }, &message_length);
  EXPECT_EQ(with_err.submit(&fail_with, "four").result(), 4);
  EXPECT_EQ(with_err.submit([] { return 2; }).result(), 200);

  // The failed futures outlive the pool's threads: the exception is freed on this thread
  // (libstdc++'s exception_ptr count is invisible to ThreadSanitizer).
  auto top_throws = pool.with_map([](int) -> int { throw std::out_of_range("top"); });
  auto thrown = top_throws.submit([] { return 1; });
  EXPECT_THROW(thrown.result(), std::out_of_range);

  auto passes = pool.with_map([](int x) { return x; });
  auto passed = passes.submit(&fail_with, "original");
  try {
    passed.result();
    FAIL() << "expected the work's own exception";
  } catch (const std::runtime_error& error) {
    EXPECT_STREQ(error.what(), "original");
  }

  std::thread::id work_thread, map_thread;
  auto ids = pool.with_map([&] { map_thread = std::this_thread::get_id(); });
  ids.submit([&] { work_thread = std::this_thread::get_id(); }).result();
  EXPECT_EQ(work_thread, map_thread);
  EXPECT_NE(map_thread, std::this_thread::get_id());

  EXPECT_EQ(pool.stats().futures, 5u);
  pool.shutdown();
}

}  // namespace
}  // namespace wq::exec
