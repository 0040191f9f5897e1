// wq-demo: the library embedded in a program. Submits several jobs of an example command task
// (one of them twice, to show dedup), watches them all and draws their live progress bars.
//   wq-demo [DATA_DIR]      (default ./wq-demo-data; the count.sh task is found next to the
//                            source tree's examples/tasks, or via WQ_EXAMPLES_DIR)
#include "wq/queue.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <condition_variable>
#include <filesystem>
#include <iostream>
#include <map>
#include <mutex>

namespace {

std::string bar(double fraction, int width = 30) {
  const int filled = static_cast<int>(fraction * width + 0.5);
  return std::string(filled, '#') + std::string(width - filled, '.');
}

std::string describe(const wq::Snapshot& s) {
  switch (s.state) {
    case wq::JobState::queued: return fmt::format("queued, {} ahead", s.n_ahead_in_queue);
    case wq::JobState::running: return s.message.value_or("running");
    case wq::JobState::succeeded: return "succeeded";
    default: return fmt::format("{}: {}", wq::to_string(s.state), s.error.value_or(""));
  }
}

}  // namespace

int main(int argc, char** argv) {
  const std::filesystem::path data_dir = argc > 1 ? argv[1] : "wq-demo-data";
  const char* examples_env = std::getenv("WQ_EXAMPLES_DIR");
  const std::filesystem::path examples = examples_env ? examples_env : WQ_EXAMPLES_DIR;

  wq::Config config;
  config.data_dir = data_dir;
  config.concurrency = 2;
  wq::TaskConfig count;
  count.name = "count";
  count.command = {(examples / "tasks" / "count.sh").string(), "{param.n}", "{param.delay}", "{output}"};
  count.params = {wq::ParamSpec{"n"}, wq::ParamSpec{"delay", false, false, boost::json::value(0.1)}};
  config.tasks.emplace("count", count);

  try {
    wq::Queue queue(config);
    std::vector<std::string> ids;
    for (int n : {10, 20, 15, 10, 25}) {
      wq::JobSpec spec{.task = "count", .params = {{"n", n}, {"delay", 0.1}}, .force = true};
      if (n == 10 && !ids.empty()) spec.force = false;  // the same work again: deduplicated
      auto s = queue.submit(spec);
      if (!s) {
        std::cerr << "submit failed: " << s.error().detail << "\n";
        return 1;
      }
      std::cout << fmt::format("submitted count n={:<3} -> job {} ({})\n", n, s->job.id,
                               s->created ? "new" : "the same job: deduplicated");
      if (s->created) ids.push_back(s->job.id);
    }

    std::mutex m;
    std::condition_variable cv;
    std::map<std::string, wq::Snapshot> latest;
    std::vector<wq::Queue::Watch> watches;
    for (const auto& id : ids) {
      auto w = queue.watch(id, 0, [&](const wq::Snapshot& s) {
        std::lock_guard lock(m);
        latest[s.id] = s;
        cv.notify_all();
      });
      if (w) watches.push_back(std::move(*w));
    }

    const bool tty = ::isatty(STDOUT_FILENO);
    std::cout << "\n";
    bool first = true;
    std::unique_lock lock(m);
    for (;;) {
      cv.wait_for(lock, std::chrono::milliseconds(100));
      bool all_done = latest.size() == ids.size();
      std::string frame;
      for (const auto& id : ids) {
        auto it = latest.find(id);
        wq::Snapshot s = it == latest.end() ? wq::Snapshot{} : it->second;
        all_done = all_done && s.terminal();
        frame += fmt::format("{}  [{}] {:3.0f}%  {}{}\n", id.substr(24), bar(s.fraction),
                             s.fraction * 100, describe(s), tty ? "\033[K" : "");
      }
      if (tty) {
        if (!first) std::cout << fmt::format("\033[{}A", ids.size());
        std::cout << frame << std::flush;
      } else if (all_done) {
        std::cout << frame;
      }
      first = false;
      if (all_done) break;
    }
    lock.unlock();
    watches.clear();
    std::cout << "\nresults:\n";
    for (const auto& id : ids) {
      auto path = queue.result_path(id);
      std::cout << fmt::format("  {}  {}\n", id, path ? path->string() : path.error().detail);
    }
  } catch (const wq::ErrorException& e) {
    std::cerr << "wq-demo: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
