"""Spoor: record-level lineage tracing for data pipelines, from Python.

``import spoor`` loads libspoor.so (bundled in the package) through a small C extension that
calls the library's C ABI, ``include/spoor.h``, and nothing else. Sample a few records where
they enter, and every traced record leaves a small report at each step: its parents, the
operator, the UDF's start and end time, its key and any attachment. ``spoor dump`` and
``spoor stats`` read the log.

Quick start::

    import spoor

    with spoor.init("traces", sampling=spoor.Sampling.probability(0.01)):
        parse = spoor.operator("parse")
        for line in lines:
            record = spoor.Traced.enter(line, parse, key=line)
            words = record.flat_map(str.split)
            ...

The calls mirror the C header one for one (``entry``, ``checkpoint``, ``poke``, folds, contexts,
statistics); ``Traced`` and ``udf`` are the papers' wrapper on top. An untracked record (id 0)
never crosses into C: the lifts test the id in Python. Every failure of the library raises a
``SpoorError`` subclass carrying the status code and the library's detail message.
"""

from __future__ import annotations

import enum
import os
from array import array
from dataclasses import dataclass
from types import TracebackType
from typing import Final, Iterable, Mapping, NamedTuple, Optional, Union

from . import _spoor
from ._errors import (
    ERROR_CLASSES,
    AbiMismatch,
    AlreadyInitialized,
    AttachmentTooLarge,
    BufferTooSmall,
    InvalidArgument,
    InvalidConfig,
    NoMemory,
    NotInitialized,
    ParseError,
    ReportTooLarge,
    ShmError,
    SpoorError,
    SpoorIOError,
    SpoorTimeout,
    TooManyOperators,
    TooManyParents,
)

_spoor._set_error_classes(dict(ERROR_CLASSES), SpoorError)

from ._spoor import Fold  # noqa: E402
from ._spoor import checkpoint1, entry, now  # noqa: E402  (the hot calls, straight into C)

__all__ = [
    "AbiMismatch", "AlreadyInitialized", "AttachmentTooLarge", "BufferTooSmall", "Event", "Fold",
    "FoldScope", "FullPolicy", "InvalidArgument", "InvalidConfig", "MAX_ATTACHMENT", "MAX_PARENTS",
    "MAX_PARTITIONS", "NoMemory", "NotInitialized", "ParseError", "Partitioner", "ReportTooLarge",
    "Sampling", "Session", "ShmError",
    "Sink", "SpoorError", "SpoorIOError", "SpoorTimeout", "Stats", "TooManyOperators",
    "TooManyParents", "Traced", "UDF", "abi_version", "checkpoint", "checkpoint1", "checkpoints",
    "enter", "entries", "entry", "entry_with", "event_name", "flush", "fold", "fold_report",
    "from_context", "from_context_bytes", "generation", "get_sampling", "init", "key_hash",
    "key_sampled", "mint", "now", "operator", "poke", "recover_dead", "run_dir", "set_partition", "set_sampling",
    "shm_name", "shutdown", "stats", "strerror", "thread_stats", "to_context", "to_context_bytes",
    "udf", "version",
]

#: Most parents one report can carry (zeros excluded).
MAX_PARENTS: Final[int] = _spoor.MAX_PARENTS
#: Most bytes of an encoded attachment (each pair costs 3 bytes plus key and value).
MAX_ATTACHMENT: Final[int] = _spoor.MAX_ATTACHMENT
#: Most partitions a partitioner file may have (``SPOOR_MAX_PARTITIONS``, 2**20).
MAX_PARTITIONS: Final[int] = _spoor.MAX_PARTITIONS

#: An attachment: small metadata about a UDF call, str keys to str or bytes values (any other
#: value is stored as its ``str()``).
Attachment = Mapping[str, object]


class Event(enum.IntEnum):
    """Engine events a record can be poked with (``spoor_event``)."""

    SHUFFLE_WRITE = 1
    SHUFFLE_READ = 2
    SERIALIZE = 3
    DESERIALIZE = 4
    BUFFER_ENTER = 5
    BUFFER_LEAVE = 6
    NETWORK_SEND = 7
    NETWORK_RECEIVE = 8
    #: The record was removed by a filter: it has no output.
    FILTERED = 9
    #: The record left the traced topology (a sink, a side effect).
    EXIT = 10
    #: User code failed on the record (an exception).
    ERROR = 11
    #: First code free for engine-specific events (up to 65535).
    CUSTOM = 1000


