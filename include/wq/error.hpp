// Errors as values. Every expected failure (bad input, unknown task, a full queue, a store
// that cannot be opened) is an `Error` carrying a code from our own category and a human
// `detail` that says what to fix; `Result<T>` is either a value or such an Error. Exceptions
// are reserved for the unexpected and are caught at boundaries.
#pragma once

#include <boost/system/result.hpp>

#include <string>
#include <string_view>
#include <system_error>

namespace wq {

enum class Errc {
  bad_input = 1,   // malformed or invalid request; detail says which field and why
  unknown_task,    // the task name is not configured
  not_found,       // no such job (or not visible to this owner)
  conflict,        // a caller-supplied id exists with a different task/params
  not_finished,    // the result was asked for before the job succeeded
  queue_full,      // max_queued reached; retry later
  too_large,       // a body or result over its cap
  store_failed,    // the store could not read or write (I/O, corruption, lock)
  locked,          // another process holds the data directory
  config_invalid,  // a configuration file or value is wrong
  shutting_down,   // the queue is stopping and takes no new work
  // Client-side outcomes (wq::Client):
  unauthorized,    // the server wants a (different) token
  unreachable,     // the server cannot be reached, or the connection was lost
  server_error,    // the server failed (HTTP 5xx) or answered something unreadable
};

const std::error_category& error_category() noexcept;
std::error_code make_error_code(Errc e) noexcept;
std::string_view to_string(Errc e) noexcept;

struct Error {
  Errc code;
  std::string detail;

  friend bool operator==(const Error&, const Error&) = default;
};

// Thrown by Result<T>::value() on an error; what() is the detail.
class ErrorException : public std::runtime_error {
 public:
  explicit ErrorException(Error e) : std::runtime_error(e.detail), error_(std::move(e)) {}
  const Error& error() const noexcept { return error_; }

 private:
  Error error_;
};

[[noreturn]] void throw_exception_from_error(const Error& e, const boost::source_location& loc);

template <class T>
using Result = boost::system::result<T, Error>;

inline Error make_error(Errc code, std::string detail) { return Error{code, std::move(detail)}; }

}  // namespace wq

template <>
struct std::is_error_code_enum<wq::Errc> : std::true_type {};
