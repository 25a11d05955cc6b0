#!/usr/bin/env bash
# Builds and runs the traced streaming word count (Swift, SpoorDataflow), then shows its trace.
set -euo pipefail
cd "$(dirname "$0")/../.."
./scripts/build >/dev/null
# The example is a program of the Swift binding (bindings/swift): it links libspoor.so.
swift build --package-path bindings/swift -c release --product WordCount >/dev/null
logs=$(mktemp -d /tmp/spoor-swift-example-XXXXXX)
output=$(bindings/swift/.build/release/WordCount "$logs")
echo "$output"
run=$(echo "$output" | sed -n 's/^run directory: //p')
echo
echo "== spoor dump $run (first 5 reports; all of them in $logs/dump.jsonl)"
build/bin/spoor dump "$run" > "$logs/dump.jsonl"
head -n 5 "$logs/dump.jsonl"
echo
echo "== spoor stats $run"
build/bin/spoor stats "$run"
