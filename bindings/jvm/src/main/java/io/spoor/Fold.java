package io.spoor;

import java.util.Arrays;

/**
 * A fold accumulator (reduceByKey, aggregate, a window): add each contributing record's id as
 * it is folded in (in Java: no native call), then {@link #finish} reports the aggregate once,
 * with all of them as parents. Untracked ids (0) cost a branch. Parents beyond
 * {@link Spoor#MAX_PARENTS} are counted in {@link #truncated()} and left out (the report does not
 * say so: it is made by {@code spoor_fold_report}). Not thread-safe:
 * one fold is used by one thread at a time.
 */
public final class Fold {
    private long[] ids = new long[8];
    private int count;
    private long truncated;

    /** @param id a contributing record (0: untracked, ignored) */
    public void add(long id) {
        if (id == 0) {
            return;
        }
        if (count == Spoor.MAX_PARENTS) {
            truncated++;
            return;
        }
        if (count == ids.length) {
            ids = Arrays.copyOf(ids, Math.min(ids.length * 2, Spoor.MAX_PARENTS));
        }
        ids[count++] = id;
    }

    /** @param other a partial fold, whose parents move into this one (other is reset) */
    public void merge(Fold other) {
        for (int i = 0; i < other.count; i++) {
            add(other.ids[i]);
        }
        truncated += other.truncated;
        other.reset();
    }

    /** @return the tracked parents added */
    public int size() {
        return count;
    }

    /** @return parents beyond the limit, counted and not kept */
    public long truncated() {
        return truncated;
    }

    /**
     * The aggregate is final: reports it once with every parent (0 and nothing reported if none
     * was tracked) and resets the fold.
     *
     * @param op the operator
     * @param keyHash the aggregate's key hash
     * @param startNs the aggregation's start, or 0
     * @param endNs its end, or 0
     * @return the aggregate's id
     */
    public long finish(int op, long keyHash, long startNs, long endNs) {
        try {
            return Spoor.foldReport(ids, count, op, keyHash, startNs, endNs);
        } finally {
            reset();
        }
    }

    /** Resets without reporting. */
    public void reset() {
        count = 0;
        truncated = 0;
        if (ids.length > 64) {
            ids = new long[8];
        }
    }
}
