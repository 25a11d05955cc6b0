"""The papers' wrapper: a record with its lineage id, and lifts that run user functions traced.

A :class:`Traced` carries a value and its id. Each lift applies a plain function to the value
and, if the record is traced, reports the application (the operator, the call's start and end
time, the parents) and returns records carrying the new ids. An untracked record (id 0) never
crosses into C: the lift calls the function and wraps the result, nothing more.

Operators: a lift given no operator registers one per function, named after the function's
qualified name, with its definition (file:line) as the call site; the id is cached on first use.
An exception raised by the function of a traced record is reported as an ``error`` event on
the record, with the exception's type and message in the attachment, and re-raised unchanged.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any, Callable, Generic, Iterable, Mapping, Optional, Protocol, TypeVar, Union, cast, overload

from . import _spoor

T = TypeVar("T")
U = TypeVar("U")
V = TypeVar("V")
R = TypeVar("R")

_ERROR = 11
_FILTERED = 9
_EXIT = 10
_MAX_FANOUT = 65536
_MAX_MESSAGE = 512

_function_ops: dict[Any, int] = {}


def _operator_of(function: Callable[..., Any], kind: str) -> int:
    """The operator of a lift that named none: one per function (its code object)."""
    code = getattr(function, "__code__", None)
    key = code if code is not None else function
    op = _function_ops.get(key)
    if op is None:
        name = getattr(function, "__qualname__", None) or getattr(function, "__name__", None) or kind
        site = f"{code.co_filename}:{code.co_firstlineno}" if code is not None else kind
        op = _spoor.register_operator(str(name)[:252], site)
        _function_ops[key] = op
    return op


def _report_error(id: int, op: int, error: BaseException) -> None:
    """An ``error`` event on record ``id`` whose attachment names the exception. Never raises
    (the user's exception is what the caller re-raises)."""
    message = str(error)
    if len(message) > _MAX_MESSAGE:
        message = message[: _MAX_MESSAGE - 3] + "..."
    kind = type(error)
    try:
        _spoor.poke(id, op, _ERROR, 0, {"error.type": f"{kind.__module__}.{kind.__qualname__}", "error.message": message})
    except Exception:
        pass


def _key(key: Union[int, Callable[[Any], int], None], value: Any) -> int:
    if key is None:
        return 0
    if callable(key):
        return int(key(value))
    return key


def _attachment(attachment: Optional[Mapping[str, object]]) -> Optional[dict[str, object]]:
    return dict(attachment) if attachment is not None else None


class Traced(_spoor.TracedBase, Generic[T]):
    """A record and its lineage id (0: untracked): ``Traced(value, id=0)``. Immutable: every
    lift returns new records. (Its two fields live in C, ``spoor._spoor.TracedBase``, so that
    making one costs an allocation rather than a Python ``__init__``.)"""

    __slots__ = ()

    value: T
    id: int

    def __repr__(self) -> str:
        return f"Traced({self.value!r}, id={self.id:#x})" if self.id else f"Traced({self.value!r}, untracked)"

    def __reduce__(self) -> tuple[Any, tuple[Any, int]]:
        # Pickled by value and id (Spark ships records between processes this way).
        return (Traced, (self.value, self.id))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Traced) and other.value == self.value and other.id == self.id

    def __hash__(self) -> int:
        return hash((self.id, self.value))

    @property
    def is_tracked(self) -> bool:
        """Whether the record is traced."""
        return self.id != 0

    # -- entering and leaving ----------------------------------------------------------------

    @classmethod
    def enter(
        cls, value: T, op: int, key: Union[int, str, bytes, None] = None,
        attachment: Optional[Mapping[str, object]] = None,
    ) -> Traced[T]:
        """A record entering the traced topology at operator ``op``: sampled by the configured
        strategy (key-hash sampling decides on ``key``: a key hash int, or a str or bytes key
        that is hashed), reported as an entry if sampled."""
        key_hash = key if type(key) is int else (_spoor.key_hash(key) if key is not None else 0)
        if attachment is None:
            return cls(value, _spoor.entry(op, key_hash))
        return cls(value, _spoor.entry_ex(op, key_hash, dict(attachment)))

    @classmethod
    def from_context(cls, value: T, context: str) -> Traced[T]:
        """A record continuing a lineage that arrived from another process or language (a
        context string from :func:`spoor.to_context` or :attr:`context`)."""
        return cls(value, _spoor.context_decode(context)[0])

    @property
    def context(self) -> str:
        """The record's context for another process or language."""
        return _spoor.context_encode(self.id, _spoor.CONTEXT_SAMPLED if self.id else 0)

    def poke(self, event: int, op: int = 0, attachment: Optional[Mapping[str, object]] = None) -> Traced[T]:
        """An engine event on the record (no mutation); returns the record."""
        if self.id:
            _spoor.poke(self.id, op, event, 0, _attachment(attachment))
        return self

    def exit(self, op: int = 0) -> None:
        """The record leaves the traced topology (an ``exit`` event)."""
        if self.id:
            _spoor.poke(self.id, op, _EXIT, 0)

    # -- lifts -------------------------------------------------------------------------------

    def map(
        self, function: Callable[[T], U], op: Optional[int] = None,
        key: Union[int, Callable[[U], int], None] = None, attachment: Optional[Mapping[str, object]] = None,
    ) -> Traced[U]:
        """lift(f: T -> U): applies ``function`` and reports the output with this record as
        its parent; ``key`` is the output's key hash, or a function of the output giving it."""
        if not self.id:
            return Traced(function(self.value))
        operator = op if op is not None else _operator_of(function, "map")
        start = _spoor.now()
        try:
            output = function(self.value)
        except BaseException as error:
            _report_error(self.id, operator, error)
            raise
        end = _spoor.now()
        key_hash = _key(key, output)
        if attachment is None:
            return Traced(output, _spoor.checkpoint1(self.id, operator, key_hash, start, end))
        return Traced(output, _spoor.checkpoint((self.id,), operator, key_hash, start, end, 0, dict(attachment)))

    def flat_map(
        self, function: Callable[[T], Iterable[U]], op: Optional[int] = None,
        attachment: Optional[Mapping[str, object]] = None,
    ) -> list[Traced[U]]:
        """lift(f: T -> U^m): applies ``function`` and reports its m outputs in one report (their
        ids are consecutive); no output is a ``filtered`` event on the record."""
        if not self.id:
            return [Traced(output) for output in function(self.value)]
        operator = op if op is not None else _operator_of(function, "flat_map")
        start = _spoor.now()
        try:
            outputs = list(function(self.value))
        except BaseException as error:
            _report_error(self.id, operator, error)
            raise
        end = _spoor.now()
        if not outputs:
            _spoor.poke(self.id, operator, _FILTERED, end)
            return []
        fanout = min(len(outputs), _MAX_FANOUT)
        first = _spoor.checkpoint((self.id,), operator, 0, start, end, fanout, _attachment(attachment))
        if not first:
            return [Traced(output) for output in outputs]
        return [Traced(output, first + index if index < fanout else 0) for index, output in enumerate(outputs)]

    def filter(self, predicate: Callable[[T], bool], op: Optional[int] = None) -> Optional[Traced[T]]:
        """lift(f: T -> bool): the record (reported as a new record) if ``predicate`` holds,
        otherwise None and a ``filtered`` event on the record."""
        if not self.id:
            return self if predicate(self.value) else None
        operator = op if op is not None else _operator_of(predicate, "filter")
        start = _spoor.now()
        try:
            keep = predicate(self.value)
        except BaseException as error:
            _report_error(self.id, operator, error)
            raise
        end = _spoor.now()
        if not keep:
            _spoor.poke(self.id, operator, _FILTERED, end)
            return None
        return Traced(self.value, _spoor.checkpoint1(self.id, operator, 0, start, end))

    def for_each(self, function: Callable[[T], Any], op: Optional[int] = None) -> None:
        """lift(f: T -> ()): a side effect where the record leaves the pipeline; reports the
        application and an ``exit`` event."""
        if not self.id:
            function(self.value)
            return
        operator = op if op is not None else _operator_of(function, "for_each")
        start = _spoor.now()
        try:
            function(self.value)
        except BaseException as error:
            _report_error(self.id, operator, error)
            raise
        end = _spoor.now()
        output = _spoor.checkpoint1(self.id, operator, 0, start, end)
        if output:
            _spoor.poke(output, operator, _EXIT, end)

    def combine(
        self, other: Traced[T], function: Callable[[T, T], T], op: Optional[int] = None,
        key: Union[int, Callable[[T], int], None] = None,
    ) -> Traced[T]:
        """lift(f: (T, T) -> T): combines two records of one type (a reduce step); the output
        has both as parents (untracked ones left out)."""
        return self._combine(other, function, op, key, "combine")

    def combine_with(
        self, other: Traced[U], function: Callable[[T, U], V], op: Optional[int] = None,
        key: Union[int, Callable[[V], int], None] = None,
    ) -> Traced[V]:
        """lift(f: (T, U) -> V): combines a record with one of another type (a join, a fold into
        an aggregate); the output has both as parents."""
        return self._combine(other, function, op, key, "combine_with")

    def _combine(
        self, other: Traced[Any], function: Callable[[Any, Any], R], op: Optional[int],
        key: Union[int, Callable[[R], int], None], kind: str,
    ) -> Traced[R]:
        if not self.id and not other.id:
            return Traced(function(self.value, other.value))
        operator = op if op is not None else _operator_of(function, kind)
        start = _spoor.now()
        try:
            output = function(self.value, other.value)
        except BaseException as error:
            for parent in (self.id, other.id):
                if parent:
                    _report_error(parent, operator, error)
            raise
        end = _spoor.now()
        return Traced(output, _spoor.checkpoint((self.id, other.id), operator, _key(key, output), start, end, 0, None))


