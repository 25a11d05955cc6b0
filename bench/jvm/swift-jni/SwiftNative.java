package io.spoor;

final class SwiftNative {
    static native long noop(int op, long key);

    static native long checkpoint1(long parent, int op, long key, long start, long end);
}
