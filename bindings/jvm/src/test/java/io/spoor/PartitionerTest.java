package io.spoor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.ref.WeakReference;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.SplittableRandom;
import java.util.concurrent.CyclicBarrier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** io.spoor.Partitioner: partitioner files of {@code spoor skew -o} loaded into libspoor, routed
 *  against the documented algorithm written again here. */
class PartitionerTest {
    @AfterEach
    void stop() {
        if (Spoor.isRunning()) {
            Native.shutdown();
        }
    }

    // ---- the documented algorithm (docs/skew.md, include/spoor.h), written again --------------

    /** The plain hash partition: ((h * 0x9e3779b97f4a7c15) mod 2^64 >> 17) mod partitions. */
    static int plainPartition(long h, int partitions) {
        return (int) Long.remainderUnsigned((h * 0x9e3779b97f4a7c15L) >>> 17, partitions);
    }

    /** One splitmix64 step from `state`. */
    static long splitMix(long state) {
        long z = state + 0x9e3779b97f4a7c15L;
        z = (z ^ (z >>> 30)) * 0xbf58476d1ce4e5b9L;
        z = (z ^ (z >>> 27)) * 0x94d049bb133111ebL;
        return z ^ (z >>> 31);
    }

    /** unit(h, s): the top 53 bits of one splitmix64 step from h ^ s, times 2^-53. */
    static double unit(long h, long salt) {
        return (splitMix(h ^ salt) >>> 11) * 0x1p-53;
    }

    /** The partition of an unplaced key: stay if keep[p] >= 1 or unit(h, "stay") < keep[p], else
     *  the slice of the normalised spill holding unit(h, "spil") (past the end: the last partition
     *  with spill). keep and spill null: plain hashing. */
    static int expectedPartition(long h, int partitions, double[] keep, double[] spill) {
        int p = plainPartition(h, partitions);
        if (keep == null || keep[p] >= 1 || unit(h, 0x73746179L) < keep[p]) {
            return p;
        }
        double total = 0;
        int last = -1;
        for (int q = 0; q < partitions; q++) {
            total += spill[q];
            if (spill[q] > 0) {
                last = q;
            }
        }
        double point = unit(h, 0x7370696cL);
        double end = 0;
        for (int q = 0; q < partitions; q++) {
            end += spill[q] / total;
            if (spill[q] > 0 && point < end) {
                return q;
            }
        }
        return last;
    }

    // ---- files --------------------------------------------------------------------------------

    static final double[] KEEP = {0.25, 1, 1, 0.5, 1, 0, 1, 0.75};
    static final double[] SPILL = {0, 3, 1, 0, 2, 0, 0.5, 0};
    static final byte[] BYTES_KEY = {1, 2, 3};

    /** One placed key of a file: its hash, partition and salts. */
    record Placed(long keyHash, int partition, int salts) {}

    /** The placed keys of {@link #handFile()}: key hash 0, the text "a", the integer 42, true, 1.5,
     *  three bytes and 0xff. */
    static List<Placed> handKeys() {
        return List.of(new Placed(0, 2, 1), new Placed(Spoor.keyHash("a"), 0, 4), new Placed(Spoor.keyHash(42L), 1, 3),
                new Placed(Spoor.keyHash(true), 7, 2), new Placed(Spoor.keyHash(1.5), 5, 1),
                new Placed(Spoor.keyHash(BYTES_KEY), 6, 8), new Placed(0xff, 3, 2));
    }

    /** A partitioner file's text: `partitions`, the placed keys, and keep and spill (both null:
     *  none), with the members a loader ignores. */
    static String file(int partitions, List<Placed> keys, double[] keep, double[] spill) {
        StringBuilder out = new StringBuilder("{\"format\": \"spoor-partitioner\", \"version\": 1, \"operator\": \"pair (Test.java:1)\",\n");
        out.append(" \"partitions\": ").append(partitions).append(", \"hash\": \"spoor-mix17\",\n \"keys\": [");
        for (int i = 0; i < keys.size(); i++) {
            Placed key = keys.get(i);
            out.append(i == 0 ? "" : ",\n   ").append("{\"key_hash\": \"").append(TestSupport.hex(key.keyHash()))
                    .append("\", \"partition\": ").append(key.partition());
            if (key.salts() != 1 || i % 2 == 0) {
                out.append(", \"salts\": ").append(key.salts());
            }
            out.append(", \"share\": 0.05, \"error_share\": 0.001, \"value\": \"k").append(i).append("\"}");
        }
        out.append("]");
        if (keep != null) {
            out.append(",\n \"keep\": ").append(Arrays.toString(keep)).append(", \"spill\": ").append(Arrays.toString(spill));
        }
        out.append(",\n \"imbalance\": {\"before\": 2.1, \"after\": 1.02, \"lower_bound\": 1}, \"migrated_share\": 0.2,")
                .append(" \"later\": [null, {\"x\": 1}]}");
        return out.toString();
    }

