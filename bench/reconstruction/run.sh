#!/usr/bin/env bash
# Reconstruction benchmark: replays every TraceBench folder (data/tracebench) MULTIPLY times with
# fresh trace ids (default 100: 3.2 M events, 4.7 M items) flat out through the streaming
# reconstruction with anomaly detection against a model learnt from the NM_* folders, on the
# reading thread (workers 0) and on 1 and 2 worker threads, ROUNDS rounds interleaved (default 3).
# Prints one JSON line per run (spoor replay's fields: events_per_second, cpu_seconds,
# peak_rss_kib, ...).
#
#   bench/reconstruction/run.sh [MULTIPLY] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
multiply=${1:-100}
rounds=${2:-3}
swift build -c release --product spoor-cli >/dev/null
spoor=.build/release/spoor-cli
model=$(mktemp)
trap 'rm -f "$model"' EXIT
normal=() all=()
for d in data/tracebench/NM_*; do normal+=(--tracebench "$d"); done
for d in data/tracebench/*_*; do all+=(--tracebench "$d"); done
"$spoor" flows learn "${normal[@]}" -o "$model" >/dev/null
for round in $(seq "$rounds"); do
    for workers in 0 1 2; do
        "$spoor" replay "${all[@]}" --model "$model" --multiply "$multiply" --workers "$workers"
    done
done
