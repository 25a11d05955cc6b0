"""spoor.Partitioner: partitioner files (`spoor skew -o FILE`) loaded into libspoor and routed from
Python. The routing is the library's (spoor_partitioner_*); here it is checked against the
algorithm of include/spoor.h and docs/skew.md written again in plain Python, on hand-made files,
on files hypothesis generates, from several threads, through pickling, on real Spark, and on a
file written by the CLI from a run this binding traced."""

from __future__ import annotations

import copy
import json
import os
import pickle
import random
import subprocess
import threading
from bisect import bisect_right
from collections import Counter
from operator import add
from pathlib import Path
from typing import Any, Iterator, Optional, Union

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import spoor
import spoor.spark
from conftest import cli

# ---- the documented algorithm, written again from the header's words (the test oracle) -------

MASK = 2**64 - 1
GOLDEN = 0x9E3779B97F4A7C15
STAY = 0x73746179  # "stay"
SPILL = 0x7370696C  # "spil"


def splitmix64(state: int) -> int:
    """One splitmix64 step from `state`: its output."""
    z = (state + GOLDEN) & MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def unit(h: int, salt: int) -> float:
    """The top 53 bits of one splitmix64 step from state h ^ salt, times 2^-53."""
    return (splitmix64(h ^ salt) >> 11) * 2.0**-53


def plain_partition(h: int, partitions: int) -> int:
    return (((h * GOLDEN) & MASK) >> 17) % partitions


def placements(file: dict[str, Any]) -> dict[int, tuple[int, int]]:
    """Key hash -> (partition, salts) of the keys a file places."""
    return {int(k["key_hash"], 16): (k["partition"], k.get("salts", 1)) for k in file["keys"]}


class Expected:
    """The routing of a partitioner file as include/spoor.h and docs/skew.md describe it: a
    placed key goes to its partition; any other key h to its plain partition p if keep[p] >= 1
    or unit(h, "stay") < keep[p], else to the partition whose slice of [0, 1) (slices in
    partition order, spill normalised to sum to 1) holds unit(h, "spil"), past the end of every
    slice to the last partition with spill > 0."""

    def __init__(self, file: dict[str, Any]) -> None:
        self.partitions: int = file["partitions"]
        self.placed = placements(file)
        self.keep: Optional[list[float]] = file.get("keep")
        spill: Optional[list[float]] = file.get("spill")
        self.ends: list[float] = []
        self.last = 0
        # All-zero spill is valid when every keep is 1: nothing spills, so no slices.
        if spill is not None and sum(spill) > 0:
            total = 0.0
            for share in spill:
                total += share
            end = 0.0
            for q, share in enumerate(spill):
                end += share / total
                self.ends.append(end)
                if share > 0:
                    self.last = q

    def partition(self, h: int) -> int:
        if h in self.placed:
            return self.placed[h][0]
        p = plain_partition(h, self.partitions)
        if self.keep is None or self.keep[p] >= 1 or unit(h, STAY) < self.keep[p]:
            return p
        q = bisect_right(self.ends, unit(h, SPILL))  # the first slice whose end is past the point
        return q if q < self.partitions else self.last

    def salts(self, h: int) -> int:
        return self.placed[h][1] if h in self.placed else 1


def keys_from(seed: int, count: int) -> list[int]:
    """`count` well-spread 64-bit key hashes (a splitmix64 sequence)."""
    return [splitmix64((seed + i * GOLDEN) & MASK) for i in range(count)]


def partitioner_file(partitions: int, keys: list[dict[str, Any]], keep: Optional[list[float]] = None,
                     spill: Optional[list[float]] = None, **extra: Any) -> dict[str, Any]:
    file: dict[str, Any] = {"format": "spoor-partitioner", "version": 1, "partitions": partitions,
                            "hash": "spoor-mix17", "keys": keys}
    if keep is not None:
        file["keep"] = keep
    if spill is not None:
        file["spill"] = spill
    file.update(extra)
    return file


def encode(file: dict[str, Any]) -> bytes:
    return json.dumps(file).encode()


def placed(key: Union[str, int], partition: int, salts: Optional[int] = None, value: Optional[str] = None) -> dict[str, Any]:
    """A placed key: a str key (hashed as spoor.key_hash) or a key hash."""
    h = spoor.key_hash(key) if isinstance(key, str) else key
    entry: dict[str, Any] = {"key_hash": f"{h:016x}", "partition": partition}
    if salts is not None:
        entry["salts"] = salts
    if value is not None:
        entry["value"] = value
    return entry


