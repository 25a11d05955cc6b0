"""Partitioners from ``spoor skew``: the file ``spoor skew -o FILE`` writes, loaded into libspoor.

A partitioner file (format "spoor-partitioner" version 1, docs/skew.md) places a job's heavy keys
on chosen partitions and hashes every other key, moving a hash-chosen part of the keys of the
partitions the heavy keys load onto the lighter ones. :class:`Partitioner` is a thin skin over
``spoor_partitioner_load``, ``_partition``, ``_salts``, ``_partitions`` and ``_keys``
(include/spoor.h, "Partitioners"): the routing is the library's, the same table every engine and
language routes through, so a key goes to the same partition from Python, the JVM, Swift and C.
"""

from __future__ import annotations

import os
from typing import Self, Union

from . import _spoor

__all__ = ["Partitioner"]


class Partitioner(_spoor.Partitioner):
    """A partitioner file loaded into libspoor (``spoor_partitioner``): ``Partitioner(json)`` from
    the file's bytes (or its text), :meth:`load` from a path.

    Keys are named by their key hash, so ``partitioner(key)`` and ``partitioner.partition(key)``
    hash the key exactly as :func:`spoor.key_hash` does (str as UTF-8, bytes-like as itself, int
    and bool as 64-bit two's complement, float as its IEEE-754 bits; anything else raises
    TypeError) and return its partition in ``[0, partitions)``: a placed key's partition, any
    other key's plain hash partition or, where the file spills part of a partition's keys, the
    partition its spill draw picks. :meth:`partition_hash` takes a key hash instead.
    :meth:`salts` (:meth:`salts_hash`) is how many partitions a join or a combinable aggregation
    should spread the key's records over: the file's ``salts`` for a placed key, 1 for any other.
    :attr:`partitions` is the partition count, :attr:`keys` the number of placed keys and
    :attr:`json` the bytes loaded.

    A partitioner is immutable and may be used from any number of threads at once; the library's
    partitioner is freed only when the last reference goes (there is no ``close()`` that another
    thread could race). It pickles as its file's bytes and loads them again when unpickled, so
    Spark ships it to its workers (:func:`spoor.spark.partition_by`). Two partitioners loaded
    from the same bytes are equal and hash alike.

    Raises:
        ParseError: not a valid partitioner file; ``detail`` is the library's reason and where
            (``spoor_error_detail()``), such as "partitioner file: key 00000000000000ff: partition
            9 is outside 0..<8".
        NoMemory: the library could not allocate the table.
        TypeError: ``json`` is neither bytes-like nor str.
    """

    __slots__ = ()

    @classmethod
    def load(cls, path: Union[str, os.PathLike[str]]) -> Self:
        """The partitioner in the file at ``path`` (as ``spoor skew -o`` writes it).

        Raises OSError if the file cannot be read, ParseError if it is not a partitioner file."""
        with open(path, "rb") as file:
            return cls(file.read())

    def __repr__(self) -> str:
        return f"<spoor.Partitioner partitions={self.partitions} keys={self.keys}>"
