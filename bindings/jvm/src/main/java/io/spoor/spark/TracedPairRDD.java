package io.spoor.spark;

import io.spoor.Attachment;
import io.spoor.Event;
import io.spoor.Fold;
import io.spoor.Spoor;
import io.spoor.Traced;
import java.io.IOException;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.function.Consumer;
import org.apache.spark.api.java.JavaPairRDD;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.function.Function;
import org.apache.spark.api.java.function.Function2;
import org.apache.spark.api.java.function.VoidFunction;
import scala.Tuple2;

/**
 * A traced RDD of (key, value) records (from {@link TracedRDD#mapToPair}). The key-grouping
 * operations report each output that traced records went into as a fold whose parents are every
 * one of them (through reduceByKey's map-side partials, each reported as a fold of its traced
 * records when it leaves for the shuffle; an aggregate of untracked records only is reduced
 * exactly as untraced), and traced records (reduceByKey: its partials) are poked with
 * {@code shuffle_write} before a shuffle and {@code shuffle_read} after it. As in
 * {@link TracedRDD}, untracked pairs stay plain {@code Tuple2}s.
 *
 * @param <K> the key type
 * @param <V> the value type
 */
public final class TracedPairRDD<K, V> implements Serializable {
    private static final long serialVersionUID = 1L;

    /** The pairs: a Traced of the Tuple2 for each traced one, the plain Tuple2 for the others. */
    final JavaRDD<Object> records;
    final SpoorSettings settings;

    TracedPairRDD(JavaRDD<Object> records, SpoorSettings settings) {
        this.records = records;
        this.settings = settings;
    }

    /**
     * A partial aggregate that traced records went into, and their ids. On the map side it
     * leaves for the shuffle as one record: written by Java serialization (Spark's default
     * shuffle serializer), a partial of several traced records is reported as a fold of them
     * (operator {@code reduceByKey:partial}), poked with {@code shuffle_write}, and only that
     * record's id crosses with the value, not one id per traced input. (A serializer that does
     * not call {@code writeObject}, such as Kryo's, carries every id instead: the same lineage.)
     */
    static final class Partial implements Serializable {
        private static final long serialVersionUID = 2L;
        /** The operator of a map-side partial's report. */
        static final Op PARTIAL = new Op("reduceByKey:partial", "io.spoor.spark.TracedPairRDD");
        Object value;
        long[] ids = new long[4];
        int count;

        Partial(Object value, long id) {
            this.value = value;
            add(id);
        }

        void add(long id) {
            if (count == ids.length) {
                ids = Arrays.copyOf(ids, ids.length * 2);
            }
            ids[count++] = id;
        }

        void addAll(Partial other) {
            for (int i = 0; i < other.count; i++) {
                add(other.ids[i]);
            }
        }

        /** The fold report of the ids as operator `op` (at most {@link Spoor#MAX_PARENTS} parents,
         *  how many more in the attachment's {@code truncated}). */
        long report(int op, long keyHash, long startNs, long endNs) {
            if (count <= Spoor.MAX_PARENTS) {
                return Spoor.foldReport(ids, count, op, keyHash, startNs, endNs);
            }
            return Spoor.checkpoint(ids, 0, Spoor.MAX_PARENTS, op, keyHash, startNs, endNs, 0,
                    Attachment.builder().put("truncated", Long.toString(count - Spoor.MAX_PARENTS)).build());
        }

        private void writeObject(ObjectOutputStream out) throws IOException {
            out.writeObject(value);
            if (Spoor.isRunning()) {
                long id = count > 1 ? report(PARTIAL.id(), 0, 0, 0) : ids[0];
                Spoor.poke(id, PARTIAL.id(), Event.SHUFFLE_WRITE);
                out.writeInt(1);
                out.writeLong(id);
                return;
            }
            // No Spoor in this JVM (it was stopped under the job): every id crosses instead.
            out.writeInt(count);
            for (int i = 0; i < count; i++) {
                out.writeLong(ids[i]);
            }
        }

        private void readObject(ObjectInputStream in) throws IOException, ClassNotFoundException {
            value = in.readObject();
            int n = in.readInt();
            if (n < 1 || n > (1 << 28)) {
                throw new java.io.InvalidObjectException("a partial of " + n + " ids");
            }
            ids = new long[Math.max(4, n)];
            for (int i = 0; i < n; i++) {
                ids[i] = in.readLong();
            }
            count = n;
        }
    }