#: Eight partitions: "heavy" on 3 (salted over 4), key hash 0 on 5, the int key 42 on 0; partition
#: 3 keeps a quarter of its hashed keys and 5 none, the rest spill to 0, 2 and 6 (1:1:2).
HAND_MADE = partitioner_file(
    8,
    [placed("heavy", 3, salts=4, value="heavy"), placed(0, 5, salts=2), placed(spoor.key_hash(42), 0)],
    keep=[1, 1, 1, 0.25, 1, 0, 1, 1],
    spill=[0.5, 0, 0.5, 0, 0, 0, 1, 0],
    imbalance={"before": 2.0, "after": 1.1, "lower_bound": 1.0}, migrated_share=0.1, operator="pair",
    a_member_from_a_later_version={"ignored": [1, 2, None]},
)
HAND_MADE_PARTITIONER = spoor.Partitioner(encode(HAND_MADE))
HAND_MADE_EXPECTED = Expected(HAND_MADE)


# ---- placed keys, keep and spill, salts ------------------------------------------------------


def test_placed_keys_go_to_their_partitions_with_their_salts() -> None:
    partitioner = spoor.Partitioner(encode(HAND_MADE))
    assert partitioner.partitions == 8 and partitioner.keys == 3
    assert partitioner("heavy") == partitioner.partition("heavy") == 3
    assert partitioner.partition_hash(spoor.key_hash("heavy")) == 3
    assert partitioner.salts("heavy") == partitioner.salts_hash(spoor.key_hash("heavy")) == 4
    assert partitioner.partition_hash(0) == 5 and partitioner.salts_hash(0) == 2, "key hash 0 can be placed"
    assert partitioner(42) == 0 and partitioner.salts(42) == 1, "a placed key without salts has 1"
    assert partitioner.salts("light") == 1 and partitioner.salts_hash(1) == 1, "unplaced keys have 1"
    assert plain_partition(spoor.key_hash("heavy"), 8) != 3, "the placement is not where hashing put it"


def test_keep_and_spill_move_the_documented_share_of_hashed_keys() -> None:
    partitioner = spoor.Partitioner(encode(HAND_MADE))
    hashes = keys_from(11, 40_000)
    by_plain: dict[int, Counter[int]] = {p: Counter() for p in range(8)}
    for h in hashes:
        got = partitioner.partition_hash(h)
        assert got == HAND_MADE_EXPECTED.partition(h), f"key hash {h:016x}"
        by_plain[plain_partition(h, 8)][got] += 1
    for p in (0, 1, 2, 4, 6, 7):
        assert set(by_plain[p]) == {p}, f"partition {p} keeps all its hashed keys"
    assert set(by_plain[5]) == {0, 2, 6}, "partition 5 keeps none; they spill where spill > 0"
    stayed = by_plain[3][3] / sum(by_plain[3].values())
    assert 0.21 < stayed < 0.29, f"partition 3 keeps a quarter of its keys, not {stayed:.3f}"
    assert set(by_plain[3]) == {0, 2, 3, 6}
    spilled = by_plain[5] + Counter({q: n for q, n in by_plain[3].items() if q != 3})
    total = sum(spilled.values())
    for q, share in ((0, 0.25), (2, 0.25), (6, 0.5)):
        assert abs(spilled[q] / total - share) < 0.04, f"spilled keys land on {q} in proportion {share}"


def test_plain_file_is_plain_hashing() -> None:
    file = partitioner_file(17, [])
    partitioner = spoor.Partitioner(encode(file))
    assert partitioner.keys == 0
    for h in keys_from(5, 5_000) + [0, MASK]:
        assert partitioner.partition_hash(h) == plain_partition(h, 17)
        assert partitioner.salts_hash(h) == 1


