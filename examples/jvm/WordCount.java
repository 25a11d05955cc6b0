package io.spoor.examples;

import io.spoor.Spoor;
import io.spoor.Traced;
import io.spoor.spark.TracedRDD;
import java.util.Arrays;
import java.util.List;
import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import scala.Tuple2;

/**
 * A traced Spark word count (RDD): the job's functions unchanged, traced by
 * {@code TracedRDD.traced}, with the plugin recording every stage and task.
 *
 * <pre>
 * examples/jvm/run.sh [TEXT_FILE]
 * </pre>
 */
public final class WordCount {
    private WordCount() {}

    /**
     * @param args an optional text file
     */
    public static void main(String[] args) {
        try (JavaSparkContext context = new JavaSparkContext(new SparkConf().setAppName("spoor-wordcount"))) {
            JavaRDD<String> lines = args.length > 0 ? context.textFile(args[0])
                    : context.parallelize(Arrays.asList("the quick brown fox", "jumps over the lazy dog", "the dog barks"), 2);
            List<Traced<Tuple2<String, Integer>>> counts = TracedRDD.traced(lines, -1, null)
                    .flatMap(line -> Arrays.asList(line.split(" ")).iterator())
                    .mapToPair(word -> new Tuple2<>(word, 1))
                    .reduceByKey(Integer::sum)
                    .collectTraced();
            counts.sort((a, b) -> b.value()._2() - a.value()._2());
            for (Traced<Tuple2<String, Integer>> count : counts.subList(0, Math.min(5, counts.size()))) {
                System.out.println(count.value()._1() + " " + count.value()._2()
                        + (count.id() != 0 ? "  (traced: " + Spoor.toContext(count.id()) + ")" : ""));
            }
            System.out.println("spoor log: " + context.getConf().get("spark.spoor.dir", "spoor-traces"));
        }
    }
}