    /** (key, value) for a shuffle: a traced pair becomes (key, Traced(value, id)) and, with
     *  `poke`, is poked with shuffle_write (reduceByKey pokes its partials instead); an untracked
     *  one passes as it is. */
    @SuppressWarnings("unchecked")
    private JavaPairRDD<K, Object> keyed(String kind, boolean poke) {
        SpoorSettings settings = this.settings;
        Op op = new Op(kind + ":shuffle", kind);
        return records.mapPartitionsToPair(partition -> {
            settings.ensure();
            int id = op.id();
            return new Iterator<Tuple2<K, Object>>() {
                private boolean done;

                @Override
                public boolean hasNext() {
                    boolean more = partition.hasNext();
                    if (!more && !done) {
                        done = true;
                        Partitions.flush();
                    }
                    return more;
                }

                @Override
                public Tuple2<K, Object> next() {
                    Object record = partition.next();
                    if (record instanceof Traced<?> traced) {
                        Tuple2<K, V> pair = (Tuple2<K, V>) traced.value();
                        if (poke) {
                            Spoor.poke(traced.id(), id, Event.SHUFFLE_WRITE);
                        }
                        return new Tuple2<>(pair._1(), new Traced<>(pair._2(), traced.id()));
                    }
                    return (Tuple2<K, Object>) record;
                }
            };
        });
    }

    /** A key's hash in the reports: {@link Spoor#keyHashOrText}, so that a partitioner file made
     *  from these traces routes the same keys ({@code io.spoor.Partitioner#partitionOf}). */
    static long keyHash(Object key) {
        return Spoor.keyHashOrText(key);
    }

    /** Runs `finish` on each shuffled (key, payload) of `shuffled` as operator `op`. */
    private <P> JavaRDD<Object> afterShuffle(JavaPairRDD<K, P> shuffled, Op op, Partitions.Step finish) {
        SpoorSettings settings = this.settings;
        return shuffled.mapPartitions(groups -> {
            settings.ensure();
            return Partitions.lazily(groups, op.id(), finish);
        });
    }

    /** Reads a shuffled value (plain or Traced) into `values`, its id into `fold`, poking it. */
    @SuppressWarnings("unchecked")
    static <X> void gather(Iterable<Object> items, int op, List<X> values, Fold fold) {
        for (Object item : items) {
            if (item instanceof Traced<?> traced) {
                values.add((X) traced.value());
                fold.add(traced.id());
                Spoor.poke(traced.id(), op, Event.SHUFFLE_READ);
            } else {
                values.add((X) item);
            }
        }
    }

    /** The output record of a group: a Traced of it if traced records went into it. */
    static Object output(Object value, long id) {
        return id != 0 ? new Traced<>(value, id) : value;
    }

