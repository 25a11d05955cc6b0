"""Trace a PySpark job's Python functions without changing them.

``spoor.spark.traced(rdd)`` samples the RDD's records at the source and returns a
:class:`TracedRDD` whose operations run the user's own functions, traced: a sampled record is a
:class:`spoor.Traced` (its value and id) while inside, an untracked one stays its plain value
(it costs a type test per operation), and the results are the untraced job's values. The key-grouping operations report their outputs as folds whose parents are every
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
from .partitioner import Partitioner
from .traced import Traced

_SHUFFLE_WRITE = 1
_SHUFFLE_READ = 2
_EXIT = 10

__all__ = ["LINEAGE", "SpoorSettings", "TracedRDD", "lineage_udf", "partition_by", "traced"]


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


_flushed_at = -1


def _partition_done() -> None:
    """A partition's records are all through: flush this worker's reports, so that a worker Spark
    kills later has lost nothing (skipped when nothing was written since the last flush, as for
    the other operations of a stage, which end together)."""
    global _flushed_at
    if _spoor.generation() == 0:
        return
    written = _spoor.stats()[0]
    if written != _flushed_at:
        _spoor.flush(10_000)
        _flushed_at = written


def _flushing(settings: SpoorSettings, records: Iterator[Any]) -> Iterator[Any]:
    """Yields `records`, then calls _partition_done."""
    yield from records
    _partition_done()


def _fold_id(ids: list[int], op: int, key: int, start: int) -> int:
    if not ids:
        return 0
    if len(ids) <= _spoor.MAX_PARENTS:
        return _spoor.fold_report(ids, op, key, start, _spoor.now(), 0, None)
    fold = _spoor.Fold()
    fold.add_many(ids)  # keeps the first MAX_PARENTS, counts the rest (the report is flagged)
    return fold.finish(op, key, start, _spoor.now(), 0, None)


class _Partial:
    """A map-side partial aggregate that traced records went into: its value and their ids
    (an aggregate of untracked records only stays the plain value)."""

    __slots__ = ("value", "ids")

    def __init__(self, value: Any, ids: list[int]) -> None:
        self.value = value
        self.ids = ids

    def __reduce__(self) -> tuple[Any, tuple[Any, list[int]]]:
        return (_Partial, (self.value, self.ids))


def _plain(record: Any) -> Any:
    return record.value if type(record) is Traced else record


def _unwrap(record: Traced[Any]) -> Any:
    """A lift's output: kept as a Traced while it has an id, else its plain value."""
    return record if record.id else record.value


