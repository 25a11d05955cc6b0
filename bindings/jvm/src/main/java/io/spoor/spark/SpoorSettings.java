package io.spoor.spark;

import io.spoor.Sampling;
import io.spoor.Spoor;
import java.io.Serializable;

/**
 * What an executor needs to trace: the log directory and the sampling. Travels with the job, in
 * the closures Spark ships; {@link #ensure()} starts Spoor once per executor JVM for these
 * settings (an executor reused for a job with other settings starts again with those; an
 * instance the program started itself is left alone).
 */
public final class SpoorSettings implements Serializable {
    private static final long serialVersionUID = 1L;
    private static final Object LOCK = new Object();
    private static SpoorSettings started;
    private static Spoor handle;

    final String logDir;
    final double probability;

    /**
     * @param logDir the log root every process writes its run under (absolute)
     * @param probability the share of source records traced
     */
    public SpoorSettings(String logDir, double probability) {
        this.logDir = logDir;
        this.probability = probability;
    }

    /** The settings of the instance this class started, for the lock-free check of {@link #ensure()}. */
    private static volatile SpoorSettings active;
    /** Bumped (never to 0) after every change of {@link #active}, which is written first. */
    private static volatile int epoch;
    /** The epoch in which this instance last found itself active (0: never); a benign race
     *  between threads that share the instance costs one more comparison. */
    private transient int ensuredIn;

    /** Starts Spoor in this JVM for these settings, once: after the first call from an instance,
     *  a volatile read and an int comparison (the SQL functions call it per row). */
    public void ensure() {
        int now = epoch;
        if (now != 0 && ensuredIn == now) {
            return;
        }
        if (equals(active)) {
            ensuredIn = now;
            return;
        }
        synchronized (LOCK) {
            if (Spoor.isRunning()) {
                if (started == null || handle == null || equals(started)) {
                    return;
                }
                handle.close();
                active = null;
                bump();
            }
            handle = Spoor.builder().logDir(logDir).sampling(Sampling.probability(probability)).start();
            started = this;
            active = this;
            bump();
        }
    }

    /** A new epoch, after `active` changed (called under LOCK). */
    private static void bump() {
        int next = epoch + 1;
        epoch = next == 0 ? 1 : next;
    }

    /** Shuts down the instance this class started in this JVM, if it still runs (draining it). */
    public static void stopOurs() {
        synchronized (LOCK) {
            if (handle != null && Spoor.isRunning()) {
                handle.close();
            }
            handle = null;
            started = null;
            active = null;
            bump();
        }
    }

    @Override
    public boolean equals(Object other) {
        return other instanceof SpoorSettings that && that.logDir.equals(logDir) && that.probability == probability;
    }

    @Override
    public int hashCode() {
        return logDir.hashCode() * 31 + Double.hashCode(probability);
    }
}