class FullPolicy(enum.IntEnum):
    """What a thread does when its ring is full (``spoor_full_policy``)."""

    #: Drop the report and count it (the default): the caller never waits.
    DROP = 0
    #: Wait for the collector, at most ``block_timeout_ms``, then drop and count.
    BLOCK = 1
    #: Keep the newest: free the oldest undrained reports (a flight recorder).
    OVERWRITE = 2


class Sink(enum.IntEnum):
    """Where the collector sends drained batches (``spoor_sink_kind``)."""

    #: The append-only binary log under the log directory (the default).
    LOG = 0
    #: Drain and discard (to measure the tracing overhead alone).
    NONE = 1


@dataclass(frozen=True)
class Sampling:
    """A sampling strategy (``spoor_sampling``): build one with the class methods."""

    mode: int
    probability: float = 0.0
    every_n: int = 0
    per_second: int = 0

    @classmethod
    def default(cls) -> Sampling:
        """The library's default: probability 0.01."""
        return cls(0)

    @classmethod
    def off(cls) -> Sampling:
        """Trace nothing: every entry returns id 0."""
        return cls(1)

    @classmethod
    def all(cls) -> Sampling:
        """Trace every entry."""
        return cls(2)

    @classmethod
    def with_probability(cls, p: float) -> Sampling:
        """Trace each entry independently with probability ``p`` in [0, 1]."""
        return cls(3, probability=float(p))

    probability_of = with_probability

    @classmethod
    def every(cls, n: int) -> Sampling:
        """Trace every ``n``-th entry of each thread (``n`` >= 1)."""
        return cls(4, every_n=int(n))

    @classmethod
    def rate(cls, per_second: int) -> Sampling:
        """Trace at most ``per_second`` entries per second, process-wide."""
        return cls(5, per_second=int(per_second))

    @classmethod
    def key(cls, p: float) -> Sampling:
        """Trace an entry iff ``key_sampled(key_hash, p)``: the same keys in every process and
        language."""
        return cls(6, probability=float(p))

    @classmethod
    def of(cls, value: Union[Sampling, float, None]) -> Sampling:
        """``value`` as a Sampling: a float is a probability, None the default."""
        if value is None:
            return cls.default()
        if isinstance(value, Sampling):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return cls.with_probability(float(value))
        raise TypeError(f"sampling must be a spoor.Sampling, a probability or None, not {type(value).__name__}")


class Stats(NamedTuple):
    """Counters (``spoor_stats``). Once the collector has caught up (after flush()):
    ``written == committed + dropped`` and ``drained == committed``."""

    #: Reports the library was asked to write.
    written: int
    #: Reports published into a ring (less those overwritten).
    committed: int
    #: Reports lost: ring full, block timeout, no ring, or overwritten.
    dropped: int
    #: Entries the sampler selected.
    sampled: int
    #: Reports the collector took from the rings.
    drained: int
    #: Batches a sink failed to write.
    sink_errors: int
    #: Batches handed to the sink.
    batches: int
    #: Rings owned by live threads.
    threads: int


class Session:
    """The running library, as returned by :func:`init`; a context manager that shuts the
    library down when the block ends (after draining every accepted report)."""

    def __enter__(self) -> Session:
        return self

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> None:
        if _spoor.generation() != 0:
            shutdown()

    @property
    def run_dir(self) -> str:
        """The run directory the log sink writes into."""
        return run_dir()

    def __repr__(self) -> str:
        return f"<spoor.Session run_dir={run_dir()!r}>" if _spoor.generation() else "<spoor.Session (shut down)>"


