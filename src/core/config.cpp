#include "wq/config.hpp"

#include "run/argv_template.hpp"

#include <boost/json/parse.hpp>
#include <toml++/toml.h>
#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

namespace wq {
namespace {

// Walks a toml table, remembering the dotted path for error messages and rejecting unknown
// keys so a typo ("comand") is an error, not a silent default.
class Reader {
 public:
  Reader(std::string_view source, std::string path, const toml::table& table)
      : source_(source), path_(std::move(path)), table_(table) {}

  Error error(std::string_view key, std::string_view expected) const {
    return make_error(Errc::config_invalid,
                      fmt::format("{}: {}: {}", source_, dotted(key), expected));
  }

  std::string dotted(std::string_view key) const {
    return path_.empty() ? std::string(key) : fmt::format("{}.{}", path_, key);
  }

  Result<void> check_keys(std::initializer_list<std::string_view> known) const {
    for (const auto& [k, v] : table_) {
      bool found = false;
      for (auto name : known) found = found || name == k.str();
      if (!found) {
        std::string list;
        for (auto name : known) list += fmt::format("{}{}", list.empty() ? "" : ", ", name);
        return error(k.str(), fmt::format("unknown key; expected one of: {}", list));
      }
    }
    return {};
  }

  const toml::node* node(std::string_view key) const { return table_.get(key); }

  Result<void> string(std::string_view key, std::string& out) const {
    const toml::node* n = node(key);
    if (!n) return {};
    if (auto s = n->value<std::string>()) {
      out = *s;
      return {};
    }
    return error(key, "expected a string");
  }

  Result<void> boolean(std::string_view key, bool& out) const {
    const toml::node* n = node(key);
    if (!n) return {};
    if (auto b = n->value<bool>()) {
      out = *b;
      return {};
    }
    return error(key, "expected true or false");
  }

  template <class Int>
  Result<void> integer(std::string_view key, Int& out, std::int64_t min, std::int64_t max) const {
    const toml::node* n = node(key);
    if (!n) return {};
    auto v = n->is_integer() ? n->value<std::int64_t>() : std::nullopt;
    if (!v || *v < min || *v > max) {
      return error(key, fmt::format("expected an integer from {} to {}", min, max));
    }
    out = static_cast<Int>(*v);
    return {};
  }

  Result<std::optional<Millis>> duration(std::string_view key) const {
    const toml::node* n = node(key);
    if (!n) return std::optional<Millis>{};
    std::optional<Millis> d;
    if (auto s = n->value_exact<std::string>()) {
      d = parse_duration(*s);
    } else if (auto f = n->value<double>()) {
      if (std::isfinite(*f) && *f >= 0) d = Millis(static_cast<std::int64_t>(std::llround(*f * 1000)));
    }
    if (!d) {
      return error(key, fmt::format("expected a duration like 30, \"250ms\" or \"2h\", got {}",
                                    describe(*n)));
    }
    return d;
  }

  Result<void> duration(std::string_view key, Millis& out) const {
    auto d = duration(key);
    if (!d) return d.error();
    if (*d) out = **d;
    return {};
  }

  Result<void> duration(std::string_view key, std::optional<Millis>& out) const {
    auto d = duration(key);
    if (!d) return d.error();
    if (*d) out = *d;
    return {};
  }

  Result<void> size(std::string_view key, std::uint64_t& out) const {
    const toml::node* n = node(key);
    if (!n) return {};
    if (auto i = n->value_exact<std::int64_t>(); i && *i > 0) {
      out = static_cast<std::uint64_t>(*i);
      return {};
    }
    if (auto s = n->value_exact<std::string>()) {
      if (auto v = parse_size(*s)) {
        out = *v;
        return {};
      }
    }
    return error(key, "expected a size in bytes like 1048576, \"64KiB\", \"100MiB\" or \"1GiB\"");
  }

  template <class Enum>
  Result<void> choice(std::string_view key, Enum& out,
                      std::initializer_list<std::pair<std::string_view, Enum>> options) const {
    const toml::node* n = node(key);
    if (!n) return {};
    auto s = n->value<std::string>();
    for (const auto& [name, value] : options) {
      if (s && *s == name) {
        out = value;
        return {};
      }
    }
    std::string list;
    for (const auto& [name, value] : options) list += fmt::format("{}\"{}\"", list.empty() ? "" : " or ", name);
    return error(key, fmt::format("expected {}", list));
  }

