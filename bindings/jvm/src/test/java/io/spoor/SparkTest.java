package io.spoor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.spoor.spark.TracedRDD;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIf;
import scala.Tuple2;

/** io.spoor.spark on real Spark (local[2], the jars of the pip-installed pyspark). */
@EnabledIf("sparkPresent")
class SparkTest {
    static JavaSparkContext context;

    static boolean sparkPresent() {
        try {
            Class.forName("org.apache.spark.SparkConf");
            return true;
        } catch (ClassNotFoundException missing) {
            return false;
        }
    }

    @BeforeAll
    static void start() {
        context = new JavaSparkContext(new SparkConf().setMaster("local[2]").setAppName("spoor-jvm-test")
                .set("spark.ui.enabled", "false").set("spark.driver.host", "127.0.0.1").set("spark.log.level", "ERROR"));
        context.setLogLevel("ERROR");
    }

    @AfterAll
    static void stop() {
        context.stop();
        if (Spoor.isRunning()) {
            Native.shutdown();
        }
    }

    /** Every non-poke report by each id it made (fan-out included). */
    static Map<Long, Map<String, Object>> index(Path root) throws Exception {
        Map<Long, Map<String, Object>> index = new HashMap<>();
        for (Map<String, Object> report : TestSupport.dump(root)) {
            if ("poke".equals(report.get("kind"))) {
                continue;
            }
            long first = Long.parseUnsignedLong((String) report.get("id"), 16);
            for (long offset = 0; offset < (Long) report.get("fanout"); offset++) {
                index.put(first + offset, report);
            }
        }
        return index;
    }

    /** Every report of a record's backward lineage, up to the entries (failing on a record with
     *  no report: a broken lineage). */
    static List<Map<String, Object>> lineage(Map<Long, Map<String, Object>> index, long record) {
        Set<Long> seen = new HashSet<>();
        List<Map<String, Object>> reports = new ArrayList<>();
        List<Long> frontier = new ArrayList<>(List.of(record));
        while (!frontier.isEmpty()) {
            long current = frontier.remove(frontier.size() - 1);
            if (!seen.add(current)) {
                continue;
            }
            Map<String, Object> report = index.get(current);
            assertNotNull(report, "record " + Long.toHexString(current) + " has no report: a broken lineage");
            reports.add(report);
            for (Object parent : (List<?>) report.get("parents")) {
                frontier.add(Long.parseUnsignedLong((String) parent, 16));
            }
        }
        return reports;
    }

    /** The key hashes of the entries a record's backward lineage reaches. */
    static Set<Long> backward(Map<Long, Map<String, Object>> index, long record) {
        Set<Long> entries = new HashSet<>();
        for (Map<String, Object> report : lineage(index, record)) {
            if ("entry".equals(report.get("kind"))) {
                entries.add(Long.parseUnsignedLong((String) report.get("key_hash"), 16));
            }
        }
        return entries;
    }

    /** `count` lines "lineN" followed by 1 to `maxWords` words "w0".."w(vocabulary-1)", from `seed`. */
    static List<String> wordLines(long seed, int count, int maxWords, int vocabulary) {
        Random random = new Random(seed);
        List<String> lines = new ArrayList<>();
        for (int n = 0; n < count; n++) {
            StringBuilder line = new StringBuilder("line" + n);
            for (int w = random.nextInt(maxWords); w >= 0; w--) {
                line.append(" w").append(random.nextInt(vocabulary));
            }
            lines.add(line.toString());
        }
        return lines;
    }

    /** The key hashes of the sampled lines (`sampled`, looked up in `byHash`) holding `word`. */
    static Set<Long> sampledLinesHolding(String word, Set<Long> sampled, Map<Long, String> byHash) {
        Set<Long> expected = new HashSet<>();
        for (long hash : sampled) {
            if (Arrays.asList(byHash.get(hash).split(" ")).contains(word)) {
                expected.add(hash);
            }
        }
        return expected;
    }

