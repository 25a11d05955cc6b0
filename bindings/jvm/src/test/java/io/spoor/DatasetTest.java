package io.spoor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.spoor.spark.SpoorDataset;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.functions;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIf;

/** SpoorDataset on real Spark: the lineage column through filter, withColumn, join and groupBy().agg(). */
@EnabledIf("io.spoor.SparkTest#sparkPresent")
class DatasetTest {
    @Test
    void aggregatesTraceBackToExactlyTheirSampledInputRows() throws Exception {
        SparkSession spark = SparkSession.builder().master("local[2]").appName("spoor-dataset-test")
                .config("spark.ui.enabled", "false").config("spark.driver.host", "127.0.0.1")
                .config("spark.sql.shuffle.partitions", "4").config("spark.log.level", "ERROR").getOrCreate();
        Path root = TestSupport.temporaryRoot();
        List<Row> userRows = new ArrayList<>();
        for (int u = 0; u < 20; u++) {
            userRows.add(RowFactory.create("u" + u, "name" + u));
        }
        List<Row> orderRows = new ArrayList<>();
        for (int o = 0; o < 400; o++) {
            // Skewed: a third of the orders belong to u0.
            orderRows.add(RowFactory.create("o" + o, o % 3 == 0 ? "u0" : "u" + (o % 20), (long) (o % 37)));
        }
        StructType userSchema = new StructType().add("user", DataTypes.StringType).add("name", DataTypes.StringType);
        StructType orderSchema = new StructType().add("order", DataTypes.StringType).add("user", DataTypes.StringType)
                .add("amount", DataTypes.LongType);
        List<Row> traced;
        List<Row> untraced;
        try {
            Dataset<Row> users = spark.createDataFrame(userRows, userSchema);
            Dataset<Row> orders = spark.createDataFrame(orderRows, orderSchema);
            Column[] byName = {functions.col("name")};
            untraced = orders.filter(functions.col("amount").gt(10)).withColumn("double", functions.col("amount").multiply(2))
                    .join(users, "user").groupBy(byName).agg(functions.sum("double").as("total")).orderBy("name").collectAsList();
            SpoorDataset result = SpoorDataset.traced(orders, "order", 0.5, root.toString())
                    .filter(functions.col("amount").gt(10))
                    .withColumn("double", functions.col("amount").multiply(2))
                    .join(SpoorDataset.traced(users, "user", 0.5, root.toString()), "user")
                    .groupByAgg(byName, functions.sum("double").as("total"));
            // One action only: each action samples its sources afresh.
            // Sorted here: a global orderBy would run the plan twice (its range sampling) and
            // report every row above it twice.
            traced = new ArrayList<>(result.dataset().collectAsList());
            traced.sort((a, b) -> a.getString(a.fieldIndex("name")).compareTo(b.getString(b.fieldIndex("name"))));
            List<Row> plain = new ArrayList<>();
            for (Row row : traced) {
                plain.add(RowFactory.create(row.getString(row.fieldIndex("name")), row.getLong(row.fieldIndex("total"))));
            }
            assertEquals(untraced, plain, "the traced job's results are the untraced job's");
            assertEquals(List.of("name", "total"), List.of(result.untraced().columns()));
        } finally {
            spark.stop();
            if (Spoor.isRunning()) {
                Native.shutdown();
            }
        }
        Map<Long, Map<String, Object>> index = SparkTest.index(root);
        Set<Long> sampled = new HashSet<>();
        index.values().forEach(r -> {
            if ("entry".equals(r.get("kind"))) {
                sampled.add(Long.parseUnsignedLong((String) r.get("key_hash"), 16));
            }
        });
        Map<String, String> userOfName = new HashMap<>();
        for (Row user : userRows) {
            userOfName.put(user.getString(1), user.getString(0));
        }
        int checked = 0;
        for (Row row : traced) {
            String context = row.getString(row.fieldIndex(SpoorDataset.COLUMN));
            String name = row.getString(row.fieldIndex("name"));
            String user = userOfName.get(name);
            Set<Long> expected = new HashSet<>();
            for (Row order : orderRows) {
                if (order.getString(1).equals(user) && order.getLong(2) > 10 && sampled.contains(Spoor.keyHash(order.getString(0)))) {
                    expected.add(Spoor.keyHash(order.getString(0)));
                }
            }
            if (sampled.contains(Spoor.keyHash(user))) {
                expected.add(Spoor.keyHash(user));
            }
            if (context == null) {
                assertTrue(expected.isEmpty(), "an aggregate is untracked only when none of its rows was sampled");
                continue;
            }
            assertEquals(expected, SparkTest.backward(index, Spoor.fromContext(context)), "the total of " + name);
            checked++;
        }
        assertTrue(checked >= 15, "traced aggregates: " + checked);
        // The join and aggregate reports carry their key's hash: the heavy key is the one most
        // traced join outputs name, and every aggregate names its user.
        Map<Long, Integer> joinsByKey = new HashMap<>();
        Set<Long> userHashes = new HashSet<>();
        Set<Long> nameHashes = new HashSet<>();
        for (Row user : userRows) {
            userHashes.add(Spoor.keyHash(user.getString(0)));
            nameHashes.add(Spoor.keyHash(user.getString(1)));
        }
        int aggregates = 0;
        for (Map<String, Object> report : index.values()) {
            String hash = (String) report.get("key_hash");
            long key = hash == null ? 0 : Long.parseUnsignedLong(hash, 16);
            if ("join".equals(report.get("operator"))) {
                assertTrue(userHashes.contains(key), "a join report's key is a user");
                joinsByKey.merge(key, 1, Integer::sum);
            } else if ("groupBy.agg".equals(report.get("operator"))) {
                assertTrue(nameHashes.contains(key), "an aggregate's key is its group's name");
                aggregates++;
            }
        }
        assertEquals(checked, aggregates, "one report per traced aggregate: the plan ran once");
        long heaviest = joinsByKey.entrySet().stream().max(Map.Entry.comparingByValue()).orElseThrow().getKey();
        assertEquals(Spoor.keyHash("u0"), heaviest, "the skewed key leads the traced joins: " + joinsByKey);
    }
}
