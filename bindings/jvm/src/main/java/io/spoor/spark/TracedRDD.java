package io.spoor.spark;

import io.spoor.EntryGate;
import io.spoor.Event;
import io.spoor.Spoor;
import io.spoor.Traced;
import java.io.Serializable;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.function.FlatMapFunction;
import org.apache.spark.api.java.function.Function;
import org.apache.spark.api.java.function.PairFunction;
import org.apache.spark.api.java.function.VoidFunction;
import scala.Tuple2;

/**
 * A JavaRDD whose sampled records carry their Spoor ids: {@link #traced} samples the source, and
 * each operation runs the user's own Spark function on the values, reporting each traced record's
 * step (its parents, operator, call site and runtime). Inside, a traced record is a
 * {@link Traced}; an untracked one stays its plain value, so it costs a type test per operation
 * and no allocation or serialisation of its own (the job's own values must not be Traced
 * objects). Results equal the untraced job's. An exception thrown by a function on a traced
 * record is reported as an error event and rethrown unchanged. Each partition ends with a flush.
 *
 * @param <T> the records' type
 */
public final class TracedRDD<T> implements Serializable {
    private static final long serialVersionUID = 1L;

    /** The records: a Traced for each traced one, the plain value for the others. */
    final JavaRDD<Object> records;
    final SpoorSettings settings;

    TracedRDD(JavaRDD<Object> records, SpoorSettings settings) {
        this.records = records;
        this.settings = settings;
    }

    /**
     * Samples `source`'s records and traces what is done to them.
     *
     * @param source any JavaRDD
     * @param sampling the share of records traced (negative: {@code spark.spoor.sampling}, default 0.01)
     * @param logDir where every JVM's run goes (null: {@code spark.spoor.dir}, then {@code SPOOR_DIR}, then spoor-traces)
     * @param <T> the records' type
     * @return the traced RDD
     */
    public static <T> TracedRDD<T> traced(JavaRDD<T> source, double sampling, String logDir) {
        org.apache.spark.SparkConf conf = source.context().getConf();
        String directory = logDir != null ? logDir : conf.get("spark.spoor.dir", System.getenv().getOrDefault("SPOOR_DIR", "spoor-traces"));
        double probability = sampling >= 0 ? sampling : Double.parseDouble(conf.get("spark.spoor.sampling", "0.01"));
        SpoorSettings settings = new SpoorSettings(Path.of(directory).toAbsolutePath().toString(), probability);
        settings.ensure();
        Op op = new Op("source", "io.spoor.spark.TracedRDD.traced");
        JavaRDD<Object> entered = source.mapPartitions(values -> {
            settings.ensure();
            // The partition's records are entered on its task's thread.
            EntryGate gate = new EntryGate();
            return Partitions.mapping(values, op.id(), (Object value, int id) -> {
                if (gate.untraced()) {
                    return value;
                }
                // Text records carry their key hash (key-hash sampling, finding them later).
                long record = Spoor.entry(id, value instanceof String text ? Spoor.keyHash(text) : 0);
                return record != 0 ? new Traced<>(value, record) : value;
            });
        });
        return new TracedRDD<>(entered, settings);
    }

    /** Runs `function` on a record (traced or plain) as operator `op`; returns the output in the
     *  same representation (a Traced while it has an id). */
    @SuppressWarnings("unchecked")
    static <T, R> Object apply(Object record, int op, Function<T, R> function) throws Exception {
        if (!(record instanceof Traced<?> traced)) {
            return function.call((T) record);
        }
        long start = Spoor.now();
        R output;
        try {
            output = function.call((T) traced.value());
        } catch (Exception | Error error) {
            Spoor.pokeError(traced.id(), op, error);
            throw error;
        }
        long id = Spoor.checkpoint(traced.id(), op, 0, start, Spoor.now());
        return id != 0 ? new Traced<>(output, id) : output;
    }

    /** The plain value of a record. */
    @SuppressWarnings("unchecked")
    static <T> T value(Object record) {
        return record instanceof Traced<?> traced ? (T) traced.value() : (T) record;
    }

    /** The id of a record (0: untracked). */
    static long id(Object record) {
        return record instanceof Traced<?> traced ? traced.id() : 0;
    }

    private <R> TracedRDD<R> perRecord(String kind, Partitions.OneStep step) {
        SpoorSettings settings = this.settings;
        Op op = Op.of(kind);
        return new TracedRDD<>(records.mapPartitions(partition -> {
            settings.ensure();
            return Partitions.mapping(partition, op.id(), step);
        }), settings);
    }

    /**
     * map(f): each traced output has its input as parent.
     *
     * @param function the user's function
     * @param <R> the output type
     * @return the outputs
     */
    public <R> TracedRDD<R> map(Function<T, R> function) {
        return perRecord("map", (record, id) -> apply(record, id, function));
    }