    static byte[] handFile() {
        return file(8, handKeys(), KEEP, SPILL).getBytes(StandardCharsets.UTF_8);
    }

    static byte[] plainFile(int partitions) {
        return file(partitions, List.of(), null, null).getBytes(StandardCharsets.UTF_8);
    }

    // ---- tests --------------------------------------------------------------------------------

    @Test
    void placedKeysGoToTheirPartitionsWithTheirSalts() {
        Partitioner partitioner = Partitioner.load(handFile());
        assertEquals(8, partitioner.partitions());
        assertEquals(7, partitioner.keys());
        for (Placed key : handKeys()) {
            assertEquals(key.partition(), partitioner.partition(key.keyHash()), "the partition of " + TestSupport.hex(key.keyHash()));
            assertEquals(key.salts(), partitioner.salts(key.keyHash()), "the salts of " + TestSupport.hex(key.keyHash()));
        }
        // Key hash 0 is a key like any other (placed on 2; its plain partition is 0).
        assertEquals(0, plainPartition(0, 8));
        assertEquals(2, partitioner.partition(0));
        // An unplaced key has salts 1 (0xfe and 0x100 are 0xff's neighbours).
        assertEquals(1, partitioner.salts(0xfe));
        assertEquals(1, partitioner.salts(0x100));
        assertEquals(1, partitioner.salts(-1));
        assertEquals("Partitioner(8 partitions, 7 keys placed)", partitioner.toString());
        Partitioner plain = Partitioner.load(plainFile(17));
        assertEquals(17, plain.partitions());
        assertEquals(0, plain.keys());
        assertEquals(1, plain.salts(0xff));
    }

    @Test
    void everyOtherKeyRoutesAsTheDocumentedAlgorithm() {
        Partitioner hybrid = Partitioner.load(handFile());
        Partitioner plain = Partitioner.load(plainFile(17));
        SplittableRandom random = new SplittableRandom(7);
        long[] placed = handKeys().stream().mapToLong(Placed::keyHash).toArray();
        int[] spilledTo = new int[8];
        int stayed = 0;
        int wrong = 0;
        int wrongPlain = 0;
        for (int i = 0; i < 200_000; i++) {
            long h = random.nextLong();
            if (Arrays.stream(placed).anyMatch(k -> k == h)) {
                continue;
            }
            int got = hybrid.partition(h);
            wrong += got != expectedPartition(h, 8, KEEP, SPILL) ? 1 : 0;
            if (got == plainPartition(h, 8)) {
                stayed++;
            } else {
                spilledTo[got]++;
            }
            wrongPlain += plain.partition(h) != plainPartition(h, 17) ? 1 : 0;
        }
        assertEquals(0, wrong, "keys routed otherwise than the documented algorithm");
        assertEquals(0, wrongPlain, "keys routed otherwise than plain hashing");
        // Both branches ran: a quarter of partition 0's keys, half of 3's, none of 5's and three
        // quarters of 7's stay (1/8 each of all keys): 1 - (0.75 + 0.5 + 1 + 0.25) / 8 stay.
        double n = stayed + Arrays.stream(spilledTo).sum();
        assertEquals(1 - 2.5 / 8, stayed / n, 0.005, "the share of keys that stay");
        for (int q = 0; q < 8; q++) {
            if (SPILL[q] > 0) {
                assertEquals(2.5 / 8 * SPILL[q] / 6.5, spilledTo[q] / n, 0.005, "the share spilled onto " + q);
            } else {
                assertEquals(0, spilledTo[q], "nothing spills onto " + q);
            }
        }
        for (long h : new long[] {1, -1, Long.MIN_VALUE, Long.MAX_VALUE, 0x100, 0xfe}) {
            assertEquals(expectedPartition(h, 8, KEEP, SPILL), hybrid.partition(h), "key hash " + TestSupport.hex(h));
        }
    }

