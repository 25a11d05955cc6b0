package io.spoor.spark;

import io.spoor.Event;
import io.spoor.Fold;
import io.spoor.Spoor;
import io.spoor.Traced;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.apache.spark.api.java.JavaPairRDD;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.function.Function;
import org.apache.spark.api.java.function.Function2;
import scala.Tuple2;

/**
 * A traced RDD of (key, value) records (from {@link TracedRDD#mapToPair}). The key-grouping
 * operations report each output as a fold whose parents are every traced record that went into
 * it (map-side partial aggregates carry their ids through the shuffle), and traced records are
 * poked with {@code shuffle_write} before a shuffle and {@code shuffle_read} after it.
 *
 * @param <K> the key type
 * @param <V> the value type
 */
public final class TracedPairRDD<K, V> implements Serializable {
    private static final long serialVersionUID = 1L;

    /** The underlying RDD of traced pairs. */
    public final JavaRDD<Traced<Tuple2<K, V>>> rdd;
    final SpoorSettings settings;

    TracedPairRDD(JavaRDD<Traced<Tuple2<K, V>>> rdd, SpoorSettings settings) {
        this.rdd = rdd;
        this.settings = settings;
    }

    /** A partial aggregate and the ids of the traced records in it. */
    static final class Partial<V> implements Serializable {
        private static final long serialVersionUID = 1L;
        V value;
        long[] ids = new long[0];
        int count;

        Partial(V value, long id) {
            this.value = value;
            add(id);
        }

        void add(long id) {
            if (id == 0) {
                return;
            }
            if (count == ids.length) {
                ids = Arrays.copyOf(ids, Math.max(4, ids.length * 2));
            }
            ids[count++] = id;
        }

        void addAll(Partial<V> other) {
            for (int i = 0; i < other.count; i++) {
                add(other.ids[i]);
            }
        }
    }

    /** (key, Traced(value, id)) for a shuffle, poking each traced record with shuffle_write. */
    private JavaPairRDD<K, Traced<V>> keyed(String kind) {
        SpoorSettings settings = this.settings;
        Op op = new Op(kind + ":shuffle", kind);
        return rdd.mapPartitionsToPair(records -> {
            settings.ensure();
            int id = op.id();
            List<Tuple2<K, Traced<V>>> out = new ArrayList<>();
            while (records.hasNext()) {
                Traced<Tuple2<K, V>> record = records.next();
                Spoor.poke(record.id(), id, Event.SHUFFLE_WRITE);
                out.add(new Tuple2<>(record.value()._1(), new Traced<>(record.value()._2(), record.id())));
            }
            if (Spoor.isRunning()) {
                Spoor.flush();
            }
            return out.iterator();
        });
    }

    static long keyHash(Object key) {
        if (key instanceof String text) {
            return Spoor.keyHash(text);
        }
        if (key instanceof Long || key instanceof Integer || key instanceof Short || key instanceof Byte) {
            return Spoor.keyHash(((Number) key).longValue());
        }
        if (key instanceof byte[] bytes) {
            return Spoor.keyHash(bytes);
        }
        return Spoor.keyHash(String.valueOf(key));
    }

    /**
     * mapValues(f): the key is kept, f runs on the value.
     *
     * @param function the user's function
     * @param <W> the new value type
     * @return the pairs
     */
    public <W> TracedPairRDD<K, W> mapValues(Function<V, W> function) {
        SpoorSettings settings = this.settings;
        Op op = Op.of("mapValues");
        return new TracedPairRDD<>(rdd.mapPartitions(records -> {
            settings.ensure();
            return Partitions.lazily(records, op.id(), (Traced<Tuple2<K, V>> record, int id,
                    java.util.function.Consumer<Traced<Tuple2<K, W>>> out) ->
                    out.accept(TracedRDD.apply(record, id, pair -> new Tuple2<>(pair._1(), function.call(pair._2())))));
        }), settings);
    }

