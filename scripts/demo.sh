#!/usr/bin/env bash
# Set-up command 1: installs the dependencies, builds, and runs the demo (an embedded queue
# running example command jobs, one submitted twice, with live progress bars).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh build "" wq-demo
rm -rf wq-demo-data
exec build/wq-demo wq-demo-data
