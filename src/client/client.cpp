#include "wq/client.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <boost/json/serialize.hpp>
#include <boost/url/encode.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>
#include <cstring>
#include <fstream>
#include <list>
#include <map>
#include <set>
#include <span>
#include <thread>

#include "client/event_watch.hpp"
#include "client/job_json.hpp"
#include "client/transport.hpp"
#include "wq/exec/composable.hpp"
#include "wq/exec/named_thread.hpp"
#include "wq/exec/thread_pool.hpp"

namespace wq {
namespace {

namespace json = boost::json;
using client::error_code;
using client::Repeat;
using client::Transport;
using Verb = boost::beast::http::verb;
using SteadyClock = std::chrono::steady_clock;

constexpr std::size_t kSearchBatch = 1000;  // wqd's limit of ids per search

std::string encode(std::string_view s) {
  return boost::urls::encode(s, boost::urls::unreserved_chars);
}
std::string job_path(std::string_view id) { return "/v1/jobs/" + encode(id); }

template <class T>
T value_or_throw(Result<T> r) {
  if (!r) throw ErrorException(r.error());
  return std::move(*r);
}

Result<Submitted> enqueue_on(Transport& t, const JobSpec& spec) {
  // A submit that names its job (by id or key) is idempotent on the server: safe to send again.
  const Repeat repeat = spec.id || spec.key ? Repeat::yes : Repeat::no;
  auto reply = t.call(Verb::post, "/v1/jobs", client::spec_body(spec), repeat);
  if (!reply) return reply.error();
  if (reply->status != 200 && reply->status != 201) {
    Error e = t.error_of(*reply);
    if (reply->status == 404) e.code = Errc::unknown_task;  // a submit names no job to miss
    return e;
  }
  error_code ec;
  auto v = json::parse(reply->body, ec);
  if (ec) return make_error(Errc::server_error, "wqd answered a submit with invalid JSON");
  auto job = client::job_from_json(v);
  if (!job) return job.error();
  return Submitted{std::move(*job), reply->status == 201};
}

Result<std::vector<Snapshot>> search_on(Transport& t, const std::vector<std::string>& ids,
                                        std::vector<std::string>* not_found = nullptr) {
  json::array arr;
  for (const auto& id : ids) arr.emplace_back(id);
  auto v = t.call_json(Verb::post, "/v1/jobs/search",
                       json::serialize(json::object{{"ids", std::move(arr)}}), Repeat::yes);
  if (!v) return v.error();
  std::vector<Snapshot> out;
  const auto* jobs = v->is_object() ? v->as_object().if_contains("jobs") : nullptr;
  if (!jobs || !jobs->is_array())
    return make_error(Errc::server_error, "wqd answered a search without a 'jobs' array");
  for (const auto& j : jobs->as_array()) {
    auto snap = client::snapshot_from_json(j);
    if (!snap) return snap.error();
    out.push_back(std::move(*snap));
  }
  if (not_found) {
    if (const auto* nf = v->as_object().if_contains("not_found"); nf && nf->is_array()) {
      for (const auto& id : nf->as_array()) {
        if (id.is_string()) not_found->emplace_back(id.as_string());
      }
    }
  }
  return out;
}

// The job as the submit answered it, with the final outcome of its terminal snapshot.
Job ended(Job job, const Snapshot& s) {
  job.state = s.state;
  job.seq = s.seq;
  job.fraction = s.fraction;
  job.message = s.message;
  job.returncode = s.returncode;
  job.error = s.error;
  return job;
}

// The poll function of submit()'s executor: ONE search (per 1,000 jobs) for every
// outstanding future, at most once per poll interval however often it is woken.
struct PollJobs {
  std::shared_ptr<Transport> transport;
  std::shared_ptr<std::atomic<std::uint64_t>> searches;
  exec::Seconds interval;
  Millis reconnect_for;
  SteadyClock::time_point last_search{};
  std::optional<SteadyClock::time_point> unreachable_since;

  exec::Seconds operator()(std::vector<exec::PollDescriptor<Job, Job>>& batch) {
    if (batch.empty()) return interval;
    const auto now = SteadyClock::now();
    if (const auto since = now - last_search; since < interval) return interval - since;
    last_search = now;
    for (std::size_t at = 0; at < batch.size(); at += kSearchBatch) {
      poll_some(std::span(batch).subspan(at, std::min(kSearchBatch, batch.size() - at)));
    }
    return interval;
  }

