package io.spoor;

import io.spoor.spark.TracedRDD;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Supplier;
import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import scala.Tuple2;

/**
 * The Spark RDD word count's wall time, untraced and traced at 0.01%, 1% and 100% sampling, in
 * one Spark context (local[2]), the variants interleaved round by round (the order rotates):
 * one JSON object per line with the median and its ratio to the untraced median.
 *
 * Usage: scripts/bench-jvm (runs it after Bench), or --quick for fewer rows and rounds.
 */
public final class SparkWordCount {
    private SparkWordCount() {}

    public static void main(String[] args) throws Exception {
        boolean quick = List.of(System.getProperty("bench.args", "").split(" ")).contains("--quick");
        int lines = quick ? 100_000 : 1_000_000;
        int rounds = quick ? 2 : 5;
        List<String> text = new ArrayList<>(lines);
        for (int i = 0; i < lines; i++) {
            StringBuilder line = new StringBuilder("line").append(i);
            for (int j = 0; j < 10; j++) {
                line.append(" word").append((i * 7 + j * 13) % 1000);
            }
            text.add(line.toString());
        }
        try (JavaSparkContext context = new JavaSparkContext(new SparkConf().setMaster("local[2]").setAppName("spoor-bench")
                .set("spark.ui.enabled", "false").set("spark.driver.host", "127.0.0.1").set("spark.log.level", "ERROR"))) {
            JavaRDD<String> source = context.parallelize(text, 8).cache();
            source.count();
            String root = Files.createTempDirectory("spoor-spark-bench-").toString();
            Map<String, Supplier<Long>> jobs = new LinkedHashMap<>();
            jobs.put("untraced", () -> source.flatMap(l -> Arrays.asList(l.split(" ")).iterator())
                    .mapToPair(w -> new Tuple2<>(w, 1)).reduceByKey(Integer::sum).count());
            for (double p : new double[] {0.0001, 0.01, 1.0}) {
                String dir = root + "/p" + p;
                jobs.put(String.format(Locale.ROOT, "traced_%s", p == 1.0 ? "1" : Double.toString(p)), () -> TracedRDD.traced(source, p, dir)
                        .flatMap(l -> Arrays.asList(l.split(" ")).iterator())
                        .mapToPair(w -> new Tuple2<>(w, 1)).reduceByKey(Integer::sum).count());
            }
            Map<String, List<Double>> times = new LinkedHashMap<>();
            long expected = -1;
            for (Map.Entry<String, Supplier<Long>> job : jobs.entrySet()) { // warm-up, and the results agree
                long keys = job.getValue().get();
                if (expected < 0) {
                    expected = keys;
                } else if (keys != expected) {
                    throw new IllegalStateException(job.getKey() + " counted " + keys + " keys, untraced " + expected);
                }
                times.put(job.getKey(), new ArrayList<>());
            }
            List<String> names = new ArrayList<>(jobs.keySet());
            for (int round = 0; round < rounds; round++) {
                Collections.rotate(names, 1);
                for (String name : names) {
                    long start = System.nanoTime();
                    jobs.get(name).get();
                    times.get(name).add((System.nanoTime() - start) / 1e9);
                }
            }
            double base = median(times.get("untraced"));
            for (String name : jobs.keySet()) {
                List<Double> values = times.get(name);
                System.out.printf(Locale.ROOT, "{\"bench\":\"spark_rdd_wordcount_%s\",\"lang\":\"java\",\"unit\":\"s\",\"median\":%.3f,"
                        + "\"min\":%.3f,\"max\":%.3f,\"samples\":%d,\"lines\":%d,\"ratio_to_untraced\":%.3f,\"engine\":\"spark local[2]\"}%n",
                        name, median(values), Collections.min(values), Collections.max(values), values.size(), lines, median(values) / base);
            }
        }
        if (Spoor.isRunning()) {
            Native.shutdown();
        }
    }

    static double median(List<Double> values) {
        List<Double> sorted = new ArrayList<>(values);
        Collections.sort(sorted);
        return sorted.get(sorted.size() / 2);
    }
}
