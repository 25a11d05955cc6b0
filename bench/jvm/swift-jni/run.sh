#!/usr/bin/env bash
# The JNI layer's choice, measured: the same native methods (a no-op with entry's arguments, and
# a one-parent checkpoint with caller times) written as the C shim's (bindings/jvm) and as Swift
# `Java_*` functions (SwiftJNI.swift, built here with swiftc against include/spoor.h), called
# interleaved in one JVM. Prints the median ns per call of each, net of an empty loop.
#   bench/jvm/swift-jni/run.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
out="$root/build/jvm/swift-jni"
"$root/bindings/jvm/build.sh" >/dev/null
[ -f "$root/build/lib/libspoor.so.0.1.0" ] || "$root/scripts/build" >/dev/null
mkdir -p "$out/module" "$out/classes"
cat > "$out/module/module.modulemap" <<MAP
module CSpoorH {
    header "$root/include/spoor.h"
    export *
}
MAP
swiftc -emit-library -O -parse-as-library -module-name SwiftJNI -I "$out/module" \
  -Xcc -fmodule-map-file="$out/module/module.modulemap" "$here/SwiftJNI.swift" \
  -L "$root/build/lib" -lspoor -o "$out/libspoor_swiftjni.so"
javac --release 17 -d "$out/classes" -cp "$root/build/jvm/spoor.jar" "$here/SwiftNative.java" "$here/Compare.java"
exec java -cp "$root/build/jvm/spoor.jar:$out/classes" io.spoor.Compare "$out/libspoor_swiftjni.so"