    /**
     * reduceByKey(f): each key's aggregate is one fold report of every traced record reduced into it.
     *
     * @param function the user's reduce function
     * @return the aggregates
     */
    public TracedPairRDD<K, V> reduceByKey(Function2<V, V, V> function) {
        SpoorSettings settings = this.settings;
        Op op = Op.of("reduceByKey");
        JavaPairRDD<K, Partial<V>> shuffled = keyed("reduceByKey").combineByKey(
                item -> new Partial<>(item.value(), item.id()),
                (partial, item) -> {
                    partial.value = function.call(partial.value, item.value());
                    partial.add(item.id());
                    return partial;
                },
                (a, b) -> {
                    a.value = function.call(a.value, b.value);
                    a.addAll(b);
                    return a;
                });
        JavaRDD<Traced<Tuple2<K, V>>> folded = shuffled.mapPartitions(groups -> {
            settings.ensure();
            int id = op.id();
            List<Traced<Tuple2<K, V>>> out = new ArrayList<>();
            while (groups.hasNext()) {
                Tuple2<K, Partial<V>> group = groups.next();
                Partial<V> partial = group._2();
                long start = Spoor.now();
                for (int i = 0; i < partial.count; i++) {
                    Spoor.poke(partial.ids[i], id, Event.SHUFFLE_READ);
                }
                long fold = Spoor.foldReport(partial.ids, Math.min(partial.count, Spoor.MAX_PARENTS), id,
                        keyHash(group._1()), start, Spoor.now());
                out.add(new Traced<>(new Tuple2<>(group._1(), partial.value), fold));
            }
            if (Spoor.isRunning()) {
                Spoor.flush();
            }
            return out.iterator();
        });
        return new TracedPairRDD<>(folded, settings);
    }

    /**
     * join(other): each (key, (v, w)) output has both joined records as parents.
     *
     * @param other the other side
     * @param <W> its value type
     * @return the joined pairs
     */
    public <W> TracedPairRDD<K, Tuple2<V, W>> join(TracedPairRDD<K, W> other) {
        SpoorSettings settings = this.settings;
        Op op = Op.of("join");
        JavaPairRDD<K, Tuple2<Traced<V>, Traced<W>>> joined = keyed("join").join(other.keyed("join"));
        return new TracedPairRDD<>(joined.mapPartitions(pairs -> {
            settings.ensure();
            int id = op.id();
            List<Traced<Tuple2<K, Tuple2<V, W>>>> out = new ArrayList<>();
            while (pairs.hasNext()) {
                Tuple2<K, Tuple2<Traced<V>, Traced<W>>> pair = pairs.next();
                Traced<V> left = pair._2()._1();
                Traced<W> right = pair._2()._2();
                long start = Spoor.now();
                Spoor.poke(left.id(), id, Event.SHUFFLE_READ);
                Spoor.poke(right.id(), id, Event.SHUFFLE_READ);
                long joinedId = Spoor.checkpoint(left.id(), right.id(), id, keyHash(pair._1()), start, Spoor.now());
                out.add(new Traced<>(new Tuple2<>(pair._1(), new Tuple2<>(left.value(), right.value())), joinedId));
            }
            if (Spoor.isRunning()) {
                Spoor.flush();
            }
            return out.iterator();
        }), settings);
    }

    /** Collects the values of `items` into `values` and the traced ones' ids into `fold`, poking
     *  each traced one with shuffle_read. */
    static <X> void gather(Iterable<Traced<X>> items, int op, List<X> values, Fold fold) {
        for (Traced<X> item : items) {
            values.add(item.value());
            if (item.id() != 0) {
                fold.add(item.id());
                Spoor.poke(item.id(), op, Event.SHUFFLE_READ);
            }
        }
    }