class TracedRDD:
    """An RDD of the job's records in which the traced ones are :class:`spoor.Traced` (value and
    id) and the untracked ones stay plain values, so that an untracked record costs a type test
    per operation and nothing else (the job's own values are taken never to be Traced objects).
    Its operations take the user's plain functions and run them traced; :meth:`collect` returns
    the plain values."""

    def __init__(self, rdd: Any, settings: SpoorSettings) -> None:
        #: The underlying RDD (traced records as Traced, untracked ones plain).
        self.rdd = rdd
        self.settings = settings

    def _derive(self, rdd: Any) -> TracedRDD:
        return TracedRDD(rdd, self.settings)

    def _per_partition(self, make: Callable[[int, Iterator[Any]], Iterator[Any]], op: _Op,
                       preserves: bool = False) -> TracedRDD:
        settings = self.settings

        def partition(records: Iterator[Any]) -> Iterator[Any]:
            settings.ensure()
            return make(op.id, records)  # (each `make` calls _partition_done when it ends)

        return self._derive(self.rdd.mapPartitions(partition, preservesPartitioning=preserves))

    # -- one record at a time ----------------------------------------------------------------

    def map(self, function: Callable[[Any], Any]) -> TracedRDD:
        """map(f): each traced output has its input as parent."""
        op = _Op(_name_of(function, "map"), _site_of(function))

        def make(op_id: int, records: Iterator[Any]) -> Iterator[Any]:
            for record in records:
                if type(record) is Traced:
                    yield _unwrap(record.map(function, op=op_id))
                else:
                    yield function(record)
            _partition_done()

        return self._per_partition(make, op)

    def flatMap(self, function: Callable[[Any], Iterable[Any]]) -> TracedRDD:
        """flatMap(f): one report for each traced input's outputs (consecutive ids); no output
        is a ``filtered`` event."""
        op = _Op(_name_of(function, "flatMap"), _site_of(function))

        def make(op_id: int, records: Iterator[Any]) -> Iterator[Any]:
            for record in records:
                if type(record) is Traced:
                    for output in record.flat_map(function, op=op_id):
                        yield _unwrap(output)
                else:
                    yield from function(record)
            _partition_done()

        return self._per_partition(make, op)

    def filter(self, predicate: Callable[[Any], bool]) -> TracedRDD:
        """filter(p): kept traced records are reported as new records; removed ones get a
        ``filtered`` event."""
        op = _Op(_name_of(predicate, "filter"), _site_of(predicate))

        def make(op_id: int, records: Iterator[Any]) -> Iterator[Any]:
            for record in records:
                if type(record) is Traced:
                    kept = record.filter(predicate, op=op_id)
                    if kept is not None:
                        yield _unwrap(kept)
                elif predicate(record):
                    yield record
            _partition_done()

        return self._per_partition(make, op, preserves=True)

    def mapValues(self, function: Callable[[Any], Any]) -> TracedRDD:
        """mapValues(f) over (key, value) records: the key is kept, f runs on the value."""
        op = _Op(_name_of(function, "mapValues"), _site_of(function))

        def apply(pair: tuple[Any, Any]) -> tuple[Any, Any]:
            return (pair[0], function(pair[1]))

        def make(op_id: int, records: Iterator[Any]) -> Iterator[Any]:
            for record in records:
                if type(record) is Traced:
                    yield _unwrap(record.map(apply, op=op_id))
                else:
                    yield (record[0], function(record[1]))
            _partition_done()

        return self._per_partition(make, op, preserves=True)

    # -- shuffles --------------------------------------------------------------------------

    def _keyed(self, kind: str) -> Any:
        """(key, value) pairs for a shuffle: a traced record becomes (key, Traced(value, id)) and
        is poked with shuffle_write; an untracked one passes as it is."""
        settings = self.settings
        op = _Op(f"{kind}:shuffle", kind)

        def partition(records: Iterator[Any]) -> Iterator[Any]:
            settings.ensure()
            op_id = op.id

            def run() -> Iterator[Any]:
                for record in records:
                    if type(record) is Traced:
                        key, value = record.value
                        _spoor.poke(record.id, op_id, _SHUFFLE_WRITE, 0)
                        yield (key, Traced(value, record.id))
                    else:
                        yield record

            return _flushing(settings, run())

        return self.rdd.mapPartitions(partition, preservesPartitioning=False)

    def _after_shuffle(self, rdd: Any, kind: str, site: str, finish: Callable[[Any, Any, int, int], Any]) -> TracedRDD:
        """Turns each shuffled (key, payload) into a record through `finish(key, payload, op, start)`."""
        op = _Op(kind, site)

        def make(op_id: int, groups: Iterator[Any]) -> Iterator[Any]:
            now = _spoor.now
            for key, payload in groups:
                yield finish(key, payload, op_id, now())

        settings = self.settings

        def partition(groups: Iterator[Any]) -> Iterator[Any]:
            settings.ensure()
            return _flushing(settings, make(op.id, groups))

        return self._derive(rdd.mapPartitions(partition, preservesPartitioning=True))

    def reduceByKey(self, function: Callable[[Any, Any], Any], numPartitions: Optional[int] = None) -> TracedRDD:
        """reduceByKey(f): each aggregate of traced records is one fold report whose parents are
        every traced record reduced into it (map-side partial aggregates carry their ids through
        the shuffle); aggregates of untracked records only are reduced exactly as untraced."""

        def create(item: Any) -> Any:
            return _Partial(item.value, [item.id]) if type(item) is Traced else item

        def merge(acc: Any, item: Any) -> Any:
            if type(item) is Traced:
                if type(acc) is _Partial:
                    acc.value = function(acc.value, item.value)
                    acc.ids.append(item.id)
                    return acc
                return _Partial(function(acc, item.value), [item.id])
            if type(acc) is _Partial:
                acc.value = function(acc.value, item)
                return acc
            return function(acc, item)

        def combine(a: Any, b: Any) -> Any:
            if type(a) is _Partial:
                if type(b) is _Partial:
                    a.value = function(a.value, b.value)
                    a.ids.extend(b.ids)
                else:
                    a.value = function(a.value, b)
                return a
            if type(b) is _Partial:
                return _Partial(function(a, b.value), b.ids)
            return function(a, b)

        def finish(key: Any, payload: Any, op_id: int, start: int) -> Any:
            if type(payload) is not _Partial:
                return (key, payload)
            for parent in payload.ids:
                _spoor.poke(parent, op_id, _SHUFFLE_READ, start)
            return _unwrap(Traced((key, payload.value), _fold_id(payload.ids, op_id, _key_hash(key), start)))

        shuffled = self._keyed("reduceByKey").combineByKey(create, merge, combine, numPartitions)
        return self._after_shuffle(shuffled, _name_of(function, "reduceByKey"), _site_of(function), finish)

    @staticmethod
    def _gather(items: Iterable[Any], op_id: int, start: int, values: list[Any], ids: list[int]) -> None:
        for item in items:
            if type(item) is Traced:
                values.append(item.value)
                ids.append(item.id)
                _spoor.poke(item.id, op_id, _SHUFFLE_READ, start)
            else:
                values.append(item)

    def groupByKey(self, numPartitions: Optional[int] = None) -> TracedRDD:
        """groupByKey(): each (key, [values]) with traced members is one fold report of them."""

        def finish(key: Any, items: Iterable[Any], op_id: int, start: int) -> Any:
            values: list[Any] = []
            ids: list[int] = []
            TracedRDD._gather(items, op_id, start, values, ids)
            if not ids:
                return (key, values)
            return _unwrap(Traced((key, values), _fold_id(ids, op_id, _key_hash(key), start)))

        shuffled = self._keyed("groupByKey").groupByKey(numPartitions)
        return self._after_shuffle(shuffled, "groupByKey", "groupByKey", finish)

    def join(self, other: TracedRDD, numPartitions: Optional[int] = None) -> TracedRDD:
        """join(other): each (key, (v, w)) output of traced records has them as parents."""

        def finish(key: Any, pair: tuple[Any, Any], op_id: int, start: int) -> Any:
            left, right = pair
            parents = []
            for side in pair:
                if type(side) is Traced:
                    parents.append(side.id)
                    _spoor.poke(side.id, op_id, _SHUFFLE_READ, start)
            output = (key, (_plain(left), _plain(right)))
            if not parents:
                return output
            return _unwrap(Traced(output, _spoor.checkpoint(parents, op_id, _key_hash(key), start, _spoor.now(), 0, None)))

        shuffled = self._keyed("join").join(other._keyed("join"), numPartitions)
        return self._after_shuffle(shuffled, "join", "join", finish)

    def cogroup(self, other: TracedRDD, numPartitions: Optional[int] = None) -> TracedRDD:
        """cogroup(other): each (key, ([v...], [w...])) with traced members is one fold report of
        them, on both sides."""

        def finish(key: Any, groups: tuple[Iterable[Any], Iterable[Any]], op_id: int, start: int) -> Any:
            left: list[Any] = []
            right: list[Any] = []
            ids: list[int] = []
            TracedRDD._gather(groups[0], op_id, start, left, ids)
            TracedRDD._gather(groups[1], op_id, start, right, ids)
            if not ids:
                return (key, (left, right))
            return _unwrap(Traced((key, (left, right)), _fold_id(ids, op_id, _key_hash(key), start)))

        shuffled = self._keyed("cogroup").cogroup(other._keyed("cogroup"), numPartitions)
        return self._after_shuffle(shuffled, "cogroup", "cogroup", finish)

    def distinct(self, numPartitions: Optional[int] = None) -> TracedRDD:
        """distinct(): each distinct value with traced copies is one fold report of them."""
        settings = self.settings

        def keyed(records: Iterator[Any]) -> Iterator[Any]:
            settings.ensure()
            for record in records:
                if type(record) is Traced:
                    yield (record.value, [record.id])
                else:
                    yield (record, None)

        def merge(a: Optional[list[int]], b: Optional[list[int]]) -> Optional[list[int]]:
            if a is None:
                return b
            if b is not None:
                a.extend(b)
            return a

        def finish(value: Any, ids: Optional[list[int]], op_id: int, start: int) -> Any:
            if not ids:
                return value
            for parent in ids:
                _spoor.poke(parent, op_id, _SHUFFLE_READ, start)
            return _unwrap(Traced(value, _fold_id(ids, op_id, _key_hash(value), start)))

        shuffled = self.rdd.mapPartitions(keyed).reduceByKey(merge, numPartitions)
        return self._after_shuffle(shuffled, "distinct", "distinct", finish)

    def union(self, other: TracedRDD) -> TracedRDD:
        """union(other): the records of both, unchanged (no report: nothing is derived)."""
        return self._derive(self.rdd.union(other.rdd))

    # -- actions -----------------------------------------------------------------------------

    def foreach(self, function: Callable[[Any], Any]) -> None:
        """foreach(f): a side effect where records leave the job (an ``exit`` event each traced
        one)."""
        settings = self.settings
        op = _Op(_name_of(function, "foreach"), _site_of(function))

        def partition(records: Iterator[Any]) -> None:
            settings.ensure()
            op_id = op.id
            for record in records:
                if type(record) is Traced:
                    record.for_each(function, op=op_id)
                else:
                    function(record)
            _partition_done()

        self.rdd.foreachPartition(partition)

    def collect_traced(self) -> list[Traced[Any]]:
        """Every record as a Traced (id 0: untracked), for lineage queries; each traced one gets
        an ``exit`` event, reported by the driver."""
        records: list[Any] = self.rdd.collect()
        self.settings.ensure()
        op = _Op("collect", "driver").id
        result: list[Traced[Any]] = []
        for record in records:
            if type(record) is Traced:
                _spoor.poke(record.id, op, _EXIT, 0)
                result.append(record)
            else:
                result.append(Traced(record))
        return result

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
                record = entry(op_id, key)
                yield Traced(value, record) if record else value

        return _flushing(settings, run())

    return TracedRDD(rdd.mapPartitions(enter, preservesPartitioning=True), settings)


