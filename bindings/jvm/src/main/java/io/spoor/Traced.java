package io.spoor;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.function.BiFunction;
import java.util.function.BinaryOperator;
import java.util.function.Consumer;
import java.util.function.Function;
import java.util.function.Predicate;

/**
 * The papers' wrapper: a record and its lineage id (0: untracked). Each lift applies a plain
 * function to the value and, if the record is traced, reports the application (operator, start
 * and end time, parents) and returns records carrying the new ids; an untracked record runs the
 * function and nothing else (no native call, no clock read). Immutable.
 *
 * <p>A lift given no operator uses one per function class, named after the class that calls the
 * lift, with that call's {@code File.java:line} as its call site (found once per function class
 * with a {@link StackWalker}). A {@link RuntimeException} or {@link Error} thrown by the function
 * of a traced record is reported as an {@code error} event on it, with {@code error.type} (the
 * exception's class) and {@code error.message} in the attachment, and rethrown unchanged.
 * Serializable (when its value is), so that engines can ship traced records between JVMs.
 *
 * @param <T> the value's type
 */
public final class Traced<T> implements java.io.Serializable {
    private static final long serialVersionUID = 1L;

    private static final StackWalker WALKER = StackWalker.getInstance();
    private static final ClassValue<int[]> FUNCTION_OPS = new ClassValue<>() {
        @Override
        protected int[] computeValue(Class<?> type) {
            return new int[1];
        }
    };

    private final T value;
    private final long id;

    /**
     * @param value the record
     * @param id its id (0: untracked)
     */
    public Traced(T value, long id) {
        this.value = value;
        this.id = id;
    }

    /**
     * @param value the record
     * @param <T> its type
     * @return an untracked record
     */
    public static <T> Traced<T> untracked(T value) {
        return new Traced<>(value, 0);
    }

    /**
     * A record entering the traced topology: sampled by the configured strategy.
     *
     * @param value the record
     * @param op the source operator
     * @param keyHash its key hash (key-hash sampling decides on it), or 0
     * @param <T> its type
     * @return the record, traced if sampled
     */
    public static <T> Traced<T> enter(T value, int op, long keyHash) {
        return new Traced<>(value, Spoor.entry(op, keyHash));
    }

    /**
     * A record continuing a lineage from another process or language.
     *
     * @param value the record
     * @param context its context ({@link #context()}, {@link Spoor#toContext(long)})
     * @param <T> its type
     * @return the record with the context's id
     */
    public static <T> Traced<T> fromContext(T value, String context) {
        return new Traced<>(value, Spoor.fromContext(context));
    }

    /** @return the record */
    public T value() {
        return value;
    }

    /** @return its id (0: untracked) */
    public long id() {
        return id;
    }

    /** @return whether the record is traced */
    public boolean isTracked() {
        return id != 0;
    }

    /** @return the record's context for another process or language */
    public String context() {
        return Spoor.toContext(id);
    }

    @Override
    public String toString() {
        return id != 0 ? "Traced(" + value + ", " + Long.toHexString(id) + ")" : "Traced(" + value + ", untracked)";
    }

    @Override
    public boolean equals(Object other) {
        return other instanceof Traced<?> that && that.id == id && Objects.equals(that.value, value);
    }

    @Override
    public int hashCode() {
        return Long.hashCode(id) * 31 + Objects.hashCode(value);
    }

    static int operatorOf(Object function, String kind) {
        int[] cell = FUNCTION_OPS.get(function.getClass());
        int op = cell[0];
        if (op == 0) {
            StackWalker.StackFrame caller = WALKER.walk(frames -> frames
                    .filter(frame -> !frame.getClassName().equals(Traced.class.getName()))
                    .findFirst().orElse(null));
            String site = caller == null ? kind : caller.getFileName() + ":" + caller.getLineNumber();
            String name = kind + ":" + (caller == null ? function.getClass().getName() : caller.getClassName());
            op = Spoor.operator(name.length() > 252 ? name.substring(0, 252) : name, site);
            cell[0] = op;
        }
        return op;
    }

    static void reportError(long id, int op, Throwable error) {
        Spoor.pokeError(id, op, error);
    }

    /**
     * lift(f: T -> R): applies the function; the output has this record as parent.
     *
     * @param function the UDF
     * @param <R> the output's type
     * @return the output
     */
    public <R> Traced<R> map(Function<? super T, ? extends R> function) {
        if (id == 0) {
            return new Traced<>(function.apply(value), 0);
        }
        return map(operatorOf(function, "map"), function, null, null);
    }

