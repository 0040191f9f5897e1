// co_await on_pool(pool, fn): runs a blocking call (store reads and writes) on the blocking pool
// and resumes the coroutine on its own executor (its connection's event loop) with the result. An
// exception thrown by `fn` is rethrown in the coroutine.
//
// Threading: `fn` runs on a pool thread; anything it captures by reference must outlive the
// co_await, which it does when it lives in the awaiting coroutine's frame.
#pragma once

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <exception>
#include <optional>
#include <type_traits>
#include <utility>

namespace wq::http {

template <class F>
boost::asio::awaitable<std::invoke_result_t<F&>> on_pool(boost::asio::thread_pool& pool, F fn) {
  using R = std::invoke_result_t<F&>;
  namespace asio = boost::asio;
  std::optional<R> result =
      co_await asio::async_initiate<const asio::use_awaitable_t<>,
                                    void(std::exception_ptr, std::optional<R>)>(
          [&pool](auto handler, F f) {
            asio::post(pool, [f = std::move(f), handler = std::move(handler)]() mutable {
              std::exception_ptr error;
              std::optional<R> r;
              try {
                r.emplace(f());
              } catch (...) {
                error = std::current_exception();  // rethrown in the awaiting coroutine
              }
              auto ex = asio::get_associated_executor(handler);
              asio::post(ex, [handler = std::move(handler), error, r = std::move(r)]() mutable {
                std::move(handler)(error, std::move(r));
              });
            });
          },
          asio::use_awaitable, std::move(fn));
  co_return std::move(*result);
}

}  // namespace wq::http
