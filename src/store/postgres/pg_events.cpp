#include "store/postgres/pg_events.hpp"

#include "core/log.hpp"
#include "store/postgres/pg_conn.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <unistd.h>

#include <vector>

namespace wq::postgres {
namespace {

constexpr const char* kChannel = "wq_events";
constexpr std::size_t kMaxText = 1000;  // bytes of message/error carried in a payload
constexpr auto kReconnectDelay = std::chrono::seconds(1);
// Snapshots wait this long to be coalesced with later ones of the same job: each send is a
// commit that takes PostgreSQL's notification-queue lock, so a busy node sends a few dozen
// per second, not one per progress line.
constexpr auto kNotifyInterval = std::chrono::milliseconds(20);

std::string truncated(std::string_view s) {
  if (s.size() <= kMaxText) return std::string(s);
  std::size_t n = kMaxText;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;  // UTF-8 boundary
  return std::string(s.substr(0, n));
}

std::string snapshot_payload(const std::string& node, const Snapshot& s) {
  boost::json::object o;
  o["n"] = node;
  o["k"] = "s";
  o["id"] = s.id;
  o["q"] = s.seq;
  o["st"] = static_cast<int>(s.state);
  o["a"] = s.n_ahead_in_queue;
  o["f"] = s.fraction;
  if (s.message) o["m"] = truncated(*s.message);
  if (s.returncode) o["rc"] = *s.returncode;
  if (s.error) {
    o["e"] = truncated(*s.error);
    if (s.error->size() > kMaxText) o["t"] = true;  // the receiver re-reads the full error
  }
  return boost::json::serialize(o);
}

}  // namespace

PgEvents::PgEvents(std::string conninfo, std::string node, Fetch fetch)
    : conninfo_(std::move(conninfo)),
      node_(std::move(node)),
      own_prefix_("{\"n\":" + boost::json::serialize(boost::json::value(node_)) + ","),
      fetch_(std::move(fetch)) {}

PgEvents::~PgEvents() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (wake_pipe_[1] >= 0) (void)::write(wake_pipe_[1], "x", 1);
  if (listen_thread_.joinable()) listen_thread_.join();
  if (notify_thread_.joinable()) notify_thread_.join();
  for (int fd : wake_pipe_) {
    if (fd >= 0) ::close(fd);
  }
}

std::string PgEvents::work_payload(const std::string& node) {
  return boost::json::serialize(boost::json::object{{"n", node}, {"k", "w"}});
}

std::string PgEvents::cancel_payload(const std::string& node, std::string_view id) {
  return boost::json::serialize(boost::json::object{{"n", node}, {"k", "c"}, {"id", id}});
}

Result<void> PgEvents::connect_listener() {
  auto c = PgConn::connect(conninfo_);
  if (!c) return c.error();
  if (auto r = (*c)->exec(std::string("LISTEN ") + kChannel); !r) return r.error();
  listener_ = std::move(*c);
  return {};
}

Result<void> PgEvents::start() {
  if (::pipe2(wake_pipe_, O_CLOEXEC | O_NONBLOCK) != 0) {
    return make_error(Errc::store_failed, "cannot create a pipe for the event listener");
  }
  if (auto r = connect_listener(); !r) return r.error();
  auto n = PgConn::connect(conninfo_);
  if (!n) return n.error();
  notifier_ = std::move(*n);
  listen_thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "wq-pg-listen");
    listen_loop();
  });
  notify_thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "wq-pg-notify");
    notify_loop();
  });
  return {};
}

void PgEvents::set_sink(std::function<void(const StoreEvent&)> sink) {
  std::lock_guard lock(sink_mutex_);
  sink_ = std::move(sink);
}

void PgEvents::emit(const StoreEvent& e) {
  std::lock_guard lock(sink_mutex_);
  if (sink_) sink_(e);
}

void PgEvents::publish(const Snapshot& snap) {
  bool wake = false;
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    // Between sends the notifier sleeps out the interval whatever arrives: waking it for each
    // snapshot would cost a context switch and send nothing sooner.
    wake = notifier_idle_ && pending_.empty();
    pending_[snap.id] = snap;
  }
  if (wake) cv_.notify_one();
}

void PgEvents::announce_work() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    work_pending_ = true;
  }
  cv_.notify_one();
}

