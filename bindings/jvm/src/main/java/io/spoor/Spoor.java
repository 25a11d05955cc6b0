package io.spoor;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * Spoor from the JVM: record-level lineage tracing over libspoor's C ABI ({@code include/spoor.h}).
 *
 * <pre>{@code
 * try (Spoor spoor = Spoor.builder().logDir("traces").sampling(Sampling.probability(0.01)).start()) {
 *     int parse = Spoor.operator("parse", "Job.java:12");
 *     long line = Spoor.entry(parse, Spoor.keyHash(text));          // 0 unless sampled
 *     long start = Spoor.now();  ...the UDF...
 *     long word = Spoor.checkpoint(line, parse, keyHash, start, Spoor.now());   // untracked: no JNI call
 * }
 * }</pre>
 *
 * <p>The library is process-wide, so the calls are static; a {@code Spoor} is the handle of one
 * initialisation, and {@link #close()} shuts it down after draining every accepted report. A JVM
 * that exits without closing loses nothing accepted: a shutdown hook drains. Every method is
 * thread-safe; each thread writes into a ring of its own (threads beyond the private rings share
 * rings). An untracked record (id 0) never crosses into native code: the checkpoint methods test
 * the parent in Java. A failed call throws {@link SpoorException} with the status code and the
 * library's detail; a report lost to a full ring is not a failure ({@link Stats#dropped()} counts
 * it, and a checkpoint returns its id all the same).
 */
public final class Spoor implements AutoCloseable {
    /** Most parents one report can carry (zeros excluded). */
    public static final int MAX_PARENTS = 65536;
    /** Most bytes of an encoded attachment. */
    public static final int MAX_ATTACHMENT = 1024;
    /** Context flag: the record is traced. */
    static final int CONTEXT_SAMPLED = 1;

    private static final Object LOCK = new Object();
    /** Operators registered through this class, in id order: registered again at every init. */
    private static final List<byte[][]> REGISTRY = new ArrayList<>();
    private static final Map<String, Integer> OPERATORS = new HashMap<>();
    private static boolean hookInstalled;

    private final long generation;

    private Spoor(long generation) {
        this.generation = generation;
    }

    /** @return a builder of the configuration ({@code spoor_config}) */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * Starts tracing with the defaults and the {@code SPOOR_*} environment variables.
     *
     * @return the handle
     */
    public static Spoor start() {
        return builder().start();
    }

    /** @return whether the library is running in this process */
    public static boolean isRunning() {
        return Native.generation() != 0;
    }

    /** Stops tracing: drains every accepted report into the log and closes it. Idempotent. */
    @Override
    public void close() {
        synchronized (LOCK) {
            if (Native.generation() == generation) {
                Native.shutdown();
            }
        }
    }

    /** The configuration of {@link #start()}: fields left alone take the library's defaults. */
    public static final class Builder {
        private String logDir;
        private String shmName;
        private int ringSlots;
        private int maxThreads;
        private int flushIntervalMillis;
        private FullPolicy fullPolicy = FullPolicy.DROP;
        private int blockTimeoutMillis;
        private boolean discard;
        private long segmentBytes;
        private long seed;
        private Sampling sampling = Sampling.defaults();
        private boolean useEnvironment = true;

        private Builder() {}

        /** @param dir the log root (default {@code spoor-traces}) @return this */
        public Builder logDir(String dir) {
            this.logDir = dir;
            return this;
        }

        /** @param name the POSIX shared-memory name ("/name") @return this */
        public Builder shmName(String name) {
            this.shmName = name;
            return this;
        }

        /** @param slots 64-byte slots per ring, a power of two in [64, 2^24] @return this */
        public Builder ringSlots(int slots) {
            this.ringSlots = slots;
            return this;
        }

        /** @param threads private rings, [1, 4096] @return this */
        public Builder maxThreads(int threads) {
            this.maxThreads = threads;
            return this;
        }

        /** @param millis the collector's period, [1, 60000] @return this */
        public Builder flushIntervalMillis(int millis) {
            this.flushIntervalMillis = millis;
            return this;
        }

        /** @param policy what a thread does when its ring is full @return this */
        public Builder fullPolicy(FullPolicy policy) {
            this.fullPolicy = Objects.requireNonNull(policy);
            return this;
        }

