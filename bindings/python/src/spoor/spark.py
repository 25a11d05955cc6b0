"""Trace a PySpark job's Python functions without changing them.

``spoor.spark.traced(rdd)`` samples the RDD's records at the source and returns a
:class:`TracedRDD` whose operations run the user's own functions, traced: each element is a
:class:`spoor.Traced` (its value and id) while inside, and the results are the untraced job's
values. The key-grouping operations report their outputs as folds whose parents are every
traced record that went into them (the papers' reduceByKey problem), and traced records are
poked at each shuffle boundary (``shuffle_write`` before, ``shuffle_read`` after).

Configuration travels with the job: :func:`traced` reads ``spark.spoor.dir``,
``spark.spoor.sampling`` (a probability) and ``spark.spoor.flushIntervalMs`` from the
SparkConf (then ``SPOOR_DIR``, then ``spoor-traces``), resolves the directory on the driver, and
captures it in the closures Spark ships to the Python workers. Each worker process initialises
Spoor once, on its first traced record, and writes a run of its own under that directory; every
partition ends with a flush, so a worker that Spark kills afterwards has lost nothing, and one
killed mid-partition is drained by the next ``spoor`` command over the directory. ``spoor dump
DIR`` reads the driver's and every worker's runs as one log.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Iterable, Iterator, Optional

from . import _spoor
from .traced import Traced

_SHUFFLE_WRITE = 1
_SHUFFLE_READ = 2
_EXIT = 10

__all__ = ["SpoorSettings", "TracedRDD", "traced"]


class SpoorSettings:
    """What a worker needs to trace: the log directory and the sampling, picklable."""

    __slots__ = ("log_dir", "probability", "flush_interval_ms")

    def __init__(self, log_dir: str, probability: float, flush_interval_ms: int = 0) -> None:
        self.log_dir = log_dir
        self.probability = probability
        self.flush_interval_ms = flush_interval_ms

    def __reduce__(self) -> tuple[Any, tuple[str, float, int]]:
        return (SpoorSettings, (self.log_dir, self.probability, self.flush_interval_ms))

    def key(self) -> tuple[str, float, int]:
        return (self.log_dir, self.probability, self.flush_interval_ms)

    def ensure(self) -> None:
        """Start Spoor in this process for these settings, once per Python worker. Spark reuses
        a worker for the tasks of later jobs: one that traces for other settings (another log
        directory) is shut down and started again; an instance the program started itself, not
        through this module, is left as it is."""
        global _started
        generation = _spoor.generation()
        if generation != 0:
            if _started is None or _started[1] != generation or _started[0] == self.key():
                return  # not ours, or ours with these settings
            _spoor.shutdown()
        import spoor

        spoor.init(self.log_dir, sampling=spoor.Sampling.with_probability(self.probability),
                   flush_interval_ms=self.flush_interval_ms)
        _started = (self.key(), _spoor.generation())


#: The settings this module started Spoor with in this process, and that instance's generation.
_started: Optional[tuple[tuple[str, float, int], int]] = None


class _Op:
    """An operator by name and call site, resolved to an id in each process (ids are per run)."""

    __slots__ = ("name", "site", "_id", "_generation")

    def __init__(self, name: str, site: str) -> None:
        self.name = name
        self.site = site
        self._id = 0
        self._generation = 0

    def __reduce__(self) -> tuple[Any, tuple[str, str]]:
        return (_Op, (self.name, self.site))

    @property
    def id(self) -> int:
        if self._generation != _spoor.generation() or self._id == 0:
            self._id = _spoor.register_operator(self.name[:252], self.site)
            self._generation = _spoor.generation()
        return self._id


def _site_of(function: Callable[..., Any]) -> str:
    code = getattr(function, "__code__", None)
    return f"{code.co_filename}:{code.co_firstlineno}" if code is not None else "spark"


def _name_of(function: Callable[..., Any], kind: str) -> str:
    return f"{kind}:{getattr(function, '__qualname__', None) or getattr(function, '__name__', None) or kind}"


def _key_hash(key: Any) -> int:
    """The key hash of a Spark key: str, bytes, int, float as spoor.key_hash; anything else by its
    repr (stable within Python, not across languages)."""
    try:
        return _spoor.key_hash(key)
    except (TypeError, OverflowError):
        return _spoor.key_hash(repr(key))


def _flushing(settings: SpoorSettings, records: Iterator[Any]) -> Iterator[Any]:
    """Yields `records`, then flushes this worker's reports (the partition is done)."""
    yield from records
    if _spoor.generation() != 0:
        _spoor.flush(10_000)


