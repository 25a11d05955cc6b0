"""The papers' wrapper: each lift and the @spoor.udf decorator produce the right reports."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import spoor
from conftest import attachment, dump, finish, hexid


def by_id(reports: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in reports if r["kind"] != "poke"}


def test_lifts_report_parents_operators_and_events(traced: Path) -> None:
    source = spoor.operator("lines", "wordcount.py:1")
    line = spoor.Traced.enter("to be or not", source, key="to be or not")
    assert line.is_tracked

    def upper(text: str) -> str:
        return text.upper()

    shouted = line.map(upper, key=spoor.key_hash)
    words = shouted.flat_map(str.split)
    kept = [w.filter(lambda word: word != "OR") for w in words]
    pairs = [w.map(lambda word: (word, 1)) for w in kept if w is not None]
    total = pairs[0].combine(pairs[1], lambda a, b: (a[0] + b[0], a[1] + b[1]))
    joined = total.combine_with(line, lambda t, text: f"{t[0]}@{len(text)}")
    sink: list[str] = []
    joined.for_each(sink.append)
    empty: list[spoor.Traced[str]] = line.flat_map(lambda text: [])
    assert empty == [] and sink == ["TOBE@12"]

    reports = dump(finish())
    ids = by_id(reports)
    entry = ids[hexid(line.id)]
    assert entry["kind"] == "entry" and entry["key_hash"] == hexid(spoor.key_hash("to be or not"))
    mapped = ids[hexid(shouted.id)]
    assert mapped["parents"] == [hexid(line.id)]
    assert mapped["operator"].endswith("upper")
    assert mapped["call_site"].endswith(f"test_traced.py:{upper.__code__.co_firstlineno}")
    assert mapped["key_hash"] == hexid(spoor.key_hash("TO BE OR NOT"))
    assert mapped["duration_ns"] is not None and mapped["duration_ns"] >= 0
    flat = ids[hexid(words[0].id)]
    assert flat["fanout"] == 4 and [w.id - words[0].id for w in words] == [0, 1, 2, 3]
    assert flat["operator"] == "str.split"
    assert ids[hexid(total.id)]["parents"] == [hexid(pairs[0].id), hexid(pairs[1].id)]
    assert ids[hexid(joined.id)]["parents"] == [hexid(total.id), hexid(line.id)]
    events = [(r["id"], r["event"]) for r in reports if r["kind"] == "poke"]
    assert (hexid(words[2].id), "filtered") in events, "the filter removed OR"
    assert (hexid(line.id), "filtered") in events, "a flat_map with no output"
    exits = [r for r in reports if r["kind"] == "poke" and r["event"] == "exit"]
    assert len(exits) == 1 and ids[exits[0]["id"]]["parents"] == [hexid(joined.id)]


def test_untracked_records_run_the_function_only(traced: Path) -> None:
    spoor.set_sampling(spoor.Sampling.off())
    line = spoor.Traced.enter("a b", spoor.operator("src"))
    assert not line.is_tracked
    words = line.flat_map(str.split)
    assert [w.value for w in words] == ["a", "b"] and all(not w.is_tracked for w in words)
    assert line.map(len).value == 3
    assert line.filter(lambda text: False) is None
    assert line.combine(line, lambda a, b: a + b).value == "a ba b"
    spoor.flush()
    assert spoor.stats().written == 0, "nothing crossed into C"


def test_udf_decorator_reports_runtime_and_call_site(traced: Path) -> None:
    @spoor.udf
    def tokenize(line: str) -> list[str]:
        return line.split()

    @spoor.udf(name="score")
    def weigh(word: str, factor: int = 2) -> int:
        return len(word) * factor

    assert tokenize("plain call") == ["plain", "call"], "a plain value: the plain function"
    assert tokenize.__name__ == "tokenize" and tokenize.function("x y") == ["x", "y"]
    record = spoor.Traced.enter("hello world", spoor.operator("src"))
    out = tokenize(record)
    assert isinstance(out, spoor.Traced) and out.value == ["hello", "world"]
    scored = weigh(spoor.Traced("abc", out.id), factor=3)
    assert scored.value == 9
    untracked = tokenize(spoor.Traced("no id"))
    assert untracked.value == ["no", "id"] and untracked.id == 0
    ids = by_id(dump(finish()))
    report = ids[hexid(out.id)]
    assert report["operator"].endswith("tokenize") and report["parents"] == [hexid(record.id)]
    assert report["call_site"].endswith(f"test_traced.py:{tokenize.function.__code__.co_firstlineno}")
    assert report["duration_ns"] is not None
    assert ids[hexid(scored.id)]["operator"] == "score"


def test_exceptions_are_error_events_and_reraised_unchanged(traced: Path) -> None:
    class Poison(ValueError):
        pass

    failure = Poison("bad record: \u00e9" + "x" * 1000)

    @spoor.udf
    def parse(line: str) -> int:
        raise failure

    record = spoor.Traced.enter("poison", spoor.operator("src"))
    with pytest.raises(Poison) as caught:
        parse(record)
    assert caught.value is failure, "the same exception object"
    with pytest.raises(ZeroDivisionError):
        record.map(lambda text: 1 // 0)
    with pytest.raises(KeyError):
        record.combine_with(spoor.Traced(1), lambda a, b: dict[str, int]()[a])
    with pytest.raises(Poison):
        spoor.Traced("untracked").map(lambda text: (_ for _ in ()).throw(Poison("x")))
    reports = dump(finish())
    errors = [r for r in reports if r["kind"] == "poke" and r["event"] == "error"]
    assert [e["id"] for e in errors] == [hexid(record.id)] * 3, "one error event per failed traced call"
    first = attachment(errors[0])
    assert first["error.type"].endswith("Poison")
    assert first["error.message"].startswith("bad record: \u00e9") and len(first["error.message"]) <= 512
    assert attachment(errors[1])["error.type"] == "builtins.ZeroDivisionError"
    assert errors[0]["operator"].endswith("parse")


def test_enter_with_attachment_and_poke(traced: Path) -> None:
    src = spoor.operator("src")
    record = spoor.Traced.enter({"k": 1}, src, key=b"raw-key", attachment={"file": "a.csv"})
    record.poke(spoor.Event.SHUFFLE_WRITE, src).exit(src)
    reports = dump(finish())
    entry = [r for r in reports if r["id"] == hexid(record.id) and r["kind"] == "entry"][0]
    assert attachment(entry) == {"file": "a.csv"} and entry["key_hash"] == hexid(spoor.key_hash(b"raw-key"))
    assert [r["event"] for r in reports if r["kind"] == "poke"] == ["shuffle_write", "exit"]
