// wq-bench-http: the client side of the HTTP benchmarks, run against wq-bench-http-server by
// bench/http.sh. A deliberately small client (blocking sockets, with epoll for w1 and fanout) so
// that the server, which shares the machine's cores with it, gets most of the CPU.
//
//   wq-bench-http submit PORT TASK          creates one job, prints its id (HTTP-GET's target)
//   wq-bench-http get PORT TARGET           prints the body of GET TARGET (nginx serves the same)
//   wq-bench-http gets PORT TARGET N        N keep-alive GETs of TARGET on one connection, each
//                                           answered 200 (bench/http_callgrind.sh's GET load)
//   wq-bench-http free-port                 prints a loopback TCP port free at the moment
//   wq-bench-http w1 PORT PID [N] [CONNS] [ROUNDS]
//                                           HTTP-W1: ROUNDS (5) rounds of N no-op submits from
//                                           CONNS keep-alive connections, each awaited; a round's
//                                           wall time runs from its first submit to the server
//                                           counting its N-th job finished; the rate is over all
//                                           rounds; server CPU (of PID) per job
//   wq-bench-http w2 PORT [N] [WARM]        HTTP-W2: one job at a time, submit -> the task's start
//                                           stamp, and -> the client learning it finished
//   wq-bench-http fanout PORT PID TASK STREAMS LINES INTERVAL_MS
//                                           FANOUT: STREAMS SSE streams on one job; per progress
//                                           line, the time to the last stream receiving it;
//                                           server RSS (of PID) added per stream
//   wq-bench-http child GO LINES INTERVAL_MS
//                                           the fan-out task's program: waits for the file GO,
//                                           then prints LINES progress lines "f\tt=<ns>"
// Each workload prints RESULT lines (DESIGN §10). Clocks: CLOCK_MONOTONIC (steady_clock) in
// every process, so stamps from the server and its children compare with the client's.
//
// Threading: single-threaded; w1 and fanout wait on their connections with epoll.
#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

double ms(std::int64_t ns) { return static_cast<double>(ns) / 1e6; }

[[noreturn]] void fail(const std::string& why) {
  std::fprintf(stderr, "wq-bench-http: %s\n", why.c_str());
  std::exit(1);
}

void result(std::string_view workload, double value, std::string_view unit,
            std::optional<double> limit, std::string_view note) {
  if (limit) {
    fmt::print("RESULT workload={} value={:.4g} unit={} limit={:.4g} ratio={:.3g} note=\"{}\"\n",
               workload, value, unit, *limit, value / *limit, note);
  } else {
    fmt::print("RESULT workload={} value={:.4g} unit={} note=\"{}\"\n", workload, value, unit,
               note);
  }
  std::fflush(stdout);
}

// Nearest-rank percentile, as the peers' stats.py.
double percentile(std::vector<double> v, double p) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  const auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(v.size())));
  return v[std::clamp<std::size_t>(rank, 1, v.size()) - 1];
}

int connect_to(unsigned short port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) fail(fmt::format("socket: {}", std::strerror(errno)));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    fail(fmt::format("connect to 127.0.0.1:{}: {}", port, std::strerror(errno)));
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

struct Reply {
  int status = 0;
  std::string body;
};

// One keep-alive HTTP/1.1 connection; requests are sent and answered one at a time. Only what
// wqd sends is understood: Content-Length bodies.
class Conn {
 public:
  explicit Conn(unsigned short port) : fd_(connect_to(port)) {}
  ~Conn() { ::close(fd_); }
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  Reply request(std::string_view method, std::string_view target, std::string_view body = {}) {
    send_request(method, target, body);
    std::optional<Reply> r;
    while (!(r = parse_reply())) fill();
    return std::move(*r);
  }

  // The two halves of request(), for a caller that waits on many connections (epoll): sends
  // the whole request (the socket is blocking), then, each time fd() is readable, read_some()
  // until it returns the reply.
  void send_request(std::string_view method, std::string_view target, std::string_view body = {}) {
    std::string out = fmt::format("{} {} HTTP/1.1\r\nHost: 127.0.0.1\r\n", method, target);
    if (!body.empty())
      out += fmt::format("Content-Type: application/json\r\nContent-Length: {}\r\n", body.size());
    out += "\r\n";
    out += body;
    for (std::size_t sent = 0; sent < out.size();) {
      const auto n = ::send(fd_, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) fail(fmt::format("send: {}", std::strerror(errno)));
      sent += static_cast<std::size_t>(n);
    }
  }
  std::optional<Reply> read_some() {
    fill();
    return parse_reply();
  }
  int fd() const { return fd_; }

