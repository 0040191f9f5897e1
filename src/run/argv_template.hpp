// Expanding a command task's argv template for one job (DESIGN §2), and handing it its secret
// params through the environment or stdin instead. Pure functions; thread-safe.
//
// Template syntax, per argv element: {param.NAME}, {output}, {status_file}, {job_dir},
// {job_id}; "{{" and "}}" are literal braces; anything else in braces is an error. A
// placeholder may sit inside a larger element ("--in={param.src}"); each element stays one
// argument whatever the value holds (spaces, quotes, "$(...)", ";", newlines): there is no
// shell. A param value renders as: string -> itself, number -> its shortest round-trip text
// (1.5, 42, 1e+100), bool -> true/false, null -> "", object/array -> compact JSON.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "run/command_runner.hpp"
#include "wq/config.hpp"
#include "wq/error.hpp"

namespace wq::run {

struct TemplateInputs {
  const boost::json::object& params;  // all of the job's params, secret ones included
  std::string_view job_id;
  std::string_view output;       // {output}
  std::string_view status_file;  // {status_file}
  std::string_view job_dir;      // {job_dir}; also the program's working directory
};

// Config-time check of task.command: every placeholder known, every {param.NAME} declared
// (when the task declares params), no secret param in argv unless secrets_via = argv.
// Errc::config_invalid; the detail starts "tasks.NAME.command[I]: ".
Result<void> validate_command_template(const TaskConfig& task);

// The argv for one job. A param missing from `inputs.params` takes its declared default.
// Errc::bad_input for an unknown placeholder, a missing param or a value with a NUL byte;
// Errc::config_invalid for a secret param in argv without secrets_via = argv.
Result<std::vector<std::string>> expand_argv(const TaskConfig& task, const TemplateInputs& inputs);

// How a param value appears in argv or the environment (see above).
std::string render_param(const boost::json::value& value);

// For secrets_via = env: "WQ_SECRET_<NAME>=value" per secret param present (NAME upper-cased,
// anything but [A-Z0-9_] becoming '_'); empty otherwise. Errc::bad_input for a NUL byte.
Result<std::vector<std::string>> secret_env(const TaskConfig& task,
                                            const boost::json::object& params);

// For secrets_via = stdin_json: one JSON object of the secret params present plus "\n";
// nullopt otherwise (or when the task has none).
std::optional<std::string> secret_stdin(const TaskConfig& task, const boost::json::object& params);

// Everything the runner needs for one job: the expanded argv, task.env plus secret_env, stdin
// from secret_stdin, cwd = job_dir, and the task's limits (timeout = task.timeout; a job's own
// timeout replaces it afterwards).
Result<CommandSpec> make_command_spec(const TaskConfig& task, const TemplateInputs& inputs);

}  // namespace wq::run
