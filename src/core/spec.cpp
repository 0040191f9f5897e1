#include "core/spec.hpp"

#include "core/json_text.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace wq {

std::string spec_hash(std::string_view task, const boost::json::object& all_params) {
  std::string text(task);
  text += '\n';
  text += canonical_json(all_params);
  return sha256_hex(text);
}

Result<NewJob> prepare_job(const JobSpec& spec, const TaskConfig& task, TimePoint now) {
  NewJob out;
  Job& job = out.job;
  if (spec.id) {
    if (!valid_job_id(*spec.id)) {
      return make_error(Errc::bad_input,
                        fmt::format("id must be 1 to 128 characters of A-Z a-z 0-9 . _ - (and not "
                                    "'.' or '..'), got '{}'", spec.id->substr(0, 140)));
    }
    job.id = *spec.id;
    out.id_given = true;
  } else {
    job.id = new_job_id();
  }

  boost::json::object all = spec.params;
  if (!task.params.empty()) {
    for (const auto& kv : spec.params) {
      if (!task.param(kv.key())) {
        std::string known;
        for (const auto& p : task.params) known += fmt::format("{}{}", known.empty() ? "" : ", ", p.name);
        return make_error(Errc::bad_input, fmt::format("unknown param '{}' for task '{}'; it takes: {}",
                                                       std::string_view(kv.key()), task.name, known));
      }
    }
    for (const auto& p : task.params) {
      if (all.contains(p.name)) continue;
      if (p.default_value) {
        all[p.name] = *p.default_value;
      } else if (p.required) {
        return make_error(Errc::bad_input,
                          fmt::format("missing param '{}' for task '{}'", p.name, task.name));
      }
    }
  }
  out.spec_hash = spec_hash(task.name, all);
  const bool has_secrets = std::any_of(task.params.begin(), task.params.end(),
                                       [](const ParamSpec& p) { return p.secret; });
  if (!has_secrets) {
    job.params = std::move(all);
  } else {
    for (const auto& kv : all) {
      const ParamSpec* p = task.param(kv.key());
      if (p && p->secret) {
        out.secrets[kv.key()] = kv.value();
      } else {
        job.params[kv.key()] = kv.value();
      }
    }
  }

  if (spec.key) {
    if (spec.key->empty() || spec.key->size() > 512) {
      return make_error(Errc::bad_input, "key must be 1 to 512 characters");
    }
    job.key = *spec.key;
  } else {
    job.key = out.spec_hash;
  }
  const int attempts = spec.max_attempts.value_or(task.max_attempts);
  if (attempts < 1 || attempts > 1000) {
    return make_error(Errc::bad_input, fmt::format("max_attempts must be 1 to 1000, got {}", attempts));
  }
  if (spec.timeout && spec.timeout->count() <= 0) {
    return make_error(Errc::bad_input, "timeout must be a positive number of seconds");
  }
  job.task = task.name;
  job.owner = spec.owner;
  job.priority = spec.priority;
  job.max_attempts = attempts;
  job.timeout = spec.timeout ? spec.timeout : task.timeout;
  job.created_at = now;
  job.run_at = spec.run_at.value_or(now);
  job.state = JobState::queued;
  job.seq = 1;
  out.force = spec.force;
  return out;
}

}  // namespace wq
