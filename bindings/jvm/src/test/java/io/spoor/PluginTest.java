package io.spoor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaSparkContext;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIf;
import scala.Tuple2;

/** spark.plugins=io.spoor.spark.SpoorPlugin on real Spark: every stage and task is recorded. */
@EnabledIf("io.spoor.SparkTest#sparkPresent")
class PluginTest {
    @Test
    void everyStageAndTaskIsRecordedWithItsMetrics() throws Exception {
        Path root = TestSupport.temporaryRoot();
        JavaSparkContext context = new JavaSparkContext(new SparkConf().setMaster("local[2]").setAppName("spoor-plugin-test")
                .set("spark.ui.enabled", "false").set("spark.driver.host", "127.0.0.1").set("spark.log.level", "ERROR")
                .set("spark.plugins", "io.spoor.spark.SpoorPlugin").set("spark.spoor.dir", root.toString())
                .set("spark.spoor.sampling", "0"));
        List<Integer> numbers = new ArrayList<>();
        for (int i = 0; i < 1000; i++) {
            numbers.add(i);
        }
        long keys;
        try {
            assertTrue(Spoor.isRunning(), "the driver plugin started Spoor");
            keys = context.parallelize(numbers, 4).mapToPair(n -> new Tuple2<>(n % 10, n)).reduceByKey(Integer::sum).count();
        } finally {
            context.stop();
        }
        assertEquals(10, keys);
        assertFalse(Spoor.isRunning(), "the driver plugin drained and stopped it");
        List<Map<String, Object>> reports = TestSupport.dump(root);
        Map<String, Map<String, Object>> records = new HashMap<>();
        Map<String, Map<String, String>> taskEnds = new HashMap<>();
        int stageEnds = 0;
        for (Map<String, Object> report : reports) {
            if ("poke".equals(report.get("kind"))) {
                Map<String, String> pairs = new HashMap<>();
                for (Object pair : (List<?>) report.get("attachment")) {
                    Map<?, ?> p = (Map<?, ?>) pair;
                    pairs.put((String) p.get("key"), (String) p.get("value"));
                }
                if ("spark.task".equals(report.get("operator"))) {
                    taskEnds.put((String) report.get("id"), pairs);
                } else if ("spark.stage".equals(report.get("operator"))) {
                    stageEnds++;
                }
            } else {
                records.put((String) report.get("id"), report);
            }
        }
        List<Map<String, Object>> stages = records.values().stream().filter(r -> "spark.stage".equals(r.get("operator"))).toList();
        List<Map<String, Object>> tasks = records.values().stream().filter(r -> "spark.task".equals(r.get("operator"))).toList();
        assertEquals(2, stages.size(), "a map stage and a reduce stage, recorded with sampling 0");
        assertEquals(2, stageEnds);
        assertEquals(8, tasks.size(), "4 map tasks and 4 reduce tasks");
        Set<String> stageIds = new HashSet<>();
        stages.forEach(s -> stageIds.add((String) s.get("id")));
        long shuffleWritten = 0;
        long shuffleRead = 0;
        for (Map<String, Object> task : tasks) {
            List<?> parents = (List<?>) task.get("parents");
            assertEquals(1, parents.size());
            assertTrue(stageIds.contains((String) parents.get(0)), "a task's parent is its stage");
            Map<String, String> end = taskEnds.get((String) task.get("id"));
            assertEquals("success", end.get("status"), "every task has its end event");
            assertTrue(Long.parseLong(end.get("run_ms")) >= 0 && end.containsKey("gc_ms") && end.containsKey("serialize_ms"));
            shuffleWritten += Long.parseLong(end.get("shuffle_records_written"));
            shuffleRead += Long.parseLong(end.get("shuffle_records_read"));
        }
        assertTrue(shuffleWritten > 0 && shuffleWritten == shuffleRead, "the shuffle's records, written and read: " + shuffleWritten);
    }
}
