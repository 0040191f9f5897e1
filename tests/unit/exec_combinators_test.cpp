// The f_* helpers (more-executors' tests/futures/).
#include "wq/exec/combinators.hpp"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "exec_test_support.hpp"

namespace wq::exec {
namespace {

using test::kWait;

TEST(Combinators, ReturnHelpersGiveDoneFutures) {
  EXPECT_EQ(f_return(5).result(), 5);
  f_return().result();
  EXPECT_THROW(f_return_error<int>(std::runtime_error("x")).result(), std::runtime_error);
  EXPECT_TRUE(f_return_cancelled<int>().cancelled());
  EXPECT_THROW(f_return_cancelled().result(), CancelledError);
}

TEST(Combinators, MapTransformsValuesAndErrorFnRecoversFailures) {
  EXPECT_EQ(f_map(f_return(2), [](int x) { return x * 10; }).result(), 20);
  auto recovered = f_map(
      f_return_error<int>(std::runtime_error("bad")), [](int x) { return x; },
      [](std::exception_ptr e) { return static_cast<int>(test::message_of(e).size()); });
  EXPECT_EQ(recovered.result(), 3);
  auto rethrown = f_map(
      f_return_error<int>(std::runtime_error("bad")), [](int x) { return x; },
      [](std::exception_ptr) -> int { throw std::logic_error("other"); });
  EXPECT_THROW(rethrown.result(), std::logic_error);
  auto failing_map = f_map(f_return(1), [](int) -> int { throw std::out_of_range("map"); });
  EXPECT_THROW(failing_map.result(), std::out_of_range);
}

TEST(Combinators, FlatMapFollowsTheReturnedFuture) {
  Promise<std::string> inner;
  auto f = f_flat_map(f_return(1), [&](int) { return inner.future(); });
  EXPECT_FALSE(f.done());
  inner.set_value("later");
  EXPECT_EQ(f.result(), "later");
  auto recovered = f_flat_map(
      f_return_error<int>(std::runtime_error("bad")), [](int x) { return f_return(x); },
      [](std::exception_ptr) { return f_return(-1); });
  EXPECT_EQ(recovered.result(), -1);
}

TEST(Combinators, FlatMapCancelReachesTheCurrentInnerFuture) {
  Promise<int> outer;
  Promise<int> inner;
  auto f = f_flat_map(outer.future(), [&](int) { return inner.future(); });
  outer.set_value(1);
  EXPECT_TRUE(f.cancel());
  EXPECT_TRUE(inner.future().cancelled());
}

TEST(Combinators, ZipCollectsValuesInOrderAndFailsOnAnyFailure) {
  Promise<int> a;
  Promise<std::string> b;
  auto z = f_zip(a.future(), b.future());
  b.set_value("b");
  EXPECT_FALSE(z.done());
  a.set_value(1);
  EXPECT_EQ(z.result(), std::make_tuple(1, std::string("b")));
  EXPECT_EQ(f_zip().result(), std::tuple<>());

  Promise<int> c;
  auto failed = f_zip(c.future(), f_return_error<int>(std::runtime_error("no")));
  EXPECT_THROW(failed.result(), std::runtime_error);
}

TEST(Combinators, CancellingAZipCancelsItsInputs) {
  Promise<int> a;
  Promise<int> b;
  auto z = f_zip(a.future(), b.future());
  EXPECT_TRUE(z.cancel());
  EXPECT_TRUE(a.future().cancelled());
  EXPECT_TRUE(b.future().cancelled());
}

TEST(Combinators, SequenceAndTraverseKeepInputOrder) {
  std::vector<Promise<int>> promises(3);
  std::vector<Future<int>> futures;
  for (auto& p : promises) futures.push_back(p.future());
  auto all = f_sequence(futures);
  promises[2].set_value(3);
  promises[0].set_value(1);
  promises[1].set_value(2);
  EXPECT_EQ(all.result(), (std::vector<int>{1, 2, 3}));
  EXPECT_TRUE(f_sequence(std::vector<Future<int>>{}).result().empty());

  auto doubled = f_traverse([](int x) { return f_return(x * 2); }, std::vector<int>{1, 2, 3});
  EXPECT_EQ(doubled.result(), (std::vector<int>{2, 4, 6}));
  auto broken = f_traverse(
      [](int x) -> Future<int> {
        if (x == 2) throw std::runtime_error("fn failed");
        return f_return(x);
      },
      std::vector<int>{1, 2, 3});
  EXPECT_THROW(broken.result(), std::runtime_error);
}

TEST(Combinators, OrResolvesWithTheEarliestTrueValueAndCancelsTheRest) {
  Promise<int> a;
  Promise<int> b;
  Promise<int> c;
  auto any = f_or(a.future(), b.future(), c.future());
  a.set_value(0);
  EXPECT_FALSE(any.done());
  b.set_value(7);
  EXPECT_EQ(any.result(), 7);
  EXPECT_TRUE(c.future().cancelled());

  auto none = f_or(f_return(0), f_return_error<int>(std::runtime_error("last")));
  EXPECT_THROW(none.result(), std::runtime_error);
}

TEST(Combinators, AndResolvesWithTheEarliestFalseValueOrTheLastValue) {
  Promise<int> a;
  Promise<int> b;
  auto all = f_and(a.future(), b.future());
  a.set_value(1);
  EXPECT_FALSE(all.done());
  b.set_value(2);
  EXPECT_EQ(all.result(), 2);

  Promise<int> c;
  auto failed = f_and(f_return_error<int>(std::runtime_error("first")), c.future());
  EXPECT_THROW(failed.result(), std::runtime_error);
  EXPECT_TRUE(c.future().cancelled());
}

TEST(Combinators, NoCancelBlocksCancellation) {
  Promise<int> p;
  auto f = f_nocancel(p.future());
  EXPECT_FALSE(f.cancel());
  EXPECT_FALSE(p.future().cancelled());
  p.set_value(4);
  EXPECT_EQ(f.result(kWait), 4);
}

}  // namespace
}  // namespace wq::exec
