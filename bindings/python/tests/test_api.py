"""The Python API over the whole C ABI: reports, errors, folds, contexts, sampling, statistics."""

from __future__ import annotations

from array import array
from pathlib import Path

import pytest

import spoor
from conftest import attachment, dump, finish, hexid


def test_entry_checkpoint_poke_reports(traced: Path) -> None:
    parse = spoor.operator("parse", "job.py:12")
    assert spoor.operator("parse", "job.py:12") == parse, "operators are interned by name and site"
    line = spoor.entry(parse, spoor.key_hash("the line"))
    assert line != 0
    start = spoor.now()
    word = spoor.checkpoint1(line, parse, spoor.key_hash("word"), start, spoor.now())
    joined = spoor.checkpoint([line, word, 0], parse, attachment={"rows": "2", "raw": b"\x00\x01"})
    fanned = spoor.checkpoint(line, parse, fanout=3)
    spoor.poke(joined, parse, spoor.Event.SHUFFLE_WRITE)
    spoor.poke(0, parse, spoor.Event.EXIT)  # untracked: nothing
    tagged = spoor.entry_with(parse, 7, {"source": "file.txt"})
    reports = {r["id"]: r for r in dump(finish()) if r["kind"] != "poke"}
    pokes = [r for r in dump(spoor_run_dirs(traced)[0]) if r["kind"] == "poke"]
    assert reports[hexid(line)]["kind"] == "entry"
    assert reports[hexid(line)]["operator"] == "parse" and reports[hexid(line)]["call_site"] == "job.py:12"
    assert reports[hexid(line)]["key_hash"] == hexid(spoor.key_hash("the line"))
    assert reports[hexid(word)]["parents"] == [hexid(line)]
    assert reports[hexid(word)]["start_ns"] == start
    assert reports[hexid(joined)]["parents"] == [hexid(line), hexid(word)], "zeros are left out"
    assert attachment(reports[hexid(joined)])["rows"] == "2"
    assert reports[hexid(fanned)]["fanout"] == 3
    assert attachment(reports[hexid(tagged)]) == {"source": "file.txt"}
    assert [(p["id"], p["event"]) for p in pokes] == [(hexid(joined), "shuffle_write")]


def spoor_run_dirs(root: Path) -> list[str]:
    return sorted(str(p) for p in root.iterdir() if p.is_dir())


def test_mint_is_always_traced(traced: Path) -> None:
    op = spoor.operator("task")
    spoor.set_sampling(spoor.Sampling.off())
    assert spoor.entry(op) == 0
    task = spoor.mint(op, 3, {"stage": "1"})
    assert task != 0
    reports = {r["id"]: r for r in dump(finish())}
    assert reports[hexid(task)]["kind"] == "entry" and attachment(reports[hexid(task)]) == {"stage": "1"}


def test_untracked_parents_never_report(traced: Path) -> None:
    op = spoor.operator("noop")
    before = spoor.stats().written
    assert spoor.checkpoint1(0, op) == 0
    assert spoor.checkpoint([0, 0, 0], op) == 0
    assert spoor.checkpoint([], op) == 0
    assert spoor.fold_report([0], op) == 0
    assert spoor.stats().written == before, "no report was written for untracked parents"


def test_fold_context_manager(traced: Path) -> None:
    op = spoor.operator("sum")
    ids = [spoor.entry(op) for _ in range(10)]
    with spoor.fold(op, key_hash=spoor.key_hash("k")) as f:
        for i in ids:
            f.add(i)
        f.add(0)
        assert len(f) == 10
    assert f.id != 0
    with pytest.raises(KeyError):
        with spoor.fold(op) as g:
            g.add(ids[0])
            raise KeyError("abandoned")
    assert g.id == 0
    other = spoor.fold(op)
    other.add_many(array("Q", ids[:3]))
    with spoor.fold(op) as merged:
        merged.merge(other)
    reports = {r["id"]: r for r in dump(finish())}
    folded = reports[hexid(f.id)]
    assert folded["fold"] is True
    assert folded["parents"] == [hexid(i) for i in ids]
    assert reports[hexid(merged.id)]["parents"] == [hexid(i) for i in ids[:3]]


