"""A word count traced with Spoor, in plain Python.

    read_line --> split --> to_pair --> count (a fold per word) --> emit
    (entry)       (udf)     (udf)       (spoor.fold)                (exit)

Each line enters as a ``spoor.Traced`` (its id is 0 unless the sampler picked it); the lifts
(``flat_map``) and the ``@spoor.udf`` function run the plain functions and report each step of a
traced record. Each word's count is a fold whose parents are every
(word, 1) record that went into it, so afterwards ``spoor dump`` can walk any count back to the
lines it came from: this script does that for the most frequent word, the way you would to find
the inputs behind a suspicious output.

Usage: python3 examples/python/wordcount.py [TEXT_FILE]   (SPOOR_DIR, SPOOR_SAMPLING apply)
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections import defaultdict
from typing import Any

import spoor

TEXT = """\
the quick brown fox jumps over the lazy dog
the dog barks and the fox runs
a lazy afternoon for the brown dog
"""


def split_words(line: str) -> list[str]:
    return line.split()


@spoor.udf
def to_pair(word: str) -> tuple[str, int]:
    return (word, 1)


def main() -> int:
    text = open(sys.argv[1]).read() if len(sys.argv) > 1 else TEXT
    log_dir = os.environ.get("SPOOR_DIR") or tempfile.mkdtemp(prefix="spoor-py-wordcount.")
    # Trace every line unless SPOOR_SAMPLING says otherwise (it overrides the keyword).
    with spoor.init(log_dir, sampling=spoor.Sampling.all()) as session:
        source = spoor.operator("read_line", "wordcount.py:main")
        count_op = spoor.operator("count_word", "wordcount.py:count")
        emit_op = spoor.operator("emit", "wordcount.py:emit")

        # word -> its count and the fold of the (word, 1) records behind it
        counts: dict[str, int] = defaultdict(int)
        folds: dict[str, spoor.FoldScope] = {}
        for number, line in enumerate(text.splitlines()):
            record = spoor.Traced.enter(line, source, key=f"line:{number}")
            for traced_word in record.flat_map(split_words):  # one report for all its words
                pair = to_pair(traced_word)  # a traced UDF call on a Traced record
                name, one = pair.value
                counts[name] += one
                fold = folds.get(name)
                if fold is None:
                    fold = folds[name] = spoor.fold(count_op, key_hash=spoor.key_hash(name)).__enter__()
                fold.add(pair.id)                         # 0 (untracked) costs a branch
        results: dict[str, int] = {}
        for word, fold in folds.items():
            fold.__exit__(None, None, None)
            results[word] = fold.id
            spoor.poke(fold.id, emit_op, spoor.Event.EXIT)
        top = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:5]
        print("top words:", ", ".join(f"{word} {n}" for word, n in top))
        stats = spoor.stats()
        run = session.run_dir
    print(f"reports: written {stats.written}, dropped {stats.dropped}")
    print(f"spoor run directory: {run}")

    # Reading a record's lineage: from the count of the most frequent word back to its lines.
    cli = os.environ.get("SPOOR_CLI") or shutil.which("spoor") or os.path.join(
        os.path.dirname(__file__), "..", "..", "build", "bin", "spoor")
    dump = subprocess.run([cli, "dump", run], check=True, capture_output=True, text=True).stdout
    # A report with fan-out m made the ids id .. id + m - 1 (a flat_map's outputs).
    reports: dict[int, dict[str, Any]] = {}
    for line in dump.splitlines():
        report = json.loads(line)
        if report["kind"] != "poke":
            first = int(report["id"], 16)
            for offset in range(report["fanout"]):
                reports[first + offset] = report
    word = top[0][0]
    if results.get(word):
        frontier = [results[word]]
        entries: set[int] = set()
        while frontier:
            report = reports.get(frontier.pop())
            if report is None:
                continue
            if report["kind"] == "entry":
                entries.add(int(report["key_hash"], 16))
            frontier.extend(int(parent, 16) for parent in report["parents"])
        names = {spoor.key_hash(f"line:{n}"): n for n in range(len(text.splitlines()))}
        print(f"the count of {word!r} ({counts[word]}) came from lines {sorted(names[h] for h in entries)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
