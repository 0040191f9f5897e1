// Turning what a caller asked for (JobSpec) into a validated job ready for the store (NewJob):
// params checked against the task's declaration, defaults filled in, secret params split off,
// the dedup key derived. Pure functions; thread-safe.
#pragma once

#include "wq/config.hpp"
#include "wq/store.hpp"

namespace wq {

// Errc::bad_input with a detail naming the field when the spec does not fit the task.
Result<NewJob> prepare_job(const JobSpec& spec, const TaskConfig& task, TimePoint now);

// SHA-256 over the task name and the canonical JSON of all its params (secrets included).
std::string spec_hash(std::string_view task, const boost::json::object& all_params);

}  // namespace wq
