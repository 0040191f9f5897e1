// wq: the workqueue command-line client, on wq::Client (README "The wq CLI").
//
//   wq [--server URL] [--token T] [--json] COMMAND …
//
// Exit codes: 0 succeeded, 1 failed, 2 usage, 3 cancelled, 4 unreachable (cli/commands.hpp).
// Threading: main's thread, plus a wq::Client's watch thread while a job is followed.
#include <CLI/App.hpp>
#include <CLI/Config.hpp>
#include <CLI/Formatter.hpp>
#include <cstdio>

#include "cli/commands.hpp"

int main(int argc, char** argv) {
  using namespace wq::cli;
  CLI::App app{"wq: submit, watch, list, cancel and fetch workqueue jobs on a wqd server"};
  app.require_subcommand(1);
  app.fallthrough();
  Globals globals;
  Args args;
  app.add_option("--server", globals.server,
                 "wqd's address (default http://127.0.0.1:8080, wqd's default)")
      ->envname("WQ_SERVER");
  app.add_option("--token", globals.token, "the API token, sent as a Bearer token")
      ->envname("WQ_TOKEN");
  app.add_flag("--json", globals.json, "machine-readable JSON output");
  std::vector<std::pair<CLI::App*, const Command*>> subs;
  for (const auto& command : commands()) {
    CLI::App* sub = app.add_subcommand(std::string(command.name), std::string(command.help));
    command.add_options(*sub, args);
    subs.emplace_back(sub, &command);
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? kSucceeded : kUsage;
  }
  try {
    wq::Client client({.server = globals.server, .token = globals.token, .threads = 1});
    for (const auto& [sub, command] : subs) {
      if (sub->parsed()) return command->run(client, args, globals);
    }
  } catch (const wq::ErrorException& e) {
    return report(e.error());
  }
  return kUsage;
}