def init(
    log_dir: Optional[Union[str, os.PathLike[str]]] = None,
    *,
    sampling: Union[Sampling, float, None] = None,
    ring_slots: int = 0,
    max_threads: int = 0,
    flush_interval_ms: int = 0,
    full_policy: FullPolicy = FullPolicy.DROP,
    block_timeout_ms: int = 0,
    sink: Sink = Sink.LOG,
    segment_bytes: int = 0,
    seed: int = 0,
    shm_name: Optional[str] = None,
    use_env: bool = True,
) -> Session:
    """Start tracing (``spoor_init``) and return a :class:`Session` (a context manager).

    Every keyword left at its default takes the library's default; unless ``use_env`` is False,
    the ``SPOOR_*`` environment variables override the keywords (``SPOOR_DIR``,
    ``SPOOR_SAMPLING=probability:0.01``, ``SPOOR_RING_SLOTS``, ... as in include/spoor.h), so a
    job's tracing can change without a code change. Each initialisation writes a run directory
    under ``log_dir`` (default ``spoor-traces``); several processes (multiprocessing workers,
    Spark's Python workers) given the same ``log_dir`` form one log that ``spoor dump`` and
    ``spoor stats`` read whole.

    A process forked after init() (``os.fork``, multiprocessing's fork start method) starts
    tracing again by itself at its first call, with this configuration, into a segment and run
    of its own; it never writes into the parent's rings.

    Args:
        log_dir: root of the log.
        sampling: a :class:`Sampling`, a probability, or None (the default: 0.01).
        ring_slots: 64-byte slots per thread ring, a power of two in [64, 2**24] (0: 16384).
        max_threads: private rings, [1, 4096] (0: 64); further threads share rings.
        flush_interval_ms: collector period, [1, 60000] (0: 10).
        full_policy: what a thread does when its ring is full.
        block_timeout_ms: the wait bound of FullPolicy.BLOCK (0: 1000).
        sink: where drained batches go.
        segment_bytes: log segment roll size (0: 64 MiB).
        seed: sampler seed (0: random per thread).
        shm_name: the POSIX shared-memory name ("/name"; None: chosen by the library).
        use_env: whether SPOOR_* variables override the keywords.

    Raises:
        AlreadyInitialized: the library runs already.
        InvalidConfig: a keyword or a SPOOR_* variable is out of range (the message names it).
        ShmError, SpoorIOError: the segment or the log directory could not be made.
    """
    chosen = Sampling.of(sampling)
    directory = os.fspath(log_dir) if log_dir is not None else None
    _spoor.init(
        directory, shm_name, ring_slots, max_threads, flush_interval_ms, int(full_policy), block_timeout_ms,
        int(sink), segment_bytes, seed, chosen.mode, float(chosen.probability), chosen.every_n, chosen.per_second,
        not use_env,
    )
    return Session()


def shutdown() -> None:
    """Stop tracing: drain every accepted report into the log and close it (``spoor_shutdown``).
    Also runs at normal interpreter exit. Raises NotInitialized if the library is not running."""
    _spoor.shutdown()


def flush(timeout: float = 10.0) -> None:
    """Wait until every report committed before the call is in the sink (``spoor_flush``).

    Raises SpoorTimeout after ``timeout`` seconds, SpoorIOError if the sink failed."""
    if timeout <= 0:
        raise ValueError("timeout must be positive")
    _spoor.flush(max(1, min(int(timeout * 1000), 2**32 - 1)))


def run_dir() -> str:
    """The run directory this process's log is written into."""
    return _spoor.run_dir()


def shm_name() -> str:
    """The shared-memory segment's name (for ``spoor recover`` after a crash)."""
    return _spoor.shm_name()


def set_sampling(sampling: Union[Sampling, float]) -> None:
    """Replace the sampling strategy at run time; every thread picks it up at its next entry."""
    chosen = Sampling.of(sampling)
    _spoor.set_sampling(chosen.mode, float(chosen.probability), chosen.every_n, chosen.per_second)


def get_sampling() -> Sampling:
    """The current sampling strategy."""
    mode, probability, every_n, per_second = _spoor.get_sampling()
    return Sampling(mode, probability, every_n, per_second)


def generation() -> int:
    """A number that changes with every initialisation; 0 while the library is not running."""
    return _spoor.generation()


_operators: dict[tuple[str, Optional[str]], int] = {}


def operator(name: str, site: Optional[str] = None) -> int:
    """The id of operator ``name`` at call site ``site`` (such as ``"job.py:12"``), registered
    once: the same (name, site) gives the same id for the life of the process, across
    shutdown/init and in forked children."""
    key = (name, site)
    op = _operators.get(key)
    if op is None:
        op = _spoor.register_operator(name, site)
        _operators[key] = op
    return op


def key_hash(value: Union[str, bytes, bytearray, memoryview, int, float]) -> int:
    """The key hash of ``value`` that every report carries (FNV-1a 64 of its canonical bytes):
    str as UTF-8, bytes as themselves, int and bool as 8 bytes of 64-bit two's complement,
    float as its IEEE-754 bits. The same value hashes the same in C, Swift, Java and Python,
    in every run and process."""
    return _spoor.key_hash(value)


def key_sampled(key_hash: int, probability: float) -> bool:
    """Whether key-hash sampling with ``probability`` traces ``key_hash`` (the same answer in
    every process and language)."""
    return _spoor.key_sampled(key_hash, probability)


