"""spoor.spark on real Spark (local mode): a word count and a join, traced with sampling, give the
untraced job's results, and a sampled output's backward lineage reaches exactly its inputs."""

from __future__ import annotations

import os
import random
from operator import add
from pathlib import Path
from typing import Any, Iterator

import pytest

import spoor
import spoor.spark
from conftest import dump

pyspark = pytest.importorskip("pyspark")


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    from pyspark.sql import SparkSession

    session = (SparkSession.builder.master("local[2]").appName("spoor-test")
               .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "4").getOrCreate())
    yield session
    session.stop()


def lineage_index(log_dir: Path) -> dict[int, dict[str, Any]]:
    """Every non-poke report of the merged log, by each id it made (fan-out included)."""
    index: dict[int, dict[str, Any]] = {}
    for report in dump(log_dir):
        if report["kind"] == "poke":
            continue
        first = int(report["id"], 16)
        for offset in range(report["fanout"]):
            index[first + offset] = report
    return index


def backward_entries(index: dict[int, dict[str, Any]], record: int) -> set[int]:
    """The key hashes of the entry reports a record's backward lineage reaches."""
    seen: set[int] = set()
    found: set[int] = set()
    frontier = [record]
    while frontier:
        current = frontier.pop()
        if current in seen:
            continue
        seen.add(current)
        report = index.get(current)
        assert report is not None, f"record {current:016x} has no report: a broken lineage"
        if report["kind"] == "entry":
            found.add(int(report["key_hash"], 16))
        frontier.extend(int(parent, 16) for parent in report["parents"])
    return found


def test_word_count(spark: Any, tmp_path: Path) -> None:
    generator = random.Random(7)
    vocabulary = [f"w{i}" for i in range(40)]
    lines = [" ".join(generator.choice(vocabulary) for _ in range(generator.randint(1, 12))) + f" line{n}"
             for n in range(600)]
    context = spark.sparkContext
    source = context.parallelize(lines, 4)
    untraced = sorted(source.flatMap(str.split).map(lambda word: (word, 1)).reduceByKey(add).collect())

    log_dir = tmp_path / "traces"
    counts = (spoor.spark.traced(source, sampling=0.3, log_dir=str(log_dir))
              .flatMap(str.split).map(lambda word: (word, 1)).reduceByKey(add))
    records = counts.collect_traced()
    assert sorted(record.value for record in records) == untraced, "the traced job's results are the untraced job's"
    spoor.shutdown()  # the driver's run; the workers flushed at the end of every partition

    index = lineage_index(log_dir)
    hashes = {spoor.key_hash(line): line for line in lines}
    sampled = {int(r["key_hash"], 16) for r in index.values() if r["kind"] == "entry"}
    assert 0.15 * len(lines) < len(sampled) < 0.45 * len(lines), "about 30% of the lines were sampled"
    checked = 0
    for record in records:
        word, _ = record.value
        if not record.id or not word.startswith("w"):
            continue
        reached = {hashes[h] for h in backward_entries(index, record.id)}
        expected = {hashes[h] for h in sampled if word in hashes[h].split()}
        assert reached == expected, f"the count of {word} came from exactly the sampled lines holding it"
        checked += 1
    assert checked >= 30
    pids = {r["pid"] for r in dump(log_dir)}
    assert len(pids) >= 2, "the driver's and the workers' runs are one log"
    fold = next(r for r in index.values() if r["fold"])
    assert fold["operator"].startswith("reduceByKey:")


def test_join_with_sampling_and_the_other_operations(spark: Any, tmp_path: Path) -> None:
    context = spark.sparkContext
    user_lines = [f"{i},user{i}" for i in range(60)]
    order_lines = [f"{i % 60},order{i}" for i in range(300)]
    users = context.parallelize(user_lines, 3)
    orders = context.parallelize(order_lines, 3)

    def parse(line: str) -> tuple[int, str]:
        key, value = line.split(",")
        return (int(key), value)

    untraced_join = sorted(users.map(parse).join(orders.map(parse)).collect())
    # The join alone in a log of its own (every action samples its sources afresh).
    join_dir = tmp_path / "join"
    joined = (spoor.spark.traced(users, sampling=0.5, log_dir=str(join_dir), name="users").map(parse)
              .join(spoor.spark.traced(orders, sampling=0.5, log_dir=str(join_dir), name="orders").map(parse))
              .collect_traced())
    assert sorted(record.value for record in joined) == untraced_join
    spoor.shutdown()  # the driver's run; the workers flushed at the end of every partition
    index = lineage_index(join_dir)

    log_dir = tmp_path / "traces"
    traced_users = spoor.spark.traced(users, sampling=0.5, log_dir=str(log_dir), name="users").map(parse)
    traced_orders = spoor.spark.traced(orders, sampling=0.5, log_dir=str(log_dir), name="orders").map(parse)

    pairs_u, pairs_o = users.map(parse), orders.map(parse)
    grouped = sorted((k, sorted(v)) for k, v in traced_orders.groupByKey().collect())
    assert grouped == sorted((k, sorted(v)) for k, v in pairs_o.groupByKey().collect())
    cogrouped = sorted((k, (sorted(a), sorted(b))) for k, (a, b) in traced_users.cogroup(traced_orders).collect())
    assert cogrouped == sorted((k, (sorted(a), sorted(b))) for k, (a, b) in pairs_u.cogroup(pairs_o).collect())
    assert sorted(traced_orders.mapValues(len).collect()) == sorted(pairs_o.mapValues(len).collect())
    assert sorted(traced_orders.filter(lambda kv: kv[0] < 5).collect()) == sorted(pairs_o.filter(lambda kv: kv[0] < 5).collect())
    keys = traced_orders.map(lambda kv: kv[0])
    assert sorted(keys.distinct().collect()) == sorted(pairs_o.map(lambda kv: kv[0]).distinct().collect())
    assert sorted(keys.union(keys).collect()) == sorted(pairs_o.map(lambda kv: kv[0]).collect() * 2)
    assert traced_users.count() == 60
    traced_users.foreach(lambda kv: None)
    spoor.shutdown()

    # A joined output's backward lineage reaches exactly the sampled ones of its two input lines.
    sampled = {int(r["key_hash"], 16) for r in index.values() if r["kind"] == "entry"}
    assert 0.3 * 360 < len(sampled) < 0.7 * 360, "about half the lines were sampled"
    traced_outputs = [record for record in joined if record.id]
    assert len(traced_outputs) > 50
    for record in traced_outputs:
        key, (user, order) = record.value
        inputs = {spoor.key_hash(f"{key},{user}"), spoor.key_hash(f"{key},{order}")}
        assert backward_entries(index, record.id) == inputs & sampled
        assert index[record.id]["operator"] == "join"
    untraced_outputs = [record for record in joined if not record.id]
    for record in untraced_outputs:
        key, (user, order) = record.value
        assert not ({spoor.key_hash(f"{key},{user}"), spoor.key_hash(f"{key},{order}")} & sampled), \
            "an output is untracked only when neither input was sampled"
    events = [r["event"] for r in dump(log_dir) if r["kind"] == "poke"]
    assert "shuffle_write" in events and "shuffle_read" in events and "exit" in events and "filtered" in events