def test_the_largest_partition_count_with_spill() -> None:
    partitions = spoor.MAX_PARTITIONS
    generator = random.Random(3)
    keep = [1.0 if generator.random() < 0.9 else generator.random() for _ in range(partitions)]
    spill = [0.0 if generator.random() < 0.5 else generator.random() for _ in range(partitions)]
    file = partitioner_file(partitions, [placed("x", partitions - 1)], keep=keep, spill=spill)
    partitioner = spoor.Partitioner(encode(file))
    assert partitioner.partitions == partitions and partitioner("x") == partitions - 1
    expected = Expected(file)
    moved = 0
    for h in keys_from(17, 20_000):
        got = partitioner.partition_hash(h)
        assert got == expected.partition(h)
        moved += got != plain_partition(h, partitions)
    assert moved > 500, "some keys spilled (about 5% of them)"
    with pytest.raises(spoor.ParseError, match="partitions must be in 1...1048576"):
        spoor.Partitioner(encode(partitioner_file(partitions + 1, [])))


def state_before(output: int) -> int:
    """The state from which one splitmix64 step outputs `output` (each step of the mix inverts)."""

    def unshift(y: int, k: int) -> int:
        x = y
        for _ in range(64 // k + 1):
            x = y ^ (x >> k)
        return x

    z = unshift(output, 31)
    z = (z * pow(0x94D049BB133111EB, -1, 2**64)) & MASK
    z = unshift(z, 27)
    z = (z * pow(0xBF58476D1CE4E5B9, -1, 2**64)) & MASK
    z = unshift(z, 30)
    return (z - GOLDEN) & MASK


def test_a_point_past_every_slice_goes_to_the_last_partition_with_spill() -> None:
    """spill [3, 0.7, 0, 0] normalised sums to 1 - 2^-53, not 1: a key whose spill draw is the
    largest, 1 - 2^-53, lies past every slice and goes to the last partition with spill > 0
    (1), not to the last partition (3)."""
    file = partitioner_file(4, [], keep=[0, 0, 0, 0], spill=[3, 0.7, 0, 0])
    expected = Expected(file)
    assert expected.ends[-1] == 1 - 2**-53
    h = state_before(MASK) ^ SPILL
    assert unit(h, SPILL) == 1 - 2**-53 >= expected.ends[-1], "the draw is past every slice"
    partitioner = spoor.Partitioner(encode(file))
    assert partitioner.partition_hash(h) == expected.partition(h) == 1
    for h in keys_from(7, 2_000):
        assert partitioner.partition_hash(h) == expected.partition(h) in (0, 1), "everything spills to 0 or 1"


key_values = st.one_of(
    st.text(max_size=20), st.binary(max_size=20), st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(allow_nan=True, allow_infinity=True), st.booleans(),
)


@given(key_values)
def test_keys_hash_as_key_hash_does(key: Union[str, bytes, int, float, bool]) -> None:
    partitioner = HAND_MADE_PARTITIONER
    h = spoor.key_hash(key)
    assert partitioner(key) == partitioner.partition(key) == partitioner.partition_hash(h) == HAND_MADE_EXPECTED.partition(h)
    assert partitioner.salts(key) == partitioner.salts_hash(h) == HAND_MADE_EXPECTED.salts(h)
    if isinstance(key, bytes):
        assert partitioner(bytearray(key)) == partitioner(memoryview(key)) == partitioner(key)



def test_wrong_keys_and_hashes_raise() -> None:
    partitioner = HAND_MADE_PARTITIONER
    for key in (None, ("a", 1), [1], object()):
        with pytest.raises(TypeError):
            partitioner(key)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            partitioner.salts(key)  # type: ignore[arg-type]
    for number in (-(2**63) - 1, 2**64):
        with pytest.raises(OverflowError):
            partitioner(number)
    for bad in (-1, 2**64):
        with pytest.raises(OverflowError):
            partitioner.partition_hash(bad)
        with pytest.raises(OverflowError):
            partitioner.salts_hash(bad)
    with pytest.raises(TypeError):
        partitioner.partition_hash("heavy")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        partitioner()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        partitioner("a", "b")  # type: ignore[call-arg]


# ---- generated files -------------------------------------------------------------------------

hashes = st.integers(min_value=0, max_value=MASK)


@st.composite
def partitioner_files(draw: st.DrawFn) -> dict[str, Any]:
    """A valid partitioner file: placed keys (key hash 0 and 2^64 - 1 among the candidates, hex in
    either case), optional salts and values, and, or not, keep and spill of every kind."""
    partitions = draw(st.one_of(st.integers(1, 12), st.integers(13, 200)))
    key_hashes = draw(st.lists(st.one_of(st.just(0), st.just(MASK), hashes), unique=True, max_size=40))
    keys = []
    for h in key_hashes:
        text = f"{h:016x}"
        entry: dict[str, Any] = {"key_hash": text.upper() if draw(st.booleans()) else text,
                                 "partition": draw(st.integers(0, partitions - 1))}
        if draw(st.booleans()):
            entry["salts"] = draw(st.integers(1, partitions))
        if draw(st.booleans()):
            entry["value"] = draw(st.text(max_size=6))
        if draw(st.booleans()):
            entry["share"] = draw(st.floats(0, 1))
        keys.append(entry)
    file = partitioner_file(partitions, keys)
    if draw(st.booleans()):
        share = st.one_of(st.just(0), st.just(1), st.floats(0, 1))
        keep = draw(st.lists(share, min_size=partitions, max_size=partitions))
        weight = st.one_of(st.just(0), st.just(1), st.floats(0, 100))
        spill = draw(st.lists(weight, min_size=partitions, max_size=partitions))
        if any(k < 1 for k in keep) and not any(w > 0 for w in spill):
            spill[draw(st.integers(0, partitions - 1))] = draw(st.floats(1e-9, 100))
        file["keep"], file["spill"] = keep, spill
    if draw(st.booleans()):
        file["imbalance"] = {"before": 2.5, "after": 1.2, "lower_bound": 1.0}
        file["unknown"] = [{"nested": [None, True]}]
    return file


@settings(max_examples=150, deadline=None)
@given(partitioner_files(), st.lists(hashes, min_size=1, max_size=300))
def test_generated_files_route_as_the_documented_algorithm(file: dict[str, Any], keys: list[int]) -> None:
    partitioner = spoor.Partitioner(encode(file))
    expected = Expected(file)
    assert partitioner.partitions == file["partitions"]
    assert partitioner.keys == len(file["keys"])
    for h, (partition, salts) in placements(file).items():
        assert partitioner.partition_hash(h) == partition
        assert partitioner.salts_hash(h) == salts
    for h in keys:
        got = partitioner.partition_hash(h)
        assert 0 <= got < file["partitions"]
        assert got == expected.partition(h), f"key hash {h:016x}"
        assert partitioner.salts_hash(h) == expected.salts(h)


@settings(max_examples=40, deadline=None)
@given(partitioner_files())
def test_text_bytes_and_buffers_load_alike(file: dict[str, Any]) -> None:
    text = json.dumps(file)
    loaded = [spoor.Partitioner(text), spoor.Partitioner(text.encode()), spoor.Partitioner(bytearray(text.encode())),
              spoor.Partitioner(memoryview(text.encode())), spoor.Partitioner(json=text.encode())]
    assert all(p == loaded[0] and p.json == text.encode() for p in loaded)
    for h in keys_from(len(text), 50):
        assert len({p.partition_hash(h) for p in loaded}) == 1


# ---- malformed files ---------------------------------------------------------------------------

VALID = partitioner_file(4, [])


def changed(**members: Any) -> bytes:
    file = dict(VALID)
    for name, value in members.items():
        if value is None:
            del file[name]
        else:
            file[name] = value
    return encode(file)


MALFORMED: list[tuple[bytes, str]] = [
    (b"", "unexpected end of input at byte 0"),
    (b"not json", "unexpected character at byte 0"),
    (b"\xff\xfe", "unexpected character at byte 0"),
    (b"[]", "not a JSON object"),
    (b'{"format":"spoor-partitioner"', "expected ',' or '}' at byte 29"),
    (b"[" * 1_000_000, "nested deeper than 64"),
    (changed(format="other"), 'format is "other", not "spoor-partitioner"'),
    (changed(format=None), "format is missing or not a string"),
    (changed(version=2), "version 2 is not supported"),
    (changed(version=1.5), "version must be an integer, not 1.5"),
    (changed(hash="murmur"), 'hash "murmur" is not supported'),
    (changed(partitions=0), "partitions must be in 1...1048576, not 0"),
    (changed(partitions="4"), "partitions is missing or not a number"),
    (changed(keys=None), "keys is missing or not an array"),
    (changed(keys=[1]), "keys[0] is not an object"),
    (changed(keys=[{"key_hash": "abc", "partition": 0}]), 'key_hash "abc" is not 16 hex digits'),
    (changed(keys=[{"key_hash": "000000000000000g", "partition": 0}]), "is not 16 hex digits"),
    (changed(keys=[{"key_hash": 255, "partition": 0}]), "keys[0].key_hash is missing or not a string"),
    (changed(keys=[placed(255, 0), {"key_hash": "00000000000000FF", "partition": 1}]), "key 00000000000000FF is listed twice"),
    (changed(keys=[placed(255, 4)]), "key 00000000000000ff: partition 4 is outside 0..<4"),
    (changed(keys=[placed(255, -1)]), "partition -1 is outside 0..<4"),
    (changed(keys=[{"key_hash": "00000000000000ff"}]), "keys[0].partition is missing or not a number"),
    (changed(keys=[placed(255, 0, salts=0)]), "salts 0 is outside 1...4"),
    (changed(keys=[placed(255, 0, salts=5)]), "salts 5 is outside 1...4"),
    (changed(keys=[dict(placed(255, 0), value=3)]), "keys[0].value is not a string"),
    (changed(keep=[1, 1, 1], spill=[1, 1, 1, 1]), "keep must hold 4 numbers in [0, 1]"),
    (changed(keep=[1, 1, 1, 1.5], spill=[1, 1, 1, 1]), "keep must hold 4 numbers in [0, 1]"),
    (changed(keep=[1, 1, 1, 1], spill=[1, -1, 1, 1]), "spill must hold 4 numbers >= 0"),
    (changed(keep=[1, 1, 1, 0.5]), "keep and spill come together"),
    (changed(keep=[1, 1, 1, 0.5], spill=[0, 0, 0, 0]), "spill is all zero"),
    (changed(imbalance=3), "imbalance is not an object"),
    (changed(operator=5), "operator is not a string"),
]


@pytest.mark.parametrize(("data", "reason"), MALFORMED, ids=[reason for _, reason in MALFORMED])
def test_malformed_files_raise_parse_error_with_the_detail(data: bytes, reason: str) -> None:
    with pytest.raises(spoor.ParseError) as raised:
        spoor.Partitioner(data)
    error = raised.value
    assert error.code == -12 and isinstance(error, ValueError)
    assert error.detail.startswith("partitioner file: ") and reason in error.detail, error.detail
    assert str(error) == error.detail


def test_not_a_file_at_all() -> None:
    for value in (None, 12, ["{}"], {"format": "spoor-partitioner"}):
        with pytest.raises(TypeError, match="bytes-like or str"):
            spoor.Partitioner(value)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        spoor.Partitioner()  # type: ignore[call-arg]
    with pytest.raises(FileNotFoundError):
        spoor.Partitioner.load("/nonexistent/partitioner.json")


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_damaged_files_load_or_raise_parse_error(data: st.DataObject) -> None:
    """Any bytes (here: a valid file with bytes replaced, cut short or inserted) either load
    into a partitioner that routes into range or raise ParseError: nothing else."""
    text = bytearray(encode(data.draw(partitioner_files())))
    for _ in range(data.draw(st.integers(1, 4))):
        where = data.draw(st.integers(0, len(text)))
        action = data.draw(st.sampled_from(["replace", "cut", "insert"]))
        if action == "cut":
            del text[where:]
        elif action == "insert":
            text[where:where] = data.draw(st.binary(min_size=1, max_size=3))
        elif where < len(text):
            text[where] = data.draw(st.integers(0, 255))
    try:
        partitioner = spoor.Partitioner(bytes(text))
    except spoor.ParseError as error:
        assert error.detail.startswith("partitioner file: ")
        return
    for h in keys_from(len(text), 20):
        assert 0 <= partitioner.partition_hash(h) < partitioner.partitions


# ---- pickling, equality, loading ---------------------------------------------------------------


def test_pickle_round_trip_reloads_the_same_partitioner(tmp_path: Path) -> None:
    partitioner = spoor.Partitioner.load(write(tmp_path / "p.json", HAND_MADE))
    assert isinstance(partitioner, spoor._spoor.Partitioner) and repr(partitioner) == "<spoor.Partitioner partitions=8 keys=3>"
    copies = [pickle.loads(pickle.dumps(partitioner, protocol)) for protocol in range(pickle.HIGHEST_PROTOCOL + 1)]
    copies += [copy.copy(partitioner), copy.deepcopy(partitioner)]
    try:
        from pyspark import cloudpickle  # what PySpark ships closures with
    except ImportError:
        pass
    else:
        copies.append(pickle.loads(cloudpickle.dumps(partitioner)))  # type: ignore[no-untyped-call,unused-ignore]
    sample = keys_from(23, 2_000) + [0, spoor.key_hash("heavy")]
    for other in copies:
        assert type(other) is spoor.Partitioner and other is not partitioner
        assert other == partitioner and hash(other) == hash(partitioner) and other.json == partitioner.json
        assert [other.partition_hash(h) for h in sample] == [partitioner.partition_hash(h) for h in sample]
        assert [other.salts_hash(h) for h in sample] == [partitioner.salts_hash(h) for h in sample]
    assert pickle.dumps(partitioner).count(partitioner.json) == 1, "the pickle is the file's bytes"
    assert spoor.Partitioner.load(str(tmp_path / "p.json")) == partitioner
    assert partitioner != spoor.Partitioner(encode(VALID)) and partitioner != HAND_MADE and partitioner != partitioner.json
    assert len({partitioner, *copies}) == 1


def write(path: Path, file: dict[str, Any]) -> Path:
    path.write_bytes(encode(file))
    return path


# ---- threads -----------------------------------------------------------------------------------


def test_threads_route_through_one_partitioner() -> None:
    """Eight threads route through one partitioner at once, from a start barrier, while the
    main thread drops its own reference: every answer is the single-threaded one, and the
    library's partitioner is freed when the last thread lets go of it."""
    partitioner: Optional[spoor.Partitioner] = spoor.Partitioner(encode(HAND_MADE))
    assert partitioner is not None
    sample = keys_from(31, 20_000)
    expected = [partitioner.partition_hash(h) for h in sample]
    words = [f"w{i}" for i in range(2_000)] + ["heavy"]
    expected_words = [partitioner(w) for w in words]
    barrier = threading.Barrier(9)
    results: dict[int, tuple[list[int], list[int], list[int]]] = {}
    errors: list[BaseException] = []

    def work(index: int, shared: spoor.Partitioner) -> None:
        try:
            barrier.wait()
            routed = [shared.partition_hash(h) for h in sample]
            salts = [shared.salts_hash(h) for h in sample]
            by_word = [shared(w) for w in words]
            results[index] = (routed, salts, by_word)
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(i, partitioner)) for i in range(8)]
    for thread in threads:
        thread.start()
    partitioner = None  # the threads hold the only references now
    barrier.wait()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert sorted(results) == list(range(8))
    for routed, salts, by_word in results.values():
        assert routed == expected and by_word == expected_words
        assert salts == [HAND_MADE_EXPECTED.salts(h) for h in sample]


