package io.spoor;

/**
 * A sampling strategy ({@code spoor_sampling}): which entries are traced. Immutable.
 *
 * @param mode the {@code spoor_sampling_mode}
 * @param probability PROBABILITY and KEY_HASH: in [0, 1]
 * @param everyN EVERY_N: at least 1
 * @param perSecond RATE: in [1, 2^32 - 1]
 */
public record Sampling(int mode, double probability, long everyN, long perSecond) {
    /** @return the library's default (probability 0.01) */
    public static Sampling defaults() {
        return new Sampling(0, 0, 0, 0);
    }

    /** @return trace nothing */
    public static Sampling off() {
        return new Sampling(1, 0, 0, 0);
    }

    /** @return trace every entry */
    public static Sampling all() {
        return new Sampling(2, 0, 0, 0);
    }

    /**
     * @param p the probability that an entry is traced, in [0, 1]
     * @return each entry traced independently with probability p
     */
    public static Sampling probability(double p) {
        return new Sampling(3, p, 0, 0);
    }

    /**
     * @param n at least 1
     * @return every n-th entry of each thread
     */
    public static Sampling every(long n) {
        return new Sampling(4, 0, n, 0);
    }

    /**
     * @param perSecond the cap
     * @return at most perSecond entries per second, process-wide
     */
    public static Sampling rate(long perSecond) {
        return new Sampling(5, 0, 0, perSecond);
    }

    /**
     * @param p the share of keys traced
     * @return an entry traced iff {@link Spoor#keySampled(long, double)}: the same keys in every
     *     process and language
     */
    public static Sampling keyHash(double p) {
        return new Sampling(6, p, 0, 0);
    }
}
