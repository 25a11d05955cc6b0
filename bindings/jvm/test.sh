#!/usr/bin/env bash
# Builds the JVM binding (build.sh) and runs its JUnit 5 suites with the Debian junit5 console
# launcher. The native layer is loaded from the jar (java.library.path points nowhere); the
# suites read logs back through build/bin/spoor (scripts/build).
#   bindings/jvm/test.sh [LAUNCHER OPTIONS]     (SPOOR_JUNIT_DETAILS=summary: one line per failure;
#                                               --select-class io.spoor.ClusterTest: one suite;
#                                               SPOOR_LIB_DIR=build/lib: bundle that library, see build.sh)
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
# With pyspark installed, its jars join the class path (SparkTest runs Spark in local mode,
# ClusterTest a standalone cluster of the package's spark-class) and the JVM gets the module
# options Spark's own launcher gives it.
spark_jars="${SPARK_JARS:-$(python3 -c 'import os, pyspark; print(os.path.join(os.path.dirname(pyspark.__file__), "jars"))' 2>/dev/null || true)}"
classpath="$out/spoor.jar"
options=()
sources=$(find "$here/src/test/java" -name '*.java')
if [ -n "$spark_jars" ] && [ -d "$spark_jars" ]; then
  classpath="$classpath:$spark_jars/*"
  read -r -a options <<<"$(java -cp "$spark_jars/*" "$here/src/test/SparkOptions.java")"
  export SPARK_LOCAL_IP="${SPARK_LOCAL_IP:-127.0.0.1}"
else
  sources=$(grep -L -e 'org.apache.spark' -e 'io.spoor.spark' $(find "$here/src/test/java" -name '*.java'))
fi
javac --release 17 -proc:none -Xlint:all,-try,-path -Werror -d "$out/test-classes" -cp "$classpath:$launcher" $sources
# The test classes as a jar too: ClusterTest ships it to the executors of a standalone cluster.
jar --create --file "$out/spoor-tests.jar" -C "$out/test-classes" .
extra=()
if [ -n "$spark_jars" ] && [ -x "$spark_jars/../bin/spark-class" ]; then
  extra=(-Dspoor.sparkHome="$(cd "$spark_jars/.." && pwd)" -Dspoor.testJar="$out/spoor-tests.jar")
fi
# Every suite, unless the arguments select some (--select-class io.spoor.ClusterTest).
selection=(--select-package io.spoor)
for argument in "$@"; do
  case "$argument" in --select*) selection=() ;; esac
done
cd "$here"
# Everything on the JVM's own class path (not the launcher's -cp, whose class loader is closed
# before shutdown hooks run: Hadoop's, inside Spark, would then fail to load its classes).
java "${options[@]}" "${extra[@]}" -Djava.library.path=/nonexistent -Dspoor.jar="$out/spoor.jar" -Dspoor.classes="$out/classes-only" \
  -Dspoor.repo="$root" -cp "$classpath:$out/test-classes:$launcher" org.junit.platform.console.ConsoleLauncher \
  --disable-banner --details="${SPOOR_JUNIT_DETAILS:-tree}" "${selection[@]}" "$@"