    @Test
    void wordCountResultsAndLineage() throws Exception {
        List<String> lines = wordLines(7, 600, 12, 40);
        JavaRDD<String> source = context.parallelize(lines, 4);
        List<Tuple2<String, Integer>> untraced = new ArrayList<>(source.flatMap(line -> Arrays.asList(line.split(" ")).iterator())
                .mapToPair(word -> new Tuple2<>(word, 1)).reduceByKey(Integer::sum).collect());
        Path root = TestSupport.temporaryRoot();
        List<Traced<Tuple2<String, Integer>>> counts = TracedRDD.traced(source, 0.3, root.toString())
                .flatMap(line -> Arrays.asList(line.split(" ")).iterator())
                .mapToPair(word -> new Tuple2<>(word, 1))
                .reduceByKey(Integer::sum)
                .collectTraced();
        Native.shutdown();
        List<Tuple2<String, Integer>> traced = new ArrayList<>();
        counts.forEach(record -> traced.add(record.value()));
        traced.sort((a, b) -> a._1().compareTo(b._1()));
        untraced.sort((a, b) -> a._1().compareTo(b._1()));
        assertEquals(untraced, traced, "the traced job's results are the untraced job's");

        Map<Long, Map<String, Object>> index = index(root);
        Map<Long, String> byHash = new HashMap<>();
        lines.forEach(line -> byHash.put(Spoor.keyHash(line), line));
        Set<Long> sampled = new HashSet<>();
        index.values().forEach(report -> {
            if ("entry".equals(report.get("kind"))) {
                sampled.add(Long.parseUnsignedLong((String) report.get("key_hash"), 16));
            }
        });
        assertTrue(sampled.size() > 0.15 * lines.size() && sampled.size() < 0.45 * lines.size(), "about 30% sampled: " + sampled.size());
        int checked = 0;
        for (Traced<Tuple2<String, Integer>> record : counts) {
            String word = record.value()._1();
            if (record.id() == 0 || !word.startsWith("w")) {
                continue;
            }
            assertEquals(sampledLinesHolding(word, sampled, byHash), backward(index, record.id()),
                    "the count of " + word + " came from exactly the sampled lines holding it");
            checked++;
        }
        assertTrue(checked >= 30, "checked " + checked);
        Map<String, Object> fold = index.get(counts.stream().filter(r -> r.id() != 0).findFirst().orElseThrow().id());
        assertEquals(Boolean.TRUE, fold.get("fold"));
        assertTrue(((String) fold.get("operator")).startsWith("reduceByKey:"), (String) fold.get("operator"));
        assertTrue(((Long) fold.get("duration_ns")) >= 0);
    }

    static <K extends Comparable<K>, V> List<Tuple2<K, V>> sorted(List<Tuple2<K, V>> pairs) {
        List<Tuple2<K, V>> copy = new ArrayList<>(pairs);
        copy.sort((a, b) -> {
            int byKey = a._1().compareTo(b._1());
            return byKey != 0 ? byKey : String.valueOf(a._2()).compareTo(String.valueOf(b._2()));
        });
        return copy;
    }

    static Tuple2<Integer, String> parse(String line) {
        String[] parts = line.split(",");
        return new Tuple2<>(Integer.parseInt(parts[0]), parts[1]);
    }