def enter(value: T, op: int, key: Union[int, str, bytes, None] = None) -> Union[Traced[T], T]:
    """A record entering the traced topology, in its cheapest form: a :class:`Traced` if the
    sampler selected it, otherwise the plain value itself, which every :func:`udf` takes as an
    untracked record at the cost of one type test (no wrapper is made for it). Use
    :meth:`Traced.enter` where every record must be a Traced (the lifts are its methods)."""
    key_hash = key if type(key) is int else (_spoor.key_hash(key) if key is not None else 0)
    record = _spoor.entry(op, key_hash)
    return Traced(value, record) if record else value


class UDF(Protocol[T, U]):
    """A plain function made a traced UDF by :func:`udf` (it is a function with these
    attributes). Called with a :class:`Traced` record it runs the function on the value,
    reports the call (its runtime, operator and call site) and returns a Traced output; called
    with anything else it is the plain function."""

    #: The plain function.
    function: Callable[..., U]
    #: The operator name.
    name: str
    #: The call site: the function's definition, "file:line".
    site: str
    #: The plain function's name (as functools.wraps copies it).
    __name__: str

    def op(self) -> int:
        """The operator id of this UDF (registered on first use)."""
        ...

    @overload
    def __call__(self, record: Traced[T], /, *args: Any, **kwargs: Any) -> Traced[U]: ...

    @overload
    def __call__(self, record: T, /, *args: Any, **kwargs: Any) -> U: ...

    def __call__(self, record: Any, /, *args: Any, **kwargs: Any) -> Any: ...


