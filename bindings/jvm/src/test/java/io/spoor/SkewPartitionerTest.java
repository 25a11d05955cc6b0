package io.spoor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.spoor.PartitionerTest.Placed;
import io.spoor.spark.Salting;
import io.spoor.spark.SpoorPartitioner;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.apache.spark.HashPartitioner;
import org.apache.spark.OneToOneDependency;
import org.apache.spark.ShuffleDependency;
import org.apache.spark.api.java.JavaPairRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.functions;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIf;
import scala.Tuple2;

/** io.spoor.spark.SpoorPartitioner and Salting on real Spark (local[2]): a partitioner file's
 *  heavy keys on their planned partitions, and a salted Dataset join equal to the plain one. */
@EnabledIf("io.spoor.SparkTest#sparkPresent")
class SkewPartitionerTest {
    static SparkSession spark;
    static JavaSparkContext context;

    @BeforeAll
    static void start() {
        // No broadcast joins: the salted join runs as the shuffle join salting is for.
        spark = SparkSession.builder().master("local[2]").appName("spoor-skew-test").config("spark.ui.enabled", "false")
                .config("spark.driver.host", "127.0.0.1").config("spark.sql.shuffle.partitions", "4")
                .config("spark.sql.autoBroadcastJoinThreshold", "-1").config("spark.log.level", "ERROR").getOrCreate();
        context = JavaSparkContext.fromSparkContext(spark.sparkContext());
    }

    @AfterAll
    static void stop() {
        spark.stop();
    }

    static final double[] KEEP = {1, 1, 1, 0.6, 1, 0.1, 1, 1};
    static final double[] SPILL = {1, 1, 0, 0, 2, 0, 1, 0.5};

    /** 8 partitions: "hot" on 5 (4 salts), "warm" on 2, 42 on 6 (3 salts), 0.0 on 1 (3 salts),
     *  NaN on 6; partition 5 keeps a tenth of its other keys, 3 six tenths. */
    static byte[] skewFile() {
        List<Placed> keys = List.of(new Placed(Spoor.keyHash("hot"), 5, 4), new Placed(Spoor.keyHash("warm"), 2, 1),
                new Placed(Spoor.keyHash(42L), 6, 3), new Placed(Spoor.keyHash(0.0), 1, 3), new Placed(Spoor.keyHash(Double.NaN), 6, 1));
        return PartitionerTest.file(8, keys, KEEP, SPILL).getBytes(StandardCharsets.UTF_8);
    }

    static String keyOf(int i) {
        return i % 5 < 2 ? "hot" : i % 10 == 2 ? "warm" : "k" + i % 500;
    }

    @Test
    void partitionByPutsEveryRecordOnItsPlannedPartition() {
        List<Tuple2<String, Integer>> records = new ArrayList<>();
        for (int i = 0; i < 20_000; i++) {
            records.add(new Tuple2<>(keyOf(i), i));
        }
        SpoorPartitioner partitioner = new SpoorPartitioner(skewFile());
        JavaPairRDD<String, Integer> placed = context.parallelizePairs(records, 4).partitionBy(partitioner);
        assertEquals(8, placed.getNumPartitions());
        List<Tuple2<Integer, Tuple2<String, Integer>>> located = placed.mapPartitionsWithIndex((index, pairs) -> {
            List<Tuple2<Integer, Tuple2<String, Integer>>> out = new ArrayList<>();
            pairs.forEachRemaining(pair -> out.add(new Tuple2<>(index, pair)));
            return out.iterator();
        }, true).collect();
        Partitioner routing = Partitioner.load(skewFile());
        Map<String, Set<Integer>> partitionsOfKey = new HashMap<>();
        List<String> after = new ArrayList<>();
        for (Tuple2<Integer, Tuple2<String, Integer>> record : located) {
            String key = record._2()._1();
            partitionsOfKey.computeIfAbsent(key, k -> new TreeSet<>()).add(record._1());
            assertEquals(routing.partitionOf(key), record._1(), "the partition of " + key);
            after.add(key + "=" + record._2()._2());
        }
        assertEquals(Set.of(5), partitionsOfKey.get("hot"), "every hot record on partition 5");
        assertEquals(Set.of(2), partitionsOfKey.get("warm"), "every warm record on partition 2");
        List<String> before = new ArrayList<>();
        records.forEach(record -> before.add(record._1() + "=" + record._2()));
        before.sort(null);
        after.sort(null);
        assertEquals(before, after, "partitionBy moves the records, it neither loses nor adds any");
        // The spill ran: keys whose plain partition is 5 (it keeps a tenth) mostly went elsewhere.
        int spilled = 0;
        for (Map.Entry<String, Set<Integer>> entry : partitionsOfKey.entrySet()) {
            long hash = Spoor.keyHash(entry.getKey());
            if (!entry.getKey().equals("hot") && PartitionerTest.plainPartition(hash, 8) == 5 && !entry.getValue().equals(Set.of(5))) {
                spilled++;
                assertEquals(PartitionerTest.expectedPartition(hash, 8, KEEP, SPILL), (int) entry.getValue().iterator().next());
            }
        }
        assertTrue(spilled >= 20, "keys spilled off partition 5: " + spilled);
    }