def entry_with(op: int, key_hash: int = 0, attachment: Optional[Attachment] = None) -> int:
    """An entry checkpoint with an attachment: as :func:`entry`, and a sampled entry's report
    carries ``attachment``. Returns the id, 0 unless sampled."""
    return _spoor.entry_ex(op, key_hash, dict(attachment) if attachment is not None else None)


def mint(op: int, key_hash: int = 0, attachment: Optional[Attachment] = None) -> int:
    """An entry that is always traced, whatever the sampling (``spoor_mint``): for records that
    must be followed in every case (a job, a stage, a task), whose events are then poked on them.
    Returns the id, also when the report was lost to a full ring."""
    return _spoor.mint(op, key_hash, dict(attachment) if attachment is not None else None)


def checkpoint(
    parents: Union[int, Iterable[int]],
    op: int,
    key_hash: int = 0,
    start_ns: int = 0,
    end_ns: int = 0,
    *,
    fanout: int = 0,
    attachment: Optional[Attachment] = None,
) -> int:
    """Report a derived record and return its id (``spoor_checkpoint``).

    ``parents`` is one id or any number of them: a list, a tuple, any iterable of ints, or a
    buffer of 8-byte integers (``array('Q')``, numpy ``uint64``). Zeros are untracked and left
    out; if every parent is 0 the output is untracked (returns 0) and the library is not
    entered. ``fanout`` m > 1 mints m consecutive ids for m outputs of the same inputs. Times are
    ``spoor.now()`` readings around the UDF (``end_ns`` 0: the library reads the clock). The
    one-parent form without attachment is :func:`checkpoint1`, the fastest call."""
    if isinstance(parents, int):
        if fanout <= 1 and attachment is None:
            return _spoor.checkpoint1(parents, op, key_hash, start_ns, end_ns)
        if parents == 0:
            return 0
        return _spoor.checkpoint((parents,), op, key_hash, start_ns, end_ns, fanout,
                                 dict(attachment) if attachment is not None else None)
    return _spoor.checkpoint(parents, op, key_hash, start_ns, end_ns, fanout,
                             dict(attachment) if attachment is not None else None)


def fold_report(
    parents: Iterable[int],
    op: int,
    key_hash: int = 0,
    start_ns: int = 0,
    end_ns: int = 0,
    *,
    fanout: int = 0,
    attachment: Optional[Attachment] = None,
) -> int:
    """Report an aggregate whose contributing ids you collected yourself, flagged as a fold
    (``spoor_fold_report``); as :func:`checkpoint` otherwise."""
    return _spoor.fold_report(parents, op, key_hash, start_ns, end_ns, fanout,
                              dict(attachment) if attachment is not None else None)


def poke(id: int, op: int, event: int, timestamp_ns: int = 0, attachment: Optional[Attachment] = None) -> None:
    """Report engine event ``event`` (an :class:`Event` or a code up to 65535) on record ``id``
    at ``timestamp_ns`` (0: now), with an optional attachment. An untracked id (0) returns at
    once."""
    if id == 0:
        return
    _spoor.poke(id, op, event, timestamp_ns, dict(attachment) if attachment is not None else None)


def set_partition(partition: Optional[int]) -> None:
    """The partition (task, split) the calling thread works on; every report it writes carries
    it until changed. None: no partition."""
    _spoor.set_partition(partition)


class FoldScope:
    """A fold accumulator used as a context manager (see :func:`fold`): add contributing ids in
    the block; when the block ends normally the aggregate is reported once with all of them and
    its id is in :attr:`id`; when it raises, the fold is discarded."""

    __slots__ = ("_fold", "_op", "_key_hash", "_start_ns", "_attachment", "id")

    def __init__(self, op: int, key_hash: int = 0, attachment: Optional[Attachment] = None) -> None:
        self._fold = Fold()
        self._op = op
        self._key_hash = key_hash
        self._start_ns = 0
        self._attachment = dict(attachment) if attachment is not None else None
        #: The aggregate's id once the block ended (0: nothing tracked was added).
        self.id = 0

    def add(self, id: int) -> None:
        """Add a contributing record (0: untracked, costs a branch)."""
        if id:
            self._fold.add(id)

    def add_many(self, ids: Iterable[int]) -> None:
        """Add every id of a sequence or a buffer of 8-byte integers."""
        self._fold.add_many(ids)

    def merge(self, other: FoldScope) -> None:
        """Move every parent of ``other`` into this fold (a combiner merging partials)."""
        self._fold.merge(other._fold)

    def __len__(self) -> int:
        return len(self._fold)

    def __enter__(self) -> FoldScope:
        self._start_ns = now()
        return self

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> None:
        if exc_type is not None:
            self._fold.discard()
            return
        self.id = self._fold.finish(self._op, self._key_hash, self._start_ns, now(), 0, self._attachment)


