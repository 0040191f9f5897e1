// The JSON text of a job as the job endpoints answer it: to_json(job) plus n_ahead_in_queue,
// written straight into a string. Building the boost::json::object first and serialising it
// cost ~33k instructions per submit answer (callgrind, HTTP-W1) against ~4k for this. The
// bytes are those of json_text(to_json(job)) with the key appended; a test holds the two
// writers to that, so a field added to to_json must be added here too.
// Pure function; thread-safe.
#pragma once

#include <cstdint>
#include <string>

#include "wq/job.hpp"

namespace wq::http {

std::string job_json_text(const Job& job, std::int64_t n_ahead_in_queue);

}  // namespace wq::http
