package io.spoor;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The JVM binding's per-call costs: one JSON object per line, the row shape of bench/bench.c
 * with "lang": "java". Each row times loops of OPS calls on this thread's CPU clock
 * (ThreadMXBean: the collector thread is not counted), in ROUNDS rounds interleaved with the
 * loops it is compared against, after a warm-up that lets the JIT compile them; it reports the
 * median and 90th percentile ns per call, and ratios of medians measured in the same run.
 * Compiled into package io.spoor (for the JNI no-op, package-private).
 *
 * Usage: scripts/bench-jvm [--quick]
 */
public final class Bench {
    static final boolean QUICK = List.of(System.getProperty("bench.args", "").split(" ")).contains("--quick");
    static final int OPS = QUICK ? 200_000 : 2_000_000;
    static final int ROUNDS = QUICK ? 7 : 21;
    static final ThreadMXBean CPU = ManagementFactory.getThreadMXBean();
    static long sink;

    interface Body {
        void run(int n);
    }

    public static void main(String[] args) throws Exception {
        String root = Files.createTempDirectory("spoor-jvm-bench-").toString();
        try (Spoor spoor = Spoor.builder().logDir(root).sampling(Sampling.all()).discardReports(true).ringSlots(1 << 18)
                .flushIntervalMillis(1).useEnvironment(false).start()) {
            int op = Spoor.operator("bench", null);
            long parent = Spoor.entry(op, 1);
            Map<String, Body> bodies = new LinkedHashMap<>();
            bodies.put("noop", n -> {
                long acc = 0;
                for (int i = 0; i < n; i++) {
                    acc += Spoor.noop(op, i);
                }
                sink += acc;
            });
            bodies.put("entry", n -> {
                long acc = 0;
                for (int i = 0; i < n; i++) {
                    acc += Spoor.entry(op, i);
                }
                sink += acc;
            });
            bodies.put("checkpoint", n -> {
                long acc = 0;
                for (int i = 0; i < n; i++) {
                    acc += Spoor.checkpoint(parent, op, i, 0, 0);
                }
                sink += acc;
            });
            bodies.put("checkpoint_times", n -> {
                long acc = 0;
                for (int i = 0; i < n; i++) {
                    acc += Spoor.checkpoint(parent, op, i, i, i + 1);
                }
                sink += acc;
            });
            // Untracked parents read from memory the JIT cannot see through (it could fold a
            // constant 0 and the branch with it); the empty loop reads the same array.
            long[] zeros = new long[1024];
            bodies.put("untracked", n -> {
                long acc = 0;
                for (int i = 0; i < n; i++) {
                    acc += Spoor.checkpoint(zeros[i & 1023], op, i, 0, 0);
                }
                sink += acc;
            });
            bodies.put("empty", n -> {
                long acc = 0;
                for (int i = 0; i < n; i++) {
                    acc += zeros[i & 1023] + i;
                }
                sink += acc;
            });
            Map<String, List<Double>> samples = measure(bodies);
            double empty = median(samples.get("empty"));
            double noop = median(samples.get("noop")) - empty;
            emit("baseline_jni_noop", samples.get("noop"), empty, null, null, null);
            emit("sampled_entry", samples.get("entry"), empty, noop, null, null);
            emit("checkpoint_1_parent", samples.get("checkpoint"), empty, noop, 12.0, null);
            emit("checkpoint_1_parent_caller_times", samples.get("checkpoint_times"), empty, noop, 12.0, null);
            emit("untracked_checkpoint", samples.get("untracked"), empty, noop, 1.0, 0);
            // Source records at 1% sampling, keyed by their text: an entry per record (JNI) and
            // the key hash (JNI, after the UTF-8 encoding), against the EntryGate, which lets the
            // untraced ones pass on the Java side (spoor_entry_skip claims 1024 at a time).
            Spoor.setSampling(Sampling.probability(0.01));
            String[] lines = new String[1024];
            for (int i = 0; i < lines.length; i++) {
                lines[i] = "line" + i + " word" + (i * 7 % 1000) + " word" + (i * 13 % 1000) + " word" + (i * 31 % 1000);
            }
            Map<String, Body> sources = new LinkedHashMap<>();
            sources.put("entry", n -> {
                long acc = 0;
                for (int i = 0; i < n; i++) {
                    acc += Spoor.entry(op, i);
                }
                sink += acc;
            });
            sources.put("entry_text_key", n -> {
                long acc = 0;
                for (int i = 0; i < n; i++) {
                    acc += Spoor.entry(op, Spoor.keyHash(lines[i & 1023]));
                }
                sink += acc;
            });
            sources.put("gated_text_key", n -> {
                EntryGate gate = new EntryGate();
                long acc = 0;
                for (int i = 0; i < n; i++) {
                    acc += gate.untraced() ? 0 : Spoor.entry(op, Spoor.keyHash(lines[i & 1023]));
                }
                sink += acc;
            });
            sources.put("empty", bodies.get("empty"));
            Map<String, List<Double>> sourceSamples = measure(sources);
            double sourceEmpty = median(sourceSamples.get("empty"));
            emit("source_entry_1pct", sourceSamples.get("entry"), sourceEmpty, noop, null, null);
            emit("source_entry_1pct_text_key", sourceSamples.get("entry_text_key"), sourceEmpty, noop, null, null);
            emit("source_gated_1pct_text_key", sourceSamples.get("gated_text_key"), sourceEmpty, noop, null, null);
            Stats stats = Spoor.stats();
            System.out.printf(Locale.ROOT, "{\"bench\":\"accounting\",\"lang\":\"java\",\"written\":%d,\"dropped\":%d,\"sink\":\"none\",\"sink_value\":%d}%n",
                    stats.written(), stats.dropped(), sink & 1);
        }
    }

