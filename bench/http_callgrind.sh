#!/usr/bin/env bash
# bench/http_callgrind.sh WORKLOAD [N]: instructions per request (GET), per job (W1) or per event
# and stream (FANOUT) spent by
# wq-bench-http-server, counted by valgrind's callgrind over all its threads in user space. The
# machine is shared, so wall-clock rates move with the load; instruction counts do not.
#   GET  N (default 2000) keep-alive `GET /v1/jobs/{id}` of a finished job on one connection
#   W1   the HTTP-W1 client with N (default 2000) no-op jobs over 8 connections; its 100 warm-up
#        jobs and its /metrics polls (every 50 ms here) are included; the figure divides by N + 100
#   FANOUT  N SSE streams on one function-task job getting 5 progress events and the terminal
#        one; opening and closing the streams included (no warm-up); divides by N * 6
# The counters are zeroed after a warm-up run of the same load and dumped after the measured
# one (callgrind_control), so start-up and warm-up are excluded. Prints one line:
#   CALLGRIND workload=GET instr=... per=... unit=instr/request profile=FILE
# and keeps the profile for callgrind_annotate (its path is printed). The build directory is
# $WQ_BUILD_DIR (RelWithDebInfo gives source lines: WQ_BUILD_TYPE=RelWithDebInfo scripts/build.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${WQ_BUILD_DIR:-build}
workload=${1:?usage: bench/http_callgrind.sh GET|W1 [N]}
n=${2:-2000}
server_bin=$(realpath "$build/wq-bench-http-server")
client=$(realpath "$build/wq-bench-http")
out=$(mktemp -d /tmp/wq-callgrind.XXXXXX)
valgrind --tool=callgrind --callgrind-out-file="$out/cg.out" "$server_bin" \
  --listen 127.0.0.1:0 --data-dir "$out/data" >"$out/stdout" 2>"$out/server.log" &
pid=$!
stop() {
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
trap stop EXIT
port=
for ((i = 0; i < 600; i++)); do
  port=$(awk '/^listening/ {print $2}' "$out/stdout" 2>/dev/null || true)
  [ -n "$port" ] && break
  kill -0 "$pid" 2>/dev/null || { cat "$out/server.log" >&2; exit 1; }
  sleep 0.1
done
[ -n "$port" ] || { echo "bench/http_callgrind.sh: the server did not start" >&2; exit 1; }

case "$workload" in
  GET)
    id=$("$client" submit "$port" noop)
    sleep 1
    run() { "$client" gets "$port" "/v1/jobs/$id" "$1"; }
    per=$n unit=instr/request ;;
  W1)
    run() { WQ_W1_POLL_US=50000 "$client" w1 "$port" "$pid" "$1" 8 1 >/dev/null; }
    per=$((n + 100)) unit=instr/job ;;
  FANOUT)
    # N streams on one function-task job, 5 progress lines 300 ms apart, opening included.
    run() { "$client" fanout "$port" "$pid" fanout "$1" 5 300 >/dev/null; }
    per=$((n * 6)) unit=instr/event-per-stream ;;
  *) echo "bench/http_callgrind.sh: unknown workload '$workload' (GET W1 FANOUT)" >&2; exit 2 ;;
esac
[ "$workload" = FANOUT ] || run 200
callgrind_control -z "$pid" >/dev/null
run "$n"
callgrind_control -d "$pid" >/dev/null
profile=$(ls -t "$out"/cg.out.* | head -1)
instr=$(awk '/^summary:/ {print $2}' "$profile")
echo "CALLGRIND workload=$workload instr=$instr per=$((instr / per)) unit=$unit profile=$profile"
