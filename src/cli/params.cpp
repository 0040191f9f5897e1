#include "cli/params.hpp"

#include <fmt/format.h>

#include <boost/json/parse.hpp>

namespace wq::cli {

Result<boost::json::object> parse_params(const std::vector<std::string>& args) {
  boost::json::object params;
  for (const auto& arg : args) {
    const auto eq = arg.find('=');
    if (eq == std::string::npos || eq == 0 || (eq == 1 && arg[0] == ':')) {
      return make_error(Errc::bad_input,
                        fmt::format("param '{}' should look like NAME=TEXT (a string) or "
                                    "NAME:=JSON (a number, true/false, a list…), e.g. n:=10",
                                    arg));
    }
    const bool typed = arg[eq - 1] == ':';
    const std::string name = arg.substr(0, typed ? eq - 1 : eq);
    const std::string text = arg.substr(eq + 1);
    if (params.contains(name)) {
      return make_error(Errc::bad_input,
                        fmt::format("param '{}' is given twice; give each param once", name));
    }
    if (!typed) {
      params[name] = text;
      continue;
    }
    boost::system::error_code ec;
    auto value = boost::json::parse(text, ec);
    if (ec) {
      return make_error(Errc::bad_input,
                        fmt::format("param '{}': the value after := must be JSON ({}), e.g. "
                                    "{}:=10 or {}:='[\"a\"]'; for a string write {}={}",
                                    name, ec.message(), name, name, name, text));
    }
    params[name] = std::move(value);
  }
  return params;
}

}  // namespace wq::cli