        /** @param millis the wait bound of {@link FullPolicy#BLOCK} @return this */
        public Builder blockTimeoutMillis(int millis) {
            this.blockTimeoutMillis = millis;
            return this;
        }

        /** @param discard drain and discard reports instead of logging them @return this */
        public Builder discardReports(boolean discard) {
            this.discard = discard;
            return this;
        }

        /** @param bytes the log segment roll size @return this */
        public Builder segmentBytes(long bytes) {
            this.segmentBytes = bytes;
            return this;
        }

        /** @param seed the sampler seed (0: random per thread) @return this */
        public Builder seed(long seed) {
            this.seed = seed;
            return this;
        }

        /** @param sampling the initial sampling strategy @return this */
        public Builder sampling(Sampling sampling) {
            this.sampling = Objects.requireNonNull(sampling);
            return this;
        }

        /** @param use whether SPOOR_* variables override this configuration (default true) @return this */
        public Builder useEnvironment(boolean use) {
            this.useEnvironment = use;
            return this;
        }

        /**
         * Initialises the library ({@code spoor_init}).
         *
         * @return the handle, to close
         * @throws SpoorException ALREADY_INITIALIZED, INVALID_CONFIG (the detail names the field),
         *     SHM, IO
         */
        public Spoor start() {
            synchronized (LOCK) {
                Native.init(utf8(logDir), utf8(shmName), ringSlots, maxThreads, flushIntervalMillis, fullPolicy.ordinal(),
                        blockTimeoutMillis, discard ? 1 : 0, segmentBytes, seed, sampling.mode(), sampling.probability(),
                        sampling.everyN(), sampling.perSecond(), !useEnvironment);
                try {
                    for (byte[][] operator : REGISTRY) {
                        Native.registerOperator(operator[0], operator[1]);
                    }
                } catch (SpoorException error) {
                    Native.shutdown();
                    throw error;
                }
                installHook();
                return new Spoor(Native.generation());
            }
        }
    }

