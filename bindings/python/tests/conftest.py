"""Shared test support: a fresh library per test, and the log read back through `spoor dump`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any, Iterator

import pytest

import spoor

REPO = Path(__file__).resolve().parents[3]


def cli() -> str:
    """The spoor CLI: SPOOR_CLI, the repository's build/bin/spoor, or `spoor` on PATH."""
    given = os.environ.get("SPOOR_CLI")
    if given:
        return given
    built = REPO / "build" / "bin" / "spoor"
    if built.is_file():
        return str(built)
    found = shutil.which("spoor")
    if found is None:
        pytest.skip("the spoor CLI is not built (./scripts/build)")
    return found


def dump(directory: str | os.PathLike[str], *extra: str) -> list[dict[str, Any]]:
    """Every report of the log at `directory`, as `spoor dump` prints them."""
    result = subprocess.run([cli(), "dump", os.fspath(directory), *extra], check=True, capture_output=True, text=True)
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def stats(directory: str | os.PathLike[str], *extra: str) -> list[dict[str, Any]]:
    """`spoor stats` of the log at `directory`, one object per run (or merged)."""
    result = subprocess.run([cli(), "stats", os.fspath(directory), *extra], check=True, capture_output=True, text=True)
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def hexid(value: int) -> str:
    """An id as `spoor dump` prints it."""
    return f"{value:016x}"


def attachment(report: dict[str, Any]) -> dict[str, str]:
    """A report's attachment as a dict of str (UTF-8 values)."""
    return {pair["key"]: pair["value"] for pair in report["attachment"]}


@pytest.fixture
def log_dir(tmp_path: Path) -> Path:
    """A fresh log root."""
    return tmp_path / "traces"


@pytest.fixture
def traced(log_dir: Path) -> Iterator[Path]:
    """The library initialised with every entry sampled, logging under `log_dir`; shut down
    after the test. Yields the log root."""
    spoor.init(log_dir, sampling=spoor.Sampling.all(), use_env=False, flush_interval_ms=5)
    try:
        yield log_dir
    finally:
        if spoor.generation() != 0:
            spoor.shutdown()


def finish() -> str:
    """Shut the library down; return its run directory."""
    run = spoor.run_dir()
    spoor.shutdown()
    return run
