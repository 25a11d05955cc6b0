package io.spoor.spark;

import io.spoor.Attachment;
import io.spoor.EntryGate;
import io.spoor.Spoor;
import java.io.Serializable;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.api.java.UDF0;
import org.apache.spark.sql.api.java.UDF1;
import org.apache.spark.sql.api.java.UDF4;
import org.apache.spark.sql.api.java.UDF3;
import org.apache.spark.sql.expressions.UserDefinedFunction;
import org.apache.spark.sql.functions;
import org.apache.spark.sql.types.DataTypes;
import scala.collection.immutable.Seq;

/**
 * A Dataset whose rows carry their lineage in a column. Inside a traced pipeline the column is
 * {@link #ID_COLUMN}, each sampled row's Spoor record id (a long; null for untracked rows), so an
 * operator's checkpoint is one JNI call with no text to encode or decode; {@link #dataset()} hands
 * the rows out with {@link #COLUMN} instead, the row's Spoor context ({@code "00-<id>-01"}, null for
 * untracked rows: the form other languages read, as {@code spoor.spark.lineage_udf} does), and
 * {@link #continued} takes rows in that form back in. {@link #traced} sets the lineage at the source
 * by the sampler; {@link #select}, {@link #filter}, {@link #withColumn}, {@link #join} and
 * {@link #groupByAgg} keep it correct, with a checkpoint per traced row and operator (a join output
 * has both rows as parents, an aggregate every sampled row of its group, at most
 * {@link #MAX_GROUP_PARENTS}, the rest counted in the report's {@code truncated} attachment).
 * Untracked rows cost one null test per operator, in Spark's generated code. {@link #untraced()}
 * is the Dataset without the column: a traced job's results equal the untraced job's.
 */
public final class SpoorDataset implements Serializable {
    private static final long serialVersionUID = 1L;
    /** The lineage column of {@link #dataset()} and {@link #continued}: the row's Spoor context. */
    public static final String COLUMN = "_spoor";
    /** The lineage column inside a traced pipeline: the row's record id (LongType), or null. */
    public static final String ID_COLUMN = "_spoor_id";
    /** Most parents an aggregate's report keeps. */
    public static final int MAX_GROUP_PARENTS = 4096;
    /** Each executor thread's gate for the source rows the sampler will not trace. */
    private static final ThreadLocal<EntryGate> GATES = ThreadLocal.withInitial(EntryGate::new);
    private static final Map<String, Integer> OPERATORS = new ConcurrentHashMap<>();

    private final transient Dataset<Row> dataset;
    private final SpoorSettings settings;

    private SpoorDataset(Dataset<Row> dataset, SpoorSettings settings) {
        this.dataset = dataset;
        this.settings = settings;
    }

    static int operator(String name) {
        return OPERATORS.computeIfAbsent(name, n -> Spoor.operator(n, "dataset"));
    }

    /** @return the lineage column inside a traced pipeline (a record id, null for untracked rows), for
     *  aggregates of {@link #groupByAgg} such as {@code count(SpoorDataset.lineage())}: the group's
     *  traced rows */
    public static Column lineage() {
        return functions.col(ID_COLUMN);
    }

    /** A record id as the lineage column holds it: null for 0 (untracked). */
    private static Long idOrNull(long id) {
        return id == 0 ? null : id;
    }

    /**
     * Samples the rows of `source` (each sampled row's key is the hash of {@code keyColumn}'s
     * value as text) and adds the lineage column.
     *
     * @param source a Dataset
     * @param keyColumn the column whose value identifies a row (its key hash)
     * @param sampling the share of rows traced (negative: {@code spark.spoor.sampling})
     * @param logDir the log root (null: {@code spark.spoor.dir}, {@code SPOOR_DIR}, spoor-traces)
     * @return the traced Dataset
     */
    public static SpoorDataset traced(Dataset<Row> source, String keyColumn, double sampling, String logDir) {
        org.apache.spark.SparkConf conf = source.sparkSession().sparkContext().getConf();
        String directory = logDir != null ? logDir : conf.get("spark.spoor.dir", System.getenv().getOrDefault("SPOOR_DIR", "spoor-traces"));
        double probability = sampling >= 0 ? sampling : Double.parseDouble(conf.get("spark.spoor.sampling", "0.01"));
        SpoorSettings settings = new SpoorSettings(Path.of(directory).toAbsolutePath().toString(), probability);
        settings.ensure();
        // Two functions, so that a row the sampler will not trace is neither converted nor
        // hashed: the gate lets it pass on the Java side (EntryGate), and only the others reach
        // the entry, which decides them with their key's hash.
        UserDefinedFunction gate = functions.udf((UDF0<Boolean>) () -> {
            settings.ensure();
            return !GATES.get().untraced();
        }, DataTypes.BooleanType).asNondeterministic();
        UserDefinedFunction enter = functions.udf((UDF1<Object, Long>) key ->
                idOrNull(Spoor.entry(operator("dataset.source"), Spoor.keyHash(String.valueOf(key)))), DataTypes.LongType)
                .asNondeterministic();
        return new SpoorDataset(source.withColumn(ID_COLUMN, functions.when(gate.apply(), enter.apply(functions.col(keyColumn)))), settings);
    }