    @Test
    void valuesHashAsSpoorKeyHash() {
        assertEquals(0xaf63dc4c8601ec8cL, Spoor.keyHash("a"));
        Partitioner plain = Partitioner.load(plainFile(17));
        assertEquals(plainPartition(0xaf63dc4c8601ec8cL, 17), plain.partitionOf("a"));
        Partitioner hybrid = Partitioner.load(handFile());
        assertEquals(0, hybrid.partitionOf("a"));
        assertEquals(4, hybrid.saltsOf("a"));
        // Integers of every width hash as the 64-bit value.
        for (Object integer : new Object[] {42L, 42, (short) 42, (byte) 42}) {
            assertEquals(1, hybrid.partitionOf(integer), integer.getClass().getName());
            assertEquals(3, hybrid.saltsOf(integer), integer.getClass().getName());
        }
        assertEquals(Spoor.keyHash(1L), Spoor.keyHash(true));
        assertEquals(Spoor.keyHash(0L), Spoor.keyHash(false));
        assertEquals(7, hybrid.partitionOf(true));
        assertEquals(2, hybrid.saltsOf(Boolean.TRUE));
        assertEquals(expectedPartition(Spoor.keyHash(0L), 8, KEEP, SPILL), hybrid.partitionOf(false));
        // A double as its binary64 bits, a float widened exactly.
        assertEquals(Spoor.keyHash(Double.doubleToRawLongBits(1.5)), Spoor.keyHashOf(1.5));
        assertEquals(5, hybrid.partitionOf(1.5));
        assertEquals(5, hybrid.partitionOf(1.5f));
        assertEquals(Spoor.keyHash(0.1f), Spoor.keyHashOf(0.1f));
        assertEquals(6, hybrid.partitionOf(BYTES_KEY));
        assertEquals(8, hybrid.saltsOf(new byte[] {1, 2, 3}));
        SplittableRandom random = new SplittableRandom(3);
        for (int i = 0; i < 1000; i++) {
            String text = "key" + random.nextInt();
            long number = random.nextLong();
            double real = random.nextDouble();
            assertEquals(hybrid.partition(Spoor.keyHash(text)), hybrid.partitionOf(text));
            assertEquals(hybrid.partition(Spoor.keyHash(number)), hybrid.partitionOf(number));
            assertEquals(hybrid.salts(Spoor.keyHash(number)), hybrid.saltsOf(number));
            assertEquals(hybrid.partition(Spoor.keyHash(real)), hybrid.partitionOf(real));
            assertEquals(expectedPartition(Spoor.keyHash(text), 8, KEEP, SPILL), hybrid.partitionOf(text));
        }
        assertThrows(NullPointerException.class, () -> hybrid.partitionOf(null));
        assertThrows(NullPointerException.class, () -> hybrid.saltsOf(null));
        for (Object other : new Object[] {'a', BigInteger.ONE, List.of("a"), new int[] {1}}) {
            IllegalArgumentException error = assertThrows(IllegalArgumentException.class, () -> hybrid.partitionOf(other));
            assertTrue(error.getMessage().contains(other.getClass().getName()), error.getMessage());
            assertThrows(IllegalArgumentException.class, () -> hybrid.saltsOf(other));
        }
        // The traced RDDs' key hashes: keyHashOf's, and any other key's text.
        assertEquals(Spoor.keyHash(1.5), Spoor.keyHashOrText(1.5));
        assertEquals(Spoor.keyHash(true), Spoor.keyHashOrText(true));
        assertEquals(Spoor.keyHash(42L), Spoor.keyHashOrText(42));
        assertEquals(Spoor.keyHash("[a, b]"), Spoor.keyHashOrText(List.of("a", "b")));
        assertEquals(Spoor.keyHash("null"), Spoor.keyHashOrText(null));
    }

