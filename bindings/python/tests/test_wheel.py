"""The wheel: tagged for the stable ABI, bundling a libspoor.so that needs no Swift toolchain,
and working on a machine without one (the toolchain hidden by a private mount namespace)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1]

SCRIPT = """
import os, sys, tempfile
import spoor
assert spoor.__file__.startswith(sys.argv[1]), spoor.__file__
with spoor.init(tempfile.mkdtemp(), sampling=spoor.Sampling.all(), use_env=False):
    op = spoor.operator("wheel")
    record = spoor.Traced.enter("x", op).map(str.upper)
    assert record.id != 0
    spoor.flush()
    assert spoor.stats().drained == 2
maps = open("/proc/self/maps").read()
assert "libswift" not in maps, "a Swift runtime library was loaded"
print("ok", spoor.version())
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(PACKAGE)],
        check=True,
    )
    wheels = list(out.glob("spoor-*.whl"))
    assert len(wheels) == 1
    return wheels[0]


def test_wheel_is_abi3_and_bundles_a_self_contained_library(wheel: Path, tmp_path: Path) -> None:
    assert wheel.name.endswith("-cp311-abi3-linux_x86_64.whl"), wheel.name
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        assert "spoor/libspoor.so.0" in names and "spoor/py.typed" in names
        assert any(name.startswith("spoor/_spoor.abi3") for name in names)
        archive.extract("spoor/libspoor.so.0", tmp_path)
    readelf = shutil.which("readelf")
    if readelf is None:
        pytest.skip("readelf is not installed")
    dynamic = subprocess.run([readelf, "-d", str(tmp_path / "spoor" / "libspoor.so.0")], check=True, capture_output=True, text=True).stdout
    needed = [line.split("[")[1].rstrip("]") for line in dynamic.splitlines() if "(NEEDED)" in line]
    assert needed and not [n for n in needed if "swift" in n.lower()], needed
    paths = [line for line in dynamic.splitlines() if "RUNPATH" in line or "(RPATH)" in line]
    assert all("[$ORIGIN]" in line for line in paths), f"no path into a toolchain: {paths}"


def test_wheel_runs_without_the_swift_toolchain(wheel: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    swift = shutil.which("swift")
    environment = dict(os.environ, PYTHONPATH=str(site))
    environment.pop("LD_LIBRARY_PATH", None)
    command = [sys.executable, "-c", SCRIPT, str(site)]
    if swift is not None:
        toolchain = Path(os.path.realpath(swift)).parents[2]  # .../usr/bin/swift -> the toolchain root
        unshare = shutil.which("unshare")
        if os.geteuid() != 0 or unshare is None:
            pytest.skip("hiding the toolchain needs root and unshare(1)")
        empty = tmp_path / "empty"
        empty.mkdir()
        hidden = f"mount --bind {empty} {toolchain} && test ! -e {swift} && exec \"$@\""
        command = [unshare, "--mount", "--propagation", "private", "sh", "-c", hidden, "sh", *command]
    result = subprocess.run(command, env=environment, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok 0.1.0")