def partition_by(rdd: Any, partitioner: Partitioner) -> Any:
    """``rdd`` (of ``(key, value)`` pairs) partitioned by a partitioner file from ``spoor skew``:
    ``rdd.partitionBy(partitioner.partitions, partitioner)``.

    PySpark calls ``partitioner(key) % partitions`` for every record, which is the key's
    partition itself: every record of a placed (heavy) key lands on the partition the file chose
    for it, and every other key on its hash or spill partition, the partitions every other engine
    that loads the same file computes for it. Keys are hashed as :func:`spoor.key_hash` hashes
    them (str, bytes-like, int, bool, float; any other key raises TypeError in the task). The
    partitioner is pickled as its file's bytes and loaded again in each Python worker. The
    result is a plain RDD with ``partitioner.partitions`` partitions; its values are the input's
    (only where each record is changes). To spread a placed key that is too heavy for one
    partition over several for a join, use :meth:`spoor.Partitioner.salts`.

    Example::

        partitioner = spoor.Partitioner.load("partitioner.json")   # spoor skew ... -o partitioner.json
        pairs = spoor.spark.partition_by(words.map(lambda w: (w, 1)), partitioner)
        counts = pairs.reduceByKey(operator.add, partitioner.partitions, partitioner)
    """
    return rdd.partitionBy(partitioner.partitions, partitioner)


