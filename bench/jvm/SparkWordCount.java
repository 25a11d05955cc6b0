package io.spoor;

import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.concat;
import static org.apache.spark.sql.functions.lit;
import static org.apache.spark.sql.functions.sum;
import static org.apache.spark.sql.functions.when;

import io.spoor.spark.SpoorDataset;
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
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import scala.Tuple2;

/**
 * The Spark RDD word count's and the Dataset join's wall times, untraced and traced at 0.01%, 1%
 * and 100% sampling, in one Spark context (local[2]), the variants interleaved round by round
 * (the order rotates): one JSON object per line with the median and its ratio to the untraced
 * median.
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
            report("spark_rdd_wordcount", lines, interleave(jobs, rounds));
            datasetJoin(SparkSession.builder().sparkContext(context.sc()).getOrCreate(), root, lines, rounds);
        }
        if (Spoor.isRunning()) {
            Native.shutdown();
        }
    }

    /**
     * The Dataset join: `lines` orders (40% of them from one customer, cached) joined to 1,000
     * customers and summed per customer, untraced and with both sides traced.
     */
    static void datasetJoin(SparkSession spark, String root, int orders, int rounds) {
        Column customerOfOrder = when(col("id").mod(10).lt(4), lit("c0")).otherwise(concat(lit("c"), col("id").mod(999).plus(1).cast("string")));
        Dataset<Row> orderRows = spark.range(orders).select(col("id").cast("string").as("order"), customerOfOrder.as("customer"),
                col("id").mod(100).as("amount")).cache();
        Dataset<Row> customerRows = spark.range(1000).select(concat(lit("c"), col("id").cast("string")).as("customer"),
                concat(lit("region"), col("id").mod(7).cast("string")).as("region")).cache();
        orderRows.count();
        customerRows.count();
        Column[] byCustomer = {col("customer")};
        Map<String, Supplier<Long>> jobs = new LinkedHashMap<>();
        jobs.put("untraced", () -> (long) orderRows.join(customerRows, "customer").groupBy(byCustomer).agg(sum("amount").as("total"))
                .collectAsList().size());
        for (double p : new double[] {0.0001, 0.01, 1.0}) {
            String dir = root + "/dataset-p" + p;
            jobs.put(String.format(Locale.ROOT, "traced_%s", p == 1.0 ? "1" : Double.toString(p)), () -> (long) SpoorDataset
                    .traced(orderRows, "order", p, dir).join(SpoorDataset.traced(customerRows, "customer", p, dir), "customer")
                    .groupByAgg(byCustomer, sum("amount").as("total")).dataset().collectAsList().size());
        }
        report("spark_dataset_join", orders, interleave(jobs, rounds));
    }

    /** Runs each job once (warm-up; the results must agree), then `rounds` rounds of all of
     *  them, the order rotating: each job's wall times in seconds. */
    static Map<String, List<Double>> interleave(Map<String, Supplier<Long>> jobs, int rounds) {
        Map<String, List<Double>> times = new LinkedHashMap<>();
        long expected = -1;
        for (Map.Entry<String, Supplier<Long>> job : jobs.entrySet()) {
            long result = job.getValue().get();
            if (expected < 0) {
                expected = result;
            } else if (result != expected) {
                throw new IllegalStateException(job.getKey() + " gave " + result + ", untraced " + expected);
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
        return times;
    }

    static void report(String bench, int rows, Map<String, List<Double>> times) {
        double base = median(times.get("untraced"));
        for (Map.Entry<String, List<Double>> entry : times.entrySet()) {
            List<Double> values = entry.getValue();
            System.out.printf(Locale.ROOT, "{\"bench\":\"%s_%s\",\"lang\":\"java\",\"unit\":\"s\",\"median\":%.3f,"
                    + "\"min\":%.3f,\"max\":%.3f,\"samples\":%d,\"rows\":%d,\"ratio_to_untraced\":%.3f,\"engine\":\"spark local[2]\"}%n",
                    bench, entry.getKey(), median(values), Collections.min(values), Collections.max(values), values.size(), rows,
                    median(values) / base);
        }
    }

    static double median(List<Double> values) {
        List<Double> sorted = new ArrayList<>(values);
        Collections.sort(sorted);
        return sorted.get(sorted.size() / 2);
    }
}
