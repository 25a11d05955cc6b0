package io.spoor;

import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.concat;
import static org.apache.spark.sql.functions.count;
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
 * (the order rotates): one JSON object per line with the medians of wall and process CPU time
 * and their ratios to the untraced job's.
 *
 * Usage: scripts/bench-jvm (runs it after Bench), or --quick for fewer rows and rounds.
 */
public final class SparkWordCount {
    private SparkWordCount() {}

    static final com.sun.management.OperatingSystemMXBean PROCESS =
            (com.sun.management.OperatingSystemMXBean) java.lang.management.ManagementFactory.getOperatingSystemMXBean();

    public static void main(String[] args) throws Exception {
        boolean quick = List.of(System.getProperty("bench.args", "").split(" ")).contains("--quick");
        int lines = quick ? 100_000 : 1_000_000;
        int rounds = quick ? 2 : 7;
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
     * The Dataset join: `orders` orders (40% of them from one customer, cached) joined to 1,000
     * customers and summed per customer, untraced and with both sides traced; then the same with
     * the traced aggregation.
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
        // The join: its rows consumed by a plain aggregate that reads the lineage column too (so
        // every row's context is computed), per customer.
        Map<String, Supplier<Long>> joins = new LinkedHashMap<>();
        joins.put("untraced", () -> (long) orderRows.join(customerRows, "customer").groupBy(byCustomer).agg(sum("amount").as("total"))
                .collectAsList().size());
        // The join and the traced aggregation (SpoorDataset.groupByAgg: each total a fold of its
        // group's traced rows).
        Map<String, Supplier<Long>> aggregations = new LinkedHashMap<>();
        aggregations.put("untraced", joins.get("untraced"));
        for (double p : new double[] {0.0001, 0.01, 1.0}) {
            String dir = root + "/dataset-p" + p;
            String name = String.format(Locale.ROOT, "traced_%s", p == 1.0 ? "1" : Double.toString(p));
            joins.put(name, () -> (long) SpoorDataset.traced(orderRows, "order", p, dir)
                    .join(SpoorDataset.traced(customerRows, "customer", p, dir), "customer").dataset()
                    .groupBy(byCustomer).agg(sum("amount").as("total"), count(col(SpoorDataset.COLUMN))).collectAsList().size());
            aggregations.put(name, () -> (long) SpoorDataset.traced(orderRows, "order", p, dir)
                    .join(SpoorDataset.traced(customerRows, "customer", p, dir), "customer")
                    .groupByAgg(byCustomer, sum("amount").as("total")).dataset().collectAsList().size());
        }
        report("spark_dataset_join", orders, interleave(joins, rounds));
        report("spark_dataset_join_groupby_agg", orders, interleave(aggregations, rounds));
    }

    /** Runs each job once (warm-up; the results must agree), then `rounds` rounds of all of
     *  them, the order rotating: each job's wall times in seconds. */
    static Map<String, List<double[]>> interleave(Map<String, Supplier<Long>> jobs, int rounds) {
        Map<String, List<double[]>> times = new LinkedHashMap<>();
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
                long cpu = PROCESS.getProcessCpuTime();
                jobs.get(name).get();
                times.get(name).add(new double[] {(System.nanoTime() - start) / 1e9, (PROCESS.getProcessCpuTime() - cpu) / 1e9});
            }
        }
        return times;
    }

    /** One row per job: wall and process CPU time (every thread of this JVM: Spark's, the GC's
     *  and Spoor's collector), medians, spreads and ratios to the untraced job's medians. */
    static void report(String bench, int rows, Map<String, List<double[]>> times) {
        double base = median(column(times.get("untraced"), 0));
        double cpuBase = median(column(times.get("untraced"), 1));
        for (Map.Entry<String, List<double[]>> entry : times.entrySet()) {
            List<Double> wall = column(entry.getValue(), 0);
            List<Double> cpu = column(entry.getValue(), 1);
            System.out.printf(Locale.ROOT, "{\"bench\":\"%s_%s\",\"lang\":\"java\",\"unit\":\"s\",\"median\":%.3f,"
                    + "\"min\":%.3f,\"max\":%.3f,\"samples\":%d,\"rows\":%d,\"ratio_to_untraced\":%.3f,"
                    + "\"cpu_median\":%.3f,\"cpu_min\":%.3f,\"cpu_max\":%.3f,\"cpu_ratio_to_untraced\":%.3f,\"engine\":\"spark local[2]\"}%n",
                    bench, entry.getKey(), median(wall), Collections.min(wall), Collections.max(wall), wall.size(), rows,
                    median(wall) / base, median(cpu), Collections.min(cpu), Collections.max(cpu), median(cpu) / cpuBase);
        }
    }

    static List<Double> column(List<double[]> rows, int index) {
        List<Double> values = new ArrayList<>();
        for (double[] row : rows) {
            values.add(row[index]);
        }
        return values;
    }

    static double median(List<Double> values) {
        List<Double> sorted = new ArrayList<>(values);
        Collections.sort(sorted);
        return sorted.get(sorted.size() / 2);
    }
}
