"""The PySpark word count's wall time, untraced and traced at 0.01%, 1% and 100% sampling, in one
Spark session (local[2]), the variants interleaved round by round (the order rotates), one JSON
object per line: the median wall time of each variant and its ratio to the untraced median.

Usage: SPARK_LOCAL_IP=127.0.0.1 python3 bench/python/spark_wordcount.py [--quick]
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from operator import add
from typing import Any, Callable, Optional

os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")

import spoor  # noqa: E402
import spoor.spark  # noqa: E402
from pyspark.sql import SparkSession  # noqa: E402

QUICK = "--quick" in sys.argv
LINES = 20_000 if QUICK else 100_000
ROUNDS = 2 if QUICK else 5


def words(line: str) -> list[str]:
    return line.split()


def main() -> None:
    vocabulary = [f"word{i}" for i in range(1000)]
    lines = [" ".join(vocabulary[(i * 7 + j * 13) % 1000] for j in range(10)) + f" line{i}" for i in range(LINES)]
    spark = (SparkSession.builder.master("local[2]").appName("spoor-bench").config("spark.ui.enabled", "false")
             .getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    source = spark.sparkContext.parallelize(lines, 8).cache()
    source.count()
    root = tempfile.mkdtemp(prefix="spoor-spark-bench-")
    expected: Optional[list[Any]] = None

    def untraced() -> list[Any]:
        return sorted(source.flatMap(words).map(lambda w: (w, 1)).reduceByKey(add).collect())

    def traced(probability: float, directory: str) -> Callable[[], list[Any]]:
        def job() -> list[Any]:
            rdd = spoor.spark.traced(source, sampling=probability, log_dir=directory)
            return sorted(rdd.flatMap(words).map(lambda w: (w, 1)).reduceByKey(add).collect())
        return job

    variants: dict[str, Callable[[], list[Any]]] = {"untraced": untraced}
    for probability in (0.0001, 0.01, 1.0):
        variants[f"traced_{probability:g}"] = traced(probability, os.path.join(root, f"p{probability:g}"))
    times: dict[str, list[float]] = {name: [] for name in variants}
    for name, job in variants.items():  # warm-up: Python workers, JIT, the first init of each
        result = job()
        expected = expected or result
        assert result == expected, f"{name}: the traced job's results differ from the untraced job's"
    names = list(variants)
    for round_index in range(ROUNDS):
        order = names[round_index % len(names):] + names[:round_index % len(names)]
        for name in order:
            start = time.perf_counter()
            variants[name]()
            times[name].append(time.perf_counter() - start)
    base = statistics.median(times["untraced"])
    for name in names:
        median = statistics.median(times[name])
        print(json.dumps({"bench": f"pyspark_wordcount_{name}", "lang": "python", "unit": "s", "median": round(median, 3),
                          "min": round(min(times[name]), 3), "max": round(max(times[name]), 3),
                          "samples": len(times[name]), "lines": LINES, "ratio_to_untraced": round(median / base, 3),
                          "engine": "spark local[2]"}), flush=True)
    spark.stop()
    if spoor.generation():
        spoor.shutdown()
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
