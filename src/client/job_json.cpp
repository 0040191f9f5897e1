#include "client/job_json.hpp"

#include <fmt/format.h>

#include <boost/json/serialize.hpp>

namespace wq::client {
namespace {

namespace json = boost::json;

// Reads fields of one JSON object, remembering the first problem.
class Fields {
 public:
  Fields(const json::value& v, std::string_view what) : what_(what) {
    if (v.is_object()) {
      o_ = &v.as_object();
    } else {
      fail("", "an object");
    }
  }

  std::string str(std::string_view k) { return opt_str(k, true).value_or(""); }
  std::optional<std::string> opt_str(std::string_view k, bool required = false) {
    const json::value* v = find(k, required);
    if (!v || v->is_null()) return std::nullopt;
    if (!v->is_string()) return fail(k, "a string");
    return std::string(v->as_string());
  }
  std::int64_t i64(std::string_view k) { return opt_i64(k, true).value_or(0); }
  std::optional<std::int64_t> opt_i64(std::string_view k, bool required = false) {
    const json::value* v = find(k, required);
    if (!v || v->is_null()) return std::nullopt;
    if (v->is_int64()) return v->as_int64();
    if (v->is_uint64()) return static_cast<std::int64_t>(v->as_uint64());
    return fail(k, "an integer");
  }
  std::optional<double> opt_num(std::string_view k, bool required = false) {
    const json::value* v = find(k, required);
    if (!v || v->is_null()) return std::nullopt;
    if (!v->is_number()) return fail(k, "a number");
    return v->to_number<double>();
  }
  bool boolean(std::string_view k, bool fallback) {
    const json::value* v = find(k, false);
    if (!v) return fallback;
    if (!v->is_bool()) {
      fail(k, "true or false");
      return fallback;
    }
    return v->as_bool();
  }
  JobState state() {
    auto s = parse_job_state(str("state"));
    if (!s) fail("state", "a job state");
    return s.value_or(JobState::queued);
  }
  const json::value* find(std::string_view k, bool required) {
    if (!o_) return nullptr;
    const json::value* v = o_->if_contains(k);
    if (!v && required) fail(k, "present");
    return v;
  }

  template <class T>
  Result<T> done(T value) {
    if (problem_) {
      return make_error(Errc::server_error,
                        fmt::format("wqd sent a {} the client cannot read: {}; are the client "
                                    "and server versions compatible?",
                                    what_, *problem_));
    }
    return value;
  }

 private:
  // Records the first problem; returns nullopt for the optional-returning readers.
  std::nullopt_t fail(std::string_view k, std::string_view expected) {
    if (!problem_) {
      problem_ = k.empty() ? fmt::format("expected {}", expected)
                           : fmt::format("'{}' should be {}", k, expected);
    }
    return std::nullopt;
  }

  std::string_view what_;
  const json::object* o_ = nullptr;
  std::optional<std::string> problem_;
};

std::optional<TimePoint> opt_time(std::optional<std::int64_t> ms) {
  if (!ms) return std::nullopt;
  return TimePoint(Millis(*ms));
}

}  // namespace

std::string spec_body(const JobSpec& spec) {
  json::object o;
  o["task"] = spec.task;
  o["params"] = spec.params;
  if (spec.key) o["key"] = *spec.key;
  if (spec.id) o["id"] = *spec.id;
  if (spec.priority != 0) o["priority"] = spec.priority;
  if (spec.max_attempts) o["max_attempts"] = *spec.max_attempts;
  if (spec.timeout) o["timeout"] = static_cast<double>(spec.timeout->count()) / 1000.0;
  if (spec.run_at) o["run_at"] = spec.run_at->time_since_epoch().count();
  if (spec.force) o["force"] = true;
  return json::serialize(o);
}

Result<Job> job_from_json(const json::value& v) {
  Fields f(v, "job");
  Job j;
  j.id = f.str("id");
  j.task = f.str("task");
  if (const json::value* p = f.find("params", false); p && p->is_object())
    j.params = p->as_object();
  j.key = f.opt_str("key").value_or("");
  j.priority = static_cast<int>(f.opt_i64("priority").value_or(0));
  j.max_attempts = static_cast<int>(f.opt_i64("max_attempts").value_or(1));
  if (auto t = f.opt_num("timeout")) j.timeout = Millis(static_cast<std::int64_t>(*t * 1000));
  j.run_at = opt_time(f.opt_i64("run_at")).value_or(TimePoint{});
  j.attempt = static_cast<int>(f.opt_i64("attempt").value_or(0));
  j.created_at = opt_time(f.opt_i64("created_at")).value_or(TimePoint{});
  j.started_at = opt_time(f.opt_i64("started_at"));
  j.finished_at = opt_time(f.opt_i64("finished_at"));
  j.state = f.state();
  j.seq = static_cast<std::uint64_t>(f.i64("seq"));
  j.fraction = f.opt_num("fraction").value_or(0.0);
  j.message = f.opt_str("message");
  if (auto rc = f.opt_i64("returncode")) j.returncode = static_cast<int>(*rc);
  j.error = f.opt_str("error");
  if (auto size = f.opt_i64("result_size")) j.result_size = static_cast<std::uint64_t>(*size);
  return f.done(std::move(j));
}

Result<Snapshot> snapshot_from_json(const json::value& v) {
  Fields f(v, "progress snapshot");
  Snapshot s;
  s.id = f.str("id");
  s.seq = static_cast<std::uint64_t>(f.i64("seq"));
  s.state = f.state();
  s.n_ahead_in_queue = f.opt_i64("n_ahead_in_queue").value_or(0);
  s.fraction = f.opt_num("fraction").value_or(0.0);
  s.message = f.opt_str("message");
  if (auto rc = f.opt_i64("returncode")) s.returncode = static_cast<int>(*rc);
  s.error = f.opt_str("error");
  return f.done(std::move(s));
}

Result<TaskInfo> task_from_json(const json::value& v) {
  Fields f(v, "task description");
  TaskInfo t;
  t.name = f.str("name");
  t.concurrency = static_cast<int>(f.opt_i64("concurrency").value_or(0));
  t.timeout_seconds = f.opt_num("timeout");
  t.max_attempts = static_cast<int>(f.opt_i64("max_attempts").value_or(1));
  if (const json::value* ps = f.find("params", false); ps && ps->is_array()) {
    for (const auto& p : ps->as_array()) {
      Fields pf(p, "task parameter");
      TaskInfo::Param param;
      param.name = pf.str("name");
      param.required = pf.boolean("required", true);
      param.secret = pf.boolean("secret", false);
      if (const json::value* d = pf.find("default", false)) param.default_value = *d;
      auto checked = pf.done(std::move(param));
      if (!checked) return checked.error();
      t.params.push_back(std::move(*checked));
    }
  }
  return f.done(std::move(t));
}

}  // namespace wq::client
