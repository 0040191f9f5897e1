#!/usr/bin/env bash
# bench/http.sh WORKLOAD...: the HTTP workloads of bench/run (issue 3, "Speed"), each against a
# freshly started wq-bench-http-server (wqd's server with no-op, stamp and fan-out tasks) on a
# free loopback port, data in a temp dir. Prints RESULT lines, and before each workload the
# load average as a "#" line: the machine is shared, so compare ratios from one run.
#   HTTP-GET  GET /v1/jobs/{id}, keep-alive, wrk -t2 -c64, beside a private nginx serving the
#             same bytes as a static file, in the same run (target >= 40,000 req/s)
#   HTTP-W1   10,000 no-op submits from 8 keep-alive connections, durable, each job finished;
#             five rounds against one server, the rate over all of them
#   HTTP-W2   one job at a time: POST sent -> task start (p50 target < 0.2 ms), -> done seen
#   FANOUT    10,000 SSE streams on one job: progress line -> last stream (p50/p99 over the
#             lines), server RSS per stream; FANOUT-fn the same from a function task
# Sizes: HTTP_GET_SECONDS (5), HTTP_W1_N (10000), HTTP_W1_ROUNDS (5), HTTP_W2_N (300),
# FANOUT_STREAMS (10000), FANOUT_LINES (10), FANOUT_INTERVAL_MS (1000). The build directory is
# $WQ_BUILD_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${WQ_BUILD_DIR:-build}
for bin in wq-bench-http-server wq-bench-http; do
  [ -x "$build/$bin" ] || { echo "bench/http.sh: $build/$bin is missing; build it with: scripts/build.sh $build \"\" $bin" >&2; exit 2; }
done
server_bin=$(realpath "$build/wq-bench-http-server")
client=$(realpath "$build/wq-bench-http")
get_seconds=${HTTP_GET_SECONDS:-5}
tmp=$(mktemp -d /tmp/wq-bench-http.XXXXXX)
pids=()

stop_pid() {  # TERM, bounded wait, then KILL; by PID only
  local pid=$1 i
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  local p
  for p in "${pids[@]}"; do stop_pid "$p"; done
  rm -rf "$tmp"
}
trap cleanup EXIT

load() { echo "# load average $(cut -d' ' -f1-3 /proc/loadavg) before $1"; }

# start_server NAME: starts a fresh server; sets SERVER_PID and PORT.
start_server() {
  local name=$1 i
  mkdir -p "$tmp/$name"
  "$server_bin" --listen 127.0.0.1:0 --data-dir "$tmp/$name/data" --child "$client" \
    >"$tmp/$name/stdout" 2>"$tmp/$name/server.log" &
  SERVER_PID=$!
  pids+=("$SERVER_PID")
  for ((i = 0; i < 300; i++)); do
    PORT=$(awk '/^listening/ {print $2}' "$tmp/$name/stdout" 2>/dev/null || true)
    [ -n "$PORT" ] && return 0
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.05
  done
  echo "bench/http.sh: the server did not start; its log:" >&2
  tail -20 "$tmp/$name/server.log" >&2
  exit 1
}

