// NamedThread: a std::thread that names itself (pthread_setname_np, at most 15 characters) and
// is joined when destroyed — or detached when the destroying thread is itself, which happens
// when the last reference to an executor is dropped by one of its own callbacks. Whatever the
// thread's function uses must therefore be owned by that function (a captured shared_ptr),
// never borrowed from the object that owns the NamedThread.
//
// Threading: start/join/destroy from one owner thread at a time; the thread body runs on its
// own thread.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <thread>

namespace wq::exec::detail {

class NamedThread {
 public:
  NamedThread() = default;
  NamedThread(std::string name, std::function<void()> body);
  NamedThread(NamedThread&&) noexcept = default;
  NamedThread& operator=(NamedThread&& other) noexcept;
  NamedThread(const NamedThread&) = delete;
  NamedThread& operator=(const NamedThread&) = delete;
  ~NamedThread();

  bool joinable() const noexcept { return thread_.joinable(); }
  bool is_current() const noexcept { return thread_.get_id() == std::this_thread::get_id(); }

  // Joins, or detaches if called on the thread itself. No-op when not joinable.
  void join();

 private:
  std::thread thread_;
};

// Names the calling thread (truncated to the 15 characters Linux allows).
void set_current_thread_name(std::string_view name) noexcept;

}  // namespace wq::exec::detail