    @Test
    void joinWithSamplingAndTheOtherOperations() throws Exception {
        List<String> userLines = new ArrayList<>();
        List<String> orderLines = new ArrayList<>();
        for (int i = 0; i < 60; i++) {
            userLines.add(i + ",user" + i);
        }
        for (int i = 0; i < 300; i++) {
            orderLines.add(i % 60 + ",order" + i);
        }
        JavaRDD<String> users = context.parallelize(userLines, 3);
        JavaRDD<String> orders = context.parallelize(orderLines, 3);
        List<Tuple2<Integer, Tuple2<String, String>>> untraced = sorted(
                users.mapToPair(SparkTest::parse).join(orders.mapToPair(SparkTest::parse)).collect());
        Path joinRoot = TestSupport.temporaryRoot();
        List<Traced<Tuple2<Integer, Tuple2<String, String>>>> joined = TracedRDD.traced(users, 0.5, joinRoot.toString())
                .mapToPair(SparkTest::parse)
                .join(TracedRDD.traced(orders, 0.5, joinRoot.toString()).mapToPair(SparkTest::parse))
                .collectTraced();
        Native.shutdown();
        List<Tuple2<Integer, Tuple2<String, String>>> values = new ArrayList<>();
        joined.forEach(record -> values.add(record.value()));
        assertEquals(untraced, sorted(values), "the traced join's results are the untraced join's");
        Map<Long, Map<String, Object>> index = index(joinRoot);
        Set<Long> sampled = new HashSet<>();
        index.values().forEach(report -> {
            if ("entry".equals(report.get("kind"))) {
                sampled.add(Long.parseUnsignedLong((String) report.get("key_hash"), 16));
            }
        });
        int traced = 0;
        for (Traced<Tuple2<Integer, Tuple2<String, String>>> record : joined) {
            int key = record.value()._1();
            Set<Long> inputs = new HashSet<>(List.of(Spoor.keyHash(key + "," + record.value()._2()._1()),
                    Spoor.keyHash(key + "," + record.value()._2()._2())));
            inputs.retainAll(sampled);
            if (record.id() == 0) {
                assertTrue(inputs.isEmpty(), "an output is untracked only when neither input was sampled");
                continue;
            }
            assertEquals(inputs, backward(index, record.id()), "a joined output's lineage is exactly its sampled inputs");
            traced++;
        }
        assertTrue(traced > 50, "traced outputs: " + traced);

        Path root = TestSupport.temporaryRoot();
        var tracedUsers = TracedRDD.traced(users, 0.5, root.toString()).mapToPair(SparkTest::parse);
        var tracedOrders = TracedRDD.traced(orders, 0.5, root.toString()).mapToPair(SparkTest::parse);
        var plainUsers = users.mapToPair(SparkTest::parse);
        var plainOrders = orders.mapToPair(SparkTest::parse);
        List<Tuple2<Integer, List<String>>> grouped = new ArrayList<>();
        for (Tuple2<Integer, List<String>> group : tracedOrders.groupByKey().collect()) {
            List<String> members = new ArrayList<>(group._2());
            members.sort(null);
            grouped.add(new Tuple2<>(group._1(), members));
        }
        List<Tuple2<Integer, List<String>>> plainGrouped = new ArrayList<>();
        for (Tuple2<Integer, Iterable<String>> group : plainOrders.groupByKey().collect()) {
            List<String> members = new ArrayList<>();
            group._2().forEach(members::add);
            members.sort(null);
            plainGrouped.add(new Tuple2<>(group._1(), members));
        }
        assertEquals(sorted(plainGrouped), sorted(grouped));
        assertEquals(plainUsers.cogroup(plainOrders).count(), tracedUsers.cogroup(tracedOrders).count());
        assertEquals(sorted(plainOrders.mapValues(String::length).collect()), sorted(tracedOrders.mapValues(String::length).collect()));
        assertEquals(sorted(plainOrders.filter(pair -> pair._1() < 5).collect()),
                sorted(tracedOrders.filter(pair -> pair._1() < 5).collect()));
        assertEquals(2 * plainUsers.count(), tracedUsers.union(tracedUsers).count());
        tracedUsers.foreach(pair -> { });
        Native.shutdown();
        List<Object> events = new ArrayList<>();
        TestSupport.dump(root).forEach(report -> events.add(report.get("event")));
        assertTrue(events.contains("shuffle_write") && events.contains("shuffle_read") && events.contains("exit"), events.toString());
    }
}
