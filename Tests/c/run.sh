#!/usr/bin/env bash
# Builds and runs the Spoor C API test suite against a build of libspoor.
#
#   Tests/c/run.sh                          # the build directory next to the repository root
#   SPOOR_BUILD=/path/to/build Tests/c/run.sh
#
# The build directory must hold include/spoor.h, lib/libspoor.so, lib/pkgconfig/spoor.pc and
# bin/spoor. Binaries go to $SPOOR_BUILD/tests/ (git-ignored). The suite runs twice: a plain
# -O1 build, then an AddressSanitizer + UndefinedBehaviorSanitizer build (with leak checking;
# the Swift runtime inside libspoor.so runs under ASan without reports). Both always run; the
# script fails if either fails. SPOOR_CTEST_NO_SANITIZE=1 skips the sanitizer build.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
build="$(cd "${SPOOR_BUILD:-$here/../../build}" && pwd)"
out="$build/tests"
mkdir -p "$out"

export PKG_CONFIG_PATH="$build/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
export SPOOR_CLI="$build/bin/spoor"
read -r -a spoor_flags <<<"$(pkg-config --cflags --libs spoor)"

cc="${CC:-gcc}"
cflags=(-std=c11 -Wall -Wextra -Werror -O1 -g)
san=(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
sources=("$here/test_api.c" "$here/test_trace.c" "$here/test_fork.c" "$here/test_partitioner.c" "$here/util.c")

status=0

# The reproductions of defects the suite found, kept as regression programs: each exits 0 only
# while its defect stays fixed.
echo "== regressions: $here/repro/*.c"
for repro in "$here"/repro/*.c; do
    name="$(basename "$repro" .c)"
    "$cc" "${cflags[@]}" "$repro" "${spoor_flags[@]}" -o "$out/repro_$name"
    if "$out/repro_$name" >"$out/repro_$name.log" 2>&1; then
        echo "   ok: $name"
    else
        echo "   FAILED: $name (output in $out/repro_$name.log)"
        status=1
    fi
done
rm -rf /tmp/spoor-repro-*

echo "== build: $cc ${cflags[*]}"
"$cc" "${cflags[@]}" "${sources[@]}" "${spoor_flags[@]}" -lm -lpthread -o "$out/spoor_ctest"
echo "== run: $out/spoor_ctest"
"$out/spoor_ctest" || status=1

if [[ "${SPOOR_CTEST_NO_SANITIZE:-0}" != 1 ]]; then
    echo "== build: $cc ${cflags[*]} ${san[*]}"
    "$cc" "${cflags[@]}" "${san[@]}" "${sources[@]}" "${spoor_flags[@]}" -lm -lpthread \
        -o "$out/spoor_ctest_asan"
    echo "== run: $out/spoor_ctest_asan"
    ASAN_OPTIONS="detect_leaks=1:${ASAN_OPTIONS:-}" \
    UBSAN_OPTIONS="print_stacktrace=1:${UBSAN_OPTIONS:-}" \
        "$out/spoor_ctest_asan" || status=1
fi

if [[ $status != 0 ]]; then
    echo "== C API suite FAILED (see the file:line messages above)"
fi
exit "$status"