def _fold_id(ids: list[int], op: int, key: int, start: int) -> int:
    tracked = [i for i in ids if i]
    if not tracked:
        return 0
    if len(tracked) <= _spoor.MAX_PARENTS:
        return _spoor.fold_report(tracked, op, key, start, _spoor.now(), 0, None)
    fold = _spoor.Fold()
    fold.add_many(tracked)  # keeps the first MAX_PARENTS, counts the rest (the report is flagged)
    return fold.finish(op, key, start, _spoor.now(), 0, None)


class TracedRDD:
    """An RDD whose elements are :class:`spoor.Traced` records. Its operations take the user's
    plain functions and run them traced; :meth:`collect` returns the plain values."""

    def __init__(self, rdd: Any, settings: SpoorSettings) -> None:
        #: The underlying RDD of Traced records.
        self.rdd = rdd
        self.settings = settings

    def _derive(self, rdd: Any) -> TracedRDD:
        return TracedRDD(rdd, self.settings)

    def _per_record(self, step: Callable[[Any, int], Iterable[Any]], op: _Op) -> TracedRDD:
        settings = self.settings

        def partition(records: Iterator[Any]) -> Iterator[Any]:
            settings.ensure()
            op_id = op.id

            def run() -> Iterator[Any]:
                for record in records:
                    yield from step(record, op_id)

            return _flushing(settings, run())

        return self._derive(self.rdd.mapPartitions(partition, preservesPartitioning=False))

    # -- one record at a time ----------------------------------------------------------------

    def map(self, function: Callable[[Any], Any]) -> TracedRDD:
        """map(f): each output has its input as parent."""
        op = _Op(_name_of(function, "map"), _site_of(function))
        return self._per_record(lambda record, op_id: (record.map(function, op=op_id),), op)

    def flatMap(self, function: Callable[[Any], Iterable[Any]]) -> TracedRDD:
        """flatMap(f): one report for each input's outputs (consecutive ids); no output is a
        ``filtered`` event."""
        op = _Op(_name_of(function, "flatMap"), _site_of(function))
        return self._per_record(lambda record, op_id: record.flat_map(function, op=op_id), op)

    def filter(self, predicate: Callable[[Any], bool]) -> TracedRDD:
        """filter(p): kept records are reported as new records; removed ones get a ``filtered``
        event."""
        op = _Op(_name_of(predicate, "filter"), _site_of(predicate))

        def step(record: Traced[Any], op_id: int) -> Iterable[Any]:
            kept = record.filter(predicate, op=op_id)
            return () if kept is None else (kept,)

        return self._per_record(step, op)

    def mapValues(self, function: Callable[[Any], Any]) -> TracedRDD:
        """mapValues(f) over (key, value) records: the key is kept, f runs on the value."""
        op = _Op(_name_of(function, "mapValues"), _site_of(function))

        def apply(pair: tuple[Any, Any]) -> tuple[Any, Any]:
            return (pair[0], function(pair[1]))

        return self._per_record(lambda record, op_id: (record.map(apply, op=op_id),), op)

    # -- shuffles --------------------------------------------------------------------------

    def _keyed(self, kind: str) -> Any:
        """(key, (value, id)) pairs for a shuffle, poking each traced record with shuffle_write."""
        settings = self.settings
        op = _Op(f"{kind}:shuffle", kind)

        def partition(records: Iterator[Traced[Any]]) -> Iterator[Any]:
            settings.ensure()
            op_id = op.id

            def run() -> Iterator[Any]:
                for record in records:
                    key, value = record.value
                    if record.id:
                        _spoor.poke(record.id, op_id, _SHUFFLE_WRITE, 0)
                    yield (key, (value, record.id))

            return _flushing(settings, run())

        return self.rdd.mapPartitions(partition, preservesPartitioning=False)

    def _after_shuffle(self, rdd: Any, kind: str, site: str, finish: Callable[[Any, Any, int, int], Traced[Any]]) -> TracedRDD:
        """Turns each shuffled (key, payload) into a Traced through `finish(key, payload, op, start)`."""
        settings = self.settings
        op = _Op(kind, site)

        def partition(groups: Iterator[Any]) -> Iterator[Any]:
            settings.ensure()
            op_id = op.id

            def run() -> Iterator[Any]:
                for key, payload in groups:
                    yield finish(key, payload, op_id, _spoor.now())

            return _flushing(settings, run())

        return self._derive(rdd.mapPartitions(partition, preservesPartitioning=True))

    def reduceByKey(self, function: Callable[[Any, Any], Any], numPartitions: Optional[int] = None) -> TracedRDD:
        """reduceByKey(f): each key's aggregate is one fold report whose parents are every traced
        record reduced into it (map-side partial aggregates carry their ids through the shuffle)."""

        def create(item: tuple[Any, int]) -> tuple[Any, list[int]]:
            return (item[0], [item[1]] if item[1] else [])

        def merge(acc: tuple[Any, list[int]], item: tuple[Any, int]) -> tuple[Any, list[int]]:
            if item[1]:
                acc[1].append(item[1])
            return (function(acc[0], item[0]), acc[1])

        def combine(a: tuple[Any, list[int]], b: tuple[Any, list[int]]) -> tuple[Any, list[int]]:
            return (function(a[0], b[0]), a[1] + b[1])

        def finish(key: Any, payload: tuple[Any, list[int]], op_id: int, start: int) -> Traced[Any]:
            value, ids = payload
            for parent in ids:
                _spoor.poke(parent, op_id, _SHUFFLE_READ, start)
            return Traced((key, value), _fold_id(ids, op_id, _key_hash(key), start))

        shuffled = self._keyed("reduceByKey").combineByKey(create, merge, combine, numPartitions)
        return self._after_shuffle(shuffled, _name_of(function, "reduceByKey"), _site_of(function), finish)

    def groupByKey(self, numPartitions: Optional[int] = None) -> TracedRDD:
        """groupByKey(): each (key, [values]) is one fold report of every traced record grouped."""

        def finish(key: Any, items: Iterable[tuple[Any, int]], op_id: int, start: int) -> Traced[Any]:
            values: list[Any] = []
            ids: list[int] = []
            for value, parent in items:
                values.append(value)
                if parent:
                    ids.append(parent)
                    _spoor.poke(parent, op_id, _SHUFFLE_READ, start)
            return Traced((key, values), _fold_id(ids, op_id, _key_hash(key), start))

        shuffled = self._keyed("groupByKey").groupByKey(numPartitions)
        return self._after_shuffle(shuffled, "groupByKey", "groupByKey", finish)

    def join(self, other: TracedRDD, numPartitions: Optional[int] = None) -> TracedRDD:
        """join(other): each (key, (v, w)) output has both joined records as parents."""

        def finish(key: Any, pair: tuple[tuple[Any, int], tuple[Any, int]], op_id: int, start: int) -> Traced[Any]:
            (left, left_id), (right, right_id) = pair
            for parent in (left_id, right_id):
                if parent:
                    _spoor.poke(parent, op_id, _SHUFFLE_READ, start)
            output = (key, (left, right))
            if not left_id and not right_id:
                return Traced(output)
            return Traced(output, _spoor.checkpoint((left_id, right_id), op_id, _key_hash(key), start, _spoor.now(), 0, None))

        shuffled = self._keyed("join").join(other._keyed("join"), numPartitions)
        return self._after_shuffle(shuffled, "join", "join", finish)

    def cogroup(self, other: TracedRDD, numPartitions: Optional[int] = None) -> TracedRDD:
        """cogroup(other): each (key, ([v...], [w...])) is one fold report of every traced record
        on both sides."""

        def finish(key: Any, groups: tuple[Iterable[tuple[Any, int]], Iterable[tuple[Any, int]]], op_id: int,
                   start: int) -> Traced[Any]:
            sides: list[list[Any]] = [[], []]
            ids: list[int] = []
            for side, items in enumerate(groups):
                for value, parent in items:
                    sides[side].append(value)
                    if parent:
                        ids.append(parent)
                        _spoor.poke(parent, op_id, _SHUFFLE_READ, start)
            return Traced((key, (sides[0], sides[1])), _fold_id(ids, op_id, _key_hash(key), start))

        shuffled = self._keyed("cogroup").cogroup(other._keyed("cogroup"), numPartitions)
        return self._after_shuffle(shuffled, "cogroup", "cogroup", finish)

    def distinct(self, numPartitions: Optional[int] = None) -> TracedRDD:
        """distinct(): each distinct value is one fold report of every traced copy of it."""
        settings = self.settings

        def keyed(records: Iterator[Traced[Any]]) -> Iterator[Any]:
            settings.ensure()
            return ((record.value, [record.id] if record.id else []) for record in records)

        def finish(value: Any, ids: list[int], op_id: int, start: int) -> Traced[Any]:
            for parent in ids:
                _spoor.poke(parent, op_id, _SHUFFLE_READ, start)
            return Traced(value, _fold_id(ids, op_id, _key_hash(value), start))

        shuffled = self.rdd.mapPartitions(keyed).reduceByKey(lambda a, b: a + b, numPartitions)
        return self._after_shuffle(shuffled, "distinct", "distinct", finish)

    def union(self, other: TracedRDD) -> TracedRDD:
        """union(other): the records of both, unchanged (no report: nothing is derived)."""
        return self._derive(self.rdd.union(other.rdd))

    # -- actions -----------------------------------------------------------------------------

    def foreach(self, function: Callable[[Any], Any]) -> None:
        """foreach(f): a side effect where records leave the job (an ``exit`` event each)."""
        settings = self.settings
        op = _Op(_name_of(function, "foreach"), _site_of(function))

        def partition(records: Iterator[Traced[Any]]) -> None:
            settings.ensure()
            op_id = op.id
            for record in records:
                record.for_each(function, op=op_id)
            _spoor.flush(10_000)

        self.rdd.foreachPartition(partition)

    def collect_traced(self) -> list[Traced[Any]]:
        """The records with their ids (for lineage queries); each traced one gets an ``exit``
        event, reported by the driver."""
        records: list[Traced[Any]] = self.rdd.collect()
        self.settings.ensure()
        op = _Op("collect", "driver").id
        for record in records:
            if record.id:
                _spoor.poke(record.id, op, _EXIT, 0)
        return records

    def collect(self) -> list[Any]:
        """The values, exactly as the untraced job would collect them."""
        return [record.value for record in self.collect_traced()]

    def count(self) -> int:
        """The number of records."""
        return int(self.rdd.count())

    def getNumPartitions(self) -> int:
        """The number of partitions."""
        return int(self.rdd.getNumPartitions())


