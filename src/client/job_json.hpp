// The client's side of wqd's JSON: a JobSpec as a POST /v1/jobs body, and Job, Snapshot and
// TaskInfo read back from answers (the inverse of wq::to_json and the server's handlers).
// Plain functions; no threading concerns.
#pragma once

#include <boost/json/value.hpp>
#include <string>

#include "wq/client.hpp"
#include "wq/error.hpp"
#include "wq/job.hpp"

namespace wq::client {

std::string spec_body(const JobSpec& spec);

// Errc::server_error naming the missing or mistyped field when the JSON is not what wqd sends.
Result<Job> job_from_json(const boost::json::value& v);
Result<Snapshot> snapshot_from_json(const boost::json::value& v);
Result<TaskInfo> task_from_json(const boost::json::value& v);

}  // namespace wq::client