 private:
  void fill() {
    char chunk[16384];
    const auto n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n <= 0) fail(n == 0 ? "the server closed the connection" : std::strerror(errno));
    buf_.append(chunk, static_cast<std::size_t>(n));
  }

  // The first reply in the buffer, taken out of it, once it is whole.
  std::optional<Reply> parse_reply() {
    const std::size_t end = buf_.find("\r\n\r\n");
    if (end == std::string::npos) return std::nullopt;
    Reply r;
    r.status = std::atoi(buf_.c_str() + 9);  // "HTTP/1.1 200"
    std::size_t length = 0;
    std::string_view head(buf_.data(), end);
    for (std::size_t pos = head.find("\r\n"); pos != std::string_view::npos;) {
      const auto next = head.find("\r\n", pos + 2);
      const auto line = head.substr(pos + 2, next == std::string_view::npos ? head.npos
                                                                              : next - pos - 2);
      if (line.size() > 15 && strncasecmp(line.data(), "content-length:", 15) == 0)
        length = std::strtoull(line.data() + 15, nullptr, 10);
      pos = next;
    }
    const std::size_t total = end + 4 + length;
    if (buf_.size() < total) return std::nullopt;
    r.body = buf_.substr(end + 4, length);
    buf_.erase(0, total);
    return r;
  }

  int fd_;
  std::string buf_;
};

// The value of the JSON string field `name` in `body` (wqd's compact output; no escapes in the
// fields read here).
std::string string_field(std::string_view body, std::string_view name) {
  const std::string key = fmt::format("\"{}\":\"", name);
  const auto at = body.find(key);
  if (at == std::string_view::npos) return {};
  const auto start = at + key.size();
  return std::string(body.substr(start, body.find('"', start) - start));
}

std::string submit_body(std::string_view task, const std::string& params) {
  return fmt::format(R"({{"task":"{}","params":{}}})", task, params);
}

std::string submitted_id(std::string_view task, const Reply& r) {
  if (r.status != 201 && r.status != 200)
    fail(fmt::format("submit {}: HTTP {} {}", task, r.status, r.body));
  return string_field(r.body, "id");
}

std::string submit(Conn& c, std::string_view task, const std::string& params) {
  return submitted_id(task, c.request("POST", "/v1/jobs", submit_body(task, params)));
}

bool terminal(std::string_view state) {
  return state == "succeeded" || state == "failed" || state == "cancelled";
}

// Waits (long-polls) until job `id` ends; returns its final state.
std::string wait_done(Conn& c, const std::string& id) {
  std::uint64_t seq = 0;
  for (;;) {
    auto r = c.request("GET", fmt::format("/v1/jobs/{}/wait?after={}&timeout=30", id, seq));
    if (r.status == 204) continue;
    if (r.status != 200) fail(fmt::format("wait {}: HTTP {} {}", id, r.status, r.body));
    const std::string state = string_field(r.body, "state");
    if (terminal(state)) return state;
    const auto at = r.body.find("\"seq\":");
    seq = std::strtoull(r.body.c_str() + at + 6, nullptr, 10);
  }
}

// Jobs the server counts as finished (any terminal state), from /metrics.
std::uint64_t finished(Conn& c) {
  auto r = c.request("GET", "/metrics");
  if (r.status != 200) fail(fmt::format("/metrics: HTTP {}", r.status));
  std::uint64_t total = 0;
  constexpr std::string_view kName = "\nwq_jobs_finished_total{";
  for (auto at = r.body.find(kName); at != std::string::npos; at = r.body.find(kName, at + 1)) {
    const auto space = r.body.find(' ', at + 1);
    total += std::strtoull(r.body.c_str() + space + 1, nullptr, 10);
  }
  return total;
}