    /**
     * flatMap(f): one report for each traced input's outputs (consecutive ids); none is a
     * {@code filtered} event.
     *
     * @param function the user's function
     * @param <R> the output type
     * @return the outputs
     */
    @SuppressWarnings("unchecked")
    public <R> TracedRDD<R> flatMap(FlatMapFunction<T, R> function) {
        SpoorSettings settings = this.settings;
        Op op = Op.of("flatMap");
        return new TracedRDD<>(records.mapPartitions(partition -> {
            settings.ensure();
            return Partitions.flattening(partition, op.id(), (Object record, int id) -> {
                if (!(record instanceof Traced<?> traced)) {
                    return function.call((T) record);
                }
                long start = Spoor.now();
                List<R> outputs = new ArrayList<>();
                try {
                    function.call((T) traced.value()).forEachRemaining(outputs::add);
                } catch (Exception | Error error) {
                    Spoor.pokeError(traced.id(), id, error);
                    throw error;
                }
                long end = Spoor.now();
                if (outputs.isEmpty()) {
                    Spoor.poke(traced.id(), id, Event.FILTERED.code(), end, null);
                    return outputs.iterator();
                }
                int fanout = Math.min(outputs.size(), Spoor.MAX_PARENTS);
                long first = Spoor.checkpoint(new long[] {traced.id()}, 0, 1, id, 0, start, end, fanout, null);
                List<Object> wrapped = new ArrayList<>(outputs.size());
                for (int i = 0; i < outputs.size(); i++) {
                    wrapped.add(first != 0 && i < fanout ? new Traced<>(outputs.get(i), first + i) : outputs.get(i));
                }
                return wrapped.iterator();
            });
        }), settings);
    }

    /**
     * filter(p): kept traced records are reported as new records; removed ones get a
     * {@code filtered} event.
     *
     * @param predicate the user's predicate
     * @return the kept records
     */
    @SuppressWarnings("unchecked")
    public TracedRDD<T> filter(Function<T, Boolean> predicate) {
        return perRecord("filter", (Object record, int id) -> {
            if (!(record instanceof Traced<?> traced)) {
                return predicate.call((T) record) ? record : Partitions.NONE;
            }
            long start = Spoor.now();
            boolean keep;
            try {
                keep = predicate.call((T) traced.value());
            } catch (Exception | Error error) {
                Spoor.pokeError(traced.id(), id, error);
                throw error;
            }
            long end = Spoor.now();
            if (!keep) {
                Spoor.poke(traced.id(), id, Event.FILTERED.code(), end, null);
                return Partitions.NONE;
            }
            return new Traced<>(traced.value(), Spoor.checkpoint(traced.id(), id, 0, start, end));
        });
    }

    /**
     * mapToPair(f): a traced RDD of (key, value) records.
     *
     * @param function the user's function
     * @param <K> the key type
     * @param <V> the value type
     * @return the pairs
     */
    public <K, V> TracedPairRDD<K, V> mapToPair(PairFunction<T, K, V> function) {
        TracedRDD<Tuple2<K, V>> pairs = perRecord("mapToPair", (record, id) -> apply(record, id, function::call));
        return new TracedPairRDD<>(pairs.records, settings);
    }

    /**
     * union(other): both RDDs' records, unchanged (no report).
     *
     * @param other the other traced RDD
     * @return the union
     */
    public TracedRDD<T> union(TracedRDD<T> other) {
        return new TracedRDD<>(records.union(other.records), settings);
    }

    /**
     * foreach(f): a side effect where the records leave (an {@code exit} event each traced one).
     *
     * @param function the user's function
     */
    public void foreach(VoidFunction<T> function) {
        SpoorSettings settings = this.settings;
        Op op = Op.of("foreach");
        records.foreachPartition(partition -> {
            settings.ensure();
            int id = op.id();
            while (partition.hasNext()) {
                Object done = apply(partition.next(), id, (T value) -> {
                    function.call(value);
                    return Boolean.TRUE;
                });
                Spoor.poke(id(done), id, Event.EXIT);
            }
            Spoor.flush();
        });
    }

    /** @return every record as a Traced (id 0: untracked), in a list of the caller's own; each
     *  traced one gets an {@code exit} event (from the driver) */
    public List<Traced<T>> collectTraced() {
        List<Object> collected = records.collect();
        settings.ensure();
        int op = Spoor.operator("collect", "driver");
        List<Traced<T>> result = new ArrayList<>(collected.size());
        for (Object record : collected) {
            Spoor.poke(id(record), op, Event.EXIT);
            result.add(record instanceof Traced<?> ? castTraced(record) : new Traced<>(TracedRDD.<T>value(record), 0));
        }
        return result;
    }

    @SuppressWarnings("unchecked")
    private static <T> Traced<T> castTraced(Object record) {
        return (Traced<T>) record;
    }

    /** @return the values, as the untraced job would collect them */
    public List<T> collect() {
        List<T> values = new ArrayList<>();
        for (Traced<T> record : collectTraced()) {
            values.add(record.value());
        }
        return values;
    }

    /** @return the number of records */
    public long count() {
        return records.count();
    }
}
