#include "run/argv_template.hpp"

#include "core/json_text.hpp"

#include <fmt/format.h>

#include <array>
#include <utility>

namespace wq::run {
namespace {

enum class Slot { literal, param, output, status_file, job_dir, job_id };

struct Piece {
  Slot slot;
  std::string text;  // literal text, or the param name
};

constexpr std::array<std::pair<std::string_view, Slot>, 4> kNamedSlots{{
    {"output", Slot::output},
    {"status_file", Slot::status_file},
    {"job_dir", Slot::job_dir},
    {"job_id", Slot::job_id},
}};

constexpr std::string_view kParamPrefix = "param.";
constexpr std::string_view kSyntaxHint =
    "expected {param.NAME}, {output}, {status_file}, {job_dir} or {job_id}; write {{ or }} for a "
    "literal brace";

// Splits one argv element into literal text and placeholders; on a syntax error returns the
// problem (without location).
std::optional<std::string> split(std::string_view arg, std::vector<Piece>& pieces) {
  std::string literal;
  auto flush = [&] {
    if (!literal.empty()) pieces.push_back(Piece{Slot::literal, std::exchange(literal, {})});
  };
  for (std::size_t i = 0; i < arg.size();) {
    const char c = arg[i];
    const bool doubled = i + 1 < arg.size() && arg[i + 1] == c;
    if ((c == '{' || c == '}') && doubled) {
      literal += c;
      i += 2;
    } else if (c == '}') {
      return fmt::format("unmatched '}}' at offset {} ({})", i, kSyntaxHint);
    } else if (c == '{') {
      const auto close = arg.find('}', i + 1);
      if (close == std::string_view::npos)
        return fmt::format("unclosed '{{' at offset {} ({})", i, kSyntaxHint);
      const std::string_view name = arg.substr(i + 1, close - i - 1);
      std::optional<Piece> piece;
      if (name.starts_with(kParamPrefix) && name.size() > kParamPrefix.size() &&
          name.find('{') == std::string_view::npos) {
        piece = Piece{Slot::param, std::string(name.substr(kParamPrefix.size()))};
      }
      for (const auto& [slot_name, slot] : kNamedSlots) {
        if (name == slot_name) piece = Piece{slot, {}};
      }
      if (!piece) return fmt::format("unknown placeholder '{{{}}}' ({})", name, kSyntaxHint);
      flush();
      pieces.push_back(std::move(*piece));
      i = close + 1;
    } else {
      literal += c;
      ++i;
    }
  }
  flush();
  return std::nullopt;
}

const boost::json::value* find_value(const TaskConfig& task, const boost::json::object& params,
                                     std::string_view name) {
  if (const auto* v = params.if_contains(name)) return v;
  const ParamSpec* spec = task.param(name);
  if (spec != nullptr && spec->default_value) return &*spec->default_value;
  return nullptr;
}

std::string secret_in_argv_problem(std::string_view name) {
  return fmt::format(
      "passes secret param '{}' in argv; set secrets_via = \"argv\" to allow that, or read it "
      "from the environment (WQ_SECRET_{}) or stdin",
      name, name);
}

bool passes_secret_in_argv(const TaskConfig& task, const ParamSpec* spec) {
  return spec != nullptr && spec->secret && task.secrets_via != SecretsVia::argv;
}

std::string env_name_for(std::string_view param) {
  std::string name = "WQ_SECRET_";
  for (char c : param) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    name += ok ? c : '_';
  }
  return name;
}

}  // namespace

std::string render_param(const boost::json::value& value) {
  switch (value.kind()) {
    case boost::json::kind::string:
      return std::string(value.get_string());
    case boost::json::kind::int64:
      return std::to_string(value.get_int64());
    case boost::json::kind::uint64:
      return std::to_string(value.get_uint64());
    case boost::json::kind::double_:
      return fmt::format("{}", value.get_double());
    case boost::json::kind::bool_:
      return value.get_bool() ? "true" : "false";
    case boost::json::kind::null:
      return {};
    case boost::json::kind::object:
    case boost::json::kind::array:
      return json_text(value);
  }
  return {};
}

Result<void> validate_command_template(const TaskConfig& task) {
  for (std::size_t i = 0; i < task.command.size(); ++i) {
    auto problem = [&](std::string_view what) {
      return make_error(Errc::config_invalid,
                        fmt::format("tasks.{}.command[{}]: {}", task.name, i, what));
    };
    std::vector<Piece> pieces;
    if (auto syntax = split(task.command[i], pieces)) return problem(*syntax);
    for (const auto& piece : pieces) {
      if (piece.slot != Slot::param) continue;
      const ParamSpec* spec = task.param(piece.text);
      if (spec == nullptr && !task.params.empty()) {
        return problem(
            fmt::format("uses {{param.{}}} but params declares no '{}'", piece.text, piece.text));
      }
      if (passes_secret_in_argv(task, spec)) return problem(secret_in_argv_problem(piece.text));
    }
  }
  return {};
}

