// Configuration: the store, the data directory, limits and the tasks (DESIGN §2, §5). Loaded
// from TOML with toml++ or built in code. Plain values; not synchronised.
//
// Every error from `Config::parse`/`Config::load` names the file, the key and what is expected,
// e.g. `wqd.toml: tasks.resize.timeout: expected a duration like 30, "250ms" or "2h", got "soon"`.
#pragma once

#include "wq/error.hpp"
#include "wq/job.hpp"

#include <boost/json/value.hpp>

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace wq {

enum class ProgressProtocol { stdout_lines, status_file };
enum class CrashPolicy { retry, fail };
enum class SecretsVia { env, stdin_json, argv };
enum class Durability { process, fsync };

struct ParamSpec {
  std::string name;
  bool required = true;  // false when a default is given
  bool secret = false;   // never stored in clear, logged, returned or used in a path
  std::optional<boost::json::value> default_value;
};

struct TaskConfig {
  std::string name;
  // argv template for command tasks; empty for function tasks (registered in code). Each
  // element may contain {param.NAME}, {output}, {status_file}, {job_dir}, {job_id}.
  std::vector<std::string> command;
  // Declared params. For command tasks without a [params] table, every {param.NAME} in the
  // command is a required param. A task with no declared params accepts any params.
  std::vector<ParamSpec> params;
  ProgressProtocol progress = ProgressProtocol::stdout_lines;
  SecretsVia secrets_via = SecretsVia::env;  // env: WQ_SECRET_<NAME>; stdin: one JSON object
  std::map<std::string, std::string> env;    // extra environment for the program
  int concurrency = 0;                       // 0: bounded only by the global limit
  std::optional<Millis> timeout;             // none: never killed for being long
  int max_attempts = 1;
  Millis retry_backoff{1000};       // first retry delay; doubles per attempt
  Millis retry_backoff_max{300000};
  CrashPolicy on_crash = CrashPolicy::retry;
  std::optional<Millis> result_ttl;  // none: results kept until the job is removed
  bool produces_output = true;       // false: exit 0 succeeds without writing {output}
  std::uint64_t max_result_bytes = std::uint64_t{1} << 30;
  Millis kill_grace{5000};           // SIGTERM, then SIGKILL after this
  std::size_t stderr_tail_bytes = 64 * 1024;

  const ParamSpec* param(std::string_view name) const noexcept;
  bool has_secrets() const noexcept;
};

// One API token: the SHA-256 (hex) of the token, never the token itself, and the tenant it
// authenticates as (the `owner` of the jobs it submits; a tenant sees only its own jobs).
struct TokenConfig {
  std::string sha256;  // 64 lowercase hex digits
  std::string tenant;
};

// The `[adapters.overview]` table: wqd as an Overview plugin (DESIGN §7). POST /generate runs
// `task` with params server, document_set_id and api_token (which must be declared secret).
struct OverviewAdapterConfig {
  std::string task;                  // empty: the adapter is off (/generate answers 404)
  std::string tenant = "overview";   // the owner of the jobs it submits
  std::filesystem::path static_dir;  // /metadata, /show and /static/NAME; empty: none
  std::vector<std::string> servers;  // Overview servers it may run for; empty: any
  std::string result_type = "application/json";  // Content-Type of GET /result/{id}
};

// The root `[adapters]` table; kept in ServerConfig because only wqd's routes use it.
struct AdaptersConfig {
  OverviewAdapterConfig overview;
};

// The `[server]` table: what `wqd` listens on and the limits it enforces (DESIGN §6).
struct ServerConfig {
  std::string listen = "127.0.0.1:8080";  // HOST:PORT; IPv6 as [::1]:8080
  int threads = 0;                        // io threads; 0: min(4, hardware threads)
  std::uint64_t max_body = 1 << 20;       // request bodies over it are refused (413)
  std::size_t max_streams = 10000;        // open event streams and waits; past it: 503
  std::vector<TokenConfig> tokens;
  // Serve requests without a token, as tenant "". Never implied by an empty token list; and
  // refused on a non-loopback listen address unless open_public is also set.
  bool open = false;
  bool open_public = false;
  Millis shutdown_grace{30000};  // running jobs get this long to finish on SIGTERM
  Millis idle_timeout{60000};    // a connection silent this long (mid-request or idle) closes
  AdaptersConfig adapters;       // read from the root [adapters] table
};

struct Config {
  std::string store;  // "sqlite:PATH" or "postgresql://…"; empty: sqlite in data_dir
  std::filesystem::path data_dir = "wq-data";
  Durability durability = Durability::process;
  int concurrency = 4;              // global limit on running jobs
  std::size_t max_queued = 0;       // 0: unlimited; else submits past it are refused (429)
  Millis progress_persist_interval{250};
  std::optional<Millis> finished_job_ttl;  // none: finished jobs are kept
  Millis sweep_interval{60000};
  std::map<std::string, TaskConfig> tasks;
  ServerConfig server;

  // Parses TOML text; `source` names the file in error messages.
  static Result<Config> parse(std::string_view toml, std::string_view source);
  // Reads and parses a file. Relative paths in it are resolved against its directory.
  static Result<Config> try_load(const std::filesystem::path& file);
  // As try_load, but throws ErrorException: for `wq::Queue queue(wq::Config::load(...))`.
  static Config load(const std::filesystem::path& file);

  // The store URL with the default filled in.
  std::string store_url() const;
};

// Parses "30", 30, 2.5, "250ms", "5s", "10m", "2h", "7d".
std::optional<Millis> parse_duration(std::string_view text) noexcept;

}  // namespace wq