def test_errors_carry_code_and_detail(log_dir: Path) -> None:
    with pytest.raises(spoor.NotInitialized) as caught:
        spoor.entry(1)
    assert caught.value.code == -2 and "not initialized" in caught.value.detail
    assert isinstance(caught.value, spoor.SpoorError)
    with pytest.raises(spoor.InvalidConfig) as config:
        spoor.init(log_dir, ring_slots=1000, use_env=False)
    assert "ring_slots" in str(config.value)
    with pytest.raises(spoor.InvalidConfig):
        spoor.init(log_dir, sampling=spoor.Sampling.with_probability(2.0), use_env=False)
    with spoor.init(log_dir, sampling=spoor.Sampling.all(), use_env=False):
        with pytest.raises(spoor.AlreadyInitialized):
            spoor.init(log_dir, use_env=False)
        op = spoor.operator("bad")
        parent = spoor.entry(op)
        with pytest.raises(TypeError):
            spoor.checkpoint1("1", op)  # type: ignore[arg-type]
        with pytest.raises(OverflowError):
            spoor.checkpoint1(-1, op)
        with pytest.raises(OverflowError):
            spoor.checkpoint1(2**64, op)
        with pytest.raises(OverflowError):
            spoor.entry(2**32)
        with pytest.raises(TypeError):
            spoor.entry(op, 1, 2)  # type: ignore[call-arg]
        with pytest.raises(spoor.TooManyParents) as many:
            spoor.checkpoint([parent] * 1_000_000, op)
        assert "1000000" in many.value.detail
        with pytest.raises(spoor.TooManyParents):
            spoor.checkpoint(array("Q", [parent]) * 70_000, op)
        with pytest.raises(spoor.TooManyParents):
            spoor.checkpoint(iter([parent] * 70_000), op)
        with pytest.raises(TypeError):
            spoor.checkpoint([parent, "x"], op)  # type: ignore[list-item]
        with pytest.raises(TypeError):
            spoor.checkpoint(array("i", [1, 2]), op)
        with pytest.raises(spoor.AttachmentTooLarge):
            spoor.checkpoint(parent, op, attachment={"k": "v" * 2000})
        with pytest.raises(spoor.AttachmentTooLarge):
            spoor.checkpoint(parent, op, attachment={str(i): "" for i in range(400)})
        with pytest.raises(spoor.InvalidArgument):
            spoor.checkpoint(parent, op, attachment={"": "empty key"})
        with pytest.raises(TypeError):
            spoor.checkpoint(parent, op, attachment={1: "key not str"})  # type: ignore[dict-item]
        with pytest.raises(spoor.InvalidArgument):
            spoor.poke(parent, op, 0)
        with pytest.raises(OverflowError):
            spoor.poke(parent, op, 2**40)
        with pytest.raises(ValueError):
            spoor.checkpoint(parent, op, fanout=70_000)
        with pytest.raises(spoor.InvalidArgument):
            spoor.operator("")
        with pytest.raises(spoor.InvalidArgument):
            spoor.operator("n" * 300)
        with pytest.raises(spoor.ParseError):
            spoor.from_context("00-zz-01")
        with pytest.raises(spoor.ParseError):
            spoor.from_context_bytes(b"\x00")
        with pytest.raises(TypeError):
            spoor.key_hash(object())  # type: ignore[arg-type]
        with pytest.raises(OverflowError):
            spoor.key_hash(-(2**63) - 1)
        with pytest.raises(ValueError):
            spoor.checkpoints(array("Q", [1, 2]), op, keys=array("Q", [1]))
        with pytest.raises(ValueError):
            spoor.flush(0)
    with pytest.raises(spoor.NotInitialized):
        spoor.checkpoint1(parent, op)
    assert spoor.checkpoint1(0, op) == 0, "an untracked record needs no library"
    with pytest.raises(spoor.NotInitialized):
        spoor.shutdown()
    with pytest.raises(spoor.NotInitialized):
        spoor.stats()


def test_context_round_trip(traced: Path) -> None:
    op = spoor.operator("ctx")
    record = spoor.entry(op)
    text = spoor.to_context(record)
    assert len(text) == 22 and text.endswith("-01")
    assert spoor.from_context(text) == record
    assert spoor.from_context_bytes(spoor.to_context_bytes(record)) == record
    assert spoor.to_context(0) == "00-0000000000000000-00"
    assert spoor.from_context(spoor.to_context(0)) == 0
    continued = spoor.Traced.from_context("payload", text)
    assert continued.id == record and continued.context == text


def test_sampling_switched_at_run_time(traced: Path) -> None:
    op = spoor.operator("src")
    assert spoor.get_sampling() == spoor.Sampling.all()
    spoor.set_sampling(spoor.Sampling.off())
    assert all(spoor.entry(op) == 0 for _ in range(100))
    spoor.set_sampling(spoor.Sampling.every(10))
    sampled = sum(spoor.entry(op) != 0 for _ in range(100))
    assert sampled == 10
    spoor.set_sampling(0.5)
    assert spoor.get_sampling() == spoor.Sampling.with_probability(0.5)
    with pytest.raises(spoor.InvalidConfig):
        spoor.set_sampling(spoor.Sampling.every(0))
    with pytest.raises(TypeError):
        spoor.set_sampling("all")  # type: ignore[arg-type]


def test_batch_calls_take_buffers_sequences_and_iterables(traced: Path) -> None:
    op = spoor.operator("forms")
    raw = array("Q", [1, 2, 3]).tobytes()
    for keys in (array("Q", [1, 2, 3]), [1, 2, 3], (1, 2, 3), iter([1, 2, 3]), raw, memoryview(raw), bytearray(raw)):
        ids = spoor.entries(op, keys)
        assert len(ids) == 3 and all(ids), type(keys)
        assert len(spoor.checkpoints(keys if not isinstance(keys, type(iter([]))) else ids, op)) == 3
    assert list(spoor.entries(op, [])) == [] and list(spoor.checkpoints(array("Q"), op)) == []
    with pytest.raises(TypeError):
        spoor.entries(op, b"12345")  # not a whole number of 8-byte words
    with pytest.raises(OverflowError):
        spoor.entries(op, [-1])


