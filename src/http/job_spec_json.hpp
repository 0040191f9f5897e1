// The body of `POST /v1/jobs` read into a JobSpec, and `POST /v1/jobs/search` into ids. Every
// error is Errc::bad_input naming the field and what it should be, e.g.
// `priority: expected an integer, got "high"` or `unknown field 'prio'; expected one of: …`.
// Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "wq/error.hpp"
#include "wq/job.hpp"

namespace wq::http {

// {task, params?, key?, id?, priority?, max_attempts?, timeout?, run_at?, force?}: timeout in
// seconds (a number) or a duration string ("90s", "2h"); run_at in milliseconds since the epoch.
// `owner` becomes the job's owner: it never comes from the body.
Result<JobSpec> parse_job_spec(std::string_view body, std::string owner);

// {ids: [string, …]} with 1 to kMaxSearchIds ids.
inline constexpr std::size_t kMaxSearchIds = 1000;
Result<std::vector<std::string>> parse_search_ids(std::string_view body);

}  // namespace wq::http
