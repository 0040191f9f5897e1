// Retry policies for RetryExecutor. A policy is any copyable type with, for the future types it
// is used with,
//   bool    should_retry(int attempt, const Future<R>& done_attempt) const;
//   Seconds sleep_time(int attempt, const Future<R>& done_attempt) const;
// `attempt` counts from 1 (the attempt that just finished). The future is done and not
// cancelled, so a policy may inspect its value as well as its exception. An exception thrown by
// a policy is logged and the attempt's outcome becomes the final one. A policy that never
// retries a success may say so with `static constexpr bool kRetriesOnlyFailures = true;`: a
// successful attempt then ends the future without consulting it.
//
// Threading: policies are called on the thread that completed the attempt, concurrently for
// different futures; they must be safe to call concurrently (const and stateless are).
#pragma once

#include <algorithm>
#include <cmath>
#include <exception>
#include <utility>
#include <vector>

#include "wq/exec/composable.hpp"
#include "wq/exec/future.hpp"

namespace wq::exec {

// Tells whether an exception is of some type (see exception_type).
using ExceptionMatcher = bool (*)(const std::exception_ptr&);

namespace detail {
template <class E>
bool matches_exception(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const E&) {
    return true;
  } catch (...) {
    return false;
  }
}
}  // namespace detail

// The matcher for exceptions of type E or derived from it.
template <class E>
inline constexpr ExceptionMatcher exception_type = &detail::matches_exception<E>;

// Retries failures whose exception matches one of `exception_types` (any exception when
// empty), up to `max_attempts` attempts in all, sleeping
//   min(sleep * exponent^(attempt-1), max_sleep)
// between attempts. Successful results are never retried. The defaults are more-executors'.
struct ExceptionRetryPolicy {
  static constexpr bool kRetriesOnlyFailures = true;
  int max_attempts = 3;
  double exponent = 2.0;
  Seconds sleep{1.0};
  Seconds max_sleep{120.0};
  std::vector<ExceptionMatcher> exception_types;

  template <class R>
  bool should_retry(int attempt, const Future<R>& f) const {
    if (attempt >= max_attempts) return false;
    const std::exception_ptr e = f.exception();
    if (!e) return false;
    if (exception_types.empty()) return true;
    return std::any_of(exception_types.begin(), exception_types.end(),
                       [&](ExceptionMatcher m) { return m(e); });
  }

  template <class R>
  Seconds sleep_time(int attempt, const Future<R>&) const {
    const double factor = std::pow(exponent, static_cast<double>(attempt - 1));
    return std::min(Seconds(sleep.count() * factor), max_sleep);
  }
};

// Never retries (more-executors' RetryPolicy base class).
struct NoRetryPolicy {
  static constexpr bool kRetriesOnlyFailures = true;
  template <class R>
  bool should_retry(int, const Future<R>&) const {
    return false;
  }
  template <class R>
  Seconds sleep_time(int, const Future<R>&) const {
    return Seconds(0);
  }
};

// A policy made of two callables: should_retry(attempt, future) -> bool and
// sleep_time(attempt, future) -> Seconds. Generic lambdas work for any result type.
template <class ShouldRetry, class SleepTime>
struct CustomRetryPolicy {
  ShouldRetry should_retry_fn;
  SleepTime sleep_time_fn;

  template <class R>
  bool should_retry(int attempt, const Future<R>& f) const {
    return should_retry_fn(attempt, f);
  }
  template <class R>
  Seconds sleep_time(int attempt, const Future<R>& f) const {
    return Seconds(sleep_time_fn(attempt, f));
  }
};

template <class ShouldRetry, class SleepTime>
CustomRetryPolicy<ShouldRetry, SleepTime> make_retry_policy(ShouldRetry should_retry,
                                                            SleepTime sleep_time) {
  return {std::move(should_retry), std::move(sleep_time)};
}

}  // namespace wq::exec
