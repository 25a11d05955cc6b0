"""The traced word count on PySpark (local mode): the user's functions unchanged, traced by
``spoor.spark.traced``, and one count followed back to the input lines it came from.

Usage: SPARK_LOCAL_IP=127.0.0.1 python3 examples/python/spark_wordcount.py [TEXT_FILE]
       (SPOOR_DIR: where the log goes; the sampling is 10% of the lines)
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from operator import add
from typing import Any

os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")

import spoor  # noqa: E402
import spoor.spark  # noqa: E402
from pyspark.sql import SparkSession  # noqa: E402


def words(line: str) -> list[str]:
    return line.lower().split()


def main() -> int:
    log_dir = os.environ.get("SPOOR_DIR") or tempfile.mkdtemp(prefix="spoor-spark-wordcount.")
    if len(sys.argv) > 1:
        lines = open(sys.argv[1]).read().splitlines()
    else:
        lines = [f"line{i} the quick brown fox {i % 7} jumps over the lazy dog {i % 11}" for i in range(2000)]
    spark = SparkSession.builder.master("local[2]").appName("spoor-wordcount").config("spark.ui.enabled", "false").getOrCreate()
    try:
        source = spark.sparkContext.parallelize(lines, 4)
        # The untraced job, then the same job traced: the user's functions are the same.
        plain = source.flatMap(words).map(lambda word: (word, 1)).reduceByKey(add).collect()
        counts = (spoor.spark.traced(source, sampling=0.1, log_dir=log_dir)
                  .flatMap(words).map(lambda word: (word, 1)).reduceByKey(add).collect_traced())
    finally:
        spark.stop()
    assert sorted(record.value for record in counts) == sorted(plain), "the traced job's results are the untraced job's"
    top = sorted(counts, key=lambda record: -record.value[1])[:5]
    print("top words:", ", ".join(f"{r.value[0]} {r.value[1]}" for r in top))
    spoor.shutdown()
    print(f"spoor log: {log_dir}")

    cli = os.environ.get("SPOOR_CLI") or shutil.which("spoor") or os.path.join(
        os.path.dirname(__file__), "..", "..", "build", "bin", "spoor")
    index: dict[int, dict[str, Any]] = {}
    for line in subprocess.run([cli, "dump", log_dir], check=True, capture_output=True, text=True).stdout.splitlines():
        report = json.loads(line)
        if report["kind"] != "poke":
            first = int(report["id"], 16)
            for offset in range(report["fanout"]):
                index[first + offset] = report
    # The count of the word on line 0 with the fewest occurrences, walked back to its inputs.
    by_hash = {spoor.key_hash(line): number for number, line in enumerate(lines)}
    sampled = {by_hash[int(r["key_hash"], 16)] for r in index.values() if r["kind"] == "entry"}
    candidates = [r for r in counts if r.id and r.value[0] in words(lines[0]) and not r.value[0].startswith("line")]
    if candidates:
        record = min(candidates, key=lambda r: r.value[1])
        frontier, sources = [record.id], set()
        while frontier:
            report = index[frontier.pop()]
            if report["kind"] == "entry":
                sources.add(by_hash[int(report["key_hash"], 16)])
            frontier.extend(int(parent, 16) for parent in report["parents"])
        holding = {n for n in sampled if record.value[0] in words(lines[n])}
        assert sources == holding, "the lineage reaches exactly the sampled lines that hold the word"
        print(f"the count of {record.value[0]!r} ({record.value[1]}) came from {len(sources)} sampled lines, "
              f"every sampled line that holds it: {sorted(sources)[:8]} ...")
    return 0


if __name__ == "__main__":
    sys.exit(main())