cpu_ticks() {  # utime+stime of a process and of its direct children (nginx workers)
  local total=0 p
  for p in "$@" $(cat /proc/"$1"/task/*/children 2>/dev/null); do
    [ -r "/proc/$p/stat" ] && total=$((total + $(sed 's/.*) //' "/proc/$p/stat" | awk '{print $12 + $13}')))
  done
  echo "$total"
}

# wrk_rate URL PID: requests/s over $get_seconds after a 1 s warm-up; sets RATE and CPU_US
# (the server's CPU microseconds per request). Fails on any non-2xx answer.
wrk_rate() {
  local url=$1 pid=$2 out c0 c1 n
  wrk -t2 -c64 -d1s "$url" >/dev/null
  c0=$(cpu_ticks "$pid")
  out=$(wrk -t2 -c64 -d"${get_seconds}s" "$url")
  c1=$(cpu_ticks "$pid")
  if grep -q "Non-2xx" <<<"$out"; then
    echo "bench/http.sh: $url answered errors: $out" >&2
    tail -3 "$tmp"/*/server.log "$tmp"/nginx/logs/*.log 2>/dev/null | cut -c1-300 >&2
    exit 1
  fi
  RATE=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' <<<"$out")
  n=$(awk '/requests in/ {print $1}' <<<"$out")
  CPU_US=$(awk -v t=$((c1 - c0)) -v hz="$(getconf CLK_TCK)" -v n="$n" 'BEGIN {printf "%.1f", t / hz * 1e6 / n}')
}

http_get() {
  scripts/install-bench-deps.sh
  load HTTP-GET
  start_server get
  local id body nport ngx
  id=$("$client" submit "$PORT" noop)
  sleep 0.2
  body="$tmp/get/job.json"
  "$client" get "$PORT" "/v1/jobs/$id" >"$body"
  wrk_rate "http://127.0.0.1:$PORT/v1/jobs/$id" "$SERVER_PID"
  local wq_rate=$RATE wq_cpu=$CPU_US
  stop_pid "$SERVER_PID"

  # nginx: its own prefix and config, the default worker count (one per core) and access log.
  ngx="$tmp/nginx"
  mkdir -p "$ngx/html/v1/jobs" "$ngx/logs"
  chmod -R a+rX "$tmp"  # nginx's workers drop to an unprivileged user when started as root
  cp "$body" "$ngx/html/v1/jobs/$id"
  nport=$("$client" free-port)
  cat >"$ngx/nginx.conf" <<EOF
worker_processes auto;
daemon off;
pid $ngx/nginx.pid;
error_log $ngx/logs/error.log;
events { worker_connections 1024; }
http {
  access_log $ngx/logs/access.log;
  default_type application/json;
  client_body_temp_path $ngx/body; proxy_temp_path $ngx/proxy; fastcgi_temp_path $ngx/fastcgi;
  uwsgi_temp_path $ngx/uwsgi; scgi_temp_path $ngx/scgi;
  server { listen 127.0.0.1:$nport; root $ngx/html; }
}
EOF
  /usr/sbin/nginx -p "$ngx" -c "$ngx/nginx.conf" -e "$ngx/logs/error.log" &
  local npid=$!
  pids+=("$npid")
  local i
  for ((i = 0; i < 100; i++)); do (exec 3<>"/dev/tcp/127.0.0.1/$nport") 2>/dev/null && break; sleep 0.05; done
  wrk_rate "http://127.0.0.1:$nport/v1/jobs/$id" "$npid"
  local ngx_rate=$RATE ngx_cpu=$CPU_US
  stop_pid "$npid"
  local bytes
  bytes=$(stat -c %s "$body")
  echo "RESULT workload=HTTP-GET value=$wq_rate unit=req/s limit=40000 ratio=$(awk -v a="$wq_rate" 'BEGIN {printf "%.3g", a / 40000}') note=\"GET /v1/jobs/{id} ($bytes-byte JSON), keep-alive, wrk -t2 -c64 ${get_seconds}s; server CPU $wq_cpu us/request; target >= 40000\""
  echo "RESULT workload=HTTP-GET-vs-nginx value=$wq_rate unit=req/s limit=$ngx_rate ratio=$(awk -v a="$wq_rate" -v b="$ngx_rate" 'BEGIN {printf "%.3g", a / b}') note=\"limit = nginx $(/usr/sbin/nginx -v 2>&1 | sed 's/.*\///') serving the same $bytes bytes as a static file, same wrk run parameters; nginx CPU $ngx_cpu us/request vs wqd $wq_cpu\""
}

http_w1() {
  load HTTP-W1
  start_server w1
  "$client" w1 "$PORT" "$SERVER_PID" "${HTTP_W1_N:-10000}" 8 "${HTTP_W1_ROUNDS:-5}"
  stop_pid "$SERVER_PID"
}

http_w2() {
  load HTTP-W2
  start_server w2
  "$client" w2 "$PORT" "${HTTP_W2_N:-300}" 20
  stop_pid "$SERVER_PID"
}

fanout() {
  local task=$1
  load "FANOUT ($task)"
  start_server "fanout-$task"
  "$client" fanout "$PORT" "$SERVER_PID" "$task" "${FANOUT_STREAMS:-10000}" "${FANOUT_LINES:-10}" \
    "${FANOUT_INTERVAL_MS:-1000}"
  stop_pid "$SERVER_PID"
}

for w in "$@"; do
  case "$w" in
    HTTP-GET) http_get ;;
    HTTP-W1) http_w1 ;;
    HTTP-W2) http_w2 ;;
    FANOUT) fanout fanout-child; fanout fanout ;;
    *) echo "bench/http.sh: unknown workload '$w' (HTTP-GET HTTP-W1 HTTP-W2 FANOUT)" >&2; exit 2 ;;
  esac
done