    /**
     * groupByKey(): each (key, [values]) with traced members is one fold report of them.
     *
     * @return the groups
     */
    public TracedPairRDD<K, List<V>> groupByKey() {
        SpoorSettings settings = this.settings;
        Op op = Op.of("groupByKey");
        JavaPairRDD<K, Iterable<Traced<V>>> grouped = keyed("groupByKey").groupByKey();
        return new TracedPairRDD<>(grouped.mapPartitions(groups -> {
            settings.ensure();
            int id = op.id();
            List<Traced<Tuple2<K, List<V>>>> out = new ArrayList<>();
            while (groups.hasNext()) {
                Tuple2<K, Iterable<Traced<V>>> group = groups.next();
                long start = Spoor.now();
                List<V> values = new ArrayList<>();
                Fold fold = new Fold();
                gather(group._2(), id, values, fold);
                long folded = fold.finish(id, keyHash(group._1()), start, Spoor.now());
                out.add(new Traced<>(new Tuple2<>(group._1(), values), folded));
            }
            if (Spoor.isRunning()) {
                Spoor.flush();
            }
            return out.iterator();
        }), settings);
    }

    /**
     * cogroup(other): each (key, ([v...], [w...])) with traced members is one fold report of them,
     * on both sides.
     *
     * @param other the other side
     * @param <W> its value type
     * @return the groups
     */
    public <W> TracedPairRDD<K, Tuple2<List<V>, List<W>>> cogroup(TracedPairRDD<K, W> other) {
        SpoorSettings settings = this.settings;
        Op op = Op.of("cogroup");
        JavaPairRDD<K, Tuple2<Iterable<Traced<V>>, Iterable<Traced<W>>>> grouped = keyed("cogroup").cogroup(other.keyed("cogroup"));
        return new TracedPairRDD<>(grouped.mapPartitions(groups -> {
            settings.ensure();
            int id = op.id();
            List<Traced<Tuple2<K, Tuple2<List<V>, List<W>>>>> out = new ArrayList<>();
            while (groups.hasNext()) {
                Tuple2<K, Tuple2<Iterable<Traced<V>>, Iterable<Traced<W>>>> group = groups.next();
                long start = Spoor.now();
                List<V> left = new ArrayList<>();
                List<W> right = new ArrayList<>();
                Fold fold = new Fold();
                gather(group._2()._1(), id, left, fold);
                gather(group._2()._2(), id, right, fold);
                long folded = fold.finish(id, keyHash(group._1()), start, Spoor.now());
                out.add(new Traced<>(new Tuple2<>(group._1(), new Tuple2<>(left, right)), folded));
            }
            if (Spoor.isRunning()) {
                Spoor.flush();
            }
            return out.iterator();
        }), settings);
    }

    /**
     * filter(p) over the pairs: kept traced pairs are reported as new records; removed ones get
     * a {@code filtered} event.
     *
     * @param predicate the user's predicate
     * @return the kept pairs
     */
    public TracedPairRDD<K, V> filter(Function<Tuple2<K, V>, Boolean> predicate) {
        return new TracedPairRDD<>(new TracedRDD<>(rdd, settings).filter(predicate).rdd, settings);
    }

    /**
     * union(other): both RDDs' pairs, unchanged (no report).
     *
     * @param other the other traced pair RDD
     * @return the union
     */
    public TracedPairRDD<K, V> union(TracedPairRDD<K, V> other) {
        return new TracedPairRDD<>(rdd.union(other.rdd), settings);
    }

    /**
     * foreach(f) over the pairs (an {@code exit} event each traced one).
     *
     * @param function the user's function
     */
    public void foreach(org.apache.spark.api.java.function.VoidFunction<Tuple2<K, V>> function) {
        new TracedRDD<>(rdd, settings).foreach(function);
    }

    /** @return the pairs with their ids; each traced one gets an {@code exit} event (from the driver) */
    public List<Traced<Tuple2<K, V>>> collectTraced() {
        return new TracedRDD<>(rdd, settings).collectTraced();
    }

    /** @return the pairs, as the untraced job would collect them */
    public List<Tuple2<K, V>> collect() {
        return new TracedRDD<>(rdd, settings).collect();
    }

    /** @return the number of pairs */
    public long count() {
        return rdd.count();
    }
}
