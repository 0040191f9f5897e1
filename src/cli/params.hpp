// The job params of `wq submit TASK k=v … k:=JSON …`, httpie style: `k=v` gives the string
// "v"; `k:=JSON` gives the JSON value (n:=10, ratio:=0.5, on:=true, tags:='["a","b"]').
// Plain functions; no threading concerns.
#pragma once

#include <boost/json/object.hpp>
#include <string>
#include <vector>

#include "wq/error.hpp"

namespace wq::cli {

// Errc::bad_input with a detail that shows the fix for the first bad argument.
Result<boost::json::object> parse_params(const std::vector<std::string>& args);

}  // namespace wq::cli
