#include "wq/exec/named_thread.hpp"

#include <pthread.h>

#include <utility>

namespace wq::exec::detail {

void set_current_thread_name(std::string_view name) noexcept {
  char buf[16] = {};
  const std::size_t n = name.size() < 15 ? name.size() : 15;
  name.copy(buf, n);
  pthread_setname_np(pthread_self(), buf);
}

NamedThread::NamedThread(std::string name, std::function<void()> body)
    : thread_([name = std::move(name), body = std::move(body)]() mutable {
        set_current_thread_name(name);
        body();
      }) {}

NamedThread& NamedThread::operator=(NamedThread&& other) noexcept {
  if (this != &other) {
    join();
    thread_ = std::move(other.thread_);
  }
  return *this;
}

NamedThread::~NamedThread() { join(); }

void NamedThread::join() {
  if (!thread_.joinable()) return;
  if (is_current()) {
    // Destroyed from its own body (see the header): the body owns what it uses and returns
    // on its own, so letting it finish detached is safe.
    thread_.detach();
  } else {
    thread_.join();
  }
}

}  // namespace wq::exec::detail
