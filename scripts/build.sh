#!/usr/bin/env bash
# Configures and builds one build directory.
#   scripts/build.sh [DIR] [SANITIZER] [TARGET...]   DIR defaults to build; SANITIZER is
#   "", "address" or "thread"; no TARGET builds everything.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build}
sanitize=${2:-}
shift $(( $# > 2 ? 2 : $# ))
type=RelWithDebInfo
[ -n "$sanitize" ] && type=Debug
cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE="$type" -DWQ_SANITIZE="$sanitize" \
  -DWQ_WERROR=ON -Wno-dev >/dev/null
ninja -C "$dir" "$@"
