#include "wq/exec/errors.hpp"

#include <atomic>
#include <cstdio>

namespace wq::exec {
namespace {

void log_to_stderr(std::string_view message) {
  std::fprintf(stderr, "wq::exec: %.*s\n", static_cast<int>(message.size()), message.data());
}

std::atomic<ErrorLog> g_error_log{&log_to_stderr};

}  // namespace

ErrorLog set_error_log(ErrorLog log) noexcept {
  ErrorLog previous = g_error_log.exchange(log ? log : &log_to_stderr);
  return previous == &log_to_stderr ? nullptr : previous;
}

void log_error(std::string_view message) noexcept { g_error_log.load()(message); }

std::string describe(const std::exception_ptr& e) {
  if (!e) return "no exception";
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    return ex.what();
  } catch (...) {
    return "non-standard exception";
  }
}

void log_exception(std::string_view context, const std::exception_ptr& e) noexcept {
  try {
    std::string message(context);
    message += ": ";
    message += describe(e);
    log_error(message);
  } catch (const std::bad_alloc&) {
    log_error(context);
  }
}

}  // namespace wq::exec