#: The lineage column of the JVM binding's SpoorDataset: each sampled row's Spoor context, null
#: for untracked rows.
LINEAGE = "_spoor"


def lineage_udf(function: Callable[..., Any], return_type: Any, log_dir: Optional[str] = None,
                sampling: float = 0.01, name: Optional[str] = None) -> Any:
    """A PySpark SQL UDF running `function` traced on rows that carry the lineage column
    (:data:`LINEAGE`, set by the JVM binding's ``SpoorDataset``): call it with the lineage
    column first and the function's arguments after; it returns a struct of ``value`` (the
    function's result, of `return_type`) and ``_spoor`` (the row's new context). A traced row's
    call is reported by the Python worker with the row's context as parent, so the lineage runs
    from the JVM through Python and back into one log; an untracked row (null context) costs a
    None test. `log_dir` is where the workers' runs go (default ``spark.spoor.dir``)."""
    from pyspark.sql import SparkSession
    from pyspark.sql.functions import udf
    from pyspark.sql.types import StringType, StructField, StructType

    session = SparkSession.getActiveSession()
    conf = session.sparkContext.getConf() if session is not None else None
    directory = log_dir or (conf.get("spark.spoor.dir", None) if conf is not None else None) or os.environ.get("SPOOR_DIR") or "spoor-traces"
    settings = SpoorSettings(os.path.abspath(directory), sampling, 0)
    op = _Op(name or _name_of(function, "udf"), _site_of(function))
    schema = StructType([StructField("value", return_type), StructField(LINEAGE, StringType())])

    def call(context: Optional[str], *args: Any) -> tuple[Any, Optional[str]]:
        if context is None:
            return (function(*args), None)
        settings.ensure()
        op_id = op.id
        parent = _spoor.context_decode(context)[0]
        start = _spoor.now()
        try:
            output = function(*args)
        except BaseException as error:
            from .traced import _report_error

            _report_error(parent, op_id, error)
            raise
        # (No flush per row: the worker's collector drains every flush interval, and a worker
        # that dies first is drained by the next sweep of the log root.)
        child = _spoor.checkpoint1(parent, op_id, 0, start, _spoor.now())
        return (output, _spoor.context_encode(child, _spoor.CONTEXT_SAMPLED) if child else None)

    return udf(call, schema)

