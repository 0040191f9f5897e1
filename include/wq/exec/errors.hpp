// The exceptions futures and executors raise, and the one place where errors nobody can
// receive (a throwing done callback, a failing cancel function, a broken retry policy) are
// reported.
//
// Threading: the exception types are plain values. log_error() may be called from any thread;
// set_error_log() should be called before executors start (tests use it to capture messages).
#pragma once

#include <exception>
#include <stdexcept>
#include <string>
#include <string_view>

namespace wq::exec {

// Thrown by Future::result()/exception() when the future was cancelled.
class CancelledError : public std::runtime_error {
 public:
  CancelledError() : std::runtime_error("future was cancelled") {}
};

// Thrown by Future::result(timeout)/exception(timeout) when the future is not done in time.
// The future itself is unaffected and can be waited on again.
class TimeoutError : public std::runtime_error {
 public:
  TimeoutError() : std::runtime_error("timed out waiting for a future") {}
};

// Thrown by submit() on an executor that was shut down; also the failure of a polled future
// whose poll executor shut down before the poll function resolved it.
class ShutdownError : public std::runtime_error {
 public:
  explicit ShutdownError(std::string_view what) : std::runtime_error(std::string(what)) {}
};

// Receives one line per unreceivable error. The default writes to stderr.
using ErrorLog = void (*)(std::string_view message);

// Installs `log` (nullptr restores the stderr default) and returns the previous one.
ErrorLog set_error_log(ErrorLog log) noexcept;

// Reports `message` through the installed ErrorLog. Never throws.
void log_error(std::string_view message) noexcept;

// Reports "<context>: <what() of e>" through log_error.
void log_exception(std::string_view context, const std::exception_ptr& e) noexcept;

// what() of the exception in `e`, or a placeholder for non-std exceptions and null.
std::string describe(const std::exception_ptr& e);

}  // namespace wq::exec
