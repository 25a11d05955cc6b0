"""Property tests: contexts round-trip, and the batch calls agree with the one-at-a-time calls."""

from __future__ import annotations

from array import array
from pathlib import Path
from typing import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import spoor


ids = st.integers(min_value=0, max_value=2**64 - 1)


@given(ids)
def test_context_string_round_trip(record: int) -> None:
    text = spoor.to_context(record)
    assert spoor.from_context(text) == record
    assert spoor.from_context(text.upper()) == record, "hex in either case"
    assert spoor.from_context_bytes(spoor.to_context_bytes(record)) == record


@given(st.text(max_size=40))
def test_context_decode_never_crashes(text: str) -> None:
    try:
        spoor.from_context(text)
    except spoor.ParseError as error:
        assert error.code == -12


@given(st.binary(max_size=24))
def test_context_bytes_decode_never_crashes(data: bytes) -> None:
    try:
        spoor.from_context_bytes(data)
    except spoor.ParseError:
        pass


@pytest.fixture(scope="module")
def key_sampled_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("props")
    spoor.init(root, sampling=spoor.Sampling.key(0.3), use_env=False)
    yield root
    if spoor.generation():
        spoor.shutdown()


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.integers(min_value=0, max_value=2**64 - 1), max_size=300))
def test_entries_agree_with_entry(key_sampled_run: Path, keys: list[int]) -> None:
    op = spoor.operator("props")
    batch = spoor.entries(op, array("Q", keys))
    single = [spoor.entry(op, key) for key in keys]
    assert [b != 0 for b in batch] == [s != 0 for s in single] == [spoor.key_sampled(k, 0.3) for k in keys]
    assert list(spoor.entries(op, keys)) != [] or keys == []


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.booleans(), st.integers(min_value=0, max_value=2**64 - 1)), max_size=200))
def test_checkpoints_agree_with_checkpoint1(key_sampled_run: Path, rows: list[tuple[bool, int]]) -> None:
    op = spoor.operator("props-cp")
    spoor.set_sampling(spoor.Sampling.all())
    try:
        parents = [spoor.entry(op, 0) if tracked else 0 for tracked, _ in rows]
    finally:
        spoor.set_sampling(spoor.Sampling.key(0.3))
    keys = array("Q", [key for _, key in rows])
    batch = spoor.checkpoints(array("Q", parents), op, keys)
    single = [spoor.checkpoint1(p, op, k) for p, k in zip(parents, keys)]
    assert [b != 0 for b in batch] == [s != 0 for s in single] == [p != 0 for p in parents]
    assert len(set(x for x in list(batch) + single if x)) == 2 * sum(1 for p in parents if p), "fresh ids"
