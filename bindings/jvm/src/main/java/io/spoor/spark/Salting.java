package io.spoor.spark;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.api.java.UDF1;
import org.apache.spark.sql.expressions.UserDefinedFunction;
import org.apache.spark.sql.functions;
import org.apache.spark.sql.types.ArrayType;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.MapType;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;

/**
 * The salting plan of a partitioner file for a Dataset join whose keys are skewed: the heavy keys
 * the file gives {@code salts > 1} are spread over that many join partitions.
 *
 * <pre>{@code
 * SpoorPartitioner partitioner = SpoorPartitioner.load(Path.of("partitioner.json"));
 * Dataset<Row> joined = Salting.join(orders, customers, "customer", partitioner);   // = orders.join(customers, "customer")
 * }</pre>
 *
 * <p>Each row of the large side takes a salt in [0, salts(key)) ({@link #saltLarge}: a hash of the
 * row's columns, so the salt is the same however often Spark computes the row); each row of the
 * small side is copied once per salt of its key ({@link #saltSmall}: the explode of a sequence);
 * the two join on the key and the salt, and the salt is dropped. A key with salts 1 (every key the
 * file does not place with more) takes salt 0 and is copied once: its rows join as without
 * salting. The result is exactly the rows of the plain join.
 *
 * <p>The key column's values are hashed as {@link io.spoor.Spoor#keyHashOf} hashes the column's
 * Java values (string, binary, long, int, short, byte, boolean, double and float columns), so a
 * long column's 42 is {@code Spoor.keyHash(42L)}; for a floating-point column -0.0 is hashed as
 * 0.0 and every NaN as one, since Spark's join takes them for equal keys.
 */
public final class Salting {
    /** The salt column the plan adds (an int), dropped from the join's result. */
    public static final String SALT_COLUMN = "_spoor_salt";

    private static final Set<DataType> KEY_TYPES = Set.of(DataTypes.StringType, DataTypes.BinaryType, DataTypes.LongType,
            DataTypes.IntegerType, DataTypes.ShortType, DataTypes.ByteType, DataTypes.BooleanType, DataTypes.DoubleType,
            DataTypes.FloatType);
    /** The join types salting keeps exact: each large-side row has one salt and meets every copy
     *  of the small side's rows of its key, once. (A right or full outer join would repeat the
     *  small side's unmatched rows once per salt.) */
    private static final Set<String> JOIN_TYPES = Set.of("inner", "left", "leftouter", "leftsemi", "semi", "leftanti", "anti");

    private Salting() {}

    /**
     * The inner equi-join {@code large.join(small, keyColumn)} with the heavy keys salted.
     *
     * @param large the side with the skewed keys (its rows are not copied)
     * @param small the other side (its rows of a key with salts s are copied s times)
     * @param keyColumn the join column, of the same type on both sides
     * @param partitioner the partitioner file giving each key's salts
     * @return the joined rows, with the columns of the plain join
     * @throws IllegalArgumentException for a key column of another type on each side, or of a type
     *     not hashed, or a side that already has {@link #SALT_COLUMN}
     */
    public static Dataset<Row> join(Dataset<Row> large, Dataset<Row> small, String keyColumn, SpoorPartitioner partitioner) {
        return join(large, small, keyColumn, partitioner, "inner");
    }

    /**
     * {@code large.join(small, keyColumn, joinType)} with the heavy keys salted.
     *
     * @param large the side with the skewed keys
     * @param small the other side
     * @param keyColumn the join column, of the same type on both sides
     * @param partitioner the partitioner file giving each key's salts
     * @param joinType inner, left (left_outer), left_semi or left_anti: the types whose result
     *     salting keeps exact
     * @return the joined rows, with the columns of the plain join
     * @throws IllegalArgumentException for another join type, or as
     *     {@link #join(Dataset, Dataset, String, SpoorPartitioner)}
     */
    public static Dataset<Row> join(Dataset<Row> large, Dataset<Row> small, String keyColumn, SpoorPartitioner partitioner,
            String joinType) {
        if (!JOIN_TYPES.contains(joinType.toLowerCase(Locale.ROOT).replace("_", ""))) {
            throw new IllegalArgumentException("salting keeps an " + joinType + " join's result exact only for inner, left, left_semi"
                    + " and left_anti joins");
        }
        DataType largeType = keyType(large, keyColumn);
        DataType smallType = keyType(small, keyColumn);
        if (!largeType.equals(smallType)) {
            throw new IllegalArgumentException("the key column " + keyColumn + " is " + largeType.simpleString() + " on the large side and "
                    + smallType.simpleString() + " on the small side: cast one (the salts are computed from each side's values)");
        }
        scala.collection.immutable.Seq<String> using = scala.jdk.javaapi.CollectionConverters
                .asScala(List.of(keyColumn, SALT_COLUMN)).toList();
        return saltLarge(large, keyColumn, partitioner).join(saltSmall(small, keyColumn, partitioner), using, joinType).drop(SALT_COLUMN);
    }