    @Test
    void twoLoadsOfOneFileAreOnePartitioning() {
        SpoorPartitioner first = new SpoorPartitioner(skewFile());
        SpoorPartitioner second = new SpoorPartitioner(skewFile());
        assertEquals(first, second);
        assertEquals(first.hashCode(), second.hashCode());
        SpoorPartitioner other = new SpoorPartitioner(PartitionerTest.plainFile(8));
        assertNotEquals(first, other);
        assertNotEquals(first, new HashPartitioner(8));
        List<Tuple2<String, Integer>> records = new ArrayList<>();
        Map<String, Integer> sums = new HashMap<>();
        for (int i = 0; i < 2000; i++) {
            records.add(new Tuple2<>(keyOf(i), i));
            sums.merge(keyOf(i), i, Integer::sum);
        }
        JavaPairRDD<String, Integer> placed = context.parallelizePairs(records, 3).partitionBy(first);
        // The same partitioning: Spark reduces in place, with no shuffle.
        JavaPairRDD<String, Integer> reduced = placed.reduceByKey(second, Integer::sum);
        assertTrue(reduced.rdd().dependencies().head() instanceof OneToOneDependency, "no shuffle after partitionBy of an equal partitioner");
        assertEquals(sums, new HashMap<>(reduced.collectAsMap()));
        JavaPairRDD<String, Integer> reshuffled = placed.reduceByKey(other, Integer::sum);
        assertTrue(reshuffled.rdd().dependencies().head() instanceof ShuffleDependency, "another file is another partitioning");
        assertEquals(sums, new HashMap<>(reshuffled.collectAsMap()));
    }

