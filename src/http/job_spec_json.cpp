#include "http/job_spec_json.hpp"

#include <fmt/format.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <cmath>

#include "wq/config.hpp"

namespace wq::http {
namespace {

namespace json = boost::json;

std::string shown(const json::value& v) {
  std::string text = json::serialize(v);
  if (text.size() > 60) text = text.substr(0, 57) + "...";
  return text;
}

Error field_error(std::string_view field, std::string_view expected, const json::value& got) {
  return make_error(Errc::bad_input,
                    fmt::format("{}: expected {}, got {}", field, expected, shown(got)));
}

Result<json::object> parse_object(std::string_view body, std::string_view example) {
  if (body.empty()) {
    return make_error(
        Errc::bad_input,
        fmt::format("the request body is empty; send a JSON object like {}", example));
  }
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  if (ec) {
    return make_error(Errc::bad_input,
                      fmt::format("the request body is not valid JSON ({}); send a JSON "
                                  "object like {}",
                                  ec.message(), example));
  }
  if (!v.is_object()) return field_error("body", fmt::format("a JSON object like {}", example), v);
  return std::move(v.as_object());
}

Result<void> check_fields(const json::object& o, std::initializer_list<std::string_view> known) {
  for (const auto& kv : o) {
    bool found = false;
    for (auto k : known) found = found || k == kv.key();
    if (!found) {
      std::string list;
      for (auto k : known) list += fmt::format("{}{}", list.empty() ? "" : ", ", k);
      return make_error(Errc::bad_input,
                        fmt::format("unknown field '{}'; expected one of: {}",
                                    std::string_view(kv.key()).substr(0, 100), list));
    }
  }
  return {};
}

Result<std::optional<std::string>> string_field(const json::object& o, std::string_view name) {
  auto it = o.find(name);
  if (it == o.end() || it->value().is_null()) return std::optional<std::string>{};
  if (!it->value().is_string()) return field_error(name, "a string", it->value());
  return std::optional<std::string>(std::string(it->value().as_string()));
}

Result<std::optional<std::int64_t>> int_field(const json::object& o, std::string_view name,
                                              std::int64_t min, std::int64_t max) {
  auto it = o.find(name);
  if (it == o.end() || it->value().is_null()) return std::optional<std::int64_t>{};
  const json::value& v = it->value();
  std::optional<std::int64_t> i;
  if (v.is_int64()) i = v.as_int64();
  if (v.is_uint64() && v.as_uint64() <= static_cast<std::uint64_t>(max))
    i = static_cast<std::int64_t>(v.as_uint64());
  if (!i || *i < min || *i > max)
    return field_error(name, fmt::format("an integer from {} to {}", min, max), v);
  return i;
}

Result<std::optional<Millis>> timeout_field(const json::object& o) {
  auto it = o.find("timeout");
  if (it == o.end() || it->value().is_null()) return std::optional<Millis>{};
  const json::value& v = it->value();
  std::optional<Millis> d;
  if (v.is_number()) {
    const double s = v.to_number<double>();
    if (std::isfinite(s) && s > 0 && s < 1e9)
      d = Millis(static_cast<std::int64_t>(std::llround(s * 1000)));
  } else if (v.is_string()) {
    d = parse_duration(v.as_string());
    if (d && d->count() <= 0) d.reset();
  }
  if (!d)
    return field_error("timeout",
                       "a positive number of seconds or a duration like \"90s\" or \"2h\"", v);
  return d;
}

}  // namespace

Result<JobSpec> parse_job_spec(std::string_view body, std::string owner) {
  constexpr std::string_view kExample = R"({"task": "count", "params": {"n": 10}})";
  auto parsed = parse_object(body, kExample);
  if (!parsed) return parsed.error();
  json::object& o = *parsed;
  if (auto ok = check_fields(o, {"task", "params", "key", "id", "priority", "max_attempts",
                                 "timeout", "run_at", "force"});
      !ok) {
    return ok.error();
  }
  JobSpec spec;
  spec.owner = std::move(owner);
  auto task = string_field(o, "task");
  if (!task) return task.error();
  if (!*task || (*task)->empty()) {
    return make_error(Errc::bad_input,
                      fmt::format("task: missing; name the task to run, e.g. {}", kExample));
  }
  spec.task = std::move(**task);
  if (auto it = o.find("params"); it != o.end() && !it->value().is_null()) {
    if (!it->value().is_object())
      return field_error("params", "an object like {\"n\": 10}", it->value());
    spec.params = std::move(it->value().as_object());  // same storage: no copy
  }
  auto key = string_field(o, "key");
  if (!key) return key.error();
  spec.key = std::move(*key);
  auto id = string_field(o, "id");
  if (!id) return id.error();
  spec.id = std::move(*id);
  auto priority = int_field(o, "priority", -1000000, 1000000);
  if (!priority) return priority.error();
  spec.priority = static_cast<int>(priority->value_or(0));
  auto attempts = int_field(o, "max_attempts", 1, 1000);
  if (!attempts) return attempts.error();
  if (*attempts) spec.max_attempts = static_cast<int>(**attempts);
  auto timeout = timeout_field(o);
  if (!timeout) return timeout.error();
  spec.timeout = *timeout;
  auto run_at = int_field(o, "run_at", 0, std::int64_t{1} << 50);
  if (!run_at) return run_at.error();
  if (*run_at) spec.run_at = TimePoint(Millis(**run_at));
  if (auto it = o.find("force"); it != o.end() && !it->value().is_null()) {
    if (!it->value().is_bool()) return field_error("force", "true or false", it->value());
    spec.force = it->value().as_bool();
  }
  return spec;
}

Result<std::vector<std::string>> parse_search_ids(std::string_view body) {
  constexpr std::string_view kExample = R"({"ids": ["0190…", "0191…"]})";
  auto parsed = parse_object(body, kExample);
  if (!parsed) return parsed.error();
  if (auto ok = check_fields(*parsed, {"ids"}); !ok) return ok.error();
  auto it = parsed->find("ids");
  if (it == parsed->end())
    return make_error(Errc::bad_input, fmt::format("ids: missing; send {}", kExample));
  if (!it->value().is_array()) return field_error("ids", "an array of job ids", it->value());
  const json::array& arr = it->value().as_array();
  if (arr.empty() || arr.size() > kMaxSearchIds) {
    return make_error(Errc::bad_input,
                      fmt::format("ids: expected 1 to {} ids, got {}", kMaxSearchIds, arr.size()));
  }
  std::vector<std::string> ids;
  ids.reserve(arr.size());
  for (size_t i = 0; i < arr.size(); ++i) {
    if (!arr[i].is_string()) return field_error(fmt::format("ids[{}]", i), "a string", arr[i]);
    ids.emplace_back(arr[i].as_string());
  }
  return ids;
}

}  // namespace wq::http
