#!/usr/bin/env bash
# Installs every Debian 12 package the build, the tests and the demo need. Idempotent: does
# nothing when all are present. Runs apt-get as root (directly, or through sudo).
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libsqlite3-dev libpq-dev libssl-dev libfmt-dev libcli11-dev libtomlplusplus-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libgoogle-perftools-dev   # tcmalloc, the allocator of wqd and the benchmarks
  sqlite3
  postgresql    # the PostgreSQL store's tests start a private cluster (no system service)
  chromium      # the dashboard's browser tests
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
else
  echo "install-deps: installing ${missing[*]}"
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null
fi

# dashboard: the browser test's playwright-core (tests/e2e, pinned by its package-lock.json).
# node and npm may come from elsewhere (a newer node bundles npm); Debian's only when absent.
if ! command -v npm >/dev/null || ! command -v node >/dev/null; then
  echo "install-deps: installing Debian's nodejs and npm"
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends nodejs npm </dev/null
fi
e2e="$(dirname "$0")/../tests/e2e"
if (cd "$e2e" && node -e '
    const want = require("./package-lock.json").packages["node_modules/playwright-core"].version;
    process.exit(require("./node_modules/playwright-core/package.json").version === want ? 0 : 1);
  ' 2>/dev/null); then
  echo "install-deps: tests/e2e node modules present"
else
  (cd "$e2e" && npm ci --no-audit --no-fund --loglevel=error)
fi
