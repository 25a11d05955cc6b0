package io.spoor.spark;

import io.spoor.Spoor;
import java.util.ArrayDeque;
import java.util.Iterator;
import java.util.NoSuchElementException;
import java.util.function.Consumer;

/** Iterator helpers for the traced partitions: lazy (a partition is never held whole). */
final class Partitions {
    private Partitions() {}

    /** One record's step (a Traced or a plain value): emits its outputs (any number) to `out`.
     *  Serializable: Spark ships it to the executors inside the partition's closure. */
    interface Step extends java.io.Serializable {
        void apply(Object record, int op, Consumer<Object> out) throws Exception;
    }

    /** Rethrows `error` unchanged, checked or not (Iterator.next cannot declare it). */
    @SuppressWarnings("unchecked")
    static <E extends Throwable> RuntimeException rethrow(Throwable error) throws E {
        throw (E) error;
    }

    /** Applies `step` to each record as the consumer asks for outputs, then flushes this JVM's
     *  reports once the partition is through (so an executor killed later has lost nothing). */
    static Iterator<Object> lazily(Iterator<?> records, int op, Step step) {
        return new Iterator<>() {
            private final ArrayDeque<Object> ready = new ArrayDeque<>();
            private boolean done;

            @Override
            public boolean hasNext() {
                while (ready.isEmpty() && records.hasNext()) {
                    try {
                        step.apply(records.next(), op, ready::add);
                    } catch (Exception error) {
                        throw rethrow(error);
                    }
                }
                if (ready.isEmpty() && !done) {
                    done = true;
                    flush();
                }
                return !ready.isEmpty();
            }

            @Override
            public Object next() {
                if (!hasNext()) {
                    throw new NoSuchElementException();
                }
                return ready.poll();
            }
        };
    }

    /** What a {@link OneStep} returns for a record with no output (a filter removed it). */
    static final Object NONE = new Object();

    /** One record's step with at most one output (map, mapToPair, filter, the source's entry):
     *  the output, or {@link #NONE}. */
    interface OneStep extends java.io.Serializable {
        Object apply(Object record, int op) throws Exception;
    }

    /** One record's step with any number of outputs (flatMap): an iterator over them. */
    interface ManyStep extends java.io.Serializable {
        Iterator<?> apply(Object record, int op) throws Exception;
    }

    /** As {@link #lazily}, for steps with at most one output: no queue between the records and
     *  the consumer (an untracked record costs its type test and the step's own call). */
    static Iterator<Object> mapping(Iterator<?> records, int op, OneStep step) {
        return new Iterator<>() {
            private Object next = NONE;
            private boolean done;

            @Override
            public boolean hasNext() {
                while (next == NONE && records.hasNext()) {
                    try {
                        next = step.apply(records.next(), op);
                    } catch (Exception error) {
                        throw rethrow(error);
                    }
                }
                if (next == NONE && !done) {
                    done = true;
                    flush();
                }
                return next != NONE;
            }

            @Override
            public Object next() {
                if (!hasNext()) {
                    throw new NoSuchElementException();
                }
                Object output = next;
                next = NONE;
                return output;
            }
        };
    }

    /** As {@link #lazily}, for steps returning their outputs as an iterator (the user's own for an
     *  untracked record), consumed as the consumer asks. */
    static Iterator<Object> flattening(Iterator<?> records, int op, ManyStep step) {
        return new Iterator<>() {
            private Iterator<?> outputs = java.util.Collections.emptyIterator();
            private boolean done;

            @Override
            public boolean hasNext() {
                while (!outputs.hasNext() && records.hasNext()) {
                    try {
                        outputs = step.apply(records.next(), op);
                    } catch (Exception error) {
                        throw rethrow(error);
                    }
                }
                if (!outputs.hasNext() && !done) {
                    done = true;
                    flush();
                }
                return outputs.hasNext();
            }

            @Override
            public Object next() {
                if (!hasNext()) {
                    throw new NoSuchElementException();
                }
                return outputs.next();
            }
        };
    }

    /** Flushes this JVM's reports (a partition is done). */
    static void flush() {
        if (Spoor.isRunning()) {
            Spoor.flush();
        }
    }
}