double cpu_seconds_of(int pid) {
  std::ifstream stat(fmt::format("/proc/{}/stat", pid));
  std::string text((std::istreambuf_iterator<char>(stat)), {});
  const auto close = text.rfind(')');
  if (close == std::string::npos) return NAN;
  // Fields after the command: state is field 3; utime 14, stime 15.
  std::istringstream rest(text.substr(close + 2));
  std::string field;
  double ticks = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i >= 14) ticks += std::stod(field);
  }
  return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// One HTTP-W1 round: n no-op submits over the connections `cs`, then the wait until the server
// counts them finished (`monitor` polls /metrics). Returns the round's wall time, and its
// submits' alone in `submit_seconds`.
double w1_round(std::vector<std::unique_ptr<Conn>>& cs, Conn& monitor, int n, int run, int round,
                double& submit_seconds) {
  const auto base = finished(monitor);
  // One thread waits on all connections (epoll) and answers each reply with the connection's
  // next submit: a wake-up serves every reply that arrived meanwhile. (A thread a connection
  // cost the client 8 context switches where this costs one, on the cores the server uses.)
  const int epoll = epoll_create1(EPOLL_CLOEXEC);
  if (epoll < 0) fail(fmt::format("epoll_create1: {}", std::strerror(errno)));
  int next = 0;  // the next submit's number
  auto send_next = [&](Conn& c) {
    c.send_request("POST", "/v1/jobs",
                   submit_body("noop", fmt::format(R"({{"i":{},"round":{},"run":{}}})", next++,
                                                   round, run)));
  };
  const auto t0 = now_ns();
  for (std::size_t t = 0; t < cs.size(); ++t) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u32 = static_cast<std::uint32_t>(t);
    if (epoll_ctl(epoll, EPOLL_CTL_ADD, cs[t]->fd(), &ev) != 0)
      fail(fmt::format("epoll_ctl: {}", std::strerror(errno)));
    if (next < n) send_next(*cs[t]);
  }
  for (int answered = 0; answered < n;) {
    epoll_event evs[64];
    const int ready = epoll_wait(epoll, evs, 64, 30'000);
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) fail(ready == 0 ? "no reply to a submit for 30 s" : std::strerror(errno));
    for (int e = 0; e < ready; ++e) {
      Conn& c = *cs[evs[e].data.u32];
      auto reply = c.read_some();
      if (!reply) continue;
      submitted_id("noop", *reply);
      ++answered;
      if (next < n) send_next(c);
    }
  }
  ::close(epoll);
  submit_seconds = ms(now_ns() - t0) / 1000.0;
  // Polled every 0.5 ms, or every $WQ_W1_POLL_US (bench/http_callgrind.sh polls rarely, so
  // that /metrics answers do not swamp the instruction count of the jobs).
  const char* poll_env = std::getenv("WQ_W1_POLL_US");
  const auto poll = std::chrono::microseconds(poll_env ? std::atoi(poll_env) : 500);
  while (finished(monitor) < base + static_cast<std::uint64_t>(n)) std::this_thread::sleep_for(poll);
  return ms(now_ns() - t0) / 1000.0;
}