    @Test
    void aSerialisedPartitionerRoutesAsTheOriginal() throws Exception {
        SpoorPartitioner original = new SpoorPartitioner(skewFile());
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ObjectOutputStream out = new ObjectOutputStream(bytes)) {
            out.writeObject(original);
        }
        SpoorPartitioner copy;
        try (ObjectInputStream in = new ObjectInputStream(new ByteArrayInputStream(bytes.toByteArray()))) {
            copy = (SpoorPartitioner) in.readObject();
        }
        assertEquals(original, copy);
        assertEquals(8, copy.numPartitions());
        assertEquals(new String(skewFile(), StandardCharsets.UTF_8), new String(copy.json(), StandardCharsets.UTF_8));
        for (int i = 0; i < 5000; i++) {
            assertEquals(original.getPartition(keyOf(i)), copy.getPartition(keyOf(i)));
            assertEquals(original.getPartition((long) i), copy.getPartition((long) i));
        }
        assertEquals(5, copy.getPartition("hot"));
        assertEquals(4, copy.saltsOf("hot"));
        assertEquals(6, copy.getPartition(42));
        assertEquals(3, copy.saltsOf(42L));
        // A null key goes to 0, as Spark's HashPartitioner sends it; other types are refused.
        assertEquals(0, copy.getPartition(null));
        assertEquals(1, copy.saltsOf(null));
        assertThrows(IllegalArgumentException.class, () -> copy.getPartition(new Tuple2<>("a", 1)));
        // Every NaN is one key to Java's equals, so one partition here: NaN is placed on 6, and
        // another NaN's bits would route elsewhere.
        double otherNaN = Double.NaN;
        for (long payload = 1; copy.partitioner().partitionOf(otherNaN) == 6; payload++) {
            otherNaN = Double.longBitsToDouble(0xfff8000000000000L | payload);
        }
        assertTrue(Double.isNaN(otherNaN) && Double.valueOf(otherNaN).equals(Double.NaN));
        assertEquals(6, copy.getPartition(otherNaN));
        assertEquals(6, copy.getPartition(Float.intBitsToFloat(0xffc00001)));
        assertEquals(6, copy.getPartition(Double.NaN));
        // A file that is not a partitioner file is refused at construction, with the detail.
        SpoorException error = assertThrows(SpoorException.class, () -> new SpoorPartitioner("{\"format\":\"other\"}".getBytes(StandardCharsets.UTF_8)));
        assertTrue(error.detail().contains("not \"spoor-partitioner\""), error.detail());
    }

    /** The rows of `rows` as sorted text. */
    static List<String> sorted(Dataset<Row> rows) {
        List<String> out = new ArrayList<>();
        for (Row row : rows.collectAsList()) {
            out.add(row.toString());
        }
        out.sort(null);
        return out;
    }

    /** Fails unless the two lists hold the same rows (as many times each), naming a few
     *  differences rather than printing every row. */
    static void assertSameRows(List<String> expected, List<String> actual, String what) {
        Map<String, Integer> balance = new HashMap<>();
        expected.forEach(row -> balance.merge(row, 1, Integer::sum));
        actual.forEach(row -> balance.merge(row, -1, Integer::sum));
        List<String> differences = new ArrayList<>();
        balance.forEach((row, n) -> {
            if (n != 0) {
                differences.add((n > 0 ? "missing " : "extra ") + Math.abs(n) + "x " + row);
            }
        });
        differences.sort(null);
        assertTrue(differences.isEmpty(), what + ": " + expected.size() + " rows expected, " + actual.size() + " got; "
                + differences.size() + " differ, such as " + differences.subList(0, Math.min(5, differences.size())));
    }

    static Dataset<Row> frame(List<Row> rows, String key, DataType keyType, String value) {
        return spark.createDataFrame(rows, new StructType().add("id", DataTypes.LongType).add(key, keyType).add(value, DataTypes.StringType));
    }

    /** The salts each key's rows carry on the large side. */
    static Map<Object, Set<Integer>> saltsByKey(Dataset<Row> salted, String key) {
        Map<Object, Set<Integer>> salts = new HashMap<>();
        for (Row row : salted.select(key, Salting.SALT_COLUMN).collectAsList()) {
            salts.computeIfAbsent(row.get(0), k -> new TreeSet<>()).add(row.getInt(1));
        }
        return salts;
    }

    @Test
    void aSaltedJoinReturnsThePlainJoinsRows() {
        List<Row> orders = new ArrayList<>();
        for (long i = 0; i < 6000; i++) {
            String key = i % 5 < 2 ? "hot" : i % 211 == 8 ? null : i % 97 == 1 ? "orphan" + i % 7 : "k" + i % 100;
            orders.add(RowFactory.create(i, key, "order" + i));
        }
        List<Row> customers = new ArrayList<>();
        customers.add(RowFactory.create(-1L, "hot", "hot-a"));
        customers.add(RowFactory.create(-2L, "hot", "hot-b"));
        customers.add(RowFactory.create(-3L, null, "nobody"));
        for (long c = 0; c < 80; c++) {
            customers.add(RowFactory.create(c, "k" + c, "name" + c));
        }
        Dataset<Row> large = frame(orders, "customer", DataTypes.StringType, "order");
        Dataset<Row> small = frame(customers, "customer", DataTypes.StringType, "name");
        SpoorPartitioner partitioner = new SpoorPartitioner(skewFile());
        scala.collection.immutable.Seq<String> using = scala.jdk.javaapi.CollectionConverters.asScala(List.of("customer")).toList();
        for (String type : List.of("inner", "left_outer", "left_semi", "left_anti")) {
            Dataset<Row> plain = large.join(small, using, type);
            Dataset<Row> salted = Salting.join(large, small, "customer", partitioner, type);
            assertEquals(List.of(plain.columns()), List.of(salted.columns()), type);
            List<String> expected = sorted(plain);
            assertFalse(expected.isEmpty(), type);
            assertSameRows(expected, sorted(salted), "the " + type + " join's rows");
        }
        assertEquals(matches(orders, customers), Salting.join(large, small, "customer", partitioner).count());
        // The heavy key's rows carry its 4 salts; every other key (warm is placed with 1) salt 0.
        Map<Object, Set<Integer>> largeSalts = saltsByKey(Salting.saltLarge(large, "customer", partitioner), "customer");
        assertEquals(Set.of(0, 1, 2, 3), largeSalts.get("hot"));
        largeSalts.forEach((key, salts) -> {
            if (!"hot".equals(key)) {
                assertEquals(Set.of(0), salts, String.valueOf(key));
            }
        });
        // The small side's rows of the heavy key once per salt, the others once.
        List<String> copies = sorted(Salting.saltSmall(small, "customer", partitioner).filter(functions.col("id").lt(0)));
        assertEquals(List.of("[-1,hot,hot-a,0]", "[-1,hot,hot-a,1]", "[-1,hot,hot-a,2]", "[-1,hot,hot-a,3]", "[-2,hot,hot-b,0]",
                "[-2,hot,hot-b,1]", "[-2,hot,hot-b,2]", "[-2,hot,hot-b,3]", "[-3,null,nobody,0]"), copies);
        assertEquals(customers.size() + 2 * 3, Salting.saltSmall(small, "customer", partitioner).count());
        // Refused: the join types salting would change, mismatched or unhashed key types.
        assertThrows(IllegalArgumentException.class, () -> Salting.join(large, small, "customer", partitioner, "right_outer"));
        assertThrows(IllegalArgumentException.class, () -> Salting.join(large, small, "customer", partitioner, "full"));
        Dataset<Row> numbered = small.withColumn("customer", functions.lit(1L));
        assertThrows(IllegalArgumentException.class, () -> Salting.join(large, numbered, "customer", partitioner));
        Dataset<Row> dated = small.withColumn("customer", functions.current_date());
        assertThrows(IllegalArgumentException.class, () -> Salting.join(dated, dated, "customer", partitioner));
        Dataset<Row> salty = large.withColumn(Salting.SALT_COLUMN, functions.lit(0));
        assertThrows(IllegalArgumentException.class, () -> Salting.join(salty, small, "customer", partitioner));
    }

    /** The rows of the inner join of `large` and `small` on their second field, counted here. */
    static long matches(List<Row> large, List<Row> small) {
        Map<Object, Integer> rowsOfKey = new HashMap<>();
        for (Row row : small) {
            if (row.get(1) != null) {
                rowsOfKey.merge(row.get(1) instanceof Double number ? (Object) (number + 0.0) : row.get(1), 1, Integer::sum);
            }
        }
        long joined = 0;
        for (Row row : large) {
            if (row.get(1) != null) {
                joined += rowsOfKey.getOrDefault(row.get(1) instanceof Double number ? (Object) (number + 0.0) : row.get(1), 0);
            }
        }
        return joined;
    }

    @Test
    void saltsHashNumericColumnsAsTheirValues() {
        // A long column: 42 is Spoor.keyHash(42L) (placed with 3 salts), not the text "42"; an int
        // column's 42 is the same key.
        List<Row> facts = new ArrayList<>();
        List<Row> dimension = new ArrayList<>();
        for (long i = 0; i < 3000; i++) {
            facts.add(RowFactory.create(i, i % 2 == 0 ? 42L : i % 50, "fact" + i));
        }
        for (long d = 0; d < 60; d++) {
            dimension.add(RowFactory.create(d, d, "dim" + d));
        }
        SpoorPartitioner partitioner = new SpoorPartitioner(skewFile());
        Dataset<Row> large = frame(facts, "key", DataTypes.LongType, "fact");
        Dataset<Row> small = frame(dimension, "key", DataTypes.LongType, "dim");
        assertEquals(Set.of(0, 1, 2), saltsByKey(Salting.saltLarge(large, "key", partitioner), "key").get(42L));
        assertSameRows(sorted(large.join(small, "key")), sorted(Salting.join(large, small, "key", partitioner)), "the long join");
        Dataset<Row> narrow = large.withColumn("key", functions.col("key").cast(DataTypes.IntegerType));
        assertEquals(Set.of(0, 1, 2), saltsByKey(Salting.saltLarge(narrow, "key", partitioner), "key").get(42));
        Dataset<Row> text = large.withColumn("key", functions.col("key").cast(DataTypes.StringType));
        assertEquals(Set.of(0), saltsByKey(Salting.saltLarge(text, "key", partitioner), "key").get("42"));

        // A double column: Spark joins -0.0 to 0.0 (placed with 3 salts), and so must the salts.
        List<Row> measures = new ArrayList<>();
        for (long i = 0; i < 2000; i++) {
            measures.add(RowFactory.create(i, i % 4 == 0 ? 0.0 : i % 4 == 1 ? -0.0 : (double) (i % 30), "m" + i));
        }
        List<Row> levels = new ArrayList<>();
        levels.add(RowFactory.create(-1L, -0.0, "negative zero"));
        levels.add(RowFactory.create(-2L, 0.0, "zero"));
        for (long d = 1; d < 20; d++) {
            levels.add(RowFactory.create(d, (double) d, "level" + d));
        }
        Dataset<Row> measured = frame(measures, "value", DataTypes.DoubleType, "measure");
        Dataset<Row> leveled = frame(levels, "value", DataTypes.DoubleType, "level");
        List<String> plain = sorted(measured.join(leveled, "value"));
        assertEquals(matches(measures, levels), plain.size(), "Spark joins -0.0 to 0.0");
        assertTrue(plain.size() > 2000);
        assertSameRows(plain, sorted(Salting.join(measured, leveled, "value", partitioner)), "the double join");
        assertEquals(Set.of(0, 1, 2), saltsByKey(Salting.saltLarge(measured, "value", partitioner), "value").get(-0.0));
    }

    @Test
    void theSaltingRowHashSpreadsDistinctRowsAndRepeatsItself() {
        // The large side's salts come from the rows' values: the same salts at every evaluation.
        List<Row> orders = new ArrayList<>();
        for (long i = 0; i < 400; i++) {
            orders.add(RowFactory.create(i, "hot", "order" + i));
        }
        Dataset<Row> large = frame(orders, "customer", DataTypes.StringType, "order").repartition(3);
        SpoorPartitioner partitioner = new SpoorPartitioner(skewFile());
        Dataset<Row> salted = Salting.saltLarge(large, "customer", partitioner);
        assertSameRows(sorted(salted), sorted(Salting.saltLarge(large.coalesce(1), "customer", partitioner)),
                "the salts of one Dataset partitioned otherwise");
        Map<Integer, Integer> perSalt = new HashMap<>();
        for (Row row : salted.collectAsList()) {
            perSalt.merge(row.getInt(3), 1, Integer::sum);
        }
        assertEquals(Set.of(0, 1, 2, 3), perSalt.keySet());
        perSalt.values().forEach(n -> assertTrue(n > 60 && n < 140, "rows per salt: " + perSalt));
    }
}
