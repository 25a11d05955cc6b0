package io.spoor;

import java.io.IOException;
import java.lang.ref.Cleaner;
import java.lang.ref.Reference;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Objects;

/**
 * A partitioner file ({@code spoor skew -o FILE}, format "spoor-partitioner" version 1, see
 * {@code docs/skew.md}) loaded into libspoor ({@code spoor_partitioner_*} of
 * {@code include/spoor.h}): the heavy keys placed on their partitions, every other key hashed onto
 * its plain hash partition or spilled onto a lighter one, and the salt counts of the keys a join
 * should spread. Keys are named by their key hash ({@link Spoor#keyHash(String)} and its
 * overloads), so this routes every key exactly as every other engine loading the same file does:
 * the routing is libspoor's, not reimplemented here.
 *
 * <pre>{@code
 * Partitioner partitioner = Partitioner.load(Path.of("partitioner.json"));
 * int partition = partitioner.partitionOf("the");          // 0 <= partition < partitions()
 * int salts = partitioner.saltsOf("the");                  // 1 unless the key is placed and split
 * }</pre>
 *
 * <p>Immutable and thread-safe: any number of threads may route through one partitioner, each
 * call a table probe in native code with no lock and no allocation. There is no {@code close}:
 * the native partitioner is freed by a {@link Cleaner} once this object is unreachable, so no
 * call can ever reach freed memory.
 */
public final class Partitioner {
    private static final Cleaner CLEANER = Cleaner.create();

    private final long handle;
    private final int partitions;
    private final int keys;

    /** The cleaning action: holds the native pointer only (never the Partitioner, which would
     *  then stay reachable for ever). */
    private static final class Free implements Runnable {
        private final long handle;

        Free(long handle) {
            this.handle = handle;
        }

        @Override
        public void run() {
            Native.partitionerFree(handle);
        }
    }

    private Partitioner(long handle) {
        this.handle = handle;
        CLEANER.register(this, new Free(handle));
        try {
            this.partitions = Native.partitionerPartitions(handle);
            this.keys = Native.partitionerKeys(handle);
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /**
     * Loads a partitioner file's contents ({@code spoor_partitioner_load}: parsed and validated by
     * the library; the bytes are not retained).
     *
     * @param json the file's bytes (UTF-8 JSON)
     * @return the partitioner
     * @throws NullPointerException if {@code json} is null
     * @throws SpoorException {@link SpoorException#PARSE} for a file that is not a valid partitioner
     *     file, with {@link SpoorException#detail()} saying what and where;
     *     {@link SpoorException#NO_MEMORY}
     */
    public static Partitioner load(byte[] json) {
        return new Partitioner(Native.partitionerLoad(Objects.requireNonNull(json, "json")));
    }

    /**
     * Loads a partitioner file.
     *
     * @param file the file {@code spoor skew -o} wrote
     * @return the partitioner
     * @throws IOException if the file cannot be read
     * @throws SpoorException as {@link #load(byte[])}
     */
    public static Partitioner load(Path file) throws IOException {
        return load(Files.readAllBytes(Objects.requireNonNull(file, "file")));
    }

    /** @return the number of partitions, at least 1 */
    public int partitions() {
        return partitions;
    }

    /** @return the number of keys the file places */
    public int keys() {
        return keys;
    }

    /**
     * The partition of a key ({@code spoor_partitioner_partition}): a placed key's own, any other
     * key's plain hash partition or, for part of the keys of partitions the heavy keys load, the
     * partition its spill draw picks. The same in every process and language.
     *
     * @param keyHash the key's hash ({@link Spoor#keyHash(String)} and its overloads)
     * @return the partition, in [0, {@link #partitions()})
     */
    public int partition(long keyHash) {
        try {
            return Native.partitionerPartition(handle, keyHash);
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /**
     * The partition of a key given as a value, hashed by its type as {@link Spoor#keyHashOf} does
     * (String, byte[], Long, Integer, Short, Byte, Boolean, Double, Float).
     *
     * @param key the key
     * @return {@link #partition(long)} of its key hash
     * @throws NullPointerException if {@code key} is null
     * @throws IllegalArgumentException for a key of another type (hash it and call
     *     {@link #partition(long)})
     */
    public int partitionOf(Object key) {
        return partition(Spoor.keyHashOf(key));
    }

    /**
     * How many partitions a join or a combinable aggregation should spread the key's records over
     * ({@code spoor_partitioner_salts}): its records take a salt in [0, salts), and the other
     * side's records of the key are copied once per salt.
     *
     * @param keyHash the key's hash
     * @return the file's salts for a placed key, 1 for any other
     */
    public int salts(long keyHash) {
        try {
            return Native.partitionerSalts(handle, keyHash);
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /**
     * {@link #salts(long)} of a key given as a value, hashed as {@link #partitionOf} hashes it.
     *
     * @param key the key
     * @return its salt count, at least 1
     * @throws NullPointerException if {@code key} is null
     * @throws IllegalArgumentException for a key of another type
     */
    public int saltsOf(Object key) {
        return salts(Spoor.keyHashOf(key));
    }

    /** @return a description: the partitions and placed keys */
    @Override
    public String toString() {
        return "Partitioner(" + partitions + " partitions, " + keys + " keys placed)";
    }
}