    /**
     * mapValues(f): the key is kept, f runs on the value.
     *
     * @param function the user's function
     * @param <W> the new value type
     * @return the pairs
     */
    @SuppressWarnings("unchecked")
    public <W> TracedPairRDD<K, W> mapValues(Function<V, W> function) {
        SpoorSettings settings = this.settings;
        Op op = Op.of("mapValues");
        Function<Tuple2<K, V>, Tuple2<K, W>> apply = pair -> new Tuple2<>(pair._1(), function.call(pair._2()));
        return new TracedPairRDD<>(records.mapPartitions(partition -> {
            settings.ensure();
            return Partitions.mapping(partition, op.id(), (record, id) ->
                    record instanceof Traced<?> ? TracedRDD.apply(record, id, apply) : apply.call((Tuple2<K, V>) record));
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
        return new TracedPairRDD<>(new TracedRDD<Tuple2<K, V>>(records, settings).filter(predicate).records, settings);
    }

    /**
     * reduceByKey(f): each key's aggregate of traced records is one fold report of them.
     *
     * @param function the user's reduce function
     * @return the aggregates
     */
    @SuppressWarnings("unchecked")
    public TracedPairRDD<K, V> reduceByKey(Function2<V, V, V> function) {
        Op op = Op.of("reduceByKey");
        JavaPairRDD<K, Object> shuffled = keyed("reduceByKey", false).combineByKey(
                item -> item instanceof Traced<?> traced ? new Partial(traced.value(), traced.id()) : item,
                (acc, item) -> {
                    if (item instanceof Traced<?> traced) {
                        if (acc instanceof Partial partial) {
                            partial.value = function.call((V) partial.value, (V) traced.value());
                            partial.add(traced.id());
                            return partial;
                        }
                        return new Partial(function.call((V) acc, (V) traced.value()), traced.id());
                    }
                    if (acc instanceof Partial partial) {
                        partial.value = function.call((V) partial.value, (V) item);
                        return partial;
                    }
                    return function.call((V) acc, (V) item);
                },
                (a, b) -> {
                    if (a instanceof Partial left) {
                        if (b instanceof Partial right) {
                            left.value = function.call((V) left.value, (V) right.value);
                            left.addAll(right);
                        } else {
                            left.value = function.call((V) left.value, (V) b);
                        }
                        return left;
                    }
                    if (b instanceof Partial right) {
                        right.value = function.call((V) a, (V) right.value);
                        return right;
                    }
                    return function.call((V) a, (V) b);
                });
        return new TracedPairRDD<>(afterShuffle(shuffled, op, (Object group, int id, Consumer<Object> out) -> {
            Tuple2<K, Object> pair = (Tuple2<K, Object>) group;
            if (!(pair._2() instanceof Partial partial)) {
                out.accept(pair);
                return;
            }
            long start = Spoor.now();
            for (int i = 0; i < partial.count; i++) {
                Spoor.poke(partial.ids[i], id, Event.SHUFFLE_READ);
            }
            long fold = partial.report(id, keyHash(pair._1()), start, Spoor.now());
            out.accept(output(new Tuple2<>(pair._1(), partial.value), fold));
        }), settings);
    }

    /**
     * groupByKey(): each (key, [values]) with traced members is one fold report of them.
     *
     * @return the groups
     */
    @SuppressWarnings("unchecked")
    public TracedPairRDD<K, List<V>> groupByKey() {
        Op op = Op.of("groupByKey");
        JavaPairRDD<K, Iterable<Object>> grouped = keyed("groupByKey", true).groupByKey();
        return new TracedPairRDD<>(afterShuffle(grouped, op, (Object group, int id, Consumer<Object> out) -> {
            Tuple2<K, Iterable<Object>> pair = (Tuple2<K, Iterable<Object>>) group;
            long start = Spoor.now();
            List<V> values = new ArrayList<>();
            Fold fold = new Fold();
            gather(pair._2(), id, values, fold);
            out.accept(output(new Tuple2<>(pair._1(), values), fold.finish(id, keyHash(pair._1()), start, Spoor.now())));
        }), settings);
    }

    /**
     * join(other): each (key, (v, w)) output of traced pairs has them as parents.
     *
     * @param other the other side
     * @param <W> its value type
     * @return the joined pairs
     */
    @SuppressWarnings("unchecked")
    public <W> TracedPairRDD<K, Tuple2<V, W>> join(TracedPairRDD<K, W> other) {
        Op op = Op.of("join");
        JavaPairRDD<K, Tuple2<Object, Object>> joined = keyed("join", true).join(other.keyed("join", true));
        return new TracedPairRDD<>(afterShuffle(joined, op, (Object group, int id, Consumer<Object> out) -> {
            Tuple2<K, Tuple2<Object, Object>> pair = (Tuple2<K, Tuple2<Object, Object>>) group;
            Object left = pair._2()._1();
            Object right = pair._2()._2();
            Tuple2<K, Tuple2<V, W>> value = new Tuple2<>(pair._1(), new Tuple2<>(TracedRDD.value(left), TracedRDD.value(right)));
            long leftId = TracedRDD.id(left);
            long rightId = TracedRDD.id(right);
            if ((leftId | rightId) == 0) {
                out.accept(value);
                return;
            }
            long start = Spoor.now();
            Spoor.poke(leftId, id, Event.SHUFFLE_READ);
            Spoor.poke(rightId, id, Event.SHUFFLE_READ);
            out.accept(output(value, Spoor.checkpoint(leftId, rightId, id, keyHash(pair._1()), start, Spoor.now())));
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
    @SuppressWarnings("unchecked")
    public <W> TracedPairRDD<K, Tuple2<List<V>, List<W>>> cogroup(TracedPairRDD<K, W> other) {
        Op op = Op.of("cogroup");
        JavaPairRDD<K, Tuple2<Iterable<Object>, Iterable<Object>>> grouped = keyed("cogroup", true).cogroup(other.keyed("cogroup", true));
        return new TracedPairRDD<>(afterShuffle(grouped, op, (Object group, int id, Consumer<Object> out) -> {
            Tuple2<K, Tuple2<Iterable<Object>, Iterable<Object>>> pair = (Tuple2<K, Tuple2<Iterable<Object>, Iterable<Object>>>) group;
            long start = Spoor.now();
            List<V> left = new ArrayList<>();
            List<W> right = new ArrayList<>();
            Fold fold = new Fold();
            gather(pair._2()._1(), id, left, fold);
            gather(pair._2()._2(), id, right, fold);
            out.accept(output(new Tuple2<>(pair._1(), new Tuple2<>(left, right)), fold.finish(id, keyHash(pair._1()), start, Spoor.now())));
        }), settings);
    }

    /**
     * union(other): both RDDs' pairs, unchanged (no report).
     *
     * @param other the other traced pair RDD
     * @return the union
     */
    public TracedPairRDD<K, V> union(TracedPairRDD<K, V> other) {
        return new TracedPairRDD<>(records.union(other.records), settings);
    }

    /**
     * foreach(f) over the pairs (an {@code exit} event each traced one).
     *
     * @param function the user's function
     */
    public void foreach(VoidFunction<Tuple2<K, V>> function) {
        new TracedRDD<Tuple2<K, V>>(records, settings).foreach(function);
    }

    /** @return every pair as a Traced (id 0: untracked); each traced one gets an {@code exit} event (from the driver) */
    public List<Traced<Tuple2<K, V>>> collectTraced() {
        return new TracedRDD<Tuple2<K, V>>(records, settings).collectTraced();
    }

    /** @return the pairs, as the untraced job would collect them */
    public List<Tuple2<K, V>> collect() {
        return new TracedRDD<Tuple2<K, V>>(records, settings).collect();
    }

    /** @return the number of pairs */
    public long count() {
        return records.count();
    }
}