    @Test
    void malformedFilesThrowWithTheLibrarysDetail() throws Exception {
        String head = "{\"format\":\"spoor-partitioner\",\"version\":1,\"hash\":\"spoor-mix17\",";
        Map<String, String> refused = Map.ofEntries(
                Map.entry("", "unexpected end of input"),
                Map.entry("[]", "not a JSON object"),
                Map.entry("{\"format\":\"other\"}", "not \"spoor-partitioner\""),
                Map.entry("{\"format\":\"spoor-partitioner\",\"version\":2}", "version 2"),
                Map.entry(head + "\"partitions\":0,\"keys\":[]}", "partitions must be in"),
                Map.entry(head + "\"partitions\":1048577,\"keys\":[]}", "partitions must be in"),
                Map.entry(head + "\"partitions\":4}", "keys is missing"),
                Map.entry(head + "\"partitions\":4,\"keys\":[{\"key_hash\":\"12\",\"partition\":0}]}", "not 16 hex digits"),
                Map.entry(head + "\"partitions\":4,\"keys\":[{\"key_hash\":\"000000000000000f\",\"partition\":4}]}", "outside 0..<4"),
                Map.entry(head + "\"partitions\":4,\"keys\":[{\"key_hash\":\"000000000000000f\",\"partition\":1,\"salts\":5}]}", "salts 5"),
                Map.entry(head + "\"partitions\":4,\"keys\":[{\"key_hash\":\"000000000000000f\",\"partition\":1},"
                        + "{\"key_hash\":\"000000000000000F\",\"partition\":2}]}", "listed twice"),
                Map.entry(head + "\"partitions\":2,\"keys\":[],\"keep\":[1],\"spill\":[1,0]}", "keep must hold 2 numbers"),
                Map.entry(head + "\"partitions\":2,\"keys\":[],\"keep\":[0.5,1],\"spill\":[0,0]}", "spill is all zero"),
                Map.entry(head + "\"partitions\":2,\"keys\":[]} x", "unexpected data after the value"),
                Map.entry("[".repeat(1_000_000), "nested deeper"));
        for (Map.Entry<String, String> entry : refused.entrySet()) {
            byte[] json = entry.getKey().getBytes(StandardCharsets.UTF_8);
            SpoorException error = assertThrows(SpoorException.class, () -> Partitioner.load(json),
                    entry.getKey().substring(0, Math.min(80, entry.getKey().length())));
            assertEquals(SpoorException.PARSE, error.code());
            assertTrue(error.detail().contains(entry.getValue()), "detail \"" + error.detail() + "\" names " + entry.getValue());
            assertTrue(error.getMessage().contains(error.detail()), error.getMessage());
        }
        // Invalid UTF-8 inside a string.
        byte[] badText = (head + "\"partitions\":2,\"keys\":[],\"operator\":\"?\"}").getBytes(StandardCharsets.UTF_8);
        badText[badText.length - 3] = (byte) 0xff;
        assertTrue(assertThrows(SpoorException.class, () -> Partitioner.load(badText)).detail().contains("not valid UTF-8"));
        assertThrows(NullPointerException.class, () -> Partitioner.load((byte[]) null));
        Path missing = TestSupport.temporaryRoot().resolve("missing.json");
        assertThrows(NoSuchFileException.class, () -> Partitioner.load(missing));
    }

    @Test
    void mutatedFilesLoadOrThrowButNeverCrash() {
        byte[] valid = handFile();
        Random random = new Random(11);
        int loaded = 0;
        int refused = 0;
        for (int i = 0; i < 3000; i++) {
            byte[] json = valid.clone();
            switch (i % 4) {
                case 0 -> json[random.nextInt(json.length)] = (byte) random.nextInt(256);
                case 1 -> json = Arrays.copyOf(json, random.nextInt(json.length));
                case 2 -> {
                    int at = random.nextInt(json.length);
                    json[at] = (byte) "0123456789-.,:[]{}\"e".charAt(random.nextInt(20));
                }
                default -> {
                    int from = random.nextInt(json.length);
                    int to = Math.min(json.length, from + 1 + random.nextInt(8));
                    byte[] cut = new byte[json.length - (to - from)];
                    System.arraycopy(json, 0, cut, 0, from);
                    System.arraycopy(json, to, cut, from, json.length - to);
                    json = cut;
                }
            }
            Partitioner partitioner;
            try {
                partitioner = Partitioner.load(json);
            } catch (SpoorException error) {
                assertEquals(SpoorException.PARSE, error.code());
                assertTrue(!error.detail().isEmpty());
                refused++;
                continue;
            }
            loaded++;
            assertTrue(partitioner.partitions() >= 1 && partitioner.keys() >= 0);
            for (long h = -8; h < 8; h++) {
                int partition = partitioner.partition(h * 0x9e3779b97f4a7c15L);
                assertTrue(partition >= 0 && partition < partitioner.partitions(), "partition " + partition);
                int salts = partitioner.salts(h * 0x9e3779b97f4a7c15L);
                assertTrue(salts >= 1 && salts <= partitioner.partitions(), "salts " + salts);
            }
        }
        assertTrue(loaded > 100 && refused > 100, "loaded " + loaded + ", refused " + refused);
    }

