#!/usr/bin/env bash
# Drain throughput of the collector process (`spoor collect`) against the in-process collector
# thread, for 1, 2 and 4 rings, in one benchmark process: JSON lines
# {"bench":"drain_to_log_sink",...} (in-process) and {"bench":"collector_process_drain_to_log",...}.
# Usage: bench/collector/run.sh [--quick]
set -euo pipefail
cd "$(dirname "$0")/../.."
./scripts/build >/dev/null
mkdir -p build/bench
gcc -std=c11 -O2 -Wall -Wextra -Werror -Ibuild/include bench/bench.c \
  -Lbuild/lib -Wl,-rpath,"$(pwd)/build/lib" -lspoor -lpthread -o build/bench/bench
build/bench/bench --collector "$(pwd)/build/bin/spoor" "$@"