def traced(rdd: Any, sampling: Optional[float] = None, log_dir: Optional[str] = None, name: str = "source") -> TracedRDD:
    """Sample `rdd`'s records at the source and trace everything done to them.

    Args:
        rdd: any RDD.
        sampling: the probability that a source record is traced (default: ``spark.spoor.sampling``
            from the SparkConf, else 0.01).
        log_dir: where every process's run goes (default: ``spark.spoor.dir``, else ``SPOOR_DIR``,
            else ``spoor-traces``), resolved to an absolute path here on the driver.
        name: the source operator's name.
    """
    conf = rdd.context.getConf()
    directory = log_dir or conf.get("spark.spoor.dir", None) or os.environ.get("SPOOR_DIR") or "spoor-traces"
    probability = sampling if sampling is not None else float(conf.get("spark.spoor.sampling", "0.01"))
    flush = int(conf.get("spark.spoor.flushIntervalMs", "0"))
    settings = SpoorSettings(os.path.abspath(directory), probability, flush)
    settings.ensure()  # the driver traces too (collect's exit events)
    op = _Op(f"source:{name}", "spoor.spark.traced")

    def enter(records: Iterator[Any]) -> Iterator[Any]:
        settings.ensure()
        op_id = op.id
        entry = _spoor.entry
        key_hash = _spoor.key_hash

        def run() -> Iterator[Any]:
            for value in records:
                # Text and bytes records carry their key hash (key-hash sampling, finding them later).
                key = key_hash(value) if type(value) is str or type(value) is bytes else 0
                yield Traced(value, entry(op_id, key))

        return _flushing(settings, run())

    return TracedRDD(rdd.mapPartitions(enter, preservesPartitioning=True), settings)
