#!/usr/bin/env bash
# Builds the traced word count with its Makefile, runs it, and reads its trace back.
#
#   examples/c/run.sh [TEXT_FILE]
#
# Environment:
#   SPOOR_BUILD     build directory holding lib/pkgconfig/spoor.pc and bin/spoor
#                   (default: build/ at the repository root)
#   SPOOR_DIR       where the library writes its log; if unset, a temporary directory that is
#                   removed when this script ends
#   SPOOR_SAMPLING  e.g. off, every:3, key:0.5 (the program traces everything by default)
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
build="$(cd "${SPOOR_BUILD:-$here/../../build}" && pwd)"
spoor="$build/bin/spoor"
out="$build/examples"

export PKG_CONFIG_PATH="$build/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
echo "== build"
make --no-print-directory -B -C "$here" OUT="$out"

if [[ -z "${SPOOR_DIR:-}" ]]; then
    SPOOR_DIR="$(mktemp -d /tmp/spoor-wordcount.XXXXXX)"
    trap 'rm -rf "$SPOOR_DIR"' EXIT
fi
export SPOOR_DIR

echo "== run: $out/wordcount $*"
"$out/wordcount" "$@" | tee "$out/wordcount.out"

run_dir="$(sed -n 's/^spoor run directory: //p' "$out/wordcount.out")"
committed="$(sed -n 's/^reports: written [0-9]*, committed \([0-9]*\), dropped [0-9]*$/\1/p' "$out/wordcount.out")"
distinct="$(sed -n 's/^.* words, \([0-9]*\) distinct words$/\1/p' "$out/wordcount.out")"
if [[ -z "$run_dir" || ! -d "$run_dir" ]]; then
    echo "run.sh: the program printed no run directory" >&2
    exit 1
fi

echo "== spoor dump $run_dir"
"$spoor" dump "$run_dir" >"$out/wordcount.dump.jsonl"
head -n 5 "$out/wordcount.dump.jsonl"
echo "..."
echo "(the count of each word: a fold report whose parents are its (word, 1) records)"
grep -m 2 '"fold":true' "$out/wordcount.dump.jsonl" || true
echo "..."
reports="$(wc -l <"$out/wordcount.dump.jsonl")"
folds="$(grep -c '"fold":true' "$out/wordcount.dump.jsonl" || true)"
exits="$(grep -c '"event":"exit"' "$out/wordcount.dump.jsonl" || true)"
echo "$reports reports in the log ($folds word counts, $exits exit events); full dump: $out/wordcount.dump.jsonl"

echo "== spoor stats $run_dir"
"$spoor" stats "$run_dir"

# The log holds exactly what the library committed; with full tracing, every word has its count
# report and its exit event.
if [[ "$reports" != "$committed" ]]; then
    echo "run.sh: the log holds $reports reports, the program committed $committed" >&2
    exit 1
fi
if [[ -z "${SPOOR_SAMPLING:-}" && ( "$folds" != "$distinct" || "$exits" != "$distinct" ) ]]; then
    echo "run.sh: $distinct distinct words but $folds count reports and $exits exit events" >&2
    exit 1
fi
echo "== ok"