void PgEvents::listen_loop() {
  for (;;) {
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
    }
    if (!listener_ || !listener_->healthy()) {
      if (auto r = connect_listener(); !r) {
        log::warn("cannot listen for other nodes' events; retrying", {{"error", r.error().detail}});
        pollfd p{wake_pipe_[0], POLLIN, 0};
        ::poll(&p, 1, static_cast<int>(std::chrono::milliseconds(kReconnectDelay).count()));
        continue;
      }
      emit(StoreEvent{StoreEvent::Kind::work, {}});  // what was missed meanwhile may be runnable
    }
    pollfd fds[2] = {{PQsocket(listener_->handle()), POLLIN, 0}, {wake_pipe_[0], POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0 && errno != EINTR) {
      log::error("poll on the event listener failed", {{"errno", errno}});
      return;
    }
    if (fds[1].revents != 0) continue;  // stopping (checked at the top)
    if (PQconsumeInput(listener_->handle()) == 0) continue;  // broken: reconnect above
    while (PGnotify* n = PQnotifies(listener_->handle())) {
      handle(n->extra);
      PQfreemem(n);
    }
  }
}

void PgEvents::handle(std::string_view payload) {
  // Our own (every payload we send starts with our node): already handled here. Most of what
  // a node hears on a busy cluster; not worth a parse.
  if (payload.starts_with(own_prefix_)) return;
  boost::system::error_code ec;
  auto v = boost::json::parse(payload, ec);
  if (ec || !v.is_object()) {
    log::warn("ignoring a malformed event from another node", {{"payload", std::string(payload.substr(0, 200))}});
    return;
  }
  const auto& o = v.as_object();
  auto str = [&](const char* k) -> std::string {
    auto* p = o.if_contains(k);
    return p && p->is_string() ? std::string(p->as_string()) : std::string();
  };
  if (str("n") == node_) return;  // our own, serialised another way
  const std::string kind = str("k");
  if (kind != "w" && kind != "c" && kind != "s") return;
  StoreEvent e;
  if (kind == "w") {
    e.kind = StoreEvent::Kind::work;
  } else if (kind == "c") {
    e.kind = StoreEvent::Kind::cancel;
    e.snapshot.id = str("id");
  } else if (kind == "s") {
    e.kind = StoreEvent::Kind::snapshot;
    Snapshot& s = e.snapshot;
    s.id = str("id");
    auto num = [&](const char* k) -> const boost::json::value* { return o.if_contains(k); };
    if (auto* q = num("q"); q && q->is_number()) s.seq = q->to_number<std::uint64_t>();
    if (auto* st = num("st"); st && st->is_number()) s.state = static_cast<JobState>(st->to_number<int>());
    if (auto* a = num("a"); a && a->is_number()) s.n_ahead_in_queue = a->to_number<std::int64_t>();
    if (auto* f = num("f"); f && f->is_number()) s.fraction = f->to_number<double>();
    if (o.contains("m")) s.message = str("m");
    if (auto* rc = num("rc"); rc && rc->is_number()) s.returncode = rc->to_number<int>();
    if (o.contains("e")) s.error = str("e");
    if (s.terminal() && o.contains("t")) {
      // The exact final snapshot (its error untruncated) is in the database by now.
      if (auto job = fetch_(s.id); job && is_terminal(job->state)) s = snapshot_of(*job);
    }
  }
  emit(e);
}

void PgEvents::notify_loop() {
  for (;;) {
    std::unordered_map<std::string, Snapshot> batch;
    std::vector<std::string> payloads;
    {
      std::unique_lock lock(mutex_);
      notifier_idle_ = true;
      cv_.wait(lock, [&] { return stopping_ || !pending_.empty() || work_pending_; });
      notifier_idle_ = false;
      if (stopping_) return;
      batch.swap(pending_);
      if (work_pending_) payloads.push_back(work_payload(node_));
      work_pending_ = false;
    }
    payloads.reserve(payloads.size() + batch.size());
    for (const auto& [_, snap] : batch) payloads.push_back(snapshot_payload(node_, snap));
    if (!notifier_ || !notifier_->healthy()) {
      auto c = PgConn::connect(conninfo_);
      if (!c) {
        log::warn("cannot send progress to other nodes", {{"error", c.error().detail}});
        continue;
      }
      notifier_ = std::move(*c);
    }
    auto r = notifier_->run("notify_snapshots",
                            "SELECT pg_notify('wq_events', p) FROM unnest($1::text[]) AS p",
                            Params().add_array(payloads));
    if (!r) log::warn("cannot send progress to other nodes", {{"error", r.error().detail}});
    // Snapshots wait for the interval to coalesce; news of work goes out at once (it is what
    // an idle node waits for), taking the snapshots gathered so far along.
    std::unique_lock lock(mutex_);
    cv_.wait_for(lock, kNotifyInterval, [&] { return stopping_ || work_pending_; });
  }
}

}  // namespace wq::postgres
