#include "run/function_runner.hpp"

#include "run/batch_policy.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>

namespace wq::run {
namespace {

class Context final : public TaskContext {
 public:
  Context(const FunctionSpec& spec, std::stop_token token, FunctionRunner::ProgressFn& progress)
      : spec_(spec), token_(std::move(token)), progress_(progress) {}

  const Job& job() const override { return spec_.job; }
  const boost::json::object& params() const override {
    return spec_.params ? *spec_.params : spec_.job.params;
  }

  void progress(double fraction, std::optional<std::string> message) override {
    if (!std::isfinite(fraction)) return;
    progress_(std::clamp(fraction, 0.0, 1.0), std::move(message));
  }

  bool cancelled() const override { return token_.stop_requested(); }
  std::stop_token stop_token() const override { return token_; }
  const std::filesystem::path& output_path() const override {
    output_used_ = true;
    if (!output_) output_.emplace(spec_.output);
    return *output_;
  }

  bool output_used() const { return output_used_; }

  void set_result(std::string_view bytes) override {
    output_used_ = true;
    std::ofstream out(spec_.output, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!out.flush()) {
      throw std::runtime_error(fmt::format("cannot write the result: {}", std::strerror(errno)));
    }
  }

 private:
  const FunctionSpec& spec_;
  std::stop_token token_;
  FunctionRunner::ProgressFn& progress_;
  mutable bool output_used_ = false;  // only the task's own thread sets and reads it
  // Built on first use: parsing a path into its components allocates, and most tasks return
  // no file.
  mutable std::optional<std::filesystem::path> output_;
};

}  // namespace

FunctionRunner::FunctionRunner(int threads) : pool_(static_cast<std::size_t>(threads), "wq-fn") {}

FunctionRunner::~FunctionRunner() {
  std::lock_guard lock(mutex_);
  for (auto& [id, source] : active_) source.request_stop();
}

std::uint64_t FunctionRunner::start(FunctionSpec spec, ProgressFn progress, DoneFn done) {
  std::uint64_t id;
  std::stop_token token;
  {
    std::lock_guard lock(mutex_);
    id = next_id_++;
    token = active_[id].get_token();
  }
  pool_.submit([this, id, token, spec = std::move(spec), progress = std::move(progress),
                done = std::move(done)]() mutable {
    thread_local const bool batch = (run_as_batch(), true);  // once per worker
    (void)batch;
    FunctionResult result;
    Context ctx(spec, token, progress);
    try {
      spec.fn(ctx);
      result.ok = true;
    } catch (const std::exception& e) {
      result.error = e.what();
    } catch (...) {
      result.error = "the task threw a non-standard exception";
    }
    result.stop_requested = token.stop_requested();
    result.output_used = ctx.output_used();
    struct stat st {};
    if (result.ok && result.output_used && ::stat(spec.output.c_str(), &st) == 0) {
      result.output_size = st.st_size;
    }
    {
      std::lock_guard lock(mutex_);
      active_.erase(id);
    }
    done(std::move(result));
  });
  return id;
}

void FunctionRunner::cancel(std::uint64_t run_id) {
  std::lock_guard lock(mutex_);
  if (auto it = active_.find(run_id); it != active_.end()) it->second.request_stop();
}

}  // namespace wq::run
