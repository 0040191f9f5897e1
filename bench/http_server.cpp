// wq-bench-http-server: wqd's HTTP server (wq::http::Server, the code wqd's main runs) with
// function tasks the HTTP benchmarks need, which a config file cannot declare:
//   noop     does nothing (HTTP-W1)
//   stamp    its result is the CLOCK_MONOTONIC nanoseconds at which it started (HTTP-W2)
//   fanout   waits until the file params.go exists, then reports params.lines progress updates
//            params.interval_ms apart, each with message "t=<CLOCK_MONOTONIC ns>" (FANOUT)
// and one command task, `fanout-child`, running `CHILD go lines interval_ms` (--child), a
// program that prints the same progress lines on stdout (FANOUT through a child process).
//
//   wq-bench-http-server --listen 127.0.0.1:0 --data-dir DIR [--durability process|fsync]
//                        [--concurrency N] [--threads N] [--max-streams N] [--child PATH]
//
// Prints "listening PORT" on stdout once it accepts connections; stops on SIGTERM/SIGINT.
// Structured logs (one line per request) go to stderr, as wqd's do.
//
// Threading: main builds everything and blocks in Server::run(); tasks run on the queue's pool.
#include <fmt/format.h>
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <string_view>
#include <thread>

#include "core/log.hpp"
#include "http/auth.hpp"
#include "http/server.hpp"
#include "wq/queue.hpp"

namespace {

std::int64_t monotonic_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::int64_t int_param(const wq::TaskContext& ctx, std::string_view name, std::int64_t fallback) {
  auto it = ctx.params().find(name);
  if (it == ctx.params().end()) return fallback;
  if (it->value().is_int64()) return it->value().as_int64();
  if (it->value().is_uint64()) return static_cast<std::int64_t>(it->value().as_uint64());
  throw std::runtime_error(fmt::format("param {}: expected an integer", name));
}

void fanout(wq::TaskContext& ctx) {
  auto go = ctx.params().find("go");
  if (go == ctx.params().end() || !go->value().is_string())
    throw std::runtime_error("param go: expected the path of the start file");
  const std::filesystem::path start_file(std::string(go->value().as_string()));
  const auto lines = int_param(ctx, "lines", 10);
  const auto interval = std::chrono::milliseconds(int_param(ctx, "interval_ms", 300));
  while (!std::filesystem::exists(start_file)) {
    if (ctx.cancelled()) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  for (std::int64_t i = 1; i <= lines && !ctx.cancelled(); ++i) {
    ctx.progress(static_cast<double>(i) / static_cast<double>(lines + 1),
                 fmt::format("t={}", monotonic_ns()));
    std::this_thread::sleep_for(interval);
  }
}

void raise_fd_limit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

[[noreturn]] void usage(std::string_view why) {
  std::fprintf(stderr,
               "wq-bench-http-server: %.*s\nusage: wq-bench-http-server --listen HOST:PORT "
               "--data-dir DIR [--durability process|fsync] [--concurrency N] [--threads N] "
               "[--max-streams N] [--child PATH]\n",
               static_cast<int>(why.size()), why.data());
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  wq::Config config;
  config.server.listen = "127.0.0.1:0";
  config.server.open = true;
  config.server.max_streams = 20000;
  config.concurrency = 8;
  std::string child;
  bool have_dir = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (i + 1 >= argc) usage(fmt::format("{} needs a value", arg));
    const std::string value = argv[++i];
    try {
      if (arg == "--listen") config.server.listen = value;
      else if (arg == "--data-dir") config.data_dir = value, have_dir = true;
      else if (arg == "--concurrency") config.concurrency = std::stoi(value);
      else if (arg == "--threads") config.server.threads = std::stoi(value);
      else if (arg == "--max-streams") config.server.max_streams = std::stoul(value);
      else if (arg == "--child") child = value;
      else if (arg == "--durability" && (value == "process" || value == "fsync"))
        config.durability = value == "fsync" ? wq::Durability::fsync : wq::Durability::process;
      else usage(fmt::format("unknown argument '{}' or bad value '{}'", arg, value));
    } catch (const std::logic_error&) {
      usage(fmt::format("{}: expected a number, got '{}'", arg, value));
    }
  }
  if (!have_dir) usage("--data-dir is required");
  raise_fd_limit();
  if (!child.empty()) {
    wq::TaskConfig t;
    t.name = "fanout-child";
    t.command = {child, "child", "{param.go}", "{param.lines}", "{param.interval_ms}"};
    t.produces_output = false;
    config.tasks.emplace(t.name, t);
  }

  auto auth = wq::http::Authenticator::create(config.server);
  if (!auth) {
    std::fprintf(stderr, "wq-bench-http-server: %s\n", auth.error().detail.c_str());
    return 1;
  }
  try {
    wq::Queue queue(config);
    queue.register_task("noop", [](wq::TaskContext&) {});
    queue.register_task("stamp", [](wq::TaskContext& ctx) {
      ctx.set_result(std::to_string(monotonic_ns()));
    });
    queue.register_task("fanout", fanout);
    wq::http::Server server(queue, config.server, std::move(*auth));
    auto endpoint = server.listen();
    if (!endpoint) {
      std::fprintf(stderr, "wq-bench-http-server: %s\n", endpoint.error().detail.c_str());
      return 1;
    }
    std::printf("listening %u\n", static_cast<unsigned>(endpoint->port()));
    std::fflush(stdout);
    server.run();
  } catch (const wq::ErrorException& e) {
    std::fprintf(stderr, "wq-bench-http-server: %s\n", e.error().detail.c_str());
    return 1;
  }
  return 0;
}
