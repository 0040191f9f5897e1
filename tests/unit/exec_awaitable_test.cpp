// co_await on wq::exec futures from Boost.Asio coroutines.
#include "wq/exec/awaitable.hpp"

#include <gtest/gtest.h>

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include <stdexcept>
#include <string>
#include <thread>

#include "exec_test_support.hpp"
#include "wq/exec/thread_pool.hpp"

namespace wq::exec {
namespace {

namespace asio = boost::asio;
using test::kWait;

TEST(Awaitable, CoroutineResumesOnItsOwnExecutorWithTheValue) {
  ThreadPool pool(2, "await-test");
  asio::io_context io;
  std::thread::id io_thread;
  std::thread::id resumed_on;
  std::thread::id worked_on;
  std::string value;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        auto f = pool.submit([&] {
          worked_on = std::this_thread::get_id();
          return std::string("from the pool");
        });
        value = co_await awaited(f);
        resumed_on = std::this_thread::get_id();
      },
      asio::detached);
  io_thread = std::this_thread::get_id();
  io.run();
  EXPECT_EQ(value, "from the pool");
  EXPECT_EQ(resumed_on, io_thread);
  EXPECT_NE(worked_on, io_thread);
  pool.shutdown();
}

TEST(Awaitable, FailureAndCancellationAreThrownIntoTheCoroutine) {
  asio::io_context io;
  Promise<int> failing;
  Promise<void> cancelled;
  std::string caught;
  bool cancelled_caught = false;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        try {
          co_await awaited(failing.future());
        } catch (const std::runtime_error& e) {
          caught = e.what();
        }
        try {
          co_await awaited(cancelled.future());
        } catch (const CancelledError&) {
          cancelled_caught = true;
        }
      },
      asio::detached);
  std::thread completer([&] {
    failing.set_exception(std::runtime_error("remote failure"));
    cancelled.set_cancelled();
  });
  io.run();
  completer.join();
  EXPECT_EQ(caught, "remote failure");
  EXPECT_TRUE(cancelled_caught);
}

TEST(Awaitable, AsyncWaitWorksWithPlainCallbacksBoundToAnExecutor) {
  asio::io_context io;
  Promise<int> p;
  int got = 0;
  async_wait(p.future(), asio::bind_executor(io, [&](Future<int> done) { got = done.result(); }));
  std::thread completer([&] { p.set_value(11); });
  io.run();  // returns only after the callback ran: the wait counts as outstanding work
  completer.join();
  EXPECT_EQ(got, 11);
}

}  // namespace
}  // namespace wq::exec
