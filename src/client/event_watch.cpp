#include "client/event_watch.hpp"

#include <fmt/format.h>

#include <boost/json/parse.hpp>

#include "client/job_json.hpp"

namespace wq::client {
namespace {

// wqd writes a keep-alive comment every 15 s; a stream silent for longer is dead.
constexpr Millis kStreamSilence{45'000};

struct SseRecord {
  std::string event;
  std::string data;
};

// Takes one complete record ("...\n\n") off the front of `pending`; records of comments only
// come back empty.
std::optional<SseRecord> take_record(std::string& pending) {
  const auto end = pending.find("\n\n");
  if (end == std::string::npos) return std::nullopt;
  SseRecord r;
  std::string_view text(pending.data(), end);
  while (!text.empty()) {
    const auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    if (line.ends_with('\r')) line.remove_suffix(1);
    const auto colon = line.find(':');
    if (line.empty() || colon == 0) continue;
    std::string_view field = line.substr(0, colon);
    std::string_view value = colon == std::string_view::npos ? "" : line.substr(colon + 1);
    if (value.starts_with(' ')) value.remove_prefix(1);
    if (field == "event") r.event = value;
    if (field == "data") r.data += value;
  }
  pending.erase(0, end + 2);
  return r;
}

}  // namespace

EventWatch::EventWatch(std::shared_ptr<Transport> transport, std::string id,
                       std::uint64_t after_seq, Millis reconnect_for, Callbacks callbacks,
                       exec::Promise<Snapshot> promise)
    : transport_(std::move(transport)),
      id_(std::move(id)),
      reconnect_for_(reconnect_for),
      callbacks_(std::move(callbacks)),
      promise_(std::move(promise)),
      last_seq_(after_seq),
      last_problem_{Errc::unreachable, ""} {}

void EventWatch::run() {
  using Clock = std::chrono::steady_clock;
  bool ever_answered = false;
  int failures = 0;
  std::optional<Clock::time_point> lost_since;
  for (;;) {
    bool answered = false;
    if (follow(answered) == Step::done) break;
    if (answered) {
      ever_answered = true;
      failures = 0;
      lost_since.reset();
    }
    ++failures;
    if (!lost_since) lost_since = Clock::now();
    if (!ever_answered && failures >= transport_->options().attempts) {
      fail(last_problem_);
      break;
    }
    if (Clock::now() - *lost_since > reconnect_for_) {
      fail(make_error(
          last_problem_.code,
          fmt::format("{} (gave up watching job {} after {} s of trying)", last_problem_.detail,
                      id_,
                      std::chrono::duration_cast<std::chrono::seconds>(reconnect_for_).count())));
      break;
    }
    if (ever_answered && callbacks_.on_reconnecting) callbacks_.on_reconnecting(last_problem_);
    if (!pause(failures)) break;
  }
  // Stopped before an outcome (a user's cancel already resolved it; this is the Client going).
  // Outside mu_: resolving runs the future's done callbacks.
  promise_.set_exception(exec::ShutdownError("the watch of job " + id_ + " was stopped"));
  std::lock_guard lock(mu_);
  finished_ = true;
}

EventWatch::Step EventWatch::follow(bool& answered) {
  auto conn = transport_->new_connection();
  {
    std::lock_guard lock(mu_);
    if (stopping_) return Step::done;
    current_ = conn.get();
  }
  struct Detach {
    EventWatch* w;
    ~Detach() {
      std::lock_guard lock(w->mu_);
      w->current_ = nullptr;
    }
  } detach{this};

  auto req = transport_->make_request(bhttp::verb::get, "/v1/jobs/" + id_ + "/events");
  req.set(bhttp::field::accept, "text/event-stream");
  req.set("Last-Event-ID", std::to_string(last_seq_));
  transport_->requests.fetch_add(1, std::memory_order_relaxed);

  std::string pending;
  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(boost::none);
  auto on_chunk = [&pending](std::uint64_t, std::string_view data, error_code&) {
    pending.append(data);
    return data.size();
  };
  parser.on_chunk_body(on_chunk);

  const Millis timeout = transport_->options().timeout;
  error_code ec;
  if ((ec = conn->connect(timeout)) || (ec = conn->write(req, timeout)) ||
      (ec = conn->read_header(parser, timeout))) {
    if (ec == boost::asio::error::operation_aborted) return Step::done;
    last_problem_ = transport_->unreachable(ec);
    return Step::reconnect;
  }
  const unsigned status = parser.get().result_int();
  if (status == 204) {
    resolve_from_job();
    return Step::done;
  }
  if (status != 200) {
    if ((ec = conn->read(parser, timeout))) {
      if (ec == boost::asio::error::operation_aborted) return Step::done;
      last_problem_ = transport_->unreachable(ec);
      return Step::reconnect;
    }
    Error e = transport_->error_of(
        Reply{status, std::string(parser.get()[bhttp::field::content_type]), parser.get().body()});
    if (status == 503) {  // draining or too many streams: try again
      last_problem_ = std::move(e);
      return Step::reconnect;
    }
    fail(std::move(e));
    return Step::done;
  }
  answered = true;
  for (;;) {
    while (auto record = take_record(pending)) {
      if (record->event == "shutdown") {
        last_problem_ = make_error(Errc::unreachable,
                                   fmt::format("wqd at {} is shutting down; reconnecting to resume",
                                               transport_->options().endpoint.url));
        return Step::reconnect;
      }
      if (record->data.empty()) continue;
      if (on_snapshot_data(record->data) == Step::done) return Step::done;
    }
    if (parser.is_done()) {
      last_problem_ =
          make_error(Errc::unreachable, fmt::format("the event stream of job {} ended early", id_));
      return Step::reconnect;
    }
    if ((ec = conn->read_some(parser, kStreamSilence))) {
      if (ec == boost::asio::error::operation_aborted) return Step::done;
      last_problem_ = transport_->unreachable(ec);
      return Step::reconnect;
    }
  }
}

EventWatch::Step EventWatch::on_snapshot_data(const std::string& data) {
  error_code ec;
  auto value = boost::json::parse(data, ec);
  if (ec) {
    fail(make_error(
        Errc::server_error,
        fmt::format("the event stream of job {} carried invalid JSON ({})", id_, ec.message())));
    return Step::done;
  }
  auto snap = snapshot_from_json(value);
  if (!snap) {
    fail(snap.error());
    return Step::done;
  }
  if (snap->seq <= last_seq_) return Step::more;  // already seen (overlap after a resume)
  last_seq_ = snap->seq;
  if (callbacks_.on_snapshot) {
    try {
      callbacks_.on_snapshot(*snap);
    } catch (...) {
      promise_.set_exception(std::current_exception());
      return Step::done;
    }
  }
  if (snap->terminal()) {
    promise_.set_value(std::move(*snap));
    return Step::done;
  }
  return Step::more;
}

void EventWatch::resolve_from_job() {
  auto v = transport_->call_json(bhttp::verb::get, "/v1/jobs/" + id_, {}, Repeat::yes);
  if (!v) return fail(v.error());
  auto job = job_from_json(*v);
  if (!job) return fail(job.error());
  promise_.set_value(snapshot_of(*job));
}

bool EventWatch::pause(int attempt) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, Transport::backoff(attempt), [this] { return stopping_; });
  return !stopping_;
}

void EventWatch::fail(Error e) { promise_.set_exception(ErrorException(std::move(e))); }

void EventWatch::stop() {
  std::lock_guard lock(mu_);
  stopping_ = true;
  if (current_) current_->interrupt();
  cv_.notify_all();
}

bool EventWatch::finished() const {
  std::lock_guard lock(mu_);
  return finished_;
}

}  // namespace wq::client
