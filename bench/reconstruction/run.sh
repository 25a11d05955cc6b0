#!/usr/bin/env bash
# Reconstruction benchmark: replays every TraceBench folder (data/tracebench) MULTIPLY times with
# fresh trace ids (default 100: 3.2 M events, 4.7 M items) flat out through the streaming
# reconstruction with anomaly detection against a model learnt from the NM_* folders, on the
# reading thread (workers 0) and on 1 and 2 worker threads, ROUNDS rounds interleaved (default 3).
# Then report-to-verdict latency: the same replay paced at RATE events/s (default 1,000,000) on
# 0, 1 and 2 workers with --latency (flag_latency p50/p99/max: from a trace's last item to its
# verdict). Prints one JSON line per run (spoor replay's fields: events_per_second, cpu_seconds,
# peak_rss_kib, flag_latency, ...).
#
#   bench/reconstruction/run.sh [MULTIPLY] [ROUNDS] [RATE]
set -euo pipefail
cd "$(dirname "$0")/../.."
multiply=${1:-100}
rounds=${2:-3}
rate=${3:-1000000}
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
for workers in 0 1 2; do
    "$spoor" replay "${all[@]}" --model "$model" --multiply "$multiply" --workers "$workers" --rate "$rate" --latency
done