// Rounds, because this VM's speed drifts by a quarter within seconds (a CPU loop timed twice
// in a row: 247 and 319 ms): one round of 0.6 s measures the VM of that moment.
int w1(unsigned short port, int pid, int n, int conns, int rounds) {
  // Params unique to this run: a second run against the same server must not dedup to the
  // first run's jobs (they succeeded, so their keys return them and nothing new would finish).
  const int run = ::getpid();
  {
    Conn c(port);
    const auto before = finished(c);
    for (int i = 0; i < 100; ++i) submit(c, "noop", fmt::format(R"({{"warm":{},"run":{}}})", i, run));
    while (finished(c) < before + 100) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  Conn monitor(port);
  std::vector<std::unique_ptr<Conn>> cs;
  for (int t = 0; t < conns; ++t) cs.push_back(std::make_unique<Conn>(port));
  const double cpu0 = cpu_seconds_of(pid);
  double wall = 0, submit_wall = 0;
  std::vector<std::string> each;
  for (int round = 0; round < rounds; ++round) {
    double submit_seconds = 0;
    const double seconds = w1_round(cs, monitor, n, run, round, submit_seconds);
    wall += seconds;
    submit_wall += submit_seconds;
    each.push_back(fmt::format("{:.0f}", n / seconds));
  }
  const double cpu = cpu_seconds_of(pid) - cpu0;
  const double jobs = static_cast<double>(n) * rounds;
  result("HTTP-W1", jobs / wall, "jobs/s", 15000,
         fmt::format("{} rounds ({} jobs/s) of {} no-op submits over {} keep-alive connections, "
                     "each awaited, durability process; each round to its {}th job finished; "
                     "submits alone {:.0f}/s; server CPU {:.1f} us/job; target >= 15000",
                     rounds, fmt::join(each, " "), n, conns, n, jobs / submit_wall,
                     cpu * 1e6 / jobs));
  return 0;
}

int w2(unsigned short port, int n, int warm) {
  Conn c(port);
  std::vector<double> start, done;
  for (int i = 0; i < warm + n; ++i) {
    const auto t0 = now_ns();
    const std::string id = submit(c, "stamp", fmt::format(R"({{"i":{}}})", i));
    const std::string state = wait_done(c, id);
    const auto t_done = now_ns();
    if (state != "succeeded") fail(fmt::format("stamp job {} ended {}", id, state));
    auto r = c.request("GET", fmt::format("/v1/jobs/{}/result", id));
    if (r.status != 200) fail(fmt::format("result of {}: HTTP {}", id, r.status));
    const std::int64_t started = std::strtoll(r.body.c_str(), nullptr, 10);
    if (i < warm) continue;
    start.push_back(ms(started - t0));
    done.push_back(ms(t_done - t0));
  }
  const auto note = [&](std::string_view what) {
    return fmt::format("{}; one job at a time over one keep-alive connection, {} samples after "
                       "{} warm-up",
                       what, n, warm);
  };
  result("HTTP-W2-start", percentile(start, 50), "ms_p50", 0.2,
         note("POST /v1/jobs sent -> the task starts; target < 0.2 ms"));
  result("HTTP-W2-start", percentile(start, 99), "ms_p99", std::nullopt,
         note("POST /v1/jobs sent -> the task starts"));
  result("HTTP-W2-done", percentile(done, 50), "ms_p50", std::nullopt,
         note("POST sent -> the client learns the job finished (long-poll /wait)"));
  result("HTTP-W2-done", percentile(done, 99), "ms_p99", std::nullopt,
         note("POST sent -> the client learns the job finished (long-poll /wait)"));
  return 0;
}

long rss_kib(int pid) {
  std::ifstream statm(fmt::format("/proc/{}/statm", pid));
  long size = 0, resident = 0;
  statm >> size >> resident;
  return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

void raise_fd_limit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

// One SSE stream: bytes not yet parsed, and the events seen.
struct Watcher {
  int fd = -1;
  std::string pending;
  int events = 0;
  bool ended = false;
  std::int64_t last_stamp = 0;  // the newest progress line seen (the terminal event repeats it)
};

struct Line {
  int received = 0;
  std::int64_t last_ns = 0;
};

class Fanout {
 public:
  Fanout(unsigned short port, int streams) : port_(port), streams_(streams) {
    epoll_ = epoll_create1(EPOLL_CLOEXEC);
    if (epoll_ < 0) fail(fmt::format("epoll_create1: {}", std::strerror(errno)));
  }
  ~Fanout() {
    for (auto& w : watchers_) ::close(w.fd);
    ::close(epoll_);
  }

  // Opens the streams in batches (a listen backlog never overflows into SYN retries), each
  // batch complete once every stream has its first event.
  void open(const std::string& id) {
    const std::string req = fmt::format(
        "GET /v1/jobs/{}/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n",
        id);
    watchers_.resize(static_cast<std::size_t>(streams_));
    constexpr int kBatch = 500;
    for (int first = 0; first < streams_; first += kBatch) {
      const int last = std::min(streams_, first + kBatch);
      for (int i = first; i < last; ++i) {
        Watcher& w = watchers_[static_cast<std::size_t>(i)];
        w.fd = connect_to(port_);
        if (::send(w.fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size()))
          fail("send of the events request failed");
        ::fcntl(w.fd, F_SETFL, ::fcntl(w.fd, F_GETFL) | O_NONBLOCK);
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.u32 = static_cast<std::uint32_t>(i);
        if (epoll_ctl(epoll_, EPOLL_CTL_ADD, w.fd, &ev) != 0)
          fail(fmt::format("epoll_ctl: {}", std::strerror(errno)));
      }
      const auto deadline = Clock::now() + std::chrono::seconds(60);
      while (!all_have_events(first, last)) {
        if (Clock::now() > deadline) fail("streams did not get their first event in 60 s");
        pump(100);
      }
    }
  }

  // Reads until every stream ended or the deadline passed.
  void run_until_ended(std::chrono::seconds limit) {
    const auto deadline = Clock::now() + limit;
    while (ended_ < streams_ && Clock::now() < deadline) pump(100);
  }

  int ended() const { return ended_; }
  const std::map<std::int64_t, Line>& lines() const { return lines_; }

 private:
  bool all_have_events(int first, int last) const {
    for (int i = first; i < last; ++i)
      if (watchers_[static_cast<std::size_t>(i)].events == 0) return false;
    return true;
  }

  void pump(int timeout_ms) {
    epoll_event evs[256];
    const int n = epoll_wait(epoll_, evs, 256, timeout_ms);
    for (int k = 0; k < n; ++k) read_from(watchers_[evs[k].data.u32]);
  }

  void read_from(Watcher& w) {
    char chunk[8192];
    for (;;) {
      const auto n = ::recv(w.fd, chunk, sizeof chunk, 0);
      if (n > 0) {
        const auto at = now_ns();
        w.pending.append(chunk, static_cast<std::size_t>(n));
        parse(w, at);
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      if (!w.ended) ++ended_;  // closed by the server
      w.ended = true;
      epoll_ctl(epoll_, EPOLL_CTL_DEL, w.fd, nullptr);
      return;
    }
  }

  // Each SSE event ends with a blank line; the chunk framing between events is ignored.
  void parse(Watcher& w, std::int64_t at) {
    std::size_t end;
    while ((end = w.pending.find("\n\n")) != std::string::npos) {
      const std::string_view event(w.pending.data(), end);
      if (event.find("data: ") != std::string_view::npos) {
        ++w.events;
        const auto t = event.find("\"message\":\"t=");
        const std::int64_t stamp =
            t == std::string_view::npos ? 0 : std::strtoll(event.data() + t + 13, nullptr, 10);
        if (stamp != 0 && stamp != w.last_stamp) {
          w.last_stamp = stamp;
          Line& line = lines_[stamp];
          ++line.received;
          line.last_ns = std::max(line.last_ns, at);
        }
        const std::string state = string_field(event, "state");
        if (terminal(state) && !w.ended) {
          w.ended = true;
          ++ended_;
        }
      }
      w.pending.erase(0, end + 2);
    }
  }

  unsigned short port_;
  int streams_;
  int epoll_;
  int ended_ = 0;
  std::vector<Watcher> watchers_;
  std::map<std::int64_t, Line> lines_;  // by the line's stamp
};

int fanout(unsigned short port, int pid, const std::string& task, int streams, int lines,
           int interval_ms) {
  raise_fd_limit();
  const auto go = std::filesystem::temp_directory_path() /
                  fmt::format("wq-bench-fanout-go-{}-{}", ::getpid(), now_ns());
  std::string id;
  {
    Conn c(port);
    id = submit(c, task,
                fmt::format(R"({{"go":"{}","lines":{},"interval_ms":{}}})", go.string(), lines,
                            interval_ms));
  }
  Fanout f(port, streams);
  const long rss0 = rss_kib(pid);
  const auto t_open = now_ns();
  f.open(id);
  const double open_s = ms(now_ns() - t_open) / 1000.0;
  const long rss1 = rss_kib(pid);
  const double cpu0 = cpu_seconds_of(pid);
  { std::ofstream(go).put('\n'); }
  f.run_until_ended(std::chrono::seconds(30 + lines * interval_ms / 1000));
  const double cpu = cpu_seconds_of(pid) - cpu0;
  std::filesystem::remove(go);

  std::vector<double> to_last;
  int complete = 0;
  long deliveries = f.ended();  // each stream's terminal event
  std::string partial;          // lines some stream never saw (coalesced into a later one)
  int index = 0;
  for (const auto& [stamp, line] : f.lines()) {
    ++index;
    to_last.push_back(ms(line.last_ns - stamp));
    if (line.received == streams) ++complete;
    else partial += fmt::format(" line {} reached {}", index, line.received);
    deliveries += line.received;
  }
  const std::string name = task == "fanout" ? "FANOUT-fn" : "FANOUT";
  const std::string source =
      task == "fanout" ? "the function task's progress() call" : "a progress line written by the child";
  const auto note = [&](std::string_view what) {
    return fmt::format("{}; {} SSE streams on one job, {} lines {} ms apart, {} of them reached "
                       "every stream{}; {} of {} streams saw the end; streams opened in {:.1f} s; "
                       "server CPU {:.1f} us per event delivered to a stream",
                       what, streams, f.lines().size(), interval_ms, complete,
                       partial.empty() ? "" : fmt::format(" ({})", partial.substr(1)), f.ended(),
                       streams, open_s, cpu * 1e6 / static_cast<double>(std::max(1L, deliveries)));
  };
  result(name, percentile(to_last, 50), "ms_p50", std::nullopt,
         note(fmt::format("{} -> the last stream receiving it", source)));
  result(name, percentile(to_last, 99), "ms_p99", std::nullopt,
         note(fmt::format("{} -> the last stream receiving it", source)));
  if (task != "fanout") {
    result(name + "-mem", static_cast<double>(rss1 - rss0) / streams, "KiB/stream",
           std::nullopt,
           fmt::format("server resident memory added by {} open streams ({} KiB) / streams",
                       streams, rss1 - rss0));
  }
  return 0;
}

int child(const std::string& go, int lines, int interval_ms) {
  while (!std::filesystem::exists(go)) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  for (int i = 1; i <= lines; ++i) {
    std::printf("%.4f\tt=%lld\n", static_cast<double>(i) / (lines + 1),
                static_cast<long long>(now_ns()));
    std::fflush(stdout);
    std::this_thread::sleep_for(std::chrono::milliseconds(interval_ms));
  }
  return 0;
}

int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
    fail(fmt::format("no free port: {}", std::strerror(errno)));
  std::printf("%u\n", static_cast<unsigned>(ntohs(addr.sin_port)));
  ::close(fd);
  return 0;
}

int arg_int(int argc, char** argv, int i, int fallback) {
  return i < argc ? std::atoi(argv[i]) : fallback;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string_view mode = argc > 1 ? argv[1] : "";
  const auto port = static_cast<unsigned short>(arg_int(argc, argv, 2, 0));
  if (mode == "submit" && argc == 4) {
    Conn c(port);
    std::printf("%s\n", submit(c, argv[3], "{}").c_str());
    return 0;
  }
  if (mode == "get" && argc == 4) {
    Conn c(port);
    auto r = c.request("GET", argv[3]);
    if (r.status != 200) fail(fmt::format("GET {}: HTTP {}", argv[3], r.status));
    std::fwrite(r.body.data(), 1, r.body.size(), stdout);
    return 0;
  }
  if (mode == "gets" && argc == 5) {
    Conn c(port);
    for (int i = std::atoi(argv[4]); i > 0; --i) {
      auto r = c.request("GET", argv[3]);
      if (r.status != 200) fail(fmt::format("GET {}: HTTP {}", argv[3], r.status));
    }
    return 0;
  }
  if (mode == "free-port") return free_port();
  if (mode == "w1" && argc >= 4)
    return w1(port, std::atoi(argv[3]), arg_int(argc, argv, 4, 10000), arg_int(argc, argv, 5, 8),
              arg_int(argc, argv, 6, 5));
  if (mode == "w2" && argc >= 3) return w2(port, arg_int(argc, argv, 3, 300), arg_int(argc, argv, 4, 20));
  if (mode == "fanout" && argc == 8)
    return fanout(port, std::atoi(argv[3]), argv[4], std::atoi(argv[5]), std::atoi(argv[6]),
                  std::atoi(argv[7]));
  if (mode == "child" && argc == 5) return child(argv[2], std::atoi(argv[3]), std::atoi(argv[4]));
  std::fprintf(stderr,
               "usage: wq-bench-http submit PORT TASK | get PORT TARGET | gets PORT TARGET N | free-port | w1 PORT SERVER_PID [N] [CONNS] [ROUNDS] | "
               "w2 PORT [N] [WARM] | fanout PORT SERVER_PID TASK STREAMS LINES INTERVAL_MS | "
               "child GO LINES INTERVAL_MS\n");
  return 2;
}
