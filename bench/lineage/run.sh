#!/usr/bin/env bash
# Lineage queries over a large log (bench/lineage/lineage.c): writes a log of REPORTS reports with
# libspoor (default 100,000,000; --quick: 1,000,000), builds its index with `spoor index`, and
# times `spoor lineage` backward and forward, each query a separate process. JSON lines.
# Needs about 170 bytes of disk per report (log and index; 17 GB at the default) in the log
# directory, SPOOR_BENCH_DIR (default: a directory under /var/tmp, removed at the end).
# Usage: bench/lineage/run.sh [--quick] [REPORTS]
set -euo pipefail
cd "$(dirname "$0")/../.."
reports=100000000
for argument in "$@"; do
  case "$argument" in
    --quick) reports=1000000 ;;
    *) reports="$argument" ;;
  esac
done
./scripts/build >/dev/null
mkdir -p build/bench
gcc -std=c11 -O2 -Wall -Wextra -Werror -Ibuild/include bench/lineage/lineage.c \
  -Lbuild/lib -Wl,-rpath,"$(pwd)/build/lib" -lspoor -lpthread -o build/bench/lineage
directory="${SPOOR_BENCH_DIR:-$(mktemp -d /var/tmp/spoor-lineage-bench.XXXXXX)}"
[ -n "${SPOOR_BENCH_DIR:-}" ] || trap 'rm -rf "$directory"' EXIT
build/bench/lineage "$(pwd)/build/bin/spoor" "$directory" "$reports"
