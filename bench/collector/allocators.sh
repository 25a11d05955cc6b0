#!/usr/bin/env bash
# The collector's allocator: the spoor CLI as shipped (linked with jemalloc) against the same CLI
# linked with glibc malloc (SPOOR_NO_JEMALLOC=1, built into .build-glibc), in the same run with
# rounds interleaved:
#   1. the live reconstruction `spoor collect` runs, as `spoor replay` of every TraceBench folder
#      MULTIPLY times (default 100: 3.2 M events) against the NM model, on 0 and 2 workers;
#   2. the collector process draining 1, 2 and 4 rings into the log (bench/bench.c --collector).
# Prints JSON lines, each with "allocator": "jemalloc" or "glibc".
#
#   bench/collector/allocators.sh [MULTIPLY] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
multiply=${1:-100}
rounds=${2:-3}
./scripts/build >/dev/null
SPOOR_NO_JEMALLOC=1 swift build -c release --product spoor-cli --scratch-path .build-glibc >/dev/null
declare -A cli=([jemalloc]="$(pwd)/build/bin/spoor" [glibc]="$(pwd)/.build-glibc/release/spoor-cli")
ldd "${cli[jemalloc]}" | grep -q libjemalloc || { echo "build/bin/spoor is not linked with jemalloc" >&2; exit 1; }
if ldd "${cli[glibc]}" | grep -q libjemalloc; then echo "the glibc build links jemalloc" >&2; exit 1; fi
mkdir -p build/bench
gcc -std=c11 -O2 -Wall -Wextra -Werror -Ibuild/include bench/bench.c \
  -Lbuild/lib -Wl,-rpath,"$(pwd)/build/lib" -lspoor -lpthread -o build/bench/bench
model=$(mktemp)
trap 'rm -f "$model"' EXIT
normal=() all=()
for d in data/tracebench/NM_*; do normal+=(--tracebench "$d"); done
for d in data/tracebench/*_*; do all+=(--tracebench "$d"); done
"${cli[jemalloc]}" flows learn "${normal[@]}" -o "$model" >/dev/null
tag() { sed "s/^{/{\"allocator\":\"$1\",/"; }
for round in $(seq "$rounds"); do
    for allocator in jemalloc glibc; do
        for workers in 0 2; do
            "${cli[$allocator]}" replay "${all[@]}" --model "$model" --multiply "$multiply" --workers "$workers" | tag "$allocator"
        done
    done
done
for allocator in jemalloc glibc; do
    build/bench/bench --collector "${cli[$allocator]}" --quick | grep collector_process | tag "$allocator"
done