def _takes_one_argument(function: Callable[..., Any]) -> bool:
    """Whether `function` takes exactly one positional argument and nothing else."""
    try:
        parameters = list(inspect.signature(function).parameters.values())
    except (TypeError, ValueError):
        return False
    return len(parameters) == 1 and parameters[0].kind in (
        inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


def _make_udf(function: Callable[..., U], name: Optional[str]) -> UDF[Any, U]:
    code = getattr(function, "__code__", None)
    udf_name = str(name or getattr(function, "__qualname__", None) or getattr(function, "__name__", "udf"))[:252]
    site = f"{code.co_filename}:{code.co_firstlineno}" if code is not None else "udf"
    now = _spoor.now
    checkpoint1 = _spoor.checkpoint1
    operator: list[int] = []

    def op() -> int:
        if not operator:
            operator.append(_spoor.register_operator(udf_name, site))
        return operator[0]

    def general(record: Any, /, *args: Any, **kwargs: Any) -> Any:
        if type(record) is not Traced:
            return function(record, *args, **kwargs)
        parent = record.id
        if not parent:
            return Traced(function(record.value, *args, **kwargs))
        operator_id = operator[0] if operator else op()
        start = now()
        try:
            output = function(record.value, *args, **kwargs)
        except BaseException as error:
            _report_error(parent, operator_id, error)
            raise
        return Traced(output, checkpoint1(parent, operator_id, 0, start, now()))

    # The common UDF takes one argument: a wrapper without *args/**kwargs packing, so that a
    # plain (untracked) value costs one call and one type test more than the function.
    def single(record: Any, /) -> Any:
        if type(record) is not Traced:
            return function(record)
        parent = record.id
        if not parent:
            return Traced(function(record.value))
        operator_id = operator[0] if operator else op()
        start = now()
        try:
            output = function(record.value)
        except BaseException as error:
            _report_error(parent, operator_id, error)
            raise
        return Traced(output, checkpoint1(parent, operator_id, 0, start, now()))

    call = functools.wraps(function)(single if _takes_one_argument(function) else general)

    attributes: Any = call
    attributes.function = function
    attributes.name = udf_name
    attributes.site = site
    attributes.op = op
    return cast(UDF[Any, U], call)


@overload
def udf(function: Callable[[T], U], /) -> UDF[T, U]: ...


@overload
def udf(*, name: Optional[str] = None) -> Callable[[Callable[[T], U]], UDF[T, U]]: ...


def udf(
    function: Optional[Callable[[T], U]] = None, /, *, name: Optional[str] = None
) -> Union[UDF[T, U], Callable[[Callable[[T], U]], UDF[T, U]]]:
    """Turn a plain function into a traced UDF::

        @spoor.udf
        def parse(line: str) -> list[str]: ...

        @spoor.udf(name="tokenize")
        def split(line: str) -> list[str]: ...

        out = parse(record)     # record: a spoor.Traced; out: a Traced with the output

    The UDF's operator is named ``name`` (default: the function's qualified name) with the
    function's definition as its call site. A call on a traced record reports the call's start
    and end time with the record as parent; an exception is reported as an ``error`` event on
    the record (its type and message in the attachment) and re-raised unchanged. A call on an
    untracked record or on a plain value costs one type test and one id test more than the
    function."""
    if function is not None:
        return _make_udf(function, None)

    def decorate(inner: Callable[[T], U]) -> UDF[T, U]:
        return _make_udf(inner, name)

    return decorate
