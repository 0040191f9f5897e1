#include "cli/commands.hpp"

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <unistd.h>

#include <iostream>

#include "cli/params.hpp"
#include "core/json_text.hpp"
#include "cli/progress_view.hpp"

namespace wq::cli {
namespace {

namespace json = boost::json;

struct Hint {
  Errc code;
  std::string_view fix;
};

constexpr Hint kHints[] = {
    {Errc::unreachable, "is it running? set --server or WQ_SERVER"},
    {Errc::unauthorized, "set --token or WQ_TOKEN"},
    {Errc::unknown_task, "`wq tasks` lists the tasks this server runs"},
    {Errc::not_found, "`wq ls` lists your jobs"},
    {Errc::not_finished, "`wq watch ID` waits for the job to end"},
    {Errc::queue_full, "try again later"},
};

Style style_of(const Globals& g) {
  if (g.json) return Style::json;
  return ::isatty(STDOUT_FILENO) ? Style::terminal : Style::plain;
}

// JSON for people: strings without quotes, numbers as json_text writes them (0.02).
std::string value_text(const json::value& v) {
  if (v.is_string()) return std::string(v.as_string());
  return json_text(v);
}

void print_json(const json::value& v) { std::printf("%s\n", json_text(v).c_str()); }

std::string time_text(const std::optional<TimePoint>& t) {
  if (!t) return "-";
  return fmt::format("{:%Y-%m-%d %H:%M:%S}Z",
                     std::chrono::time_point_cast<std::chrono::seconds>(*t));
}

int exit_for(JobState s) {
  switch (s) {
    case JobState::succeeded:
      return kSucceeded;
    case JobState::cancelled:
      return kCancelled;
    default:
      return kFailed;
  }
}

// Follows a job until it ends; the exit code of its outcome.
int follow(Client& client, const std::string& id, const Globals& g) {
  ProgressView view(stdout, style_of(g));
  std::string last_note;  // one note per reason, not one per reconnect attempt
  auto done = client.watch(
      id,
      [&](const Snapshot& s) {
        last_note.clear();
        view.show(s);
      },
      0,
      [&](const Error& e) {
        if (e.detail == last_note) return;
        last_note = e.detail;
        view.note(fmt::format("{} — reconnecting; the job goes on", e.detail));
      });
  try {
    const Snapshot& last = done.result();
    return exit_for(last.state);
  } catch (const ErrorException& e) {
    return report(e.error());
  }
}

// ---- submit ----------------------------------------------------------------------------------

void submit_options(CLI::App& sub, Args& a) {
  sub.add_option("task", a.task, "the task to run (`wq tasks` lists them)")->required();
  sub.add_option("params", a.params,
                 "params: NAME=TEXT for a string, NAME:=JSON for a typed value (n:=10)");
  sub.add_option("--key", a.key, "dedup key (default: derived from the task and params)");
  sub.add_option("--id", a.id, "choose the job's id ([A-Za-z0-9._-], at most 128)");
  sub.add_option("--priority", a.priority, "higher runs first (default 0)");
  sub.add_flag("--force", a.force, "run again even if an identical job already succeeded");
  sub.add_flag("--wait", a.wait, "follow the job until it ends; exit with its outcome");
}

int submit_run(Client& client, const Args& a, const Globals& g) {
  auto params = parse_params(a.params);
  if (!params) return report(params.error());
  auto submitted = client.enqueue({.task = a.task,
                                   .params = std::move(*params),
                                   .key = a.key,
                                   .id = a.id,
                                   .priority = a.priority,
                                   .force = a.force});
  if (!submitted) return report(submitted.error());
  const Job& job = submitted->job;
  if (!a.wait) {
    if (g.json) {
      json::object o = to_json(job);
      o["created"] = submitted->created;
      print_json(o);
    } else {
      std::printf("%s\n", job.id.c_str());
    }
  }
  if (!g.json) {
    std::fprintf(stderr, "wq: %s\n",
                 submitted->created ? fmt::format("submitted job {}", job.id).c_str()
                                    : fmt::format("the same work is already here: job {} ({})",
                                                  job.id, to_string(job.state))
                                          .c_str());
  }
  return a.wait ? follow(client, job.id, g) : kSucceeded;
}

// ---- watch, get, cancel, result --------------------------------------------------------------

void job_option(CLI::App& sub, Args& a) { sub.add_option("id", a.job, "the job's id")->required(); }

int watch_run(Client& client, const Args& a, const Globals& g) { return follow(client, a.job, g); }

int get_run(Client& client, const Args& a, const Globals& g) {
  auto job = client.get(a.job);
  if (!job) return report(job.error());
  if (g.json) {
    print_json(to_json(*job));
    return kSucceeded;
  }
  ProgressView view(stdout, Style::plain);
  const auto row = [](std::string_view k, const std::string& v) {
    std::printf("%-11s %s\n", std::string(k).c_str(), v.c_str());
  };
  row("id", job->id);
  row("task", job->task);
  row("state", view.describe(snapshot_of(*job)));
  row("params", json_text(job->params));
  row("key", job->key);
  row("attempt", fmt::format("{} of {}", job->attempt, job->max_attempts));
  row("created", time_text(job->created_at));
  row("started", time_text(job->started_at));
  row("finished", time_text(job->finished_at));
  if (job->returncode) row("returncode", std::to_string(*job->returncode));
  if (job->result_size)
    row("result", fmt::format("{} bytes (wq result {})", *job->result_size, job->id));
  return kSucceeded;
}

int cancel_run(Client& client, const Args& a, const Globals& g) {
  auto job = client.cancel(a.job);
  if (!job) return report(job.error());
  if (g.json) print_json(to_json(*job));
  switch (job->state) {
    case JobState::cancelled:
      if (!g.json) std::printf("cancelled job %s\n", job->id.c_str());
      return kSucceeded;
    case JobState::queued:
    case JobState::running:
      if (!g.json) std::printf("cancelling job %s: it is being stopped\n", job->id.c_str());
      return kSucceeded;
    default:
      std::fprintf(stderr, "wq: job %s already %s; there is nothing to cancel\n", job->id.c_str(),
                   std::string(to_string(job->state)).c_str());
      return kFailed;
  }
}

void result_options(CLI::App& sub, Args& a) {
  job_option(sub, a);
  sub.add_option("-o,--output", a.output, "write to FILE instead of stdout");
}

int result_run(Client& client, const Args& a, const Globals&) {
  if (a.output) {
    auto size = client.result(a.job, std::filesystem::path(*a.output));
    if (!size) return report(size.error());
    std::fprintf(stderr, "wq: wrote %llu bytes to %s\n", static_cast<unsigned long long>(*size),
                 a.output->c_str());
    return kSucceeded;
  }
  auto size = client.result(a.job, std::cout);
  std::cout.flush();
  return size ? kSucceeded : report(size.error());
}

// ---- ls, tasks -------------------------------------------------------------------------------

void ls_options(CLI::App& sub, Args& a) {
  sub.add_option("--state", a.state, "queued, running, succeeded, failed or cancelled");
  sub.add_option("--task", a.task_filter, "only jobs of this task");
  sub.add_option("--limit", a.limit, "at most this many (1 to 1000, default 50)");
}

int ls_run(Client& client, const Args& a, const Globals& g) {
  JobFilter filter{.task = a.task_filter, .limit = a.limit};
  if (a.state) {
    filter.state = parse_job_state(*a.state);
    if (!filter.state) {
      return report(make_error(Errc::bad_input,
                               fmt::format("--state '{}': expected queued, running, succeeded, "
                                           "failed or cancelled",
                                           *a.state)));
    }
  }
  auto page = client.list(filter);
  if (!page) return report(page.error());
  if (g.json) {
    json::array jobs;
    for (const auto& j : page->jobs) jobs.push_back(to_json(j));
    print_json(json::object{
        {"jobs", std::move(jobs)},
        {"next_cursor", page->next_cursor ? json::value(*page->next_cursor) : nullptr}});
    return kSucceeded;
  }
  if (page->jobs.empty()) {
    std::fprintf(stderr, "wq: no jobs%s\n", a.state || a.task_filter ? " match" : " yet");
    return kSucceeded;
  }
  std::printf("%-36s  %-9s  %4s  %-16s  %s\n", "ID", "STATE", "DONE", "TASK", "CREATED");
  for (const auto& j : page->jobs) {
    std::printf("%-36s  %-9s  %3.0f%%  %-16s  %s\n", j.id.c_str(),
                std::string(to_string(j.state)).c_str(), j.fraction * 100, j.task.c_str(),
                time_text(j.created_at).c_str());
  }
  if (page->next_cursor) std::fprintf(stderr, "wq: more jobs exist; raise --limit to see them\n");
  return kSucceeded;
}

int tasks_run(Client& client, const Args&, const Globals& g) {
  auto tasks = client.tasks();
  if (!tasks) return report(tasks.error());
  if (g.json) {
    json::array out;
    for (const auto& t : *tasks) {
      json::array params;
      for (const auto& p : t.params) {
        json::object o{{"name", p.name}, {"required", p.required}, {"secret", p.secret}};
        if (p.default_value) o["default"] = *p.default_value;
        params.push_back(std::move(o));
      }
      out.push_back(json::object{{"name", t.name}, {"params", std::move(params)}});
    }
    print_json(json::object{{"tasks", std::move(out)}});
    return kSucceeded;
  }
  for (const auto& t : *tasks) {
    std::string params;
    for (const auto& p : t.params) {
      std::string shown = p.name + "=…";
      if (p.default_value) shown = fmt::format("{}={}", p.name, value_text(*p.default_value));
      if (!p.required || p.default_value) shown = "[" + shown + "]";
      if (p.secret) shown += "(secret)";
      params += " " + shown;
    }
    std::printf("%s%s\n", t.name.c_str(), params.c_str());
  }
  return kSucceeded;
}

void no_options(CLI::App&, Args&) {}

constexpr Command kCommands[] = {
    {"submit", "submit a job: wq submit TASK n:=10 name=text [--wait]", submit_options, submit_run},
    {"watch", "follow a job's progress until it ends; exit with its outcome", job_option,
     watch_run},
    {"get", "show a job", job_option, get_run},
    {"ls", "list jobs, newest first", ls_options, ls_run},
    {"cancel", "cancel a job (a running one is stopped)", job_option, cancel_run},
    {"result", "download a succeeded job's result", result_options, result_run},
    {"tasks", "list the tasks the server runs", no_options, tasks_run},
};

}  // namespace

std::span<const Command> commands() { return kCommands; }

int report(const Error& e) {
  std::string text = e.detail;
  for (const auto& h : kHints) {
    if (h.code == e.code) text += fmt::format(" — {}", h.fix);
  }
  std::fprintf(stderr, "wq: %s\n", text.c_str());
  switch (e.code) {
    case Errc::unreachable:
      return kUnreachable;
    case Errc::bad_input:
    case Errc::unknown_task:
      return kUsage;
    default:
      return kFailed;
  }
}

}  // namespace wq::cli