    /**
     * The large side with {@link #SALT_COLUMN}: each row's salt in [0, salts(key)), from a hash of
     * its columns (those Spark can hash: not maps; identical rows take the same salt).
     *
     * @param large the rows
     * @param keyColumn the join column
     * @param partitioner the partitioner file giving each key's salts
     * @return the rows with their salts
     */
    public static Dataset<Row> saltLarge(Dataset<Row> large, String keyColumn, SpoorPartitioner partitioner) {
        keyType(large, keyColumn);
        List<Column> hashed = new ArrayList<>();
        hashed.add(large.col(keyColumn));
        for (StructField field : large.schema().fields()) {
            if (hashable(field.dataType())) {
                hashed.add(large.col(quoted(field.name())));
            }
        }
        Column rowHash = functions.xxhash64(hashed.toArray(new Column[0]));
        return large.withColumn(SALT_COLUMN, functions.pmod(rowHash, saltsOf(partitioner).apply(large.col(keyColumn)))
                .cast(DataTypes.IntegerType));
    }

    /**
     * The small side with {@link #SALT_COLUMN}: each row once per salt of its key, 0 to salts - 1.
     *
     * @param small the rows
     * @param keyColumn the join column
     * @param partitioner the partitioner file giving each key's salts
     * @return the rows, copied
     */
    public static Dataset<Row> saltSmall(Dataset<Row> small, String keyColumn, SpoorPartitioner partitioner) {
        keyType(small, keyColumn);
        Column salts = saltsOf(partitioner).apply(small.col(keyColumn));
        return small.withColumn(SALT_COLUMN, functions.explode(functions.sequence(functions.lit(0), salts.minus(1))));
    }

    /** salts(key) per row, the key hashed by its Java value (Spark's equal floating-point keys
     *  hashed alike), 1 for null. */
    private static UserDefinedFunction saltsOf(SpoorPartitioner partitioner) {
        return functions.udf((UDF1<Object, Integer>) key -> partitioner.saltsOf(joinKey(key)), DataTypes.IntegerType);
    }

    /** -0.0 as 0.0 (NaN: SpoorPartitioner makes every NaN one key). */
    private static Object joinKey(Object key) {
        if (key instanceof Double number && number == 0) {
            return 0.0;
        }
        if (key instanceof Float number && number == 0) {
            return 0.0f;
        }
        return key;
    }

    /** The key column's type, checked: one the salts can hash, and no salt column yet. */
    private static DataType keyType(Dataset<Row> side, String keyColumn) {
        if (Arrays.asList(side.columns()).contains(SALT_COLUMN)) {
            throw new IllegalArgumentException("the Dataset already has a column " + SALT_COLUMN);
        }
        DataType type = side.select(side.col(keyColumn)).schema().fields()[0].dataType();
        if (!KEY_TYPES.contains(type)) {
            throw new IllegalArgumentException("the key column " + keyColumn + " is " + type.simpleString()
                    + ": salting hashes string, binary, long, int, short, byte, boolean, double and float keys");
        }
        return type;
    }

    /** Whether Spark's hash functions take the type (maps and variants they refuse). */
    private static boolean hashable(DataType type) {
        if (type instanceof MapType || "variant".equals(type.typeName())) {
            return false;
        }
        if (type instanceof ArrayType array) {
            return hashable(array.elementType());
        }
        if (type instanceof StructType struct) {
            return Arrays.stream(struct.fields()).allMatch(field -> hashable(field.dataType()));
        }
        return true;
    }

    private static String quoted(String name) {
        return "`" + name.replace("`", "``") + "`";
    }
}