    @Test
    void threadsRouteConcurrently() throws Exception {
        Partitioner partitioner = Partitioner.load(handFile());
        int count = 100_000;
        long[] hashes = new long[count];
        int[] expected = new int[count];
        int[] expectedSalts = new int[count];
        SplittableRandom random = new SplittableRandom(5);
        List<Placed> placed = handKeys();
        for (int i = 0; i < count; i++) {
            if (i % 2 == 1) {
                Placed key = placed.get((i / 2) % placed.size());
                hashes[i] = key.keyHash();
                expected[i] = key.partition();
                expectedSalts[i] = key.salts();
            } else {
                hashes[i] = random.nextLong();
                expected[i] = expectedPartition(hashes[i], 8, KEEP, SPILL);
                expectedSalts[i] = 1;
            }
        }
        int threads = 4;
        CyclicBarrier start = new CyclicBarrier(threads);
        int[] wrong = new int[threads];
        Throwable[] failures = new Throwable[threads];
        List<Thread> running = new ArrayList<>();
        for (int t = 0; t < threads; t++) {
            int index = t;
            Thread thread = new Thread(() -> {
                try {
                    start.await();
                    for (int round = 0; round < 4; round++) {
                        for (int i = 0; i < count; i++) {
                            int at = (i + index * 7919) % count;
                            if (partitioner.partition(hashes[at]) != expected[at] || partitioner.salts(hashes[at]) != expectedSalts[at]) {
                                wrong[index]++;
                            }
                        }
                    }
                } catch (Throwable failure) {
                    failures[index] = failure;
                }
            });
            thread.start();
            running.add(thread);
        }
        for (Thread thread : running) {
            thread.join();
        }
        for (int t = 0; t < threads; t++) {
            assertNull(failures[t], "thread " + t);
            assertEquals(0, wrong[t], "thread " + t + " routed keys wrongly");
        }
    }

    @Test
    void aFileOfSpoorSkewRoutesItsKeys() throws Exception {
        Path root = TestSupport.temporaryRoot();
        try (Spoor spoor = Spoor.builder().logDir(root.toString()).sampling(Sampling.all()).useEnvironment(false).start()) {
            int pair = Spoor.operator("pair", "PartitionerTest.java");
            for (int i = 0; i < 10_000; i++) {
                Spoor.entry(pair, Spoor.keyHash(i % 5 < 2 ? "hot" : "k" + i % 200));
            }
        }
        Path file = root.resolve("partitioner.json");
        Process skew = new ProcessBuilder(TestSupport.cli(), "skew", root.toString(), "--operator", "pair", "--partitions", "8",
                "-o", file.toString()).redirectErrorStream(true).start();
        String output = new String(skew.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, skew.waitFor(), output);
        @SuppressWarnings("unchecked")
        Map<String, Object> description = (Map<String, Object>) new TestSupport.Json(Files.readString(file)).value();
        Partitioner partitioner = Partitioner.load(file);
        assertEquals(8, partitioner.partitions());
        List<?> keys = (List<?>) description.get("keys");
        assertEquals(keys.size(), partitioner.keys());
        Map<?, ?> hot = null;
        for (Object listed : keys) {
            Map<?, ?> key = (Map<?, ?>) listed;
            long hash = Long.parseUnsignedLong((String) key.get("key_hash"), 16);
            assertEquals(((Long) key.get("partition")).intValue(), partitioner.partition(hash));
            assertEquals(((Long) key.get("salts")).intValue(), partitioner.salts(hash));
            if (hash == Spoor.keyHash("hot")) {
                hot = key;
            }
        }
        assertNotNull(hot, "the 40% key is placed: " + output);
        assertEquals(((Long) hot.get("partition")).intValue(), partitioner.partitionOf("hot"));
        assertTrue(partitioner.saltsOf("hot") > 1, "a 40% key on 8 partitions is salted: " + hot);
        double[] keep = numbers(description.get("keep"));
        double[] spill = numbers(description.get("spill"));
        for (int k = 0; k < 200; k++) {
            long hash = Spoor.keyHash("k" + k);
            if (partitioner.salts(hash) == 1 && keys.stream().noneMatch(key -> ((Map<?, ?>) key).get("key_hash").equals(TestSupport.hex(hash)))) {
                assertEquals(expectedPartition(hash, 8, keep, spill), partitioner.partitionOf("k" + k), "k" + k);
            }
        }
    }

    private static double[] numbers(Object list) {
        return list == null ? null : ((List<?>) list).stream().mapToDouble(n -> ((Number) n).doubleValue()).toArray();
    }

    @Test
    void anUnreachablePartitionerIsCollected() {
        // The Cleaner's action must not hold the Partitioner, or its native memory would never be
        // freed: once dropped, a collection clears the weak reference.
        WeakReference<Partitioner> reference = new WeakReference<>(Partitioner.load(handFile()));
        for (int i = 0; i < 50 && reference.get() != null; i++) {
            System.gc();
        }
        assertNull(reference.get(), "a dropped Partitioner stays reachable");
    }
}
