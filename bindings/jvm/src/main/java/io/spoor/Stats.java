package io.spoor;

/**
 * Counters ({@code spoor_stats}). Once the collector has caught up ({@link Spoor#flush()}):
 * {@code written == committed + dropped} and {@code drained == committed}.
 *
 * @param written reports the library was asked to write
 * @param committed reports published into a ring (less those overwritten)
 * @param dropped reports lost: ring full, block timeout, no ring, overwritten
 * @param sampled entries the sampler selected
 * @param drained reports the collector took from the rings
 * @param sinkErrors batches a sink failed to write
 * @param batches batches handed to the sink
 * @param threads rings owned by live threads
 */
public record Stats(long written, long committed, long dropped, long sampled, long drained, long sinkErrors,
        long batches, long threads) {
    static Stats of(long[] values) {
        return new Stats(values[0], values[1], values[2], values[3], values[4], values[5], values[6], values[7]);
    }
}
