#include "wq/error.hpp"

#include <boost/throw_exception.hpp>

namespace wq {
namespace {

class Category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "workqueue"; }
  std::string message(int ev) const override { return std::string(to_string(Errc(ev))); }
};

}  // namespace

const std::error_category& error_category() noexcept {
  static const Category category;
  return category;
}

std::error_code make_error_code(Errc e) noexcept { return {static_cast<int>(e), error_category()}; }

std::string_view to_string(Errc e) noexcept {
  switch (e) {
    case Errc::bad_input: return "bad input";
    case Errc::unknown_task: return "unknown task";
    case Errc::not_found: return "not found";
    case Errc::conflict: return "conflict";
    case Errc::not_finished: return "not finished";
    case Errc::queue_full: return "queue full";
    case Errc::too_large: return "too large";
    case Errc::store_failed: return "store failed";
    case Errc::locked: return "locked";
    case Errc::config_invalid: return "invalid configuration";
    case Errc::shutting_down: return "shutting down";
    case Errc::unauthorized: return "unauthorized";
    case Errc::unreachable: return "unreachable";
    case Errc::server_error: return "server error";
  }
  return "unknown error";
}

void throw_exception_from_error(const Error& e, const boost::source_location& loc) {
  boost::throw_exception(ErrorException(e), loc);
}

}  // namespace wq
