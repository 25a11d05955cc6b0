#!/usr/bin/env bash
# Builds the JVM binding (build.sh) and runs its JUnit 5 suites with the Debian junit5 console
# launcher. The native layer is loaded from the jar (java.library.path points nowhere); the
# suites read logs back through build/bin/spoor (scripts/build).
#   bindings/jvm/test.sh [LAUNCHER OPTIONS]     (SPOOR_JUNIT_DETAILS=summary: one line per failure)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="$root/build/jvm"
launcher=/usr/share/java/junit-platform-console-standalone.jar
[ -f "$launcher" ] || { echo "test.sh: $launcher is missing (apt-get install junit5)" >&2; exit 1; }
"$here/build.sh" >/dev/null
[ -x "$root/build/bin/spoor" ] || "$root/scripts/build" >/dev/null
# The classes without the bundled libraries, for the loader's failure message.
rm -rf "$out/classes-only" "$out/test-classes"
cp -r "$out/classes" "$out/classes-only"
rm -rf "$out/classes-only/io/spoor/native"
javac --release 17 -Xlint:all,-try -Werror -d "$out/test-classes" -cp "$out/spoor.jar:$launcher" \
  $(find "$here/src/test/java" -name '*.java')
cd "$here"
java -Djava.library.path=/nonexistent -Dspoor.jar="$out/spoor.jar" -Dspoor.classes="$out/classes-only" \
  -Dspoor.repo="$root" -jar "$launcher" --disable-banner --details="${SPOOR_JUNIT_DETAILS:-tree}" \
  -cp "$out/spoor.jar:$out/test-classes" --select-package io.spoor "$@"
