"""Benchmarks of the Python binding: one JSON object per line, the row shape of bench/bench.c
with "lang": "python".

Each per-call row times a loop of `ops` calls on this thread's CPU clock (time.thread_time_ns:
the collector thread's work is not counted), in `rounds` rounds interleaved with the loops it is
compared against, and reports the median and the 90th percentile of the net cost per call (the
loop's time less that of an empty loop of the same length, measured in the same round). Ratios
are of medians measured in the same run:
  - to an empty Python function taking the same arguments (target <= 2.5);
  - to a bare no-op through the same binding path, spoor._spoor.noop: the same call, the same
    argument conversions and a new id-sized int returned, without calling libspoor
    (target <= 1.15);
  - to an OpenTelemetry SDK span: a child span with 3 attributes through a BatchSpanProcessor
    into an exporter that discards (target <= 1/200).
"retained_blocks_per_op" is what sys.getallocatedblocks() grows by per call while every result
is kept: 1.0 is the int the call returns and nothing else.

Usage: python3 bench/python/bench.py [--quick]
"""

from __future__ import annotations

import gc
import json
import os
import statistics
import sys
import tempfile
import time
from array import array
from typing import Any, Callable, Optional

import spoor
from spoor import _spoor

QUICK = "--quick" in sys.argv
ROUNDS = 7 if QUICK else 21
OPS = 20_000 if QUICK else 100_000


def emit(row: dict[str, Any]) -> None:
    row.setdefault("lang", "python")
    print(json.dumps(row), flush=True)


def loop_time(body: Callable[[int], None], ops: int) -> int:
    """CPU ns of this thread for body(ops)."""
    gc.disable()
    try:
        start = time.thread_time_ns()
        body(ops)
        return time.thread_time_ns() - start
    finally:
        gc.enable()