  void poll_some(std::span<exec::PollDescriptor<Job, Job>> some) {
    std::set<std::string> unique;
    for (const auto& d : some) unique.insert(d.result().id);
    std::vector<std::string> not_found;
    searches->fetch_add(1, std::memory_order_relaxed);
    auto found = search_on(*transport, {unique.begin(), unique.end()}, &not_found);
    if (!found && found.error().code == Errc::unreachable) {
      // The jobs live on; keep asking while the server restarts, up to reconnect_for.
      if (!unreachable_since) unreachable_since = SteadyClock::now();
      if (SteadyClock::now() - *unreachable_since < reconnect_for) return;
    }
    if (!found) {
      for (const auto& d : some) d.yield_exception(ErrorException(found.error()));
      return;
    }
    unreachable_since.reset();
    std::map<std::string_view, const Snapshot*> by_id;
    for (const auto& s : *found) by_id[s.id] = &s;
    for (const auto& d : some) {
      const Job& job = d.result();
      if (auto it = by_id.find(job.id); it != by_id.end()) {
        if (it->second->terminal()) d.yield_result(ended(job, *it->second));
      } else if (std::find(not_found.begin(), not_found.end(), job.id) != not_found.end()) {
        d.yield_exception(ErrorException(make_error(
            Errc::not_found,
            fmt::format("job {} is gone from wqd before it ended (removed, or the server lost "
                        "its data directory)",
                        job.id))));
      }
    }
  }
};

// The cancel function: asks the server to cancel; true unless the job already ended otherwise.
struct CancelJob {
  std::shared_ptr<Transport> transport;

  bool operator()(const Job& job) const {
    auto v = transport->call_json(Verb::post, job_path(job.id) + "/cancel", {}, Repeat::yes);
    if (!v) throw ErrorException(v.error());
    auto now = client::job_from_json(*v);
    if (!now) throw ErrorException(now.error());
    return !is_terminal(now->state) || now->state == JobState::cancelled;
  }
};

using SubmitExecutor = exec::PollExecutor<exec::ThreadPool, Job, Job, PollJobs, CancelJob>;

}  // namespace

class Client::Impl {
 public:
  Impl(ClientOptions o, std::shared_ptr<Transport> t)
      : options(std::move(o)),
        transport(std::move(t)),
        searches(std::make_shared<std::atomic<std::uint64_t>>(0)),
        executor(exec::ThreadPool(std::max<std::size_t>(1, options.threads), "wq-client")
                     .with_poll<Job, Job>(
                         PollJobs{transport, searches,
                                  std::chrono::duration_cast<exec::Seconds>(options.poll_interval),
                                  options.reconnect_for},
                         CancelJob{transport},
                         std::chrono::duration_cast<exec::Seconds>(options.poll_interval),
                         "wq-client-poll")) {}

  ~Impl() {
    std::list<Running> all;
    {
      std::lock_guard lock(mu);
      all.swap(watches);
    }
    for (auto& w : all) w.watch->stop();
    for (auto& w : all) w.thread.join();
    executor.shutdown(true);
  }

  struct Running {
    std::shared_ptr<client::EventWatch> watch;
    exec::detail::NamedThread thread;
  };

  void add_watch(std::shared_ptr<client::EventWatch> watch) {
    std::lock_guard lock(mu);
    // Join watches that ended (their threads are done or about to be).
    for (auto it = watches.begin(); it != watches.end();) {
      if (it->watch->finished()) {
        it->thread.join();
        it = watches.erase(it);
      } else {
        ++it;
      }
    }
    watches.push_back(
        Running{watch, exec::detail::NamedThread("wq-watch", [watch] { watch->run(); })});
  }

