// Composable<E>: the fluent with_* methods every executor has. Each returns a new executor that
// wraps (and shares) this one: `ThreadPool(4).with_retry(p).with_poll(f).with_timeout(30s)`.
//
// An executor here is any type with
//   submit(f, args...) -> Future<R>    (throws ShutdownError after shutdown)
//   shutdown(bool wait = true)          (idempotent; propagates to wrapped executors)
//   stats() -> ExecutorStats
// Executors are cheap shared handles: copies share one executor, and the last handle dropped
// shuts that executor (not the executors it wraps, which have their own handles) down.
//
// Threading: every with_* is a const, thread-safe construction; see each executor's header.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

namespace wq::exec {

namespace detail {
struct NoErrorFn;
struct NoCancelFn;
template <class In, class Out, class PollFn>
struct PollTypes;
}  // namespace detail

class ExceptionRetryPolicy;
enum class Transform : unsigned char { map, flat_map };
template <class Inner, class Fn, class ErrFn, Transform Kind>
class TransformExecutor;
template <class Inner, class Fn, class ErrFn>
using MapExecutor = TransformExecutor<Inner, Fn, ErrFn, Transform::map>;
template <class Inner, class Fn, class ErrFn>
using FlatMapExecutor = TransformExecutor<Inner, Fn, ErrFn, Transform::flat_map>;
template <class Inner, class Policy>
class RetryExecutor;
template <class Inner, class In, class Out, class PollFn, class CancelFn>
class PollExecutor;
template <class Inner>
class TimeoutExecutor;
template <class Inner>
class ThrottleExecutor;
template <class Inner>
class CancelOnShutdownExecutor;

using Seconds = std::chrono::duration<double>;

template <class Derived>
class Composable {
 public:
  // Futures of fn(value); a failure passes through unchanged (see MapExecutor).
  template <class Fn>
  auto with_map(Fn fn) const {
    return MapExecutor<Derived, Fn, detail::NoErrorFn>(self(), std::move(fn), {});
  }
  // As with_map, and a failure becomes error_fn(std::exception_ptr) (a value, or a throw).
  template <class Fn, class ErrFn>
  auto with_map(Fn fn, ErrFn error_fn) const {
    return MapExecutor<Derived, Fn, ErrFn>(self(), std::move(fn), std::move(error_fn));
  }

  // Futures that follow the future fn(value) returns (see FlatMapExecutor).
  template <class Fn>
  auto with_flat_map(Fn fn) const {
    return FlatMapExecutor<Derived, Fn, detail::NoErrorFn>(self(), std::move(fn), {});
  }
  template <class Fn, class ErrFn>
  auto with_flat_map(Fn fn, ErrFn error_fn) const {
    return FlatMapExecutor<Derived, Fn, ErrFn>(self(), std::move(fn), std::move(error_fn));
  }

  // Retries failed work according to `policy` (see RetryExecutor and retry_policy.hpp).
  template <class Policy = ExceptionRetryPolicy>
  auto with_retry(Policy policy = Policy(), std::string name = "wq-retry") const {
    return RetryExecutor<Derived, Policy>(self(), std::move(policy), std::move(name));
  }

  // Resolves futures by batched polling (see PollExecutor). In/Out are deduced from the poll
  // function's `std::vector<PollDescriptor<In, Out>>&` parameter unless given explicitly.
  template <class In = void, class Out = void, class PollFn, class CancelFn = detail::NoCancelFn>
  auto with_poll(PollFn poll_fn, CancelFn cancel_fn = CancelFn(),
                 Seconds default_interval = Seconds(5.0), std::string name = "wq-poll") const {
    using Types = detail::PollTypes<In, Out, PollFn>;
    return PollExecutor<Derived, typename Types::in, typename Types::out, PollFn, CancelFn>(
        self(), std::move(poll_fn), std::move(cancel_fn), default_interval, std::move(name));
  }

  // Cancels futures not done `timeout` after submission (see TimeoutExecutor).
  auto with_timeout(Seconds timeout, std::string name = "wq-timeout") const {
    return TimeoutExecutor<Derived>(self(), timeout, std::move(name));
  }

  // Runs at most `count` futures of the wrapped executor at once (see ThrottleExecutor).
  auto with_throttle(std::size_t count, bool block = false,
                     std::string name = "wq-throttle") const {
    return with_throttle(std::function<std::optional<std::size_t>()>(
                             [count]() -> std::optional<std::size_t> { return count; }),
                         block, std::move(name));
  }
  // As above with a limit re-evaluated at every decision (nullopt: no limit).
  auto with_throttle(std::function<std::optional<std::size_t>()> count, bool block = false,
                     std::string name = "wq-throttle") const {
    return ThrottleExecutor<Derived>(self(), std::move(count), block, std::move(name));
  }

  // Cancels every unfinished future when shut down (see CancelOnShutdownExecutor).
  auto with_cancel_on_shutdown(std::string name = "wq-cancel-on-shutdown") const {
    return CancelOnShutdownExecutor<Derived>(self(), std::move(name));
  }

 protected:
  Composable() = default;

 private:
  const Derived& self() const { return static_cast<const Derived&>(*this); }
};

}  // namespace wq::exec

// The executors the methods above return (each includes this header first).
#include "wq/exec/cancel_on_shutdown_executor.hpp"
#include "wq/exec/map_executor.hpp"
#include "wq/exec/poll_executor.hpp"
#include "wq/exec/retry_executor.hpp"
#include "wq/exec/throttle_executor.hpp"
#include "wq/exec/timeout_executor.hpp"
