// The tasks this process can run: configured command tasks and registered function tasks.
// Threading: safe from any thread; entries are immutable once published (replace, not edit).
#pragma once

#include "wq/config.hpp"
#include "wq/queue.hpp"

#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <vector>

namespace wq {

struct TaskEntry {
  TaskConfig config;
  TaskFn fn;  // empty for command tasks
};

class TaskRegistry {
 public:
  std::shared_ptr<const TaskEntry> find(const std::string& name) const {
    std::shared_lock lock(mutex_);
    auto it = tasks_.find(name);
    return it == tasks_.end() ? nullptr : it->second;
  }

  void put(TaskEntry entry) {
    auto p = std::make_shared<const TaskEntry>(std::move(entry));
    std::unique_lock lock(mutex_);
    tasks_[p->config.name] = std::move(p);
  }

  std::vector<std::shared_ptr<const TaskEntry>> all() const {
    std::shared_lock lock(mutex_);
    std::vector<std::shared_ptr<const TaskEntry>> out;
    out.reserve(tasks_.size());
    for (const auto& [_, t] : tasks_) out.push_back(t);
    return out;
  }

 private:
  mutable std::shared_mutex mutex_;
  std::map<std::string, std::shared_ptr<const TaskEntry>> tasks_;  // guarded by mutex_
};

}  // namespace wq