def test_threads_load_and_drop_partitioners_while_others_route() -> None:
    """Loading (which runs without the GIL) and freeing partitioners in some threads while others
    route through theirs: every thread gets its own partitioner's answers."""
    files = [partitioner_file(n, [placed("heavy", n - 1, salts=n)], keep=[0.5] * n, spill=[1] * n) for n in range(2, 10)]
    sample = keys_from(41, 3_000)
    barrier = threading.Barrier(len(files))
    failures: list[str] = []

    def work(file: dict[str, Any]) -> None:
        expected = Expected(file)
        barrier.wait()
        for round in range(20):
            partitioner = spoor.Partitioner(encode(file))
            if partitioner("heavy") != file["partitions"] - 1 or partitioner.salts("heavy") != file["partitions"]:
                failures.append(f"{file['partitions']}: heavy misplaced in round {round}")
            if round % 5 == 0 and [partitioner.partition_hash(h) for h in sample] != [expected.partition(h) for h in sample]:
                failures.append(f"{file['partitions']}: routing differs in round {round}")
            del partitioner

    threads = [threading.Thread(target=work, args=(file,)) for file in files]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []


# ---- PySpark -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    pytest.importorskip("pyspark")
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    from pyspark.sql import SparkSession

    session = (SparkSession.builder.master("local[2]").appName("spoor-partitioner-test")
               .config("spark.ui.enabled", "false").getOrCreate())
    yield session
    session.stop()


