"""One lineage across languages in one Spark job: JVM operators (the JVM binding's SpoorDataset,
through py4j) and a Python UDF (this binding, in Spark's Python workers) report into one log, the
record's context travelling in the lineage column."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

import spoor
import spoor.spark
from conftest import REPO, dump

pyspark = pytest.importorskip("pyspark")
JAR = REPO / "build" / "jvm" / "spoor.jar"


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    if not JAR.is_file():
        pytest.skip("build/jvm/spoor.jar is not built (bindings/jvm/build.sh)")
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    from pyspark.sql import SparkSession

    session = (SparkSession.builder.master("local[2]").appName("spoor-cross-language")
               .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "4")
               .config("spark.jars", str(JAR)).getOrCreate())
    yield session
    session.stop()


def wait_for_exit(pids: set[int], timeout: float = 60.0) -> None:
    """Waits until every process in `pids` has exited (Spark kills its Python workers when the
    session stops), failing after `timeout` seconds: the next sweep then drains whatever a dead
    worker left in shared memory, so the log is whole."""
    deadline = time.monotonic() + timeout
    for pid in pids:
        while True:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            assert time.monotonic() < deadline, f"Python worker {pid} still runs {timeout} s after the session stopped"
            time.sleep(0.05)


def test_one_lineage_through_the_jvm_and_a_python_udf(spark: Any, tmp_path: Path) -> None:
    from pyspark.sql import DataFrame
    from pyspark.sql.functions import col
    from pyspark.sql.types import LongType

    log_dir = tmp_path / "traces"
    rows = [(f"k{i}", f"group{i % 5}", "x" * (i % 13)) for i in range(200)]
    frame = spark.createDataFrame(rows, ["key", "group", "text"])
    jvm = spark._jvm
    # JVM: the source, sampled in the JVM, and a filter.
    traced = jvm.io.spoor.spark.SpoorDataset.traced(frame._jdf, "key", 1.0, str(log_dir))
    traced = traced.filter(frame._jdf.col("text").isNotNull())
    stage1 = DataFrame(traced.dataset(), spark)
    # Python: a UDF in the Python workers, on the lineage column.
    length = spoor.spark.lineage_udf(lambda text: len(text), LongType(), log_dir=str(log_dir), sampling=1.0, name="py.length")
    stage2 = (stage1.withColumn("result", length(col(spoor.spark.LINEAGE), col("text")))
              .select("key", "group", col("result.value").alias("length"), col(f"result.{spoor.spark.LINEAGE}").alias(spoor.spark.LINEAGE)))
    # JVM again: an aggregation per group, every row's context a parent.
    continued = jvm.io.spoor.spark.SpoorDataset.continued(stage2._jdf, 1.0, str(log_dir))
    gateway = spark.sparkContext._gateway
    keys = gateway.new_array(jvm.org.apache.spark.sql.Column, 1)
    keys[0] = jvm.org.apache.spark.sql.functions.col("group")
    aggregates = gateway.new_array(jvm.org.apache.spark.sql.Column, 1)
    aggregates[0] = jvm.org.apache.spark.sql.functions.sum("length").alias("total")
    result = DataFrame(continued.groupByAgg(keys, aggregates).dataset(), spark)
    totals = {row["group"]: (row["total"], row[spoor.spark.LINEAGE]) for row in result.collect()}
    expected: dict[str, int] = {}
    for _, group, text in rows:
        expected[group] = expected.get(group, 0) + len(text)
    assert {group: total for group, (total, _) in totals.items()} == expected, "the results are the untraced job's"
    jvm_pid = int(jvm.java.lang.ProcessHandle.current().pid())
    jvm.io.spoor.Spoor.flush()  # the JVM's reports, in the log now
    spark.stop()
    worker_pids = {int(p.name.split("-")[1]) for p in log_dir.iterdir() if p.is_dir() and p.name.count("-") >= 2}
    wait_for_exit(worker_pids - {os.getpid(), jvm_pid})

    reports = dump(log_dir)
    index: dict[int, dict[str, Any]] = {}
    for report in reports:
        if report["kind"] != "poke":
            index[int(report["id"], 16)] = report
    for group, (_, context) in totals.items():
        assert context is not None
        frontier, seen, entries, pids, operators = [spoor.from_context(context)], set(), set(), set(), set()
        while frontier:
            current = frontier.pop()
            if current in seen:
                continue
            seen.add(current)
            report = index[current]
            pids.add(report["pid"])
            operators.add(report["operator"])
            if report["kind"] == "entry":
                entries.add(int(report["key_hash"], 16))
            frontier.extend(int(parent, 16) for parent in report["parents"])
        keys_of_group = {spoor.key_hash(key) for key, g, _ in rows if g == group}
        assert entries == keys_of_group, f"{group}: the lineage reaches exactly the group's source rows"
        assert "py.length" in operators and "groupBy.agg" in operators and "dataset.source" in operators
        assert jvm_pid in pids and len(pids) >= 2, "one DAG spanning the JVM and a Python worker"