    private static void installHook() {
        if (hookInstalled) {
            return;
        }
        hookInstalled = true;
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            synchronized (LOCK) {
                if (Native.generation() != 0) {
                    Native.shutdown();
                }
            }
        }, "spoor-shutdown"));
    }

    private static byte[] utf8(String text) {
        return text == null ? null : text.getBytes(StandardCharsets.UTF_8);
    }

    /**
     * Waits until every report committed before the call is in the sink.
     *
     * @throws SpoorException NOT_INITIALIZED, TIMEOUT (10 s), IO
     */
    public static void flush() {
        Native.flush(0);
    }

    /** @param timeoutMillis at most this long @throws SpoorException as {@link #flush()} */
    public static void flush(int timeoutMillis) {
        if (timeoutMillis <= 0) {
            throw new IllegalArgumentException("timeoutMillis must be positive");
        }
        Native.flush(timeoutMillis);
    }

    /** @return the run directory this process's log is written into */
    public static String runDirectory() {
        return Native.runDir();
    }

    /** @return the shared-memory segment's name */
    public static String shmName() {
        return Native.shmName();
    }

    /**
     * The id of an operator (a UDF, a stage), registered once: the same (name, site) gives the
     * same id for the life of the JVM, across close and start.
     *
     * @param name 1 to 252 bytes of UTF-8
     * @param site the call site ("Job.java:12"), or null
     * @return the operator id
     */
    public static int operator(String name, String site) {
        Objects.requireNonNull(name, "name");
        String key = name + '\u0000' + (site == null ? "" : site);
        synchronized (LOCK) {
            Integer known = OPERATORS.get(key);
            if (known != null) {
                return known;
            }
            byte[] nameBytes = utf8(name);
            byte[] siteBytes = site == null ? new byte[0] : utf8(site);
            int id = Native.registerOperator(nameBytes, siteBytes);
            if (id == REGISTRY.size() + 1) {
                REGISTRY.add(new byte[][] {nameBytes, siteBytes});
            }
            OPERATORS.put(key, id);
            return id;
        }
    }

    /**
     * An entry checkpoint: a record enters the traced topology.
     *
     * @param op the operator
     * @param keyHash the record's key hash ({@link #keyHash(String)}), or 0
     * @return the record's id, 0 unless the sampler selected it
     */
    public static long entry(int op, long keyHash) {
        return Native.entry(op, keyHash);
    }

    /**
     * An entry with an attachment.
     *
     * @param op the operator
     * @param keyHash the key hash
     * @param attachment the pairs
     * @return the id, 0 unless sampled
     */
    public static long entry(int op, long keyHash, Attachment attachment) {
        if (attachment == null) {
            return Native.entry(op, keyHash);
        }
        return Native.entryEx(op, keyHash, attachment.encoded);
    }

    /**
     * An entry that is always traced, whatever the sampling ({@code spoor_mint}): for records an
     * engine must follow in every case (a job, a stage, a task), whose events are then poked on
     * them. The id is returned even if the report was lost to a full ring.
     *
     * @param op the operator
     * @param keyHash the record's key hash, or 0
     * @param attachment the pairs, or null
     * @return the record's id
     */
    public static long mint(int op, long keyHash, Attachment attachment) {
        return Native.mint(op, keyHash, attachment == null ? null : attachment.encoded);
    }

    /**
     * A one-parent checkpoint with the clock read by the library. Untracked parent: 0, no JNI call.
     *
     * @param parent the input record's id
     * @param op the operator
     * @return the output record's id
     */
    public static long checkpoint(long parent, int op) {
        if (parent == 0) {
            return 0;
        }
        return Native.checkpoint1(parent, op, 0, 0, 0);
    }

    /**
     * A one-parent checkpoint (map, flatMap output by output, a filter that kept the record).
     *
     * @param parent the input record's id (0: the output is untracked, no JNI call)
     * @param op the operator
     * @param keyHash the output's key hash, or 0
     * @param startNs the UDF's start ({@link #now()}), or 0
     * @param endNs its end, or 0 (the library reads the clock)
     * @return the output record's id
     */
    public static long checkpoint(long parent, int op, long keyHash, long startNs, long endNs) {
        if (parent == 0) {
            return 0;
        }
        return Native.checkpoint1(parent, op, keyHash, startNs, endNs);
    }

    /**
     * A two-parent checkpoint (a join). Both untracked: 0, no JNI call.
     *
     * @param first a parent's id
     * @param second the other's
     * @param op the operator
     * @param keyHash the output's key hash
     * @param startNs the UDF's start, or 0
     * @param endNs its end, or 0
     * @return the output's id
     */
    public static long checkpoint(long first, long second, int op, long keyHash, long startNs, long endNs) {
        if ((first | second) == 0) {
            return 0;
        }
        return Native.checkpoint2(first, second, op, keyHash, startNs, endNs);
    }

    /**
     * A checkpoint with any number of parents (zeros are left out). All untracked: 0, no JNI call.
     *
     * @param parents the parents' ids
     * @param op the operator
     * @param keyHash the output's key hash
     * @param startNs the UDF's start, or 0
     * @param endNs its end, or 0
     * @return the output's id
     */
    public static long checkpoint(long[] parents, int op, long keyHash, long startNs, long endNs) {
        return checkpoint(parents, 0, Objects.requireNonNull(parents, "parents").length, op, keyHash, startNs, endNs, 0, null);
    }

    /**
     * The general checkpoint: parents[offset, offset + count), a fan-out and an attachment.
     *
     * @param parents the parents' ids
     * @param offset the first
     * @param count how many
     * @param op the operator
     * @param keyHash the output's key hash
     * @param startNs the UDF's start, or 0
     * @param endNs its end, or 0
     * @param fanout m > 1: m consecutive ids for m outputs of these inputs
     * @param attachment the pairs, or null
     * @return the (first) output's id
     */
    public static long checkpoint(long[] parents, int offset, int count, int op, long keyHash, long startNs, long endNs,
            int fanout, Attachment attachment) {
        Objects.requireNonNull(parents, "parents");
        Objects.checkFromIndexSize(offset, count, parents.length);
        long any = 0;
        for (int i = offset; i < offset + count; i++) {
            any |= parents[i];
        }
        if (any == 0) {
            return 0;
        }
        return Native.checkpointN(parents, offset, count, op, keyHash, startNs, endNs, fanout,
                attachment == null ? null : attachment.encoded, false);
    }

    /**
     * Reports an aggregate once with every contributing id (a fold, flagged as one).
     *
     * @param parents the contributing ids
     * @param count how many of them
     * @param op the operator
     * @param keyHash the aggregate's key hash
     * @param startNs the aggregation's start, or 0
     * @param endNs its end, or 0
     * @return the aggregate's id (0 if nothing tracked contributed)
     */
    public static long foldReport(long[] parents, int count, int op, long keyHash, long startNs, long endNs) {
        Objects.requireNonNull(parents, "parents");
        Objects.checkFromIndexSize(0, count, parents.length);
        if (count == 0) {
            return 0;
        }
        return Native.checkpointN(parents, 0, count, op, keyHash, startNs, endNs, 0, null, true);
    }

    /**
     * An engine event on a record (untracked: returns at once).
     *
     * @param id the record
     * @param op the operator
     * @param event the event
     */
    public static void poke(long id, int op, Event event) {
        if (id != 0) {
            Native.poke(id, op, event.code(), 0, null);
        }
    }

    /**
     * An event with a code of its own (up to 65535), a time and an attachment.
     *
     * @param id the record
     * @param op the operator
     * @param event the code
     * @param timestampNs when ({@link #now()}), or 0: now
     * @param attachment the pairs, or null
     */
    public static void poke(long id, int op, int event, long timestampNs, Attachment attachment) {
        if (id != 0) {
            Native.poke(id, op, event, timestampNs, attachment == null ? null : attachment.encoded);
        }
    }

    /**
     * An {@code error} event on record {@code id} whose attachment names the failure:
     * {@code error.type} (the exception's class) and {@code error.message} (at most 512
     * characters). Never throws: the caller rethrows the user's exception. Untracked: nothing.
     *
     * @param id the record the user's code failed on
     * @param op the operator
     * @param error what it threw
     */
    public static void pokeError(long id, int op, Throwable error) {
        if (id == 0) {
            return;
        }
        String message = String.valueOf(error.getMessage());
        if (message.length() > 512) {
            message = message.substring(0, 509) + "...";
        }
        try {
            poke(id, op, Event.ERROR.code(), 0, Attachment.builder().put("error.type", error.getClass().getName())
                    .put("error.message", message).build());
        } catch (RuntimeException ignored) {
            // The user's exception is what the caller rethrows.
        }
    }

    /** @param partition the partition (task) this thread works on; -1: none */
    public static void setPartition(int partition) {
        Native.setPartition(partition);
    }

    /** @return the one clock of every report: CLOCK_MONOTONIC nanoseconds */
    public static long now() {
        return Native.now();
    }

    /** @param sampling the new strategy, picked up by every thread at its next entry */
    public static void setSampling(Sampling sampling) {
        Objects.requireNonNull(sampling, "sampling");
        Native.setSampling(sampling.mode(), sampling.probability(), sampling.everyN(), sampling.perSecond());
    }

    /** @return the current sampling strategy */
    public static Sampling getSampling() {
        double[] out = new double[4];
        Native.getSampling(out);
        return new Sampling((int) out[0], out[1], (long) out[2], (long) out[3]);
    }

    /** @return the process's counters since start */
    public static Stats stats() {
        long[] out = new long[8];
        Native.stats(out, false);
        return Stats.of(out);
    }

    /** @return the calling thread's counters */
    public static Stats threadStats() {
        long[] out = new long[8];
        Native.stats(out, true);
        return Stats.of(out);
    }

    /** @param id a record @return its context, "00-&lt;16 hex id&gt;-&lt;flags&gt;" */
    public static String toContext(long id) {
        return Native.contextEncode(id, id != 0 ? CONTEXT_SAMPLED : 0);
    }

    /** @param context a context string @return the record id it carries @throws SpoorException PARSE */
    public static long fromContext(String context) {
        return Native.contextDecode(Objects.requireNonNull(context, "context").getBytes(StandardCharsets.UTF_8));
    }

    /** @param id a record @return its 10-byte binary context */
    public static byte[] toContextBytes(long id) {
        return Native.contextEncodeBytes(id, id != 0 ? CONTEXT_SAMPLED : 0);
    }

    /** @param context 10 bytes @return the record id @throws SpoorException PARSE */
    public static long fromContextBytes(byte[] context) {
        return Native.contextDecodeBytes(Objects.requireNonNull(context, "context"));
    }

    /** @param key text @return FNV-1a 64 of its UTF-8 bytes: the same hash as C, Swift and Python */
    public static long keyHash(String key) {
        byte[] bytes = key.getBytes(StandardCharsets.UTF_8);
        return Native.hashBytes(bytes, 0, bytes.length);
    }

    /** @param key bytes @return their key hash */
    public static long keyHash(byte[] key) {
        return Native.hashBytes(Objects.requireNonNull(key, "key"), 0, key.length);
    }

    /** @param key an integer (any width: as a 64-bit two's complement value) @return its key hash */
    public static long keyHash(long key) {
        return Native.hashLong(key);
    }

    /** @param key a floating-point value @return the key hash of its binary64 bits */
    public static long keyHash(double key) {
        return Native.hashLong(Double.doubleToRawLongBits(key));
    }

    /**
     * @param key a boolean
     * @return the key hash of the integer 1 (true) or 0 (false), as every binding hashes booleans
     */
    public static long keyHash(boolean key) {
        return Native.hashLong(key ? 1 : 0);
    }

    /**
     * The key hash of a key known only at run time, by its type, exactly as the overloads hash it:
     * {@code String} as {@link #keyHash(String)}, {@code byte[]} as {@link #keyHash(byte[])},
     * {@code Long}, {@code Integer}, {@code Short} and {@code Byte} as {@link #keyHash(long)} of the
     * value, {@code Boolean} as {@link #keyHash(boolean)}, {@code Double} and {@code Float} as
     * {@link #keyHash(double)} of the value (a float widened exactly). These are the canonical
     * bytes of {@code include/spoor.h}, so C, Swift and Python hash the same values the same.
     *
     * @param key the key
     * @return its key hash
     * @throws NullPointerException if {@code key} is null
     * @throws IllegalArgumentException for a key of any other type (hash its canonical form with an
     *     overload, or use {@link #keyHashOrText})
     */
    public static long keyHashOf(Object key) {
        return hashByType(Objects.requireNonNull(key, "key"), false);
    }

    /**
     * {@link #keyHashOf} for the types it takes; any other key (null included) hashed as the text
     * {@code String.valueOf(key)}: how the traced RDDs name the keys of their reports, so a
     * partitioner file made from their traces places the same keys.
     *
     * @param key the key, or null
     * @return its key hash
     */
    public static long keyHashOrText(Object key) {
        return hashByType(key, true);
    }

    /** The one dispatch of a key by its run-time type onto the overloads. */
    private static long hashByType(Object key, boolean otherAsText) {
        if (key instanceof String text) {
            return keyHash(text);
        }
        if (key instanceof byte[] bytes) {
            return keyHash(bytes);
        }
        if (key instanceof Long || key instanceof Integer || key instanceof Short || key instanceof Byte) {
            return keyHash(((Number) key).longValue());
        }
        if (key instanceof Boolean flag) {
            return keyHash(flag.booleanValue());
        }
        if (key instanceof Double || key instanceof Float) {
            return keyHash(((Number) key).doubleValue());
        }
        if (otherAsText) {
            return keyHash(String.valueOf(key));
        }
        throw new IllegalArgumentException("a key must be a String, byte[], Long, Integer, Short, Byte, Boolean, Double or Float, not "
                + key.getClass().getName());
    }

    /** @param keyHash a key hash @param probability a share @return whether key-hash sampling traces it */
    public static boolean keySampled(long keyHash, double probability) {
        return Native.keySampled(keyHash, probability);
    }

    /**
     * Drains what dead processes left in shared memory for a log root ({@code spoor_recover_dead}).
     *
     * @param logDir the log root, or null for the running instance's
     * @return the number of segments recovered
     */
    public static int recoverDead(String logDir) {
        return Native.recoverDead(utf8(logDir));
    }

    /** @param code a status @return the library's name for it */
    public static String strerror(int code) {
        return Native.strerror(code);
    }

    /** @param event an event code @return its name as the log tools print it */
    public static String eventName(int event) {
        return Native.eventName(event);
    }

    /** @return the libspoor release */
    public static String version() {
        return Native.version();
    }

    /** @return the loaded libspoor's binary-interface version */
    public static int abiVersion() {
        return Native.abiVersion();
    }

    /** For the benchmark: the crossing into native code with entry's arguments, no library call. */
    static long noop(int op, long key) {
        return Native.noop(op, key);
    }
}
