#!/usr/bin/env bash
# Runs the traced Python word count (examples/python/wordcount.py) with the installed `spoor`
# package and checks that it walked the top word's count back to the lines it came from.
#   examples/python/run.sh [TEXT_FILE]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
export SPOOR_CLI="${SPOOR_CLI:-$here/../../build/bin/spoor}"
if [[ -z "${SPOOR_DIR:-}" ]]; then
    SPOOR_DIR="$(mktemp -d /tmp/spoor-py-wordcount.XXXXXX)"
    trap 'rm -rf "$SPOOR_DIR"' EXIT
fi
export SPOOR_DIR
out="$(python3 "$here/wordcount.py" "$@")"
echo "$out"
if ! grep -q "came from lines" <<<"$out"; then
    echo "run.sh: the word count printed no lineage" >&2
    exit 1
fi
