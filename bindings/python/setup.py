"""Builds the spoor extension against include/spoor.h and bundles the self-contained libspoor.so.

Where the library comes from, in order:
  1. SPOOR_LIBRARY: the path of a libspoor.so built with `scripts/build --static-stdlib`;
  2. the repository this package sits in: build/static/lib/libspoor.so.0.1.0, built first with
     `scripts/build --static-stdlib` if it is missing (that needs the Swift toolchain).
The library is copied into the package as spoor/libspoor.so.0 and the extension finds it through
its RPATH ($ORIGIN), so an installed package or wheel needs no Swift toolchain and no
LD_LIBRARY_PATH. The extension is built for the stable ABI (abi3, CPython 3.11+).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
try:
    from setuptools.command.bdist_wheel import bdist_wheel  # setuptools >= 70.1
except ImportError:
    from wheel.bdist_wheel import bdist_wheel

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
HEADER_DIR = Path(os.environ.get("SPOOR_INCLUDE_DIR", REPO / "include"))
LIBRARY_NAME = "libspoor.so.0"


def find_library() -> Path:
    given = os.environ.get("SPOOR_LIBRARY")
    if given:
        path = Path(given)
        if not path.is_file():
            sys.exit(f"SPOOR_LIBRARY={given}: no such file")
        return path
    built = REPO / "build" / "static" / "lib" / "libspoor.so.0.1.0"
    if not built.is_file():
        script = REPO / "scripts" / "build"
        if not script.is_file() or shutil.which("swift") is None:
            sys.exit(
                "spoor: no libspoor.so to bundle. Set SPOOR_LIBRARY to a libspoor.so built with "
                "`scripts/build --static-stdlib`, or install from a clone of the repository with the "
                "Swift toolchain on PATH."
            )
        print("spoor: building the self-contained libspoor.so (scripts/build --static-stdlib)", flush=True)
        command = [str(script), "--static-stdlib"]
        lock = os.environ.get("SPOOR_BUILD_LOCK")
        if lock and shutil.which("flock"):
            command = ["flock", lock, *command]
        subprocess.run(command, cwd=REPO, check=True)
    return built


class BuildWithLibrary(build_ext):
    """Copies libspoor.so into the package and links the extension to it."""

    def run(self) -> None:
        library = find_library()
        package_dir = Path(self.build_lib) / "spoor"
        package_dir.mkdir(parents=True, exist_ok=True)
        shutil.copy2(library, package_dir / LIBRARY_NAME)
        if self.inplace:
            shutil.copy2(library, HERE / "src" / "spoor" / LIBRARY_NAME)
        # The linker wants libspoor.so: a directory with that name for the bundled file.
        link_dir = Path(tempfile.mkdtemp(prefix="spoor-link-"))
        (link_dir / "libspoor.so").symlink_to(library.resolve())
        for extension in self.extensions:
            extension.library_dirs.append(str(link_dir))
        try:
            super().run()
        finally:
            shutil.rmtree(link_dir, ignore_errors=True)


class AbiThreeWheel(bdist_wheel):
    """Tags the wheel cp311-abi3: the extension uses only the stable ABI of CPython 3.11."""

    def finalize_options(self) -> None:
        self.py_limited_api = "cp311"
        super().finalize_options()


extension = Extension(
    "spoor._spoor",
    sources=["src/spoor/_spoor.c"],
    include_dirs=[str(HEADER_DIR)],
    libraries=["spoor"],
    extra_compile_args=["-O2", "-Wall", "-Wextra", "-Werror", "-Wno-missing-field-initializers"],
    extra_link_args=["-Wl,-rpath,$ORIGIN", "-Wl,-z,now"],
    define_macros=[("Py_LIMITED_API", "0x030B0000")],
    py_limited_api=True,
)

setup(ext_modules=[extension], cmdclass={"build_ext": BuildWithLibrary, "bdist_wheel": AbiThreeWheel})
