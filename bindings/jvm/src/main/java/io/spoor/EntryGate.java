package io.spoor;

/**
 * Keeps untraced source records on the Java side: before each entry, {@link #untraced()} says
 * whether the sampler would not trace it, from a batch of this thread's upcoming untraced entries
 * claimed at once from the library ({@code spoor_entry_skip}: the sampler's own decisions, made
 * in the core). A record it lets pass costs a decrement, with no JNI call and no key hash; the
 * others go to {@link Spoor#entry(int, long)}, which decides them.
 *
 * <pre>{@code
 * EntryGate gate = new EntryGate();                 // one per thread (a Spark partition's iterator)
 * long id = gate.untraced() ? 0 : Spoor.entry(op, Spoor.keyHash(line));
 * }</pre>
 *
 * Under key-hash sampling nothing can be claimed (each decision needs its key) and every record
 * goes to {@code entry}. A sampling change takes effect once the claimed records are used up (at
 * most {@link #CLAIM} of them). Not thread-safe: a gate claims from the thread that calls it, so
 * each thread uses its own.
 */
public final class EntryGate {
    /** The most untraced entries claimed at once. */
    public static final long CLAIM = 1024;

    private long claimed;

    /** A gate with nothing claimed yet. */
    public EntryGate() {}

    /**
     * @return true if the sampler would not trace this thread's next entry (it is consumed: do not
     *     call {@code entry} for it); false if {@link Spoor#entry(int, long)} must decide it
     */
    public boolean untraced() {
        if (claimed > 0) {
            claimed--;
            return true;
        }
        long n = Native.entrySkip(CLAIM);
        if (n > 0) {
            claimed = n - 1;
            return true;
        }
        return false;
    }
}