  static std::string describe(const toml::node& n) {
    if (auto s = n.value_exact<std::string>()) return fmt::format("'{}'", *s);
    std::ostringstream out;
    n.visit([&](const auto& v) { out << v; });
    return out.str();
  }

  static std::optional<std::uint64_t> parse_size(std::string_view s) {
    std::uint64_t v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || v == 0) return std::nullopt;
    std::string_view unit(p, s.data() + s.size() - p);
    while (!unit.empty() && unit.front() == ' ') unit.remove_prefix(1);
    static constexpr std::pair<std::string_view, std::uint64_t> kUnits[] = {
        {"", 1}, {"B", 1}, {"KiB", 1ULL << 10}, {"MiB", 1ULL << 20}, {"GiB", 1ULL << 30},
        {"KB", 1000}, {"MB", 1000000}, {"GB", 1000000000}};
    for (const auto& [name, mult] : kUnits) {
      if (unit == name) return v * mult;
    }
    return std::nullopt;
  }

  const toml::table& table() const { return table_; }
  const std::string& path() const { return path_; }
  std::string_view source() const { return source_; }

 private:
  std::string_view source_;
  std::string path_;
  const toml::table& table_;
};

// Every {param.NAME} in the command template, in order of first appearance.
std::vector<std::string> placeholder_params(const std::vector<std::string>& command) {
  std::vector<std::string> names;
  for (const auto& arg : command) {
    for (size_t pos = arg.find("{param."); pos != std::string::npos;
         pos = arg.find("{param.", pos + 1)) {
      size_t end = arg.find('}', pos);
      if (end == std::string::npos) break;
      std::string name = arg.substr(pos + 7, end - pos - 7);
      if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
    }
  }
  return names;
}

Result<void> read_params(const Reader& task, TaskConfig& out) {
  const toml::node* n = task.node("params");
  if (!n) {
    for (auto& name : placeholder_params(out.command)) out.params.push_back(ParamSpec{name});
    return {};
  }
  const toml::table* params = n->as_table();
  if (!params) return task.error("params", "expected a table like { server = {}, token = { secret = true } }");
  for (const auto& [name, value] : *params) {
    const toml::table* spec = value.as_table();
    if (!spec) return task.error(fmt::format("params.{}", name.str()), "expected a table like {} or { secret = true }");
    Reader r(task.source(), task.dotted("params") + "." + std::string(name.str()), *spec);
    if (auto ok = r.check_keys({"required", "secret", "default"}); !ok) return ok;
    ParamSpec p{std::string(name.str())};
    if (const toml::node* d = spec->get("default")) {
      std::ostringstream json;
      json << toml::json_formatter{*d};
      boost::system::error_code ec;
      auto v = boost::json::parse(json.str(), ec);
      if (ec) return r.error("default", "expected a JSON-compatible value");
      p.default_value = std::move(v);
      p.required = false;
    }
    if (auto ok = r.boolean("required", p.required); !ok) return ok;
    if (auto ok = r.boolean("secret", p.secret); !ok) return ok;
    out.params.push_back(std::move(p));
  }
  for (auto& name : placeholder_params(out.command)) {
    if (!out.param(name)) {
      return task.error("command", fmt::format("uses {{param.{}}} but params declares no '{}'", name, name));
    }
  }
  return {};
}

Result<TaskConfig> read_task(std::string_view source, const std::string& name,
                             const toml::node& node, const std::filesystem::path& base_dir) {
  const toml::table* table = node.as_table();
  std::string path = "tasks." + name;
  if (!table) {
    return make_error(Errc::config_invalid, fmt::format("{}: {}: expected a table", source, path));
  }
  Reader r(source, path, *table);
  if (auto ok = r.check_keys({"command", "params", "progress", "secrets_via", "env", "concurrency",
                              "timeout", "max_attempts", "retry_backoff", "retry_backoff_max",
                              "on_crash", "result_ttl", "produces_output", "max_result_size",
                              "kill_grace", "stderr_tail"});
      !ok) {
    return ok.error();
  }
  TaskConfig t;
  t.name = name;
  if (const toml::node* c = table->get("command")) {
    const toml::array* arr = c->as_array();
    if (!arr || arr->empty()) return r.error("command", "expected a non-empty array of strings, e.g. [\"./convert\", \"{param.src}\", \"{output}\"]");
    for (const auto& e : *arr) {
      auto s = e.value<std::string>();
      if (!s) return r.error("command", "expected every element to be a string");
      t.command.push_back(*s);
    }
    std::filesystem::path program = t.command.front();
    if (program.is_relative() && t.command.front().find('/') != std::string::npos) {
      t.command.front() = (base_dir / program).lexically_normal().string();
    }
  } else {
    return r.error("command", "is missing; a configured task runs a program (function tasks are registered in code)");
  }
  if (auto ok = read_params(r, t); !ok) return ok.error();
  if (auto ok = r.choice("progress", t.progress, {{"stdout", ProgressProtocol::stdout_lines}, {"status_file", ProgressProtocol::status_file}}); !ok) return ok.error();
  if (auto ok = r.choice("secrets_via", t.secrets_via, {{"env", SecretsVia::env}, {"stdin", SecretsVia::stdin_json}, {"argv", SecretsVia::argv}}); !ok) return ok.error();
  if (auto ok = r.choice("on_crash", t.on_crash, {{"retry", CrashPolicy::retry}, {"fail", CrashPolicy::fail}}); !ok) return ok.error();
  if (const toml::node* e = table->get("env")) {
    const toml::table* env = e->as_table();
    if (!env) return r.error("env", "expected a table of strings, e.g. { LANG = \"C.UTF-8\" }");
    for (const auto& [k, v] : *env) {
      auto s = v.value<std::string>();
      if (!s) return r.error(fmt::format("env.{}", k.str()), "expected a string");
      t.env[std::string(k.str())] = *s;
    }
  }
  if (auto ok = r.integer("concurrency", t.concurrency, 0, 100000); !ok) return ok.error();
  if (auto ok = r.duration("timeout", t.timeout); !ok) return ok.error();
  if (auto ok = r.integer("max_attempts", t.max_attempts, 1, 1000); !ok) return ok.error();
  if (auto ok = r.duration("retry_backoff", t.retry_backoff); !ok) return ok.error();
  if (auto ok = r.duration("retry_backoff_max", t.retry_backoff_max); !ok) return ok.error();
  if (auto ok = r.duration("result_ttl", t.result_ttl); !ok) return ok.error();
  if (auto ok = r.boolean("produces_output", t.produces_output); !ok) return ok.error();
  if (auto ok = r.size("max_result_size", t.max_result_bytes); !ok) return ok.error();
  if (auto ok = r.duration("kill_grace", t.kill_grace); !ok) return ok.error();
  if (auto ok = r.integer("stderr_tail", t.stderr_tail_bytes, 0, 64 << 20); !ok) return ok.error();
  if (auto ok = run::validate_command_template(t); !ok) {
    return make_error(Errc::config_invalid, fmt::format("{}: {}", source, ok.error().detail));
  }
  return t;
}

bool is_sha256_hex(std::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

Result<void> read_tokens(const Reader& server, ServerConfig& out) {
  const toml::node* n = server.node("tokens");
  if (!n) return {};
  constexpr std::string_view kShape =
      "expected an array of tables like [{ sha256 = \"<64 hex digits>\", tenant = \"acme\" }]";
  const toml::array* arr = n->as_array();
  if (!arr) return server.error("tokens", kShape);
  for (size_t i = 0; i < arr->size(); ++i) {
    const toml::table* t = arr->get(i)->as_table();
    if (!t) return server.error(fmt::format("tokens[{}]", i), kShape);
    Reader r(server.source(), server.dotted(fmt::format("tokens[{}]", i)), *t);
    if (auto ok = r.check_keys({"sha256", "tenant"}); !ok) return ok;
    TokenConfig token;
    if (auto ok = r.string("sha256", token.sha256); !ok) return ok;
    if (auto ok = r.string("tenant", token.tenant); !ok) return ok;
    if (!is_sha256_hex(token.sha256)) {
      return r.error("sha256", "expected the SHA-256 of the token as 64 lowercase hex digits "
                               "(printf %s TOKEN | sha256sum), never the token itself");
    }
    if (token.tenant.empty() || token.tenant.size() > 128) {
      return r.error("tenant", "expected a tenant name of 1 to 128 characters");
    }
    for (const auto& other : out.tokens) {
      if (other.sha256 == token.sha256) return r.error("sha256", "the same token is listed twice");
    }
    out.tokens.push_back(std::move(token));
  }
  return {};
}

Result<void> read_server(const Reader& root, ServerConfig& out) {
  const toml::node* n = root.node("server");
  if (!n) return {};
  const toml::table* table = n->as_table();
  if (!table) return root.error("server", "expected a table, e.g. [server]");
  Reader r(root.source(), "server", *table);
  if (auto ok = r.check_keys({"listen", "threads", "max_body", "max_streams", "tokens", "open",
                              "open_public", "shutdown_grace", "idle_timeout"});
      !ok) {
    return ok;
  }
  if (auto ok = r.string("listen", out.listen); !ok) return ok;
  if (out.listen.rfind(':') == std::string::npos) {
    return r.error("listen", fmt::format("expected HOST:PORT like \"127.0.0.1:8080\", got '{}'", out.listen));
  }
  if (auto ok = r.integer("threads", out.threads, 0, 256); !ok) return ok;
  if (auto ok = r.size("max_body", out.max_body); !ok) return ok;
  if (auto ok = r.integer("max_streams", out.max_streams, 1, 10000000); !ok) return ok;
  if (auto ok = r.boolean("open", out.open); !ok) return ok;
  if (auto ok = r.boolean("open_public", out.open_public); !ok) return ok;
  if (auto ok = r.duration("shutdown_grace", out.shutdown_grace); !ok) return ok;
  if (auto ok = r.duration("idle_timeout", out.idle_timeout); !ok) return ok;
  if (out.idle_timeout.count() <= 0) return r.error("idle_timeout", "expected a positive duration");
  return read_tokens(r, out);
}

Result<void> read_overview_adapter(const Reader& adapters, const std::map<std::string, TaskConfig>& tasks,
                                   const std::filesystem::path& base_dir, OverviewAdapterConfig& out) {
  const toml::node* n = adapters.node("overview");
  if (!n) return {};
  const toml::table* table = n->as_table();
  if (!table) return adapters.error("overview", "expected a table, e.g. [adapters.overview]");
  Reader r(adapters.source(), adapters.dotted("overview"), *table);
  if (auto ok = r.check_keys({"task", "tenant", "static_dir", "servers", "result_type"}); !ok) return ok;
  if (auto ok = r.string("task", out.task); !ok) return ok;
  if (auto ok = r.string("tenant", out.tenant); !ok) return ok;
  if (auto ok = r.string("result_type", out.result_type); !ok) return ok;
  std::string static_dir;
  if (auto ok = r.string("static_dir", static_dir); !ok) return ok;
  if (!static_dir.empty()) {
    out.static_dir = std::filesystem::path(static_dir).is_relative() ? base_dir / static_dir : std::filesystem::path(static_dir);
  }
  if (const toml::node* s = table->get("servers")) {
    const toml::array* arr = s->as_array();
    constexpr std::string_view kShape = "expected an array of server URLs, e.g. [\"https://www.overviewdocs.com\"]";
    if (!arr) return r.error("servers", kShape);
    for (const auto& e : *arr) {
      auto v = e.value<std::string>();
      if (!v || !(v->starts_with("http://") || v->starts_with("https://"))) return r.error("servers", kShape);
      out.servers.push_back(*v);
    }
  }
  if (out.task.empty()) return r.error("task", "is missing; name the task /generate runs, e.g. task = \"process-docset\"");
  auto it = tasks.find(out.task);
  if (it == tasks.end()) return r.error("task", fmt::format("names no configured task; add [tasks.{}]", out.task));
  for (std::string_view param : {"server", "document_set_id", "api_token"}) {
    const ParamSpec* p = it->second.param(param);
    if (!p) {
      return r.error("task", fmt::format("task '{}' must take the params server, document_set_id and api_token; it has no '{}'", out.task, param));
    }
    if (param == "api_token" && !p->secret) {
      return r.error("task", fmt::format("task '{}' must declare api_token secret: [tasks.{}.params] api_token = {{ secret = true }}", out.task, out.task));
    }
  }
  return {};
}

Result<void> read_adapters(const Reader& root, const std::map<std::string, TaskConfig>& tasks,
                           const std::filesystem::path& base_dir, AdaptersConfig& out) {
  const toml::node* n = root.node("adapters");
  if (!n) return {};
  const toml::table* table = n->as_table();
  if (!table) return root.error("adapters", "expected a table, e.g. [adapters.overview]");
  Reader r(root.source(), "adapters", *table);
  if (auto ok = r.check_keys({"overview"}); !ok) return ok;
  return read_overview_adapter(r, tasks, base_dir, out.overview);
}

}  // namespace

const ParamSpec* TaskConfig::param(std::string_view name) const noexcept {
  for (const auto& p : params) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

bool TaskConfig::has_secrets() const noexcept {
  for (const auto& p : params) {
    if (p.secret) return true;
  }
  return false;
}

std::optional<Millis> parse_duration(std::string_view text) noexcept {
  double value = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || !std::isfinite(value) || value < 0) return std::nullopt;
  std::string_view unit(p, text.data() + text.size() - p);
  static constexpr std::pair<std::string_view, double> kUnits[] = {
      {"", 1000}, {"s", 1000}, {"ms", 1}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}};
  for (const auto& [name, mult] : kUnits) {
    if (unit == name) return Millis(static_cast<std::int64_t>(std::llround(value * mult)));
  }
  return std::nullopt;
}

