package io.spoor;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** The C shim and Swift Java_* functions, the same calls, interleaved in one JVM. */
public final class Compare {
    static long sink;

    interface Body {
        void run(int n);
    }

    public static void main(String[] args) throws Exception {
        ThreadMXBean cpu = ManagementFactory.getThreadMXBean();
        int ops = 2_000_000;
        int rounds = 21;
        try (Spoor spoor = Spoor.builder().logDir(java.nio.file.Files.createTempDirectory("cmp").toString()).sampling(Sampling.all())
                .discardReports(true).ringSlots(1 << 18).flushIntervalMillis(1).useEnvironment(false).start()) {
            // Loaded after libspoor.so.0 (SONAME): the Swift library binds to that same instance.
            System.load(args[0]);
            int op = Spoor.operator("cmp", null);
            long parent = Spoor.entry(op, 1);
            Map<String, Body> bodies = new LinkedHashMap<>();
            bodies.put("empty", n -> { long a = 0; for (int i = 0; i < n; i++) { a += i; } sink += a; });
            bodies.put("c_noop", n -> { long a = 0; for (int i = 0; i < n; i++) { a += Native.noop(op, i); } sink += a; });
            bodies.put("swift_noop", n -> { long a = 0; for (int i = 0; i < n; i++) { a += SwiftNative.noop(op, i); } sink += a; });
            bodies.put("c_checkpoint", n -> { long a = 0; for (int i = 0; i < n; i++) { a += Native.checkpoint1(parent, op, i, i, i + 1); } sink += a; });
            bodies.put("swift_checkpoint", n -> { long a = 0; for (int i = 0; i < n; i++) { a += SwiftNative.checkpoint1(parent, op, i, i, i + 1); } sink += a; });
            Map<String, List<Double>> samples = new LinkedHashMap<>();
            bodies.keySet().forEach(k -> samples.put(k, new ArrayList<>()));
            for (int w = 0; w < 5; w++) { for (Body b : bodies.values()) { b.run(ops); } }
            List<String> names = new ArrayList<>(bodies.keySet());
            for (int r = 0; r < rounds; r++) {
                Collections.rotate(names, 1);
                for (String name : names) {
                    long t = cpu.getCurrentThreadCpuTime();
                    bodies.get(name).run(ops);
                    samples.get(name).add((cpu.getCurrentThreadCpuTime() - t) / (double) ops);
                }
            }
            double empty = median(samples.get("empty"));
            System.out.println("swift checkpoint returns ids: " + (SwiftNative.checkpoint1(parent, op, 1, 1, 2) != 0));
            System.out.println("written " + Spoor.stats().written());
            for (String name : names) {
                List<Double> values = samples.get(name);
                System.out.printf("%s median %.2f ns (net of empty loop), min %.2f%n", name, median(values) - empty, Collections.min(values) - empty);
            }
        }
    }

    static double median(List<Double> values) {
        List<Double> sorted = new ArrayList<>(values);
        Collections.sort(sorted);
        return sorted.get(sorted.size() / 2);
    }
}