    /** Five warm-up runs of every body, then ROUNDS rounds, the order rotating: CPU ns per op. */
    static Map<String, List<Double>> measure(Map<String, Body> bodies) {
        Map<String, List<Double>> samples = new LinkedHashMap<>();
        for (String name : bodies.keySet()) {
            samples.put(name, new ArrayList<>());
        }
        for (int warm = 0; warm < 5; warm++) {
            for (Body body : bodies.values()) {
                body.run(OPS);
            }
        }
        List<String> names = new ArrayList<>(bodies.keySet());
        for (int round = 0; round < ROUNDS; round++) {
            Collections.rotate(names, 1);
            for (String name : names) {
                long start = CPU.getCurrentThreadCpuTime();
                bodies.get(name).run(OPS);
                samples.get(name).add((CPU.getCurrentThreadCpuTime() - start) / (double) OPS);
            }
        }
        return samples;
    }

    static double median(List<Double> values) {
        List<Double> sorted = new ArrayList<>(values);
        Collections.sort(sorted);
        return sorted.get(sorted.size() / 2);
    }

    static void emit(String name, List<Double> values, double empty, Double noop, Double target, Integer jniCalls) {
        List<Double> net = new ArrayList<>();
        for (double value : values) {
            net.add(Math.max(value - empty, 0));
        }
        List<Double> sorted = new ArrayList<>(net);
        Collections.sort(sorted);
        double median = sorted.get(sorted.size() / 2);
        double p90 = sorted.get(Math.min(sorted.size() - 1, (int) (sorted.size() * 0.9)));
        StringBuilder row = new StringBuilder();
        row.append(String.format(Locale.ROOT, "{\"bench\":\"%s\",\"lang\":\"java\",\"unit\":\"ns/op\",\"median\":%.2f,\"p90\":%.2f,"
                + "\"threads\":1,\"ring\":\"private\",\"samples\":%d,\"ops_per_sample\":%d,\"net_of\":\"an empty loop\"",
                name, median, p90, values.size(), OPS));
        if (noop != null) {
            row.append(String.format(Locale.ROOT, ",\"baseline\":\"baseline_jni_noop\",\"ratio_to_baseline\":%.3f", median / noop));
        }
        if (target != null) {
            row.append(String.format(Locale.ROOT, ",\"target\":%.1f", target));
        }
        if (jniCalls != null) {
            row.append(",\"jni_calls_per_op\":").append(jniCalls);
        }
        row.append('}');
        System.out.println(row);
    }
}
