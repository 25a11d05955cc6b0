"""Processes: forked children trace on their own, workers share one log, and a worker killed
with SIGKILL loses nothing it had committed."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
from array import array
from pathlib import Path
from typing import Any

import spoor
from conftest import dump, hexid, stats


def test_fork_child_traces_into_a_run_of_its_own(log_dir: Path) -> None:
    spoor.init(log_dir, sampling=spoor.Sampling.all(), use_env=False)
    op = spoor.operator("forked", "test_processes.py:1")
    parent_record = spoor.entry(op)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: no init of its own
        try:
            record = spoor.entry(op)
            child = spoor.checkpoint1(record, op)
            own = spoor.stats()
            spoor.shutdown()
            os.write(write, f"{record} {child} {own.written}".encode())
        finally:
            os._exit(0)
    os.close(write)
    _, status = os.waitpid(pid, 0)
    message = os.read(read, 200).decode().split()
    os.close(read)
    assert os.waitstatus_to_exitcode(status) == 0 and len(message) == 3
    child_entry, child_checkpoint, child_written = (int(x) for x in message)
    assert child_entry != 0 and child_written == 2, "the child's library is its own"
    assert spoor.stats().written == 1, "the child never wrote into the parent's rings"
    spoor.shutdown()
    reports = dump(log_dir)
    by_pid: dict[int, list[dict[str, Any]]] = {}
    for report in reports:
        by_pid.setdefault(report["pid"], []).append(report)
    assert sorted(by_pid) == sorted([os.getpid(), pid])
    assert [r["id"] for r in by_pid[os.getpid()]] == [hexid(parent_record)]
    child_reports = {r["id"]: r for r in by_pid[pid]}
    assert set(child_reports) == {hexid(child_entry), hexid(child_checkpoint)}
    assert child_reports[hexid(child_entry)]["operator"] == "forked", "operator ids replayed in the child"


RECORDS = int(os.environ.get("SPOOR_PY_WORKER_RECORDS", "1000000"))


def _worker(index: int, results: Any) -> None:
    op = spoor.operator("worker-entry")
    step = spoor.operator("worker-step")
    chunk = 10_000
    calls = 0
    for start in range(0, RECORDS, chunk):
        keys = array("Q", range(index * RECORDS + start, index * RECORDS + min(start + chunk, RECORDS)))
        ids = spoor.entries(op, keys)
        spoor.checkpoints(ids, step, keys)
        calls += len(keys) + sum(1 for i in ids if i)  # a dropped entry gives 0: no checkpoint
    spoor.flush()
    results.put((os.getpid(), calls, tuple(spoor.stats())))
    spoor.shutdown()


def test_workers_trace_into_one_log_with_exact_accounting(log_dir: Path) -> None:
    spoor.init(log_dir, sampling=spoor.Sampling.all(), use_env=False)
    spoor.operator("worker-entry")
    spoor.operator("worker-step")
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    workers = [context.Process(target=_worker, args=(i, results)) for i in range(4)]
    for worker in workers:
        worker.start()
    counts = [results.get(timeout=300) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    spoor.shutdown()
    totals = [spoor.Stats(*values) for _, _, values in counts]
    for (_, calls, _), total in zip(counts, totals):
        assert total.written == calls and total.sampled == RECORDS
        assert total.written == total.drained + total.dropped, total
    merged = stats(log_dir, "--merge")[0]
    assert merged["reports"] == sum(t.drained for t in totals), "the log holds every drained report"
    assert len({pid for pid, _, _ in counts}) == 4
    print(f"4 workers x {RECORDS}: {sum(t.drained for t in totals)} drained, {sum(t.dropped for t in totals)} dropped")


CHILD = textwrap.dedent(
    """
    import os, sys, time
    import spoor
    spoor.init(sys.argv[1], sampling=spoor.Sampling.all(), use_env=False, flush_interval_ms=60000)
    op = spoor.operator("doomed")
    ids = [spoor.entry(op, i) for i in range(3000)]
    for parent in ids:
        spoor.checkpoint1(parent, op)
    own = spoor.thread_stats()
    print(own.committed, own.dropped, flush=True)
    time.sleep(600)
    """
)


def _doomed(log_dir: Path) -> tuple[int, int]:
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(log_dir)], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    committed, dropped = (int(x) for x in child.stdout.readline().split())
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    return child.pid, committed


def _check_whole(log_dir: Path, pid: int, committed: int) -> None:
    reports = [r for r in dump(log_dir, "--no-recover") if r["pid"] == pid]
    assert len(reports) == committed == 6000, "every committed report is in the run"
    assert len({r["id"] for r in reports}) == len(reports), "no id repeated"


def test_sigkilled_worker_is_drained_by_the_parent(log_dir: Path) -> None:
    spoor.init(log_dir, use_env=False)
    pid, committed = _doomed(log_dir)
    spoor.shutdown()  # sweeps its log root
    _check_whole(log_dir, pid, committed)


def test_sigkilled_worker_is_drained_by_the_next_spoor_command(log_dir: Path) -> None:
    log_dir.mkdir()
    pid, committed = _doomed(log_dir)
    assert spoor.recover_dead(log_dir / "elsewhere") == (0, 0)
    dump(log_dir)  # the next command over the directory drains it
    _check_whole(log_dir, pid, committed)
    assert spoor.recover_dead(log_dir) == (0, 0), "nothing is left"
