"""One lineage across Python and the JVM in one PySpark job.

The JVM samples the source rows and filters them (the JVM binding's SpoorDataset, through py4j),
a Python UDF scores each review in Spark's Python workers (the Python binding), and the JVM sums
the scores per product. Every process reports into one run; the example then follows one
product's total back through the Python worker to the review rows it came from.

    examples/jvm/run.sh cross-language        (spark-submit --jars spoor.jar this file)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any

import spoor
import spoor.spark
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.functions import col, sum as total_of
from pyspark.sql.types import LongType

GOOD = {"great", "good", "love", "fast"}
BAD = {"broken", "slow", "bad", "late"}


def score(text: str) -> int:
    """The Python UDF: a review's score, +1 per good word and -1 per bad one."""
    words = text.split()
    return sum(word in GOOD for word in words) - sum(word in BAD for word in words)


def main() -> None:
    spark = SparkSession.builder.appName("spoor-cross-language").getOrCreate()
    log_dir = os.path.abspath(spark.sparkContext.getConf().get("spark.spoor.dir", "spoor-traces"))
    sampling = float(spark.sparkContext.getConf().get("spark.spoor.sampling", "0.01"))
    words = sorted(GOOD | BAD) + ["the", "box", "arrived", "was"]
    reviews = [(f"r{i}", f"p{i % 4}", " ".join(words[(i * k) % len(words)] for k in range(1, 6))) for i in range(4000)]
    frame = spark.createDataFrame(reviews, ["review", "product", "text"])
    jvm = spark._jvm
    # The JVM: the source, sampled there, and a filter.
    traced = jvm.io.spoor.spark.SpoorDataset.traced(frame._jdf, "review", sampling, log_dir)
    traced = traced.filter(frame._jdf.col("text").isNotNull())
    # Python: the UDF, in the Python workers, on the lineage column.
    scored_udf = spoor.spark.lineage_udf(score, LongType(), log_dir=log_dir, sampling=sampling, name="py.score")
    scored = (DataFrame(traced.dataset(), spark)
              .withColumn("result", scored_udf(col(spoor.spark.LINEAGE), col("text")))
              .select("product", col("result.value").alias("score"), col(f"result.{spoor.spark.LINEAGE}").alias(spoor.spark.LINEAGE)))
    # The JVM again: the total per product, every traced row a parent of its group's report.
    continued = jvm.io.spoor.spark.SpoorDataset.continued(scored._jdf, sampling, log_dir)
    gateway = spark.sparkContext._gateway
    keys = gateway.new_array(jvm.org.apache.spark.sql.Column, 1)
    keys[0] = jvm.org.apache.spark.sql.functions.col("product")
    aggregates = gateway.new_array(jvm.org.apache.spark.sql.Column, 1)
    aggregates[0] = total_of("score").alias("total")._jc
    totals = DataFrame(continued.groupByAgg(keys, aggregates).dataset(), spark).orderBy("product").collect()
    for row in totals:
        print(f"{row['product']}: total score {row['total']:6d}   record {row[spoor.spark.LINEAGE] or 'untracked'}")
    jvm.io.spoor.Spoor.flush()  # the JVM's reports, in the log now (its Spoor runs on until the JVM exits)
    jvm_pid = int(jvm.java.lang.ProcessHandle.current().pid())
    spark.stop()
    # Spark stops its Python workers with the session; each drains its rings as it goes (or, if
    # killed, the next reader of the directory does). Wait for them, then read the log.
    deadline = time.monotonic() + 60
    for run in os.listdir(log_dir):
        parts = run.split("-")
        pid = int(parts[1]) if len(parts) >= 3 and parts[1].isdigit() else None
        while pid not in (None, os.getpid(), jvm_pid) and time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)

    traced_totals = [row for row in totals if row[spoor.spark.LINEAGE]]
    if not traced_totals:
        print("no product has a traced review at this sampling")
        return
    # Follow the first traced total back to its source rows, in the merged log of every process.
    cli = os.environ.get("SPOOR_CLI", "spoor")
    lines = subprocess.run([cli, "dump", log_dir], check=True, capture_output=True, text=True).stdout.splitlines()
    index: dict[int, dict[str, Any]] = {}
    for line in lines:
        report = json.loads(line)
        if report["kind"] != "poke":
            index[int(report["id"], 16)] = report
    start = spoor.from_context(traced_totals[0][spoor.spark.LINEAGE])
    frontier, seen, by_operator, pids = [start], set(), {}, set()
    while frontier:
        current = frontier.pop()
        if current in seen or current not in index:
            continue
        seen.add(current)
        report = index[current]
        by_operator[report["operator"]] = by_operator.get(report["operator"], 0) + 1
        pids.add(report["pid"])
        frontier.extend(int(parent, 16) for parent in report["parents"])
    print(f"the lineage of {traced_totals[0]['product']}'s total: {len(seen)} records in {len(pids)} processes, by operator:")
    for operator, count in sorted(by_operator.items()):
        print(f"  {operator:16s} {count}")


if __name__ == "__main__":
    sys.exit(main())