Result<std::vector<std::string>> expand_argv(const TaskConfig& task, const TemplateInputs& inputs) {
  std::vector<std::string> argv;
  argv.reserve(task.command.size());
  for (std::size_t i = 0; i < task.command.size(); ++i) {
    std::vector<Piece> pieces;
    if (auto syntax = split(task.command[i], pieces)) {
      return make_error(Errc::bad_input,
                        fmt::format("task '{}': command[{}]: {}", task.name, i, *syntax));
    }
    std::string arg;
    for (const auto& piece : pieces) {
      switch (piece.slot) {
        case Slot::literal:
          arg += piece.text;
          break;
        case Slot::output:
          arg += inputs.output;
          break;
        case Slot::status_file:
          arg += inputs.status_file;
          break;
        case Slot::job_dir:
          arg += inputs.job_dir;
          break;
        case Slot::job_id:
          arg += inputs.job_id;
          break;
        case Slot::param: {
          if (passes_secret_in_argv(task, task.param(piece.text))) {
            return make_error(Errc::config_invalid,
                              fmt::format("task '{}': command[{}] {}", task.name, i,
                                          secret_in_argv_problem(piece.text)));
          }
          const boost::json::value* value = find_value(task, inputs.params, piece.text);
          if (value == nullptr) {
            return make_error(Errc::bad_input,
                              fmt::format("params.{}: is required by task '{}' (its command "
                                          "uses {{param.{}}})",
                                          piece.text, task.name, piece.text));
          }
          std::string rendered = render_param(*value);
          if (rendered.find('\0') != std::string::npos) {
            return make_error(Errc::bad_input,
                              fmt::format("params.{}: contains a NUL character, which a "
                                          "program argument cannot hold",
                                          piece.text));
          }
          arg += rendered;
          break;
        }
      }
    }
    argv.push_back(std::move(arg));
  }
  return argv;
}

Result<std::vector<std::string>> secret_env(const TaskConfig& task,
                                            const boost::json::object& params) {
  std::vector<std::string> env;
  if (task.secrets_via != SecretsVia::env) return env;
  for (const auto& spec : task.params) {
    if (!spec.secret) continue;
    const boost::json::value* value = find_value(task, params, spec.name);
    if (value == nullptr) continue;
    std::string rendered = render_param(*value);
    if (rendered.find('\0') != std::string::npos) {
      return make_error(Errc::bad_input,
                        fmt::format("params.{}: contains a NUL character, which an "
                                    "environment variable cannot hold",
                                    spec.name));
    }
    env.push_back(env_name_for(spec.name) + "=" + rendered);
  }
  return env;
}

std::optional<std::string> secret_stdin(const TaskConfig& task, const boost::json::object& params) {
  if (task.secrets_via != SecretsVia::stdin_json || !task.has_secrets()) return std::nullopt;
  boost::json::object secrets;
  for (const auto& spec : task.params) {
    if (!spec.secret) continue;
    if (const boost::json::value* value = find_value(task, params, spec.name))
      secrets[spec.name] = *value;
  }
  return json_text(secrets) + "\n";
}

Result<CommandSpec> make_command_spec(const TaskConfig& task, const TemplateInputs& inputs) {
  auto argv = expand_argv(task, inputs);
  if (!argv) return argv.error();
  auto secrets = secret_env(task, inputs.params);
  if (!secrets) return secrets.error();
  CommandSpec spec;
  spec.job_id = std::string(inputs.job_id);
  spec.argv = std::move(*argv);
  for (const auto& [name, value] : task.env) spec.env.push_back(name + "=" + value);
  for (auto& entry : *secrets) spec.env.push_back(std::move(entry));
  spec.stdin_data = secret_stdin(task, inputs.params);
  spec.cwd = inputs.job_dir;
  spec.output = inputs.output;
  spec.status_file = inputs.status_file;
  spec.protocol = task.progress;
  spec.timeout = task.timeout;
  spec.kill_grace = task.kill_grace;
  spec.stderr_tail_bytes = task.stderr_tail_bytes;
  spec.produces_output = task.produces_output;
  spec.max_output_bytes = task.max_result_bytes;
  return spec;
}

}  // namespace wq::run
