package io.spoor.spark;

import io.spoor.Spoor;
import io.spoor.Traced;
import java.util.ArrayDeque;
import java.util.Iterator;
import java.util.NoSuchElementException;
import java.util.function.Consumer;

/** Iterator helpers for the traced partitions: lazy (a partition is never held whole). */
final class Partitions {
    private Partitions() {}

    /** One record's step: emits its outputs (any number) to `out`. */
    interface Step<T, R> {
        void apply(Traced<T> record, int op, Consumer<Traced<R>> out) throws Exception;
    }

    /** Rethrows `error` unchanged, checked or not (Iterator.next cannot declare it). */
    @SuppressWarnings("unchecked")
    static <E extends Throwable> RuntimeException rethrow(Throwable error) throws E {
        throw (E) error;
    }

    /** Applies `step` to each record as the consumer asks for outputs, then flushes this JVM's
     *  reports once the partition is through (so an executor killed later has lost nothing). */
    static <T, R> Iterator<Traced<R>> lazily(Iterator<Traced<T>> records, int op, Step<T, R> step) {
        return new Iterator<>() {
            private final ArrayDeque<Traced<R>> ready = new ArrayDeque<>();
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
                    if (Spoor.isRunning()) {
                        Spoor.flush();
                    }
                }
                return !ready.isEmpty();
            }

            @Override
            public Traced<R> next() {
                if (!hasNext()) {
                    throw new NoSuchElementException();
                }
                return ready.poll();
            }
        };
    }
}
