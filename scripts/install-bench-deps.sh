#!/usr/bin/env bash
# Installs what the HTTP benchmarks need beyond the build (bench/run HTTP-GET): wrk, the load
# generator, and nginx, the baseline it is compared with. Debian packages, for the benchmark
# only. Idempotent: does nothing when both are present. The benchmark runs its own nginx on a
# free loopback port with a private config, so the system service the package starts is
# stopped (and its init script disabled) right after installing.
set -euo pipefail

missing=()
for p in wrk nginx; do
  command -v "$p" >/dev/null 2>&1 || [ -x "/usr/sbin/$p" ] || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-bench-deps: wrk and nginx present" >&2
  exit 0
fi

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "install-bench-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# policy-rc.d exit 101 keeps the package's postinst from starting the service at all (where
# invoke-rc.d honours it); anything that still started is stopped below.
policy=/usr/sbin/policy-rc.d
made_policy=""
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
  $sudo chmod 755 "$policy"
  made_policy=1
fi
trap '[ -z "$made_policy" ] || $sudo rm -f "$policy"' EXIT
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null
if [ -x /etc/init.d/nginx ]; then
  $sudo /etc/init.d/nginx stop >/dev/null 2>&1 || true
fi
if [ -s /run/nginx.pid ]; then
  $sudo kill "$(cat /run/nginx.pid)" 2>/dev/null || true
fi
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  $sudo systemctl disable --now nginx >/dev/null 2>&1 || true
fi
echo "install-bench-deps: done" >&2