  const ClientOptions options;
  const std::shared_ptr<Transport> transport;
  const std::shared_ptr<std::atomic<std::uint64_t>> searches;
  SubmitExecutor executor;
  std::mutex mu;
  std::list<Running> watches;  // guarded by mu
};

namespace {

std::shared_ptr<Transport> make_transport(const ClientOptions& o) {
  auto endpoint = Transport::parse_server(o.server);
  if (!endpoint) throw ErrorException(endpoint.error());
  return std::make_shared<Transport>(
      client::TransportOptions{*endpoint, o.token, o.request_timeout, o.attempts});
}

}  // namespace

Client::Client(ClientOptions options) {
  auto transport = make_transport(options);
  impl_ = std::make_shared<Impl>(std::move(options), std::move(transport));
}

Client::~Client() = default;

const ClientOptions& Client::options() const { return impl_->options; }

Result<Submitted> Client::enqueue(const JobSpec& spec) {
  return enqueue_on(*impl_->transport, spec);
}

exec::Future<Job> Client::submit(JobSpec spec) {
  return impl_->executor.submit([t = impl_->transport, spec = std::move(spec)] {
    return value_or_throw(enqueue_on(*t, spec)).job;
  });
}

exec::Future<Snapshot> Client::watch(std::string id,
                                     std::function<void(const Snapshot&)> on_snapshot,
                                     std::uint64_t after_seq,
                                     std::function<void(const Error&)> on_reconnecting) {
  exec::Promise<Snapshot> promise;
  auto future = promise.future();
  auto watch = std::make_shared<client::EventWatch>(
      impl_->transport, encode(id), after_seq, impl_->options.reconnect_for,
      client::EventWatch::Callbacks{std::move(on_snapshot), std::move(on_reconnecting)},
      std::move(promise));
  future.add_done_callback([w = std::weak_ptr(watch)](const exec::Future<Snapshot>& f) {
    if (auto watch = w.lock(); watch && f.cancelled()) watch->stop();
  });
  impl_->add_watch(std::move(watch));
  return future;
}

Result<Job> Client::get(const std::string& id) {
  auto v = impl_->transport->call_json(Verb::get, job_path(id), {}, Repeat::yes);
  if (!v) return v.error();
  return client::job_from_json(*v);
}

Result<JobPage> Client::list(const JobFilter& filter) {
  std::string query = fmt::format("?limit={}", filter.limit);
  if (filter.state) query += fmt::format("&state={}", to_string(*filter.state));
  if (filter.task) query += "&task=" + encode(*filter.task);
  if (filter.cursor) query += "&cursor=" + encode(*filter.cursor);
  auto v = impl_->transport->call_json(Verb::get, "/v1/jobs" + query, {}, Repeat::yes);
  if (!v) return v.error();
  JobPage page;
  const auto* o = v->is_object() ? &v->as_object() : nullptr;
  const auto* jobs = o ? o->if_contains("jobs") : nullptr;
  if (!jobs || !jobs->is_array())
    return make_error(Errc::server_error, "wqd answered a job list without a 'jobs' array");
  for (const auto& j : jobs->as_array()) {
    auto job = client::job_from_json(j);
    if (!job) return job.error();
    page.jobs.push_back(std::move(*job));
  }
  if (const auto* c = o->if_contains("next_cursor"); c && c->is_string())
    page.next_cursor = std::string(c->as_string());
  return page;
}

Result<std::vector<Snapshot>> Client::search(const std::vector<std::string>& ids) {
  if (ids.empty()) return std::vector<Snapshot>{};
  return search_on(*impl_->transport, ids);
}

Result<Job> Client::cancel(const std::string& id) {
  auto v = impl_->transport->call_json(Verb::post, job_path(id) + "/cancel", {}, Repeat::yes);
  if (!v) return v.error();
  return client::job_from_json(*v);
}

Result<std::vector<TaskInfo>> Client::tasks() {
  auto v = impl_->transport->call_json(Verb::get, "/v1/tasks", {}, Repeat::yes);
  if (!v) return v.error();
  const auto* list = v->is_object() ? v->as_object().if_contains("tasks") : nullptr;
  if (!list || !list->is_array())
    return make_error(Errc::server_error, "wqd answered /v1/tasks without a 'tasks' array");
  std::vector<TaskInfo> out;
  for (const auto& t : list->as_array()) {
    auto task = client::task_from_json(t);
    if (!task) return task.error();
    out.push_back(std::move(*task));
  }
  return out;
}

Result<std::uint64_t> Client::result(const std::string& id, const std::filesystem::path& path) {
  auto part = path;
  part += ".part";
  std::uint64_t size = 0;
  {
    std::ofstream out(part, std::ios::binary | std::ios::trunc);
    if (!out) {
      return make_error(Errc::bad_input,
                        fmt::format("cannot write {}: {}", part.string(), std::strerror(errno)));
    }
    auto got = result(id, out);
    out.close();
    if (!got) {
      std::error_code ec;
      std::filesystem::remove(part, ec);
      return got.error();
    }
    size = *got;
  }
  std::error_code ec;
  std::filesystem::rename(part, path, ec);
  if (ec) {
    return make_error(Errc::bad_input,
                      fmt::format("cannot move the result to {}: {}", path.string(), ec.message()));
  }
  return size;
}

Result<std::uint64_t> Client::result(const std::string& id, std::ostream& out) {
  return impl_->transport->download(job_path(id) + "/result", out);
}

ClientStats Client::stats() const {
  ClientStats s;
  s.requests = impl_->transport->requests.load(std::memory_order_relaxed);
  s.retries = impl_->transport->retries.load(std::memory_order_relaxed);
  s.searches = impl_->searches->load(std::memory_order_relaxed);
  s.poll = impl_->executor.stats();
  return s;
}

}  // namespace wq