    /**
     * A Dataset that already carries the lineage column {@link #COLUMN} (made by another
     * language, such as a PySpark job's Python UDF through {@code spoor.spark.lineage_udf}, or by
     * {@link #dataset()}), traced from here on.
     *
     * @param dataset rows with {@link #COLUMN}
     * @param sampling the share of source rows traced (for the settings this JVM starts with)
     * @param logDir the log root the other processes write under
     * @return the traced Dataset
     */
    public static SpoorDataset continued(Dataset<Row> dataset, double sampling, String logDir) {
        SpoorSettings settings = new SpoorSettings(Path.of(logDir).toAbsolutePath().toString(), sampling);
        settings.ensure();
        UserDefinedFunction decode = functions.udf((UDF1<String, Long>) context -> idOrNull(Spoor.fromContext(context)),
                DataTypes.LongType);
        return new SpoorDataset(dataset.withColumn(ID_COLUMN, functions.when(functions.col(COLUMN).isNotNull(),
                decode.apply(functions.col(COLUMN)))).drop(COLUMN), settings);
    }

    /** The checkpoint of one traced row through operator `name`: its new id (untracked rows never
     *  call it). */
    private Column step(String name) {
        SpoorSettings settings = this.settings;
        UserDefinedFunction step = functions.udf((UDF1<Long, Long>) id -> {
            settings.ensure();
            return idOrNull(Spoor.checkpoint(id, operator(name), 0, 0, 0));
        }, DataTypes.LongType).asNondeterministic();
        // The null test in Spark's own generated code: an untracked row never calls the function.
        return functions.when(lineage().isNotNull(), step.apply(lineage()));
    }

    /** @return the Dataset with the lineage column {@link #COLUMN} (each traced row's context) */
    public Dataset<Row> dataset() {
        UserDefinedFunction encode = functions.udf((UDF1<Long, String>) id -> Spoor.toContext(id), DataTypes.StringType);
        return dataset.withColumn(COLUMN, functions.when(lineage().isNotNull(), encode.apply(lineage()))).drop(ID_COLUMN);
    }

    /** @return the Dataset without the lineage column (what the untraced job computes) */
    public Dataset<Row> untraced() {
        return dataset.drop(ID_COLUMN);
    }

    /**
     * select(columns): the lineage column is kept; each traced row is checkpointed.
     *
     * @param columns the columns
     * @return the traced projection
     */
    public SpoorDataset select(Column... columns) {
        List<Column> kept = new ArrayList<>(Arrays.asList(columns));
        kept.add(lineage());
        return new SpoorDataset(dataset.select(kept.toArray(new Column[0])), settings).checkpointed("select");
    }

    /**
     * filter(condition): the kept traced rows are checkpointed.
     *
     * @param condition the condition
     * @return the kept rows
     */
    public SpoorDataset filter(Column condition) {
        return new SpoorDataset(dataset.filter(condition), settings).checkpointed("filter");
    }

    /**
     * withColumn(name, value): each traced row is checkpointed.
     *
     * @param name the column
     * @param value its value
     * @return the rows with it
     */
    public SpoorDataset withColumn(String name, Column value) {
        return new SpoorDataset(dataset.withColumn(name, value), settings).checkpointed("withColumn:" + name);
    }

    private SpoorDataset checkpointed(String name) {
        return new SpoorDataset(dataset.withColumn(ID_COLUMN, step(name)), settings);
    }

