#!/usr/bin/env bash
# Set-up command 2: installs the dependencies, builds, and runs every test:
#   1. the release build, all tests (ctest);
#   2. AddressSanitizer + UBSan build, all unit tests;
#   3. ThreadSanitizer build, the tests labelled "concurrency".
# Each build has its own directory. Exits non-zero if anything fails.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)
# The sanitizer builds need only the tests and the programs they run (wq-pg-cluster: the
# private PostgreSQL cluster behind store_conformance_tests).
test_targets=(core_tests store_tests store_conformance_tests run_tests queue_tests exec_tests
              wq-test-program wq-overview-program wq-pg-cluster)
scripts/install-deps.sh

echo "== release build"
scripts/build.sh build
echo "== release tests"
(cd build && ctest -j"$jobs" --no-tests=error --output-on-failure --timeout 300)

echo "== AddressSanitizer + UBSan build"
scripts/build.sh build-asan address "${test_targets[@]}"
echo "== AddressSanitizer + UBSan tests"
(cd build-asan && ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest -j"$jobs" -L unit --no-tests=error --output-on-failure --timeout 600)

echo "== ThreadSanitizer build"
scripts/build.sh build-tsan thread "${test_targets[@]}"
echo "== ThreadSanitizer tests"
(cd build-tsan && TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
  ctest -j"$jobs" -L concurrency --no-tests=error --output-on-failure --timeout 600)
