package io.spoor.examples;

import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.concat;
import static org.apache.spark.sql.functions.count;
import static org.apache.spark.sql.functions.lit;
import static org.apache.spark.sql.functions.sum;
import static org.apache.spark.sql.functions.when;

import io.spoor.spark.SpoorDataset;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;

/**
 * A skewed join on Datasets, traced: orders (40% of them from one customer), sampled at the
 * source, joined to the customers (a plain Dataset) and totalled per customer; each join output
 * reports its join key's hash. The lineage column rides through the join and the
 * aggregation; counting it per group is the sampled estimate of each key's share, from the same
 * single pass, and each total's context names its record in the trace.
 *
 * <pre>
 * examples/jvm/run.sh skewed-join [ORDERS]
 * </pre>
 */
public final class SkewedJoin {
    private SkewedJoin() {}

    /**
     * @param args an optional number of orders (default 1,000,000)
     */
    public static void main(String[] args) {
        long orders = args.length > 0 ? Long.parseLong(args[0]) : 1_000_000;
        SparkSession spark = SparkSession.builder().appName("spoor-skewed-join").getOrCreate();
        try {
            Column customerOfOrder = when(col("id").mod(10).lt(4), lit("c0"))
                    .otherwise(concat(lit("c"), col("id").mod(999).plus(1).cast("string")));
            Dataset<Row> orderRows = spark.range(orders).select(col("id").cast("string").as("order"), customerOfOrder.as("customer"),
                    col("id").mod(100).as("amount"));
            Dataset<Row> customerRows = spark.range(1000).select(concat(lit("c"), col("id").cast("string")).as("customer"),
                    concat(lit("region"), col("id").mod(7).cast("string")).as("region"));
            SpoorDataset totals = SpoorDataset.traced(orderRows, "order", -1, null)
                    .join(customerRows, "customer")
                    .groupByAgg(new Column[] {col("customer")}, sum("amount").as("total"), count(lit(1)).as("orders"),
                            count(SpoorDataset.lineage()).as("sampled"));
            // One action that evaluates the plan once: every source row is sampled once, and each
            // group's traced rows are its aggregate's parents. (Sorted here, not with orderBy: a
            // global sort runs its input twice, once to sample the range bounds, and each run
            // would report the aggregates again.)
            List<Row> rows = new ArrayList<>(totals.dataset().collectAsList());
            rows.sort(Comparator.comparingLong((Row row) -> row.getLong(row.fieldIndex("orders"))).reversed()
                    .thenComparing(row -> row.getString(row.fieldIndex("customer"))));
            long sampled = 0;
            for (Row row : rows) {
                sampled += row.getLong(row.fieldIndex("sampled"));
            }
            System.out.printf("%d orders, %d customers; %d joined rows traced%n", orders, rows.size(), sampled);
            System.out.println("customer   orders   share  | traced  estimated share  | the total's record");
            for (Row row : rows.subList(0, Math.min(5, rows.size()))) {
                long count = row.getLong(row.fieldIndex("orders"));
                long traced = row.getLong(row.fieldIndex("sampled"));
                String context = row.getString(row.fieldIndex(SpoorDataset.COLUMN));
                System.out.printf("%-8s %8d  %5.1f%%  | %6d  %6.1f%%           | %s%n", row.getString(row.fieldIndex("customer")), count,
                        100.0 * count / orders, traced, sampled == 0 ? 0.0 : 100.0 * traced / sampled,
                        context == null ? "untracked" : context);
            }
            System.out.println("spoor log: " + spark.sparkContext().getConf().get("spark.spoor.dir", "spoor-traces"));
        } finally {
            spark.stop();
        }
    }
}
