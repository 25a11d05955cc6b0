package io.spoor.spark;

import io.spoor.Event;
import io.spoor.Spoor;
import io.spoor.Traced;
import java.io.Serializable;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.function.FlatMapFunction;
import org.apache.spark.api.java.function.Function;
import org.apache.spark.api.java.function.PairFunction;
import org.apache.spark.api.java.function.VoidFunction;
import scala.Tuple2;

/**
 * A JavaRDD whose records carry their Spoor ids: {@link #traced} samples the source, and each
 * operation runs the user's own Spark function on the values, reporting each traced record's
 * step (its parents, operator, call site and runtime). Results equal the untraced job's.
 * Exceptions thrown by a function on a traced record are reported as error events and rethrown
 * unchanged. Each partition ends with a flush.
 *
 * @param <T> the records' type
 */
public final class TracedRDD<T> implements Serializable {
    private static final long serialVersionUID = 1L;

    /** The underlying RDD of traced records. */
    public final JavaRDD<Traced<T>> rdd;
    final SpoorSettings settings;

    TracedRDD(JavaRDD<Traced<T>> rdd, SpoorSettings settings) {
        this.rdd = rdd;
        this.settings = settings;
    }

    /**
     * Samples `source`'s records and traces what is done to them.
     *
     * @param source any JavaRDD
     * @param sampling the share of records traced (default from {@code spark.spoor.sampling}: pass a negative value)
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
        JavaRDD<Traced<T>> entered = source.mapPartitions(values -> {
            settings.ensure();
            Iterator<Traced<T>> wrapped = new Iterator<>() {
                @Override
                public boolean hasNext() {
                    return values.hasNext();
                }

                @Override
                public Traced<T> next() {
                    return new Traced<>(values.next(), 0);
                }
            };
            return Partitions.lazily(wrapped, op.id(), (record, id, out) -> {
                T value = record.value();
                // Text records carry their key hash (key-hash sampling, finding them later).
                long key = value instanceof String text ? Spoor.keyHash(text) : 0;
                out.accept(new Traced<>(value, Spoor.entry(id, key)));
            });
        });
        return new TracedRDD<>(entered, settings);
    }

    static void reportError(long id, int op, Throwable error) {
        io.spoor.Attachment attachment = io.spoor.Attachment.builder().put("error.type", error.getClass().getName())
                .put("error.message", String.valueOf(error.getMessage()).substring(0, Math.min(512, String.valueOf(error.getMessage()).length())))
                .build();
        Spoor.poke(id, op, Event.ERROR.code(), 0, attachment);
    }

    /** Runs `function` on `record`'s value as operator `op`; returns the traced output. */
    static <T, R> Traced<R> apply(Traced<T> record, int op, Function<T, R> function) throws Exception {
        if (record.id() == 0) {
            return new Traced<>(function.call(record.value()), 0);
        }
        long start = Spoor.now();
        R output;
        try {
            output = function.call(record.value());
        } catch (Exception | Error error) {
            reportError(record.id(), op, error);
            throw error;
        }
        return new Traced<>(output, Spoor.checkpoint(record.id(), op, 0, start, Spoor.now()));
    }

    /**
     * map(f): each traced output has its input as parent.
     *
     * @param function the user's function
     * @param <R> the output type
     * @return the outputs
     */
    public <R> TracedRDD<R> map(Function<T, R> function) {
        SpoorSettings settings = this.settings;
        Op op = Op.of("map");
        return new TracedRDD<>(rdd.mapPartitions(records -> {
            settings.ensure();
            return Partitions.lazily(records, op.id(), (record, id, out) -> out.accept(apply(record, id, function)));
        }), settings);
    }

    /**
     * flatMap(f): one report for each traced input's outputs (consecutive ids); none is a
     * {@code filtered} event.
     *
     * @param function the user's function
     * @param <R> the output type
     * @return the outputs
     */
    public <R> TracedRDD<R> flatMap(FlatMapFunction<T, R> function) {
        SpoorSettings settings = this.settings;
        Op op = Op.of("flatMap");
        return new TracedRDD<>(rdd.mapPartitions(records -> {
            settings.ensure();
            return Partitions.lazily(records, op.id(), (Traced<T> record, int id, java.util.function.Consumer<Traced<R>> out) -> {
                if (record.id() == 0) {
                    function.call(record.value()).forEachRemaining(value -> out.accept(new Traced<>(value, 0)));
                    return;
                }
                long start = Spoor.now();
                List<R> outputs = new ArrayList<>();
                try {
                    function.call(record.value()).forEachRemaining(outputs::add);
                } catch (Exception | Error error) {
                    reportError(record.id(), id, error);
                    throw error;
                }
                long end = Spoor.now();
                if (outputs.isEmpty()) {
                    Spoor.poke(record.id(), id, Event.FILTERED.code(), end, null);
                    return;
                }
                int fanout = Math.min(outputs.size(), Spoor.MAX_PARENTS);
                long first = Spoor.checkpoint(new long[] {record.id()}, 0, 1, id, 0, start, end, fanout, null);
                for (int i = 0; i < outputs.size(); i++) {
                    out.accept(new Traced<>(outputs.get(i), first != 0 && i < fanout ? first + i : 0));
                }
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
    public TracedRDD<T> filter(Function<T, Boolean> predicate) {
        SpoorSettings settings = this.settings;
        Op op = Op.of("filter");
        return new TracedRDD<>(rdd.mapPartitions(records -> {
            settings.ensure();
            return Partitions.lazily(records, op.id(), (Traced<T> record, int id, java.util.function.Consumer<Traced<T>> out) -> {
                Traced<Boolean> keep = apply(record, id, predicate);
                if (keep.value()) {
                    out.accept(new Traced<>(record.value(), keep.id()));
                } else if (record.id() != 0) {
                    Spoor.poke(record.id(), id, Event.FILTERED.code(), 0, null);
                }
            });
        }), settings);
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
        SpoorSettings settings = this.settings;
        Op op = Op.of("mapToPair");
        return new TracedPairRDD<>(rdd.mapPartitions(records -> {
            settings.ensure();
            return Partitions.lazily(records, op.id(), (Traced<T> record, int id, java.util.function.Consumer<Traced<Tuple2<K, V>>> out) ->
                    out.accept(apply(record, id, function::call)));
        }), settings);
    }

    /**
     * union(other): both RDDs' records, unchanged (no report).
     *
     * @param other the other traced RDD
     * @return the union
     */
    public TracedRDD<T> union(TracedRDD<T> other) {
        return new TracedRDD<>(rdd.union(other.rdd), settings);
    }

    /**
     * foreach(f): a side effect where the records leave (an {@code exit} event each traced one).
     *
     * @param function the user's function
     */
    public void foreach(VoidFunction<T> function) {
        SpoorSettings settings = this.settings;
        Op op = Op.of("foreach");
        rdd.foreachPartition(records -> {
            settings.ensure();
            int id = op.id();
            while (records.hasNext()) {
                Traced<T> record = records.next();
                Traced<Boolean> done = apply(record, id, value -> {
                    function.call(value);
                    return Boolean.TRUE;
                });
                Spoor.poke(done.id(), id, Event.EXIT);
            }
            Spoor.flush();
        });
    }

    /** @return the records with their ids; each traced one gets an {@code exit} event (from the driver) */
    public List<Traced<T>> collectTraced() {
        List<Traced<T>> records = rdd.collect();
        settings.ensure();
        int op = Spoor.operator("collect", "driver");
        for (Traced<T> record : records) {
            Spoor.poke(record.id(), op, Event.EXIT);
        }
        return records;
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
        return rdd.count();
    }
}