def fold(op: int, key_hash: int = 0, attachment: Optional[Attachment] = None) -> FoldScope:
    """A fold over the records that make one aggregate (reduceByKey, a window)::

        with spoor.fold(op, key_hash=spoor.key_hash(word)) as f:
            for record in group:
                f.add(record.id)
        total_id = f.id

    The aggregate is reported once, with every contributing id as a parent."""
    return FoldScope(op, key_hash, attachment)


def to_context(id: int) -> str:
    """The record's context for another process or language: ``"00-<16 hex id>-<flags>"``."""
    return _spoor.context_encode(id, _spoor.CONTEXT_SAMPLED if id else 0)


def from_context(text: str) -> int:
    """The record id a context string carries (0: untracked upstream). Raises ParseError."""
    return _spoor.context_decode(text)[0]


def to_context_bytes(id: int) -> bytes:
    """The record's context as 10 bytes (version, flags, id big-endian)."""
    return _spoor.context_encode_bytes(id, _spoor.CONTEXT_SAMPLED if id else 0)


def from_context_bytes(data: Union[bytes, bytearray, memoryview]) -> int:
    """The record id 10 context bytes carry. Raises ParseError."""
    return _spoor.context_decode_bytes(data)[0]


def stats() -> Stats:
    """The process's counters since init (a recent snapshot)."""
    return Stats(*_spoor.stats())


def thread_stats() -> Stats:
    """The calling thread's counters since it took its ring."""
    return Stats(*_spoor.thread_stats())


def _words(values: Iterable[int]) -> tuple[object, int]:
    """`values` as something the batch calls read (a buffer, list or tuple as it is; any other
    iterable copied into an array('Q')) and the number of 64-bit words it holds."""
    if isinstance(values, (list, tuple)):
        return values, len(values)
    try:
        view = memoryview(values)  # type: ignore[arg-type]
    except TypeError:
        words = array("Q", values)
        return words, len(words)
    with view:
        return values, view.nbytes // 8


def entries(op: int, keys: Iterable[int]) -> array[int]:
    """Entry checkpoints for many records in one call: ``keys`` holds one key hash per record
    (a sequence, or a buffer of 8-byte integers; 0: no key). Returns ``array('Q')`` of the ids,
    0 for every record not sampled. The way to amortise the crossing into C over thousands of
    records."""
    source, count = _words(keys)
    out = array("Q", bytes(8 * count))
    _spoor.entry_many(op, source, out)  # type: ignore[arg-type]
    return out


def checkpoints(
    parents: Iterable[int], op: int, keys: Optional[Iterable[int]] = None, start_ns: int = 0, end_ns: int = 0
) -> array[int]:
    """One-parent checkpoints for many records in one call: output ``i`` has parent
    ``parents[i]`` (0: untracked, costs a branch) and key hash ``keys[i]``. Returns
    ``array('Q')`` of the output ids."""
    source, count = _words(parents)
    out = array("Q", bytes(8 * count))
    _spoor.checkpoint1_many(source, op, keys, start_ns, end_ns, out)  # type: ignore[arg-type]
    return out


def recover_dead(log_dir: Optional[Union[str, os.PathLike[str]]] = None) -> tuple[int, int]:
    """Drain what dead processes (a worker killed with SIGKILL) left in shared memory for
    ``log_dir`` (default: the running instance's log root) into their runs, and return
    ``(segments, reports)`` recovered. init() and shutdown() do this for their own log root;
    live processes' segments are never touched (``spoor_recover_dead``)."""
    return _spoor.recover_dead(os.fspath(log_dir) if log_dir is not None else None)


def strerror(code: int) -> str:
    """The library's name for a status code."""
    return _spoor.strerror(code)


def event_name(code: int) -> str:
    """The name of an event code as the log tools print it ("filtered", "error", ...)."""
    return _spoor.event_name(code)


def version() -> str:
    """The libspoor release, such as "0.1.0"."""
    return _spoor.version()[0]


def abi_version() -> int:
    """The binary-interface version of the loaded libspoor.so."""
    return _spoor.version()[1]


from .partitioner import Partitioner  # noqa: E402
from .traced import UDF, Traced, enter, udf  # noqa: E402
