// Waiting for a Future from Boost.Asio: any completion token (callbacks, use_awaitable,
// deferred…) through async_wait(), and `T value = co_await awaited(future);` in
// boost::asio::awaitable coroutines. Nothing blocks a thread: the completion is posted to the
// waiting handler's associated executor — for a coroutine, its own executor — so it resumes
// there, never on the thread that completed the future.
//
// Threading: callable from any thread; the executor is kept busy (outstanding work) until the
// future is done.
#pragma once

#include <utility>

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "wq/exec/future.hpp"

namespace wq::exec {

// Completes with signature void(Future<T>) — the same future, now done — when it is done.
template <class T, class CompletionToken>
auto async_wait(const Future<T>& future, CompletionToken&& token) {
  return boost::asio::async_initiate<CompletionToken, void(Future<T>)>(
      [](auto handler, Future<T> f) {
        auto ex = boost::asio::prefer(boost::asio::get_associated_executor(handler),
                                      boost::asio::execution::outstanding_work.tracked);
        f.add_done_callback(
            [handler = std::move(handler), ex = std::move(ex)](const Future<T>& done) mutable {
              boost::asio::post(ex, [handler = std::move(handler), done]() mutable {
                std::move(handler)(done);
              });
            });
      },
      token, future);
}

// The future's value (or its exception, or CancelledError), awaited without blocking.
template <class T>
boost::asio::awaitable<T> awaited(Future<T> future) {
  Future<T> done = co_await async_wait(future, boost::asio::use_awaitable);
  if constexpr (std::is_void_v<T>) {
    done.result();
  } else {
    co_return done.result();
  }
}

}  // namespace wq::exec
