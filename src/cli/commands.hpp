// The `wq` subcommands as one table: each adds its options to a CLI11 subcommand and runs
// against a wq::Client. Exit codes scripts can rely on are defined here.
//
// Threading: main's thread only (a watch's callbacks arrive on its thread, one at a time).
#pragma once

#include <CLI/App.hpp>
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "wq/client.hpp"

namespace wq::cli {

enum Exit : int {
  kSucceeded = 0,    // the command did it; a waited-for job succeeded
  kFailed = 1,       // a waited-for job failed, or the server refused (not found, token, …)
  kUsage = 2,        // bad arguments, or input the server rejected as bad (unknown task, …)
  kCancelled = 3,    // a waited-for job was cancelled
  kUnreachable = 4,  // wqd could not be reached
};

struct Globals {
  std::string server = "http://127.0.0.1:8080";
  std::optional<std::string> token;
  bool json = false;
};

// Every subcommand's arguments (each uses its own few).
struct Args {
  std::string task;
  std::vector<std::string> params;
  std::optional<std::string> key;
  std::optional<std::string> id;
  int priority = 0;
  bool force = false;
  bool wait = false;
  std::string job;
  std::optional<std::string> state;
  std::optional<std::string> task_filter;
  std::size_t limit = 50;
  std::optional<std::string> output;
};

struct Command {
  std::string_view name;
  std::string_view help;
  void (*add_options)(CLI::App& sub, Args& args);
  int (*run)(Client& client, const Args& args, const Globals& globals);
};

std::span<const Command> commands();

// Prints "wq: DETAIL — FIX" on stderr and returns the exit code for the error.
int report(const Error& e);

}  // namespace wq::cli
