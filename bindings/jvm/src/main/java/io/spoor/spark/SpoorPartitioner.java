package io.spoor.spark;

import io.spoor.Partitioner;
import java.io.IOException;
import java.io.InvalidObjectException;
import java.io.ObjectInputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Objects;

/**
 * A Spark {@link org.apache.spark.Partitioner} that routes keys as a partitioner file of
 * {@code spoor skew -o FILE} says ({@link io.spoor.Partitioner}, libspoor's
 * {@code spoor_partitioner_*}): the heavy keys on their planned partitions, the rest hashed.
 *
 * <pre>{@code
 * SpoorPartitioner partitioner = SpoorPartitioner.load(Path.of("partitioner.json"));
 * JavaPairRDD<String, Long> placed = pairs.partitionBy(partitioner);
 * }</pre>
 *
 * <p>It serialises as the file's bytes; the native partitioner is transient, loaded on first use
 * in each JVM (one executor's tasks share the last one loaded). Two instances are equal when their
 * files' bytes are, so Spark treats two loads of one file as the same partitioning (a
 * {@code reduceByKey} with it after {@code partitionBy} shuffles nothing). Keys are hashed as
 * {@link io.spoor.Spoor#keyHashOf} hashes them (String, byte[], Long, Integer, Short, Byte,
 * Boolean, Double, Float; a key of another type fails the task with an
 * {@link IllegalArgumentException}), except that every NaN is hashed as {@link Double#NaN}
 * (Java's {@code equals}, and so Spark, takes them for one key), and a null key goes to partition
 * 0, as Spark's {@code HashPartitioner} sends it.
 */
public final class SpoorPartitioner extends org.apache.spark.Partitioner {
    private static final long serialVersionUID = 1L;

    /** The last partitioner this JVM loaded, by its file's bytes: the tasks of one executor,
     *  each with its own deserialised copy, load a file once. */
    private static volatile Loaded last;

    /** The partitioner file's bytes: all that is serialised. */
    private final byte[] json;
    private transient volatile Partitioner partitioner;

    private record Loaded(byte[] json, Partitioner partitioner) {}

    /**
     * A partitioner from a partitioner file's contents, loaded (and so validated) at once.
     *
     * @param json the file's bytes (copied)
     * @throws NullPointerException if {@code json} is null
     * @throws io.spoor.SpoorException {@code PARSE} for a file that is not a valid partitioner
     *     file, with the library's detail
     */
    public SpoorPartitioner(byte[] json) {
        this.json = Objects.requireNonNull(json, "json").clone();
        this.partitioner = load(this.json);
    }

    /**
     * A partitioner from a partitioner file.
     *
     * @param file the file {@code spoor skew -o} wrote
     * @return the partitioner
     * @throws IOException if the file cannot be read
     * @throws io.spoor.SpoorException as {@link #SpoorPartitioner(byte[])}
     */
    public static SpoorPartitioner load(Path file) throws IOException {
        return new SpoorPartitioner(Files.readAllBytes(Objects.requireNonNull(file, "file")));
    }

    private static Partitioner load(byte[] json) {
        Loaded cached = last;
        if (cached != null && Arrays.equals(cached.json(), json)) {
            return cached.partitioner();
        }
        Partitioner loaded = Partitioner.load(json);
        last = new Loaded(json, loaded);
        return loaded;
    }

    /** @return the loaded partitioner (loaded in this JVM on first use) */
    public Partitioner partitioner() {
        Partitioner loaded = partitioner;
        if (loaded == null) {
            // Two threads may both load: each gets an equal partitioner, the spare is cleaned.
            loaded = load(json);
            partitioner = loaded;
        }
        return loaded;
    }

    /** @return the file's bytes (a copy) */
    public byte[] json() {
        return json.clone();
    }

    /** @return the file's number of partitions */
    @Override
    public int numPartitions() {
        return partitioner().partitions();
    }

    /**
     * @param key a record's key
     * @return its partition: {@link Partitioner#partitionOf} of the key (NaN canonical), 0 for null
     * @throws IllegalArgumentException for a key of a type {@link io.spoor.Spoor#keyHashOf} does not
     *     take
     */
    @Override
    public int getPartition(Object key) {
        return key == null ? 0 : partitioner().partitionOf(canonical(key));
    }

    /**
     * @param key a key
     * @return {@link Partitioner#saltsOf} of the key (NaN canonical), 1 for null
     * @throws IllegalArgumentException for a key of a type {@link io.spoor.Spoor#keyHashOf} does not
     *     take
     */
    public int saltsOf(Object key) {
        return key == null ? 1 : partitioner().saltsOf(canonical(key));
    }

    /** Every NaN as Double.NaN: equal keys to Java (Double.equals, Float.equals) hash the same. */
    private static Object canonical(Object key) {
        if (key instanceof Double number && number.isNaN() || key instanceof Float single && single.isNaN()) {
            return Double.NaN;
        }
        return key;
    }

    /**
     * @param other an object
     * @return whether it is a SpoorPartitioner of the same file bytes
     */
    @Override
    public boolean equals(Object other) {
        return other instanceof SpoorPartitioner that && Arrays.equals(json, that.json);
    }

    /** @return the hash of the file's bytes */
    @Override
    public int hashCode() {
        return Arrays.hashCode(json);
    }

    /** @return a description: the partitions and placed keys */
    @Override
    public String toString() {
        return "SpoorPartitioner(" + partitioner() + ")";
    }

    /**
     * Refuses a stream without the file's bytes (the partitioner loads on first use).
     *
     * @param in the stream
     * @throws IOException if it cannot be read, or holds no file
     * @throws ClassNotFoundException as {@link ObjectInputStream#defaultReadObject()}
     */
    private void readObject(ObjectInputStream in) throws IOException, ClassNotFoundException {
        in.defaultReadObject();
        if (json == null) {
            throw new InvalidObjectException("a SpoorPartitioner without its partitioner file");
        }
    }
}
