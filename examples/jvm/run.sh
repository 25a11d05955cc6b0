#!/usr/bin/env bash
# Builds and runs the traced Spark word count (examples/jvm/WordCount.java) with spark-submit from
# the pip-installed pyspark: the jar and two configuration lines are all it takes.
#   examples/jvm/run.sh [TEXT_FILE]        (SPOOR_DIR: where the log goes)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="$root/build/jvm"
"$root/bindings/jvm/build.sh" >/dev/null
spark_home="$(python3 -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))')"
mkdir -p "$out/examples"
javac --release 17 -proc:none -d "$out/examples" -cp "$out/spoor.jar:$spark_home/jars/*" "$here/WordCount.java"
jar --create --file "$out/spoor-examples.jar" -C "$out/examples" .
dir="${SPOOR_DIR:-$(mktemp -d /tmp/spoor-jvm-wordcount.XXXXXX)}"
export SPARK_LOCAL_IP="${SPARK_LOCAL_IP:-127.0.0.1}"
"$spark_home/bin/spark-submit" --master 'local[2]' \
  --conf spark.plugins=io.spoor.spark.SpoorPlugin --conf spark.spoor.dir="$dir" --conf spark.spoor.sampling=1.0 \
  --conf spark.ui.enabled=false --conf spark.log.level=WARN \
  --jars "$out/spoor.jar" --class io.spoor.examples.WordCount "$out/spoor-examples.jar" "$@"
echo "== spoor stats $dir"
"$root/build/bin/spoor" stats "$dir" --merge
