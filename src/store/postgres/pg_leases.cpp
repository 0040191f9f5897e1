#include "store/postgres/pg_leases.hpp"

#include "core/log.hpp"
#include "store/postgres/pg_conn.hpp"

#include <fmt/format.h>
#include <pthread.h>

#include <algorithm>

namespace wq::postgres {
namespace {

// Neither connecting nor a statement may block the heartbeat past a renewal period.
std::string bounded(const std::string& conninfo, Millis lease) {
  const auto period = lease / 3;
  const long long secs = std::max<long long>(1, std::chrono::duration_cast<std::chrono::seconds>(period).count());
  return fmt::format("{}{}connect_timeout={}&tcp_user_timeout={}", conninfo,
                     conninfo.find('?') == std::string::npos ? '?' : '&', secs, period.count());
}

}  // namespace

PgLeases::PgLeases(std::string conninfo, std::string node, Millis lease,
                   std::function<void(const std::vector<std::string>&)> lost)
    : conninfo_(bounded(conninfo, lease)), node_(std::move(node)), lease_(lease), lost_(std::move(lost)) {}

PgLeases::~PgLeases() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void PgLeases::start() {
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "wq-pg-lease");
    loop();
  });
}

void PgLeases::hold(const std::vector<std::string>& ids) {
  std::lock_guard lock(mutex_);
  held_.insert(ids.begin(), ids.end());
}

void PgLeases::release(const std::string& id) {
  std::lock_guard lock(mutex_);
  held_.erase(id);
}

bool PgLeases::forfeited(const std::string& id) {
  std::lock_guard lock(mutex_);
  return forfeited_.contains(id);
}

void PgLeases::loop() {
  using Clock = std::chrono::steady_clock;
  auto renewed = Clock::now();
  bool stopped_jobs = false;
  std::unique_lock lock(mutex_);
  while (!cv_.wait_for(lock, lease_ / 3, [&] { return stop_; })) {
    lock.unlock();
    if (renew()) {
      renewed = Clock::now();
      stopped_jobs = false;
    } else if (!stopped_jobs && Clock::now() - renewed >= lease_ * 2 / 3) {
      std::vector<std::string> ids;
      {
        std::lock_guard held(mutex_);
        ids.assign(held_.begin(), held_.end());
        forfeited_.insert(held_.begin(), held_.end());
        held_.clear();
      }
      log::error("cannot renew job leases for 2/3 of the lease; stopping this node's jobs so "
                 "that they do not run twice when another node recovers them",
                 {{"jobs", ids.size()}});
      lost_(ids);
      stopped_jobs = true;
    }
    lock.lock();
  }
}

bool PgLeases::renew() {
  if (!conn_ || !conn_->healthy()) {
    auto c = PgConn::connect(conninfo_);
    if (!c) {
      log::warn("cannot renew job leases", {{"error", c.error().detail}});
      return false;
    }
    conn_ = std::move(*c);
  }
  std::vector<std::string> forfeited, ids;
  {
    std::lock_guard lock(mutex_);
    forfeited.assign(forfeited_.begin(), forfeited_.end());
    ids.assign(held_.begin(), held_.end());
  }
  ids.insert(ids.end(), forfeited.begin(), forfeited.end());
  // By id: no index tells running jobs from queued ones (so that a claim writes no index
  // entry). A job is held from just after its claim commits, which set a full lease. Rows the
  // writer holds locked are skipped rather than waited for: it is finishing them.
  auto r = conn_->run("renew_leases",
                      "UPDATE wq_jobs SET lease_expires_at = CASE WHEN id = ANY($3::text[]) "
                      "THEN now() ELSE now() + $2::bigint * interval '1 millisecond' END "
                      "WHERE seqno IN (SELECT seqno FROM wq_jobs WHERE id = ANY($4::text[]) AND "
                      "state = 1 AND lease_node = $1 FOR UPDATE SKIP LOCKED)",
                      Params().add(node_).add(lease_.count()).add_array(forfeited)
                          .add_array(ids));
  if (!r) {
    log::warn("cannot renew job leases", {{"error", r.error().detail}});
    return false;
  }
  return true;
}

}  // namespace wq::postgres
