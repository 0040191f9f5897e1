#!/usr/bin/env bash
# Set-up command 1: installs the dependencies, builds, and runs the demo: starts `wqd` with the
# example task `count` on a free loopback port, submits a job with `wq` (and the same job again,
# which returns the first one: dedup), follows its progress with `wq watch`, fetches its result,
# then stops wqd. Needs no terminal (plain output when stdout is not one); exits 0 when all
# went well. WQ_BUILD_DIR picks the build directory (default build).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${WQ_BUILD_DIR:-build}
scripts/install-deps.sh
scripts/build.sh "$dir" "" wqd wq wq-demo

work=$(mktemp -d "${TMPDIR:-/tmp}/wq-demo.XXXXXX")
wqd_pid=""
stop_wqd() {
  if [ -n "$wqd_pid" ]; then
    kill -TERM "$wqd_pid" 2>/dev/null || true
    wait "$wqd_pid" || true
    wqd_pid=""
  fi
}
trap 'stop_wqd; rm -rf "$work"' EXIT

# Port 0: the kernel picks a free port; wqd logs the address it got once it listens.
"$dir/wqd" --listen 127.0.0.1:0 --data-dir "$work/wq-data" 2>"$work/wqd.log" </dev/null &
wqd_pid=$!
address=""
for _ in $(seq 600); do
  address=$(sed -n 's/.*"msg":"listening","address":"\([^"]*\)".*/\1/p' "$work/wqd.log")
  [ -n "$address" ] && break
  if ! kill -0 "$wqd_pid" 2>/dev/null; then
    echo "demo: wqd did not start:" >&2
    cat "$work/wqd.log" >&2
    exit 1
  fi
  sleep 0.1
done
[ -n "$address" ] || { echo "demo: wqd did not listen within 60 s" >&2; exit 1; }
export WQ_SERVER="http://$address"
wq() { "$dir/wq" "$@" </dev/null; }

echo "== wqd listens on $WQ_SERVER; its tasks:"
wq tasks
echo
echo "== wq submit count n:=20 delay:=0.1"
id=$(wq submit count n:=20 delay:=0.1)
echo
echo "== the same submit again: the same job comes back, nothing new runs"
again=$(wq submit count n:=20 delay:=0.1)
if [ "$again" != "$id" ]; then
  echo "demo: the second submit made a new job ($again), expected $id" >&2
  exit 1
fi
echo
echo "== wq watch $id"
wq watch "$id"
echo
echo "== wq result $id"
wq result "$id"
echo
echo "== wq ls"
wq ls
echo
echo "== stopping wqd"
stop_wqd
echo "done. Try it yourself: $dir/wqd, then $dir/wq submit count n:=50 --wait"