def test_partition_by_on_spark_places_every_record_of_a_heavy_key(spark: Any) -> None:
    """A planted heavy key ("spark", 40% of the records) and a second one ("the", 10%) over 300
    light words, partitioned on real Spark with a partitioner that places them and spills the
    hashed keys of the heavy key's partition: every record is on the partition the library
    gives its key (the documented algorithm's partition too), every record of a placed key on
    its planned partition, the heavy key's partition holds nothing else, and the records and a
    reduceByKey's results are those of plain partitionBy."""
    generator = random.Random(5)
    words = [f"w{i}" for i in range(300)]
    records = [("spark" if r < 0.4 else "the" if r < 0.5 else generator.choice(words), n)
               for n, r in enumerate(generator.random() for _ in range(6_000))]
    file = partitioner_file(6, [placed("spark", 2, salts=3, value="spark"), placed("the", 4, value="the")],
                            keep=[1, 1, 0, 1, 0.5, 1], spill=[1, 1, 0, 1, 0, 1])
    partitioner = spoor.Partitioner(encode(file))
    expected = Expected(file)
    rdd = spark.sparkContext.parallelize(records, 4)

    partitioned = spoor.spark.partition_by(rdd, partitioner)
    assert partitioned.getNumPartitions() == 6
    parts: list[list[tuple[str, int]]] = partitioned.glom().collect()
    assert len(parts) == 6
    for index, part in enumerate(parts):
        for key, _ in part:
            assert partitioner(key) == index and expected.partition(spoor.key_hash(key)) == index, key
    planted = Counter(key for key, _ in records)
    assert Counter(key for key, _ in parts[2])["spark"] == planted["spark"] == len(parts[2]), \
        "every record of the heavy key, and nothing else, is on partition 2"
    assert Counter(key for key, _ in parts[4])["the"] == planted["the"]
    spilled = {key for key in words if plain_partition(spoor.key_hash(key), 6) == 2}
    assert spilled and all(partitioner(key) != 2 for key in spilled), "partition 2's hashed keys spilled"

    flat = sorted(record for part in parts for record in part)
    assert flat == sorted(rdd.partitionBy(6).collect()) == sorted(records), "the same records, only placed"
    counts = rdd.reduceByKey(add, partitioner.partitions, partitioner)
    assert sorted(counts.collect()) == sorted(rdd.reduceByKey(add).collect())
    for index, part in enumerate(counts.glom().collect()):
        assert all(partitioner(key) == index for key, _ in part)
    equal = spoor.Partitioner(partitioner.json)
    assert partitioned.partitionBy(6, equal) is partitioned, "an equal partitioner (the same file) needs no new shuffle"