    /**
     * lift(f: T -> R) with an operator, the output's key and an attachment.
     *
     * @param op the operator
     * @param function the UDF
     * @param keyOf the output's key hash, or null for none
     * @param attachment the pairs, or null
     * @param <R> the output's type
     * @return the output
     */
    public <R> Traced<R> map(int op, Function<? super T, ? extends R> function, java.util.function.ToLongFunction<? super R> keyOf,
            Attachment attachment) {
        if (id == 0) {
            return new Traced<>(function.apply(value), 0);
        }
        long start = Spoor.now();
        R output;
        try {
            output = function.apply(value);
        } catch (RuntimeException | Error error) {
            reportError(id, op, error);
            throw error;
        }
        long end = Spoor.now();
        long key = keyOf == null ? 0 : keyOf.applyAsLong(output);
        if (attachment == null) {
            return new Traced<>(output, Spoor.checkpoint(id, op, key, start, end));
        }
        return new Traced<>(output, Spoor.checkpoint(new long[] {id}, 0, 1, op, key, start, end, 0, attachment));
    }

    /**
     * lift(f: T -> R^m): one report for the m outputs (consecutive ids); none is a
     * {@code filtered} event on the record.
     *
     * @param function the UDF
     * @param <R> the outputs' type
     * @return the outputs
     */
    public <R> List<Traced<R>> flatMap(Function<? super T, ? extends Iterable<? extends R>> function) {
        List<Traced<R>> result = new ArrayList<>();
        if (id == 0) {
            for (R output : function.apply(value)) {
                result.add(new Traced<>(output, 0));
            }
            return result;
        }
        int op = operatorOf(function, "flatMap");
        long start = Spoor.now();
        List<R> outputs = new ArrayList<>();
        try {
            for (R output : function.apply(value)) {
                outputs.add(output);
            }
        } catch (RuntimeException | Error error) {
            reportError(id, op, error);
            throw error;
        }
        long end = Spoor.now();
        if (outputs.isEmpty()) {
            Spoor.poke(id, op, Event.FILTERED.code(), end, null);
            return result;
        }
        int fanout = Math.min(outputs.size(), Spoor.MAX_PARENTS);
        long first = Spoor.checkpoint(new long[] {id}, 0, 1, op, 0, start, end, fanout, null);
        for (int i = 0; i < outputs.size(); i++) {
            result.add(new Traced<>(outputs.get(i), first != 0 && i < fanout ? first + i : 0));
        }
        return result;
    }

    /**
     * lift(f: T -> bool): this record, reported as a new one, if the predicate holds; otherwise
     * null and a {@code filtered} event.
     *
     * @param predicate the UDF
     * @return the kept record or null
     */
    public Traced<T> filter(Predicate<? super T> predicate) {
        if (id == 0) {
            return predicate.test(value) ? this : null;
        }
        int op = operatorOf(predicate, "filter");
        long start = Spoor.now();
        boolean keep;
        try {
            keep = predicate.test(value);
        } catch (RuntimeException | Error error) {
            reportError(id, op, error);
            throw error;
        }
        long end = Spoor.now();
        if (!keep) {
            Spoor.poke(id, op, Event.FILTERED.code(), end, null);
            return null;
        }
        return new Traced<>(value, Spoor.checkpoint(id, op, 0, start, end));
    }

    /**
     * lift(f: T -> ()): a side effect where the record leaves; an {@code exit} event.
     *
     * @param consumer the UDF
     */
    public void forEach(Consumer<? super T> consumer) {
        if (id == 0) {
            consumer.accept(value);
            return;
        }
        int op = operatorOf(consumer, "forEach");
        long start = Spoor.now();
        try {
            consumer.accept(value);
        } catch (RuntimeException | Error error) {
            reportError(id, op, error);
            throw error;
        }
        long end = Spoor.now();
        long output = Spoor.checkpoint(id, op, 0, start, end);
        Spoor.poke(output, op, Event.EXIT.code(), end, null);
    }

    /**
     * lift(f: (T, T) -> T): two records of one type combined (a reduce step); both are parents.
     *
     * @param other the other record
     * @param function the UDF
     * @return the combination
     */
    public Traced<T> combine(Traced<T> other, BinaryOperator<T> function) {
        return combineWith(other, function);
    }

    /**
     * lift(f: (T, U) -> R): a record combined with one of another type (a join); both are
     * parents (untracked ones left out).
     *
     * @param other the other record
     * @param function the UDF
     * @param <U> the other's type
     * @param <R> the output's type
     * @return the combination
     */
    public <U, R> Traced<R> combineWith(Traced<U> other, BiFunction<? super T, ? super U, ? extends R> function) {
        if ((id | other.id) == 0) {
            return new Traced<>(function.apply(value, other.value), 0);
        }
        int op = operatorOf(function, "combine");
        long start = Spoor.now();
        R output;
        try {
            output = function.apply(value, other.value);
        } catch (RuntimeException | Error error) {
            if (id != 0) {
                reportError(id, op, error);
            }
            if (other.id != 0) {
                reportError(other.id, op, error);
            }
            throw error;
        }
        return new Traced<>(output, Spoor.checkpoint(id, other.id, op, 0, start, Spoor.now()));
    }

    /**
     * An engine event on the record; returns the record.
     *
     * @param event the event
     * @param op the operator
     * @return this record
     */
    public Traced<T> poke(Event event, int op) {
        Spoor.poke(id, op, event);
        return this;
    }
}