Result<Config> Config::parse(std::string_view text, std::string_view source) {
  toml::table root;
  try {
    root = toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    const auto& b = e.source().begin;
    return make_error(Errc::config_invalid, fmt::format("{}:{}:{}: {}", source, b.line, b.column,
                                                        e.description()));
  }
  std::filesystem::path base = std::filesystem::path(source).parent_path();
  Reader r(source, "", root);
  if (auto ok = r.check_keys({"store", "data_dir", "durability", "concurrency", "max_queued",
                              "progress_persist_interval", "finished_job_ttl", "sweep_interval",
                              "tasks", "server", "adapters"});
      !ok) {
    return ok.error();
  }
  Config c;
  std::string data_dir;
  if (auto ok = r.string("store", c.store); !ok) return ok.error();
  if (auto ok = r.string("data_dir", data_dir); !ok) return ok.error();
  if (!data_dir.empty()) {
    c.data_dir = std::filesystem::path(data_dir).is_relative() ? base / data_dir : std::filesystem::path(data_dir);
  }
  if (auto ok = r.choice("durability", c.durability, {{"process", Durability::process}, {"fsync", Durability::fsync}}); !ok) return ok.error();
  if (auto ok = r.integer("concurrency", c.concurrency, 1, 100000); !ok) return ok.error();
  if (auto ok = r.integer("max_queued", c.max_queued, 0, std::int64_t{1} << 40); !ok) return ok.error();
  if (auto ok = r.duration("progress_persist_interval", c.progress_persist_interval); !ok) return ok.error();
  if (auto ok = r.duration("finished_job_ttl", c.finished_job_ttl); !ok) return ok.error();
  if (auto ok = r.duration("sweep_interval", c.sweep_interval); !ok) return ok.error();
  if (auto ok = read_server(r, c.server); !ok) return ok.error();
  if (!c.store.empty() && !c.store.starts_with("sqlite:") && !c.store.starts_with("postgresql://") &&
      !c.store.starts_with("postgres://")) {
    return r.error("store", "expected \"sqlite:PATH\" or \"postgresql://…\"");
  }
  if (const toml::node* tasks = root.get("tasks")) {
    const toml::table* t = tasks->as_table();
    if (!t) return r.error("tasks", "expected a table of tasks, e.g. [tasks.resize]");
    for (const auto& [name, node] : *t) {
      std::string task_name(name.str());
      if (!valid_job_id(task_name)) {
        return r.error("tasks." + task_name, "task names use only letters, digits, '.', '_' and '-'");
      }
      auto task = read_task(source, task_name, node, base);
      if (!task) return task.error();
      c.tasks.emplace(task_name, std::move(*task));
    }
  }
  if (auto ok = read_adapters(r, c.tasks, base, c.server.adapters); !ok) return ok.error();
  return c;
}

Result<Config> Config::try_load(const std::filesystem::path& file) {
  std::ifstream in(file);
  if (!in) {
    return make_error(Errc::config_invalid,
                      fmt::format("{}: cannot read: {}", file.string(), std::strerror(errno)));
  }
  std::stringstream buf;
  buf << in.rdbuf();
  return parse(buf.str(), file.string());
}

Config Config::load(const std::filesystem::path& file) { return try_load(file).value(); }

std::string Config::store_url() const {
  if (!store.empty()) return store;
  return "sqlite:" + (data_dir / "wq.sqlite").string();
}

}  // namespace wq
