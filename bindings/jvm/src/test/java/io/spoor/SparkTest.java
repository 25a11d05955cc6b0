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
                .set("spark.ui.enabled", "false").set("spark.driver.host", "127.0.0.1"));
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

    /** The key hashes of the entries a record's backward lineage reaches. */
    static Set<Long> backward(Map<Long, Map<String, Object>> index, long record) {
        Set<Long> seen = new HashSet<>();
        Set<Long> entries = new HashSet<>();
        List<Long> frontier = new ArrayList<>(List.of(record));
        while (!frontier.isEmpty()) {
            long current = frontier.remove(frontier.size() - 1);
            if (!seen.add(current)) {
                continue;
            }
            Map<String, Object> report = index.get(current);
            assertNotNull(report, "record " + Long.toHexString(current) + " has no report: a broken lineage");
            if ("entry".equals(report.get("kind"))) {
                entries.add(Long.parseUnsignedLong((String) report.get("key_hash"), 16));
            }
            for (Object parent : (List<?>) report.get("parents")) {
                frontier.add(Long.parseUnsignedLong((String) parent, 16));
            }
        }
        return entries;
    }

    @Test
    void wordCountResultsAndLineage() throws Exception {
        Random random = new Random(7);
        List<String> lines = new ArrayList<>();
        for (int n = 0; n < 600; n++) {
            StringBuilder line = new StringBuilder("line" + n);
            for (int w = random.nextInt(12); w >= 0; w--) {
                line.append(" w").append(random.nextInt(40));
            }
            lines.add(line.toString());
        }
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
            Set<Long> expected = new HashSet<>();
            for (long hash : sampled) {
                if (Arrays.asList(byHash.get(hash).split(" ")).contains(word)) {
                    expected.add(hash);
                }
            }
            assertEquals(expected, backward(index, record.id()), "the count of " + word + " came from exactly the sampled lines holding it");
            checked++;
        }
        assertTrue(checked >= 30, "checked " + checked);
        Map<String, Object> fold = index.get(counts.stream().filter(r -> r.id() != 0).findFirst().orElseThrow().id());
        assertEquals(Boolean.TRUE, fold.get("fold"));
        assertTrue(((String) fold.get("operator")).startsWith("reduceByKey:"), (String) fold.get("operator"));
        assertTrue(((Long) fold.get("duration_ns")) >= 0);
    }
}