# ---- a file written by the CLI -----------------------------------------------------------------


def test_the_cli_file_loads_and_places_its_heavy_key(tmp_path: Path) -> None:
    """A run traced by this binding (every entry sampled, each with its key's hash and the key as
    its `key` attribute; "heavy" is 30% of the keys), then `spoor skew --partitions 8 -o FILE`:
    the file loads, lists "heavy" with a partition and salts, and the partitioner sends "heavy"
    there, every listed key to its partition and every other key where the documented
    algorithm does."""
    log_dir = tmp_path / "traces"
    generator = random.Random(9)
    words = [f"w{i}" for i in range(200)]
    with spoor.init(log_dir, sampling=spoor.Sampling.all(), use_env=False, full_policy=spoor.FullPolicy.BLOCK):
        op = spoor.operator("pair", "test_partitioner.py")
        for _ in range(10_000):
            word = "heavy" if generator.random() < 0.3 else generator.choice(words)
            spoor.entry_with(op, spoor.key_hash(word), {"key": word})
        spoor.flush()
        assert spoor.stats().dropped == 0
    output = tmp_path / "partitioner.json"
    subprocess.run([cli(), "skew", str(log_dir), "--operator", "pair", "--partitions", "8", "-o", str(output)],
                   check=True, capture_output=True, text=True)
    file = json.loads(output.read_text())
    partitioner = spoor.Partitioner.load(output)
    assert partitioner.partitions == 8 and partitioner.keys == len(file["keys"]) >= 1
    heavy = next(key for key in file["keys"] if key.get("value") == "heavy")
    assert int(heavy["key_hash"], 16) == spoor.key_hash("heavy")
    assert partitioner("heavy") == heavy["partition"] and partitioner.salts("heavy") == heavy["salts"] >= 2, \
        "a 30% key on 8 partitions is placed and salted"
    for key in file["keys"]:
        assert partitioner.partition_hash(int(key["key_hash"], 16)) == key["partition"]
    expected = Expected(file)
    for h in keys_from(13, 5_000):
        assert partitioner.partition_hash(h) == expected.partition(h)
