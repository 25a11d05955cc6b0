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

    /** Flushes this JVM's reports (a partition is done). */
    static void flush() {
        if (Spoor.isRunning()) {
            Spoor.flush();
        }
    }
}
