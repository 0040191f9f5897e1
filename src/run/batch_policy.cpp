#include "run/batch_policy.hpp"

#include <sched.h>

#include <cerrno>
#include <cstring>
#include <mutex>

#include "core/log.hpp"

namespace wq::run {

void run_as_batch() {
  sched_param none{};
  if (sched_setscheduler(0, SCHED_BATCH, &none) == 0) return;
  static std::once_flag logged;
  std::call_once(logged, [err = errno] {
    log::warn("job threads keep the normal scheduling policy", {{"error", std::strerror(err)}});
  });
}

}  // namespace wq::run