def test_stats_and_flush(traced: Path) -> None:
    op = spoor.operator("count")
    ids = spoor.entries(op, array("Q", range(1000)))
    spoor.checkpoints(ids, op)
    spoor.flush()
    s = spoor.stats()
    assert s.written == 2000 and s.written == s.committed + s.dropped and s.drained == s.committed
    assert s.sampled == 1000
    own = spoor.thread_stats()
    assert own.written == 2000
    assert spoor.run_dir().startswith(str(traced))
    assert spoor.shm_name().startswith("/")


def test_key_hash_is_the_cross_language_hash() -> None:
    assert spoor.key_hash("a") == 0xAF63DC4C8601EC8C, "FNV-1a 64 of UTF-8, as spoor.h documents"
    assert spoor.key_hash(b"a") == spoor.key_hash("a") == spoor.key_hash(bytearray(b"a")) == spoor.key_hash(memoryview(b"a"))
    assert spoor.key_hash(-1) == spoor.key_hash(b"\xff" * 8) == spoor.key_hash(2**64 - 1)
    assert spoor.key_hash(True) == spoor.key_hash(1) == spoor.key_hash((1).to_bytes(8, "little"))
    import struct

    assert spoor.key_hash(1.5) == spoor.key_hash(struct.pack("<d", 1.5))
    assert spoor.key_sampled(spoor.key_hash("a"), 1.0) and not spoor.key_sampled(spoor.key_hash("a"), 0.0)


def test_partition_and_names(traced: Path) -> None:
    op = spoor.operator("part")
    spoor.set_partition(7)
    first = spoor.entry(op)
    spoor.set_partition(None)
    second = spoor.entry(op)
    reports = {r["id"]: r for r in dump(finish())}
    assert reports[hexid(first)]["partition"] == 7 and reports[hexid(second)]["partition"] is None
    assert spoor.event_name(spoor.Event.ERROR) == "error" and spoor.event_name(99999) == "unknown"
    assert "invalid" in spoor.strerror(-1).lower() and spoor.strerror(2**40) == spoor.strerror(-(2**31))
    assert spoor.version() == "0.1.0" and spoor.abi_version() == 1


def test_operator_ids_survive_reinit(log_dir: Path) -> None:
    with spoor.init(log_dir, sampling=spoor.Sampling.all(), use_env=False):
        first = spoor.operator("stable-a", "a.py:1")
        second = spoor.operator("stable-b", "b.py:2")
    with spoor.init(log_dir, sampling=spoor.Sampling.all(), use_env=False):
        record = spoor.entry(second)
        run = spoor.run_dir()
    reports = dump(run)
    assert [r["operator"] for r in reports if r["id"] == hexid(record)] == ["stable-b"]
    assert first < second


def test_batch_reports_match_single_reports(log_dir: Path) -> None:
    """The reports of the batch calls are those of the single calls, field for field (ids aside)."""
    spoor.init(log_dir, sampling=spoor.Sampling.all(), use_env=False)
    op = spoor.operator("same")
    keys = [spoor.key_hash(f"k{i}") for i in range(50)]
    batch_entries = spoor.entries(op, keys)
    single_entries = [spoor.entry(op, k) for k in keys]
    batch_out = spoor.checkpoints(batch_entries, op, keys, 10, 20)
    single_out = [spoor.checkpoint1(p, op, k, 10, 20) for p, k in zip(single_entries, keys)]
    reports = {r["id"]: r for r in dump(finish())}

    def shape(record: int, parent_of: dict[int, int]) -> tuple[object, ...]:
        r = reports[f"{record:016x}"]
        return (r["kind"], r["key_hash"], r["start_ns"], r["operator"], len(r["parents"]))

    assert [shape(i, {}) for i in batch_out] == [shape(i, {}) for i in single_out]
    assert [reports[f"{i:016x}"]["parents"] for i in batch_out] == [[f"{p:016x}"] for p in batch_entries]


def test_threads_trace_with_exact_accounting(traced: Path) -> None:
    """Python threads are OS threads: each takes a ring of its own (or shares one), and the
    per-thread counters add up to the process's."""
    import threading

    op = spoor.operator("threads")
    results: list[spoor.Stats] = []
    lock = threading.Lock()

    def work(index: int) -> None:
        for start in range(0, 20_000, 1_000):
            ids = spoor.entries(op, array("Q", range(index * 20_000 + start, index * 20_000 + start + 1_000)))
            spoor.checkpoints(ids, op)
            spoor.checkpoint1(ids[0], op)
        with lock:
            results.append(spoor.thread_stats())

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    spoor.flush()
    total = spoor.stats()
    assert len(results) == 8
    assert sum(r.written for r in results) == total.written
    assert total.written == total.committed + total.dropped and total.drained == total.committed
    assert sum(r.sampled for r in results) == 8 * 20_000
