#include "wq/exec/future.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "wq/exec/thread_pool.hpp"

namespace wq::exec {
namespace {

using namespace std::chrono_literals;

TEST(Future, PromiseValueIsReturnedByResult) {
  Promise<int> p;
  auto f = p.future();
  EXPECT_FALSE(f.done());
  EXPECT_TRUE(p.set_value(42));
  EXPECT_TRUE(f.done());
  EXPECT_EQ(f.result(), 42);
  EXPECT_EQ(f.exception(), nullptr);
  EXPECT_FALSE(p.set_value(43));
  EXPECT_EQ(f.result(), 42);
}

TEST(Future, ResultRethrowsTheStoredException) {
  Promise<std::string> p;
  p.set_exception(std::runtime_error("boom"));
  auto f = p.future();
  EXPECT_THROW(f.result(), std::runtime_error);
  EXPECT_NE(f.exception(), nullptr);
}

TEST(Future, ResultWithTimeoutThrowsTimeoutErrorAndLeavesTheFutureUsable) {
  Promise<int> p;
  auto f = p.future();
  EXPECT_THROW(f.result(1ms), TimeoutError);
  EXPECT_THROW(f.exception(1ms), TimeoutError);
  p.set_value(1);
  EXPECT_EQ(f.result(1ms), 1);
}

TEST(Future, CancelOfAPendingPromiseSucceedsAndResultThrowsCancelledError) {
  Promise<int> p;
  auto f = p.future();
  EXPECT_TRUE(f.cancel());
  EXPECT_TRUE(f.cancelled());
  EXPECT_TRUE(f.done());
  EXPECT_FALSE(f.running());
  EXPECT_TRUE(f.cancel());
  EXPECT_THROW(f.result(), CancelledError);
  EXPECT_THROW(f.exception(), CancelledError);
  EXPECT_FALSE(p.set_value(1));
}

TEST(Future, CancelFailsOnceRunning) {
  Promise<int> p;
  auto f = p.future();
  EXPECT_TRUE(p.set_running());
  EXPECT_TRUE(f.running());
  EXPECT_FALSE(f.cancel());
  EXPECT_FALSE(f.cancelled());
  p.set_value(5);
  EXPECT_EQ(f.result(), 5);
  EXPECT_FALSE(f.cancel());
}

TEST(Future, DoneCallbackRunsExactlyOnceAndAtOnceWhenAlreadyDone) {
  Promise<int> p;
  auto f = p.future();
  int before = 0;
  f.add_done_callback([&](const Future<int>& done) {
    ++before;
    EXPECT_EQ(done, f);
  });
  EXPECT_EQ(before, 0);
  p.set_value(1);
  EXPECT_EQ(before, 1);
  int after = 0;
  f.add_done_callback([&](const Future<int>&) { ++after; });
  EXPECT_EQ(after, 1);
  p.set_value(2);
  EXPECT_EQ(before, 1);
}

std::atomic<int> g_logged{0};
void count_log(std::string_view) { ++g_logged; }

TEST(Future, ThrowingCallbackIsLoggedAndDoesNotAffectOthers) {
  const auto previous = set_error_log(&count_log);
  g_logged = 0;
  Promise<int> p;
  auto f = p.future();
  int calls = 0;
  f.add_done_callback([&](const Future<int>&) {
    ++calls;
    throw std::runtime_error("broken callback");
  });
  f.add_done_callback([&](const Future<int>&) { ++calls; });
  p.set_value(7);
  f.add_done_callback([&](const Future<int>&) {
    ++calls;
    throw std::runtime_error("broken late callback");
  });
  set_error_log(previous);
  EXPECT_EQ(calls, 3);
  EXPECT_EQ(g_logged, 2);
  EXPECT_EQ(f.result(), 7);
}

TEST(Future, ThenMapsTheValueAndPassesFailuresThrough) {
  Promise<int> p;
  auto doubled = p.future().then([](int x) { return x * 2; });
  auto text = doubled.then([](int x) { return std::to_string(x); });
  p.set_value(21);
  EXPECT_EQ(text.result(), "42");

  Promise<int> q;
  auto mapped = q.future().then([](int x) { return x + 1; });
  q.set_exception(std::logic_error("bad"));
  EXPECT_THROW(mapped.result(), std::logic_error);
}

TEST(Future, CancellingAThenFutureCancelsTheSource) {
  Promise<int> p;
  auto source = p.future();
  auto mapped = source.then([](int x) { return x; });
  EXPECT_TRUE(mapped.cancel());
  EXPECT_TRUE(source.cancelled());
  EXPECT_TRUE(mapped.cancelled());
}

TEST(Future, SourceCancelledElsewhereResolvesTheMappedFutureAsCancelled) {
  Promise<int> p;
  auto mapped = p.future().then([](int x) { return x; });
  p.set_cancelled();
  EXPECT_TRUE(mapped.done());
  EXPECT_TRUE(mapped.cancelled());
}

TEST(Future, VoidFuturesWork) {
  Promise<void> p;
  auto f = p.future();
  auto n = f.then([] { return 3; });
  p.set_value();
  f.result();
  EXPECT_EQ(n.result(), 3);
}

TEST(Future, ManyThreadsWaitingAreAllWoken) {
  Promise<int> p;
  auto f = p.future();
  std::vector<std::thread> waiters;
  std::atomic<int> sum{0};
  for (int i = 0; i < 8; ++i) {
    waiters.emplace_back([&] { sum += f.result(); });
  }
  p.set_value(1);
  for (auto& t : waiters) t.join();
  EXPECT_EQ(sum, 8);
}

}  // namespace
}  // namespace wq::exec
