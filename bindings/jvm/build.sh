#!/usr/bin/env bash
# Builds the JVM binding: the JNI layer (src/main/c/spoor_jni.c, gcc against the JDK's jni.h and
# include/spoor.h, linked to libspoor.so.0 through $ORIGIN), the classes (javac --release 17;
# io.spoor.spark against the jars of the pip-installed pyspark, SPARK_JARS to name another dir),
# and build/jvm/spoor.jar holding both with the self-contained libspoor.so (built first with
# scripts/build --static-stdlib if build/static has none) under io/spoor/native/linux-x86_64/.
# SPOOR_LIB_DIR=DIR bundles DIR/libspoor.so.0.1.0 instead (such as build/lib, which loads the
# Swift runtime from the toolchain) and builds nothing if it is missing.
#   bindings/jvm/build.sh            -> build/jvm/spoor.jar
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="$root/build/jvm"
if [ -n "${SPOOR_LIB_DIR:-}" ]; then
  lib="$(cd "$SPOOR_LIB_DIR" && pwd)"
  [ -f "$lib/libspoor.so.0.1.0" ] || { echo "build.sh: $lib/libspoor.so.0.1.0 is missing (SPOOR_LIB_DIR)" >&2; exit 1; }
else
  lib="$root/build/static/lib"
  [ -f "$lib/libspoor.so.0.1.0" ] || "$root/scripts/build" --static-stdlib
fi
java_home="${JAVA_HOME:-$(dirname "$(dirname "$(readlink -f "$(command -v javac)")")")}"
rm -rf "$out/classes"
mkdir -p "$out/native" "$out/classes/io/spoor/native/linux-x86_64"
gcc -std=c11 -O2 -fPIC -shared -Wall -Wextra -Werror \
  -I"$java_home/include" -I"$java_home/include/linux" -I"$root/include" \
  "$here/src/main/c/spoor_jni.c" -L"$lib" -lspoor -Wl,-rpath,'$ORIGIN' -Wl,-z,now \
  -o "$out/native/libspoor_jni.so"
# io.spoor.spark is compiled against the jars of the pyspark PyPI package (if it is installed).
spark_jars="${SPARK_JARS:-$(python3 -c 'import os, pyspark; print(os.path.join(os.path.dirname(pyspark.__file__), "jars"))' 2>/dev/null || true)}"
if [ -n "$spark_jars" ] && [ -d "$spark_jars" ]; then
  javac --release 17 -proc:none -Xlint:all,-serial,-try,-path -Werror -d "$out/classes" -cp "$spark_jars/*" $(find "$here/src/main/java" -name '*.java')
else
  echo "build.sh: pyspark is not installed: building without io.spoor.spark" >&2
  javac --release 17 -Xlint:all -Werror -d "$out/classes" $(find "$here/src/main/java" -name '*.java' -not -path '*/spark/*')
fi
cp "$out/native/libspoor_jni.so" "$out/classes/io/spoor/native/linux-x86_64/libspoor_jni.so"
cp "$lib/libspoor.so.0.1.0" "$out/classes/io/spoor/native/linux-x86_64/libspoor.so.0"
jar --create --file "$out/spoor.jar" -C "$out/classes" .
echo "built $out/spoor.jar"
