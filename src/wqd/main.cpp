// wqd: the workqueue server (DESIGN §6). Runs the queue of a wqd.toml and serves its HTTP API.
//
//   wqd [--config wqd.toml] [--listen HOST:PORT] [--data-dir DIR]
//
// Without --config it serves the example task `count` (examples/tasks/count.sh, found via
// WQ_EXAMPLES_DIR or the source tree) on 127.0.0.1:8080 in open mode with ./wq-data. Exit codes:
// 0 after a clean shutdown (SIGINT/SIGTERM), 1 when it cannot start, 2 on a usage error.
#include <fmt/format.h>

#include <cstdlib>
#include <iostream>
#include <string_view>

#include "core/log.hpp"
#include "http/auth.hpp"
#include "http/server.hpp"
#include "wq/queue.hpp"

namespace {

constexpr std::string_view kUsage =
    "usage: wqd [--config wqd.toml] [--listen HOST:PORT] [--data-dir DIR]\n"
    "  --config FILE     the configuration (tasks, store, [server]); default: the example tasks\n"
    "  --listen ADDR     overrides server.listen, e.g. 127.0.0.1:8080 (port 0 picks a free one)\n"
    "  --data-dir DIR    overrides data_dir\n";

struct Options {
  std::optional<std::string> config;
  std::optional<std::string> listen;
  std::optional<std::string> data_dir;
};

std::optional<Options> parse_args(int argc, char** argv) {
  Options o;
  struct Flag {
    std::string_view name;
    std::optional<std::string> Options::*field;
  };
  static constexpr Flag kFlags[] = {{"--config", &Options::config},
                                    {"--listen", &Options::listen},
                                    {"--data-dir", &Options::data_dir}};
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    const Flag* flag = nullptr;
    std::optional<std::string> value;
    for (const auto& f : kFlags) {
      if (arg == f.name && i + 1 < argc) {
        flag = &f;
        value = argv[++i];
      } else if (arg.starts_with(f.name) && arg.size() > f.name.size() &&
                 arg[f.name.size()] == '=') {
        flag = &f;
        value = std::string(arg.substr(f.name.size() + 1));
      }
      if (flag) break;
    }
    if (!flag) {
      std::cerr << (arg == "--help" || arg == "-h"
                        ? ""
                        : fmt::format("wqd: unknown argument '{}'\n", arg))
                << kUsage;
      if (arg == "--help" || arg == "-h") std::exit(0);
      return std::nullopt;
    }
    o.*(flag->field) = std::move(value);
  }
  return o;
}

wq::Config example_config() {
  const char* env = std::getenv("WQ_EXAMPLES_DIR");
  const std::filesystem::path examples = env ? env : WQ_EXAMPLES_DIR;
  wq::Config config;
  config.data_dir = "wq-data";
  wq::TaskConfig count;
  count.name = "count";
  count.command = {(examples / "tasks" / "count.sh").string(), "{param.n}", "{param.delay}",
                   "{output}"};
  count.params = {wq::ParamSpec{"n"},
                  wq::ParamSpec{"delay", false, false, boost::json::value(0.1)}};
  config.tasks.emplace("count", count);
  config.server.open = true;
  return config;
}

}  // namespace

int main(int argc, char** argv) {
  auto options = parse_args(argc, argv);
  if (!options) return 2;
  wq::Config config;
  if (options->config) {
    auto loaded = wq::Config::try_load(*options->config);
    if (!loaded) {
      wq::log::error("cannot start: bad configuration", {{"detail", loaded.error().detail}});
      return 1;
    }
    config = std::move(*loaded);
  } else {
    config = example_config();
  }
  if (options->listen) config.server.listen = *options->listen;
  if (options->data_dir) config.data_dir = *options->data_dir;

  auto auth = wq::http::Authenticator::create(config.server);
  if (!auth) {
    wq::log::error("cannot start: bad [server] settings", {{"detail", auth.error().detail}});
    return 1;
  }
  try {
    wq::Queue queue(config);
    wq::http::Server server(queue, config.server, std::move(*auth));
    auto endpoint = server.listen();
    if (!endpoint) {
      wq::log::error("cannot start: cannot listen", {{"detail", endpoint.error().detail}});
      return 1;
    }
    const std::string address =
        endpoint->address().is_v6()
            ? fmt::format("[{}]:{}", endpoint->address().to_string(), endpoint->port())
            : fmt::format("{}:{}", endpoint->address().to_string(), endpoint->port());
    wq::log::info("listening", {{"address", address},
                                {"data_dir", config.data_dir.string()},
                                {"tasks", config.tasks.size()},
                                {"open", config.server.open}});
    server.run();
    wq::log::info("stopped");
  } catch (const wq::ErrorException& e) {
    wq::log::error("cannot start", {{"detail", e.error().detail}});
    return 1;
  }
  return 0;
}
