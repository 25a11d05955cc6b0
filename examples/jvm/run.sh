#!/usr/bin/env bash
# Runs one of the JVM examples with spark-submit from the pip-installed pyspark, the plugin on:
# the jar and the spark.plugins / spark.spoor.* lines are all it takes. Then prints spoor stats.
#   examples/jvm/run.sh [wordcount [TEXT_FILE] | skewed-join [ORDERS] | cross-language]
#   (SPOOR_DIR: where the log goes; SPOOR_SAMPLING: the share traced; MASTER: default local[2])
#   wordcount       a traced RDD word count (WordCount.java)
#   skewed-join     a traced Dataset join with one heavy customer (SkewedJoin.java)
#   cross-language  a PySpark job: JVM operators and a Python UDF in one lineage (cross_language.py;
#                   needs the Python binding: pip install ./bindings/python)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="$root/build/jvm"
job="${1:-wordcount}"
[ $# -gt 0 ] && shift
"$root/bindings/jvm/build.sh" >/dev/null
[ -x "$root/build/bin/spoor" ] || "$root/scripts/build" >/dev/null
spark_home="$(python3 -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))')"
dir="${SPOOR_DIR:-$(mktemp -d "/tmp/spoor-jvm-$job.XXXXXX")}"
export SPARK_LOCAL_IP="${SPARK_LOCAL_IP:-127.0.0.1}" SPOOR_CLI="$root/build/bin/spoor"
submit=("$spark_home/bin/spark-submit" --master "${MASTER:-local[2]}"
  --conf spark.plugins=io.spoor.spark.SpoorPlugin --conf spark.spoor.dir="$dir"
  --conf spark.ui.enabled=false --conf spark.log.level=WARN --jars "$out/spoor.jar")
compile() {
  mkdir -p "$out/examples"
  javac --release 17 -proc:none -d "$out/examples" -cp "$out/spoor.jar:$spark_home/jars/*" "$here/WordCount.java" "$here/SkewedJoin.java"
  jar --create --file "$out/spoor-examples.jar" -C "$out/examples" .
}
case "$job" in
  wordcount)
    compile
    "${submit[@]}" --conf spark.spoor.sampling="${SPOOR_SAMPLING:-1.0}" --class io.spoor.examples.WordCount "$out/spoor-examples.jar" "$@" ;;
  skewed-join)
    compile
    "${submit[@]}" --conf spark.spoor.sampling="${SPOOR_SAMPLING:-0.01}" --conf spark.sql.shuffle.partitions=8 \
      --class io.spoor.examples.SkewedJoin "$out/spoor-examples.jar" "$@" ;;
  cross-language)
    python3 -c 'import spoor' 2>/dev/null || {
      echo "run.sh: the Python binding is not installed (python3 -m pip install ./bindings/python)" >&2; exit 1; }
    "${submit[@]}" --conf spark.spoor.sampling="${SPOOR_SAMPLING:-0.01}" --conf spark.sql.shuffle.partitions=4 \
      "$here/cross_language.py" "$@" ;;
  *) echo "run.sh: unknown example '$job' (wordcount, skewed-join, cross-language)" >&2; exit 2 ;;
esac
echo "== spoor stats $dir"
"$root/build/bin/spoor" stats "$dir" --merge
