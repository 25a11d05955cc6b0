package io.spoor;

/**
 * The native methods: one per call of {@code include/spoor.h} (bindings/jvm/src/main/c/spoor_jni.c).
 * Ids, key hashes and times are longs holding uint64 bits. A negative status throws
 * {@link SpoorException} from native code. Package-private: {@link Spoor} is the API.
 */
final class Native {
    static {
        NativeLoader.load();
    }

    private Native() {}

    static native int init(byte[] logDir, byte[] shmName, int ringSlots, int maxThreads, int flushMs, int policy,
            int blockMs, int sink, long segmentBytes, long seed, int mode, double probability, long everyN,
            long perSecond, boolean ignoreEnv);

    static native int shutdown();

    static native void flush(int timeoutMs);

    static native long generation();

    static native String runDir();

    static native String shmName();

    static native int registerOperator(byte[] name, byte[] site);

    static native long entry(int op, long key);

    static native long entryEx(int op, long key, byte[] attachment);

    static native long entrySkip(long max);

    static native long mint(int op, long key, byte[] attachment);

    static native long checkpoint1(long parent, int op, long key, long startNs, long endNs);

    static native long checkpoint2(long first, long second, int op, long key, long startNs, long endNs);

    static native long checkpointN(long[] parents, int offset, int count, int op, long key, long startNs, long endNs,
            int fanout, byte[] attachment, boolean fold);

    static native void poke(long id, int op, int event, long timestampNs, byte[] attachment);

    static native void setPartition(int partition);

    static native long now();

    static native long noop(int op, long key);

    static native void setSampling(int mode, double probability, long everyN, long perSecond);

    static native void getSampling(double[] out);

    static native void stats(long[] out, boolean thread);

    static native String contextEncode(long id, int flags);

    static native long contextDecode(byte[] text);

    static native byte[] contextEncodeBytes(long id, int flags);

    static native long contextDecodeBytes(byte[] data);

    static native long hashBytes(byte[] data, int offset, int length);

    static native long hashLong(long value);

    static native boolean keySampled(long key, double probability);

    /** A new spoor_partitioner from a partitioner file's bytes (its pointer; never 0). */
    static native long partitionerLoad(byte[] json);

    /** Frees a partitioner: only from {@link Partitioner}'s Cleaner, once nothing can reach it. */
    static native void partitionerFree(long partitioner);

    static native int partitionerPartitions(long partitioner);

    static native int partitionerKeys(long partitioner);

    static native int partitionerPartition(long partitioner, long keyHash);

    static native int partitionerSalts(long partitioner, long keyHash);

    static native int recoverDead(byte[] logDir);

    static native String strerror(int code);

    static native String eventName(int event);

    static native String version();

    static native int abiVersion();
}