def measure(bodies: dict[str, Callable[[int], None]], ops: int = OPS, rounds: int = ROUNDS) -> dict[str, list[float]]:
    """Net ns per call of each body, per round; the bodies run interleaved in every round, with an
    empty loop first whose time is subtracted."""

    def empty(n: int) -> None:
        for _ in range(n):
            pass

    samples: dict[str, list[float]] = {name: [] for name in bodies}
    for body in bodies.values():
        body(ops // 10)  # warm up
    for round_index in range(rounds):
        order = list(bodies.items())
        if round_index % 2:
            order.reverse()
        base = loop_time(empty, ops)
        for name, body in order:
            samples[name].append(max(loop_time(body, ops) - base, 0) / ops)
    return samples


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def row(name: str, values: list[float], *, baseline: Optional[str] = None, ratio: Optional[float] = None,
        target: Optional[float] = None, **extra: Any) -> dict[str, Any]:
    result: dict[str, Any] = {
        "bench": name, "unit": "ns/op", "median": round(statistics.median(values), 2),
        "p90": round(percentile(values, 0.9), 2), "min": round(min(values), 2), "threads": 1, "ring": "private",
        "samples": len(values), "ops_per_sample": OPS,
    }
    if baseline is not None:
        result["baseline"] = baseline
    if ratio is not None:
        result["ratio_to_baseline"] = round(ratio, 3)
    if target is not None:
        result["target"] = target
    result.update(extra)
    return result


def retained_blocks(call: Callable[[], object], ops: int = 10_000) -> float:
    kept: list[object] = [None] * ops
    gc.collect()
    gc.disable()
    try:
        before = sys.getallocatedblocks()
        for index in range(ops):
            kept[index] = call()
        after = sys.getallocatedblocks()
    finally:
        gc.enable()
    del kept
    return (after - before) / ops


def otel_span_cost() -> list[float]:
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    class Discard(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

        def shutdown(self) -> None:
            pass

    provider = TracerProvider()
    processor = BatchSpanProcessor(Discard(), max_queue_size=1 << 16)
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("spoor-bench")
    parent = tracer.start_span("parent")
    context = trace.set_span_in_context(parent)

    def spans(n: int) -> None:
        for i in range(n):
            span = tracer.start_span("udf", context=context, attributes={"key": i, "op": "map", "partition": 3})
            span.end()

    values = measure({"otel": spans}, ops=OPS // 20, rounds=max(ROUNDS // 3, 3))["otel"]
    parent.end()
    provider.shutdown()
    return values


def binding_layers(op: int, per_call: dict[str, list[float]], empty_median: float) -> None:
    """The choice of binding layer, measured: the same no-op and the same sampled entry through
    cffi in API mode (compiled against include/spoor.h, the header's inline fast path included)
    beside this extension. Skipped if cffi is not installed."""
    try:
        import cffi
    except ImportError:
        return
    import importlib.util
    import pathlib

    repo = pathlib.Path(__file__).resolve().parents[2]
    library = pathlib.Path(spoor.__file__).parent
    builder = cffi.FFI()
    builder.cdef("uint64_t noop(uint32_t op, uint64_t key); uint64_t entry(uint32_t op, uint64_t key);")
    builder.set_source(
        "_spoor_cffi_bench",
        '#include "spoor.h"\n'
        "static uint64_t noop(uint32_t op, uint64_t key) { return (key ^ op) | (1ull << 63); }\n"
        "static uint64_t entry(uint32_t op, uint64_t key) { uint64_t id = 0; spoor_entry(op, key, &id); return id; }\n",
        include_dirs=[str(repo / "include")], library_dirs=[str(library)],
        extra_link_args=[f"-l:libspoor.so.0", f"-Wl,-rpath,{library}"])
    out = tempfile.mkdtemp(prefix="spoor-cffi-")
    built = builder.compile(tmpdir=out, verbose=False)
    spec = importlib.util.spec_from_file_location("_spoor_cffi_bench", built)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    lib = module.lib
    cffi_noop, cffi_entry = lib.noop, lib.entry

    def calls_cffi_noop(n: int) -> None:
        for _ in range(n):
            cffi_noop(op, 7)

    def calls_cffi_entry(n: int) -> None:
        for _ in range(n):
            cffi_entry(op, 7)

    timings = measure({"cffi_noop": calls_cffi_noop, "cffi_entry": calls_cffi_entry})
    for name, key, ours in (("cffi_api_noop", "cffi_noop", "noop"), ("cffi_api_sampled_entry", "cffi_entry", "entry")):
        median = statistics.median(timings[key])
        emit(row(name, timings[key], baseline="baseline_empty_python_function", ratio=median / empty_median,
                 extension_ns=round(statistics.median(per_call[ours]), 2),
                 ratio_to_extension=round(median / statistics.median(per_call[ours]), 3)))


def main() -> None:
    root = tempfile.mkdtemp(prefix="spoor-pybench-")
    # A ring the collector (every 1 ms) keeps from filling: the rows time the call, not a full ring.
    spoor.init(root, sampling=spoor.Sampling.all(), sink=spoor.Sink.NONE, use_env=False, ring_slots=1 << 18,
               flush_interval_ms=1)
    op = spoor.operator("bench")
    parent = spoor.entry(op, 1)
    entry, checkpoint1, noop = spoor.entry, spoor.checkpoint1, _spoor.noop

    def empty_function(a: int, b: int) -> None:
        pass

    def calls_empty(n: int) -> None:
        f = empty_function
        for _ in range(n):
            f(op, 7)

    def calls_noop(n: int) -> None:
        for _ in range(n):
            noop(op, 7)

    def calls_entry(n: int) -> None:
        for _ in range(n):
            entry(op, 7)

    def calls_checkpoint(n: int) -> None:
        p = parent
        for _ in range(n):
            checkpoint1(p, op)

    per_call = measure({"empty": calls_empty, "noop": calls_noop, "entry": calls_entry, "checkpoint": calls_checkpoint})
    otel = otel_span_cost()
    empty_median = statistics.median(per_call["empty"])
    noop_median = statistics.median(per_call["noop"])
    otel_median = statistics.median(otel)
    emit(row("baseline_empty_python_function", per_call["empty"]))
    emit(row("baseline_binding_noop", per_call["noop"], baseline="baseline_empty_python_function",
             ratio=noop_median / empty_median))
    emit(row("baseline_otel_span", otel, ops_per_sample=OPS // 20))
    blocks = {"entry": retained_blocks(lambda: entry(op, 7)), "checkpoint": retained_blocks(lambda: checkpoint1(parent, op))}
    for name, key in (("sampled_entry", "entry"), ("checkpoint_1_parent", "checkpoint")):
        median = statistics.median(per_call[key])
        emit(row(name, per_call[key], baseline="baseline_empty_python_function", ratio=median / empty_median,
                 target=2.5, ratio_to_binding_noop=round(median / noop_median, 3), target_to_binding_noop=1.15,
                 ratio_to_otel_span=round(median / otel_median, 5), target_to_otel_span=round(1 / 200, 5),
                 retained_blocks_per_op=round(blocks[key], 3)))

    binding_layers(op, per_call, empty_median)

    # The untracked path: a traced UDF and a lift on an untracked record, over the plain call.
    def work(text: str) -> int:
        return len(text)

    traced_work = spoor.udf(work)
    wrapped = spoor.Traced("some text")  # an untracked record kept in a Traced (lifts need one)

    def plain(n: int) -> None:
        for _ in range(n):
            work("some text")

    def udf_untracked(n: int) -> None:  # an untracked record as spoor.enter gives it: the value
        for _ in range(n):
            traced_work("some text")

    def udf_untracked_wrapped(n: int) -> None:
        for _ in range(n):
            traced_work(wrapped)

    def map_untracked_wrapped(n: int) -> None:
        for _ in range(n):
            wrapped.map(work)

    untracked_calls = measure({"plain": plain, "udf": udf_untracked, "udf_wrapped": udf_untracked_wrapped,
                               "map_wrapped": map_untracked_wrapped})
    plain_median = statistics.median(untracked_calls["plain"])
    for name, key, target in (("untracked_udf_call_overhead", "udf", 60.0),
                              ("untracked_wrapped_udf_call_overhead", "udf_wrapped", None),
                              ("untracked_wrapped_map_overhead", "map_wrapped", None)):
        extra = [value - plain_median for value in untracked_calls[key]]
        emit(row(name, extra, baseline="the plain call", target=target, ffi_calls_per_op=0,
                 plain_call_ns=round(plain_median, 2)))

    # A traced UDF over the untraced call of the same function, at 1% and 100% sampling.
    lines = [f"line {i}" for i in range(OPS)]
    for probability in (0.01, 1.0):
        spoor.set_sampling(spoor.Sampling.with_probability(probability))
        records = [spoor.enter(text, op) for text in lines]

        def untraced(n: int) -> None:
            for text in lines[:n]:
                work(text)

        def traced(n: int) -> None:
            for record in records[:n]:
                traced_work(record)

        timings = measure({"untraced": untraced, "traced": traced})
        base_median = statistics.median(timings["untraced"])
        emit(row(f"udf_traced_{probability:g}", timings["traced"], baseline="the untraced call of the same function",
                 ratio=statistics.median(timings["traced"]) / base_median, sampling=probability,
                 untraced_ns=round(base_median, 2)))
    spoor.set_sampling(spoor.Sampling.all())

    # Batch throughput: entries and one-parent checkpoints over array('Q'), records per second.
    batch = 100_000
    keys = array("Q", range(batch))
    out = array("Q", bytes(8 * batch))
    ids = spoor.entries(op, keys)
    rates_entry: list[float] = []
    rates_checkpoint: list[float] = []
    for _ in range(ROUNDS):
        start = time.thread_time_ns()
        _spoor.entry_many(op, keys, out)
        rates_entry.append(batch / ((time.thread_time_ns() - start) / 1e9))
        start = time.thread_time_ns()
        _spoor.checkpoint1_many(ids, op, keys, 0, 0, out)
        rates_checkpoint.append(batch / ((time.thread_time_ns() - start) / 1e9))
    for name, rates in (("batch_entries", rates_entry), ("batch_checkpoints", rates_checkpoint)):
        emit({"bench": name, "lang": "python", "unit": "records/s", "median": round(statistics.median(rates)),
              "p10": round(percentile(rates, 0.1)), "threads": 1, "ring": "private", "samples": len(rates),
              "ops_per_sample": batch, "target": 10_000_000})
    stats = spoor.stats()
    spoor.shutdown()
    emit({"bench": "accounting", "lang": "python", "unit": "reports", "written": stats.written,
          "dropped": stats.dropped, "sink": "none"})
    os.rmdir(root) if not os.listdir(root) else None


if __name__ == "__main__":
    main()