    /**
     * join(other, using): an inner equi-join on the named columns; each output with a traced side
     * has both sides' rows (the traced ones) as parents, and its report the join key's hash.
     *
     * @param other the other traced Dataset
     * @param using the join columns
     * @return the joined rows
     */
    public SpoorDataset join(SpoorDataset other, String... using) {
        String right = ID_COLUMN + "_r";
        Dataset<Row> renamed = other.dataset.withColumnRenamed(ID_COLUMN, right);
        Seq<String> columns = scala.jdk.javaapi.CollectionConverters.asScala(Arrays.asList(using)).toList();
        Dataset<Row> joined = dataset.join(renamed, columns);
        Column[] keys = new Column[using.length];
        for (int i = 0; i < using.length; i++) {
            keys[i] = functions.col(using[i]);
        }
        SpoorSettings settings = this.settings;
        UserDefinedFunction both = functions.udf((UDF3<Long, Long, String, Long>) (a, b, key) -> {
            settings.ensure();
            return idOrNull(Spoor.checkpoint(a == null ? 0 : a, b == null ? 0 : b, operator("join"), hashOf(key), 0, 0));
        }, DataTypes.LongType).asNondeterministic();
        Column traced = lineage().isNotNull().or(functions.col(right).isNotNull());
        return new SpoorDataset(joined.withColumn(ID_COLUMN, functions.when(traced,
                both.apply(lineage(), functions.col(right), keyText(keys)))).drop(right), settings);
    }

    /**
     * join(other, using) with a plain Dataset (a dimension table nobody traces): each traced row's
     * output has that row as its one parent, and the report carries the join key's hash.
     *
     * @param other the untraced Dataset
     * @param using the join columns
     * @return the joined rows
     */
    public SpoorDataset join(Dataset<Row> other, String... using) {
        return join(new SpoorDataset(other.withColumn(ID_COLUMN, functions.lit(null).cast(DataTypes.LongType)), settings), using);
    }

    /** A key's text, as {@code keyHash} takes it: one column's value as a string (the hash of
     *  {@link #traced}'s key column), several joined by U+0001. */
    private static Column keyText(Column[] keys) {
        if (keys.length == 1) {
            return keys[0].cast(DataTypes.StringType);
        }
        Column[] texts = new Column[keys.length];
        for (int i = 0; i < keys.length; i++) {
            texts[i] = functions.coalesce(keys[i].cast(DataTypes.StringType), functions.lit(""));
        }
        return functions.concat_ws("\u0001", texts);
    }

    private static long hashOf(String key) {
        return key == null ? 0 : Spoor.keyHash(key);
    }

    /**
     * groupBy(keys).agg(aggregates): each group with traced rows is one fold report of them (at
     * most {@link #MAX_GROUP_PARENTS}; how many more is in the attachment's {@code truncated}).
     *
     * @param keys the grouping columns
     * @param aggregates the aggregate columns
     * @return the aggregated rows
     */
    public SpoorDataset groupByAgg(Column[] keys, Column... aggregates) {
        String list = ID_COLUMN + "_list";
        String count = ID_COLUMN + "_n";
        String key = ID_COLUMN + "_k";
        List<Column> all = new ArrayList<>(Arrays.asList(aggregates));
        all.add(functions.slice(functions.collect_list(lineage()), 1, MAX_GROUP_PARENTS).as(list));
        all.add(functions.count(lineage()).as(count));
        all.add(functions.first(functions.when(lineage().isNotNull(), keyText(keys)), true).as(key));
        Dataset<Row> grouped = dataset.groupBy(keys).agg(all.get(0), all.subList(1, all.size()).toArray(new Column[0]));
        SpoorSettings settings = this.settings;
        UserDefinedFunction fold = functions.udf((UDF4<scala.collection.Seq<Object>, Long, String, String, Long>) (ids, n, text, name) -> {
            settings.ensure();
            long[] parents = new long[ids.size()];
            for (int i = 0; i < parents.length; i++) {
                parents[i] = (Long) ids.apply(i);
            }
            long truncated = n - parents.length;
            long id = truncated > 0
                    ? Spoor.checkpoint(parents, 0, parents.length, operator(name), hashOf(text), 0, 0, 0,
                            Attachment.builder().put("truncated", Long.toString(truncated)).build())
                    : Spoor.foldReport(parents, parents.length, operator(name), hashOf(text), 0, 0);
            return idOrNull(id);
        }, DataTypes.LongType).asNondeterministic();
        return new SpoorDataset(grouped.withColumn(ID_COLUMN, functions.when(functions.col(count).gt(0),
                fold.apply(functions.col(list), functions.col(count), functions.col(key), functions.lit("groupBy.agg"))))
                .drop(list, count, key), settings);
    }
}
