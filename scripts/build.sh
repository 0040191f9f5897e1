#!/usr/bin/env bash
# Configures and builds one build directory.
#   scripts/build.sh [DIR] [SANITIZER] [TARGET...]   DIR defaults to build; SANITIZER is
#   "", "address" or "thread"; no TARGET builds everything.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build}
sanitize=${2:-}
shift $(( $# > 2 ? 2 : $# ))
case "$sanitize" in
  ""|address|thread) ;;
  *) echo "scripts/build.sh: the second argument is the sanitizer (\"\", address or thread), got '$sanitize'" >&2
     echo "  to build targets without a sanitizer: scripts/build.sh $dir \"\" $sanitize $*" >&2
     exit 2 ;;
esac
# Release unless WQ_BUILD_TYPE says otherwise (RelWithDebInfo for profiling). Sanitizer builds
# use -O1 -g1: line tables are enough for their reports, and full debug info of the Asio and
# GoogleTest templates costs minutes of CI time.
type=${WQ_BUILD_TYPE:-Release}
# -O2, not CMake's -O3: GCC 12 at -O3 reports false -Wstringop-overflow inside std::string.
flags=(-DCMAKE_CXX_FLAGS_RELEASE="-O2 -DNDEBUG")
if [ -n "$sanitize" ]; then
  type=Debug
  flags=(-DCMAKE_CXX_FLAGS_DEBUG="-O1 -g1")
fi
cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE="$type" -DWQ_SANITIZE="$sanitize" \
  -DWQ_WERROR=ON -Wno-dev "${flags[@]}" >/dev/null
ninja -C "$dir" "$@"
