package io.spoor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class SpoorTest {
    @AfterEach
    void stop() {
        if (Spoor.isRunning()) {
            Native.shutdown();
        }
    }

    static Spoor startAll(Path root) {
        return Spoor.builder().logDir(root.toString()).sampling(Sampling.all()).useEnvironment(false).start();
    }

    static Map<String, Map<String, Object>> byId(List<Map<String, Object>> reports) {
        Map<String, Map<String, Object>> index = new HashMap<>();
        for (Map<String, Object> report : reports) {
            if (!"poke".equals(report.get("kind"))) {
                index.put((String) report.get("id"), report);
            }
        }
        return index;
    }

    @Test
    void reportsCarryParentsOperatorsKeysAndAttachments() throws Exception {
        Path root = TestSupport.temporaryRoot();
        String run;
        long line;
        long word;
        long join;
        long many;
        long fanned;
        long tagged;
        try (Spoor spoor = startAll(root)) {
            int parse = Spoor.operator("parse", "Job.java:12");
            assertEquals(parse, Spoor.operator("parse", "Job.java:12"), "interned");
            line = Spoor.entry(parse, Spoor.keyHash("the line"));
            assertNotEquals(0, line);
            long start = Spoor.now();
            word = Spoor.checkpoint(line, parse, Spoor.keyHash("word"), start, Spoor.now());
            join = Spoor.checkpoint(line, word, parse, 7, 0, 0);
            many = Spoor.checkpoint(new long[] {line, 0, word, join}, parse, 0, 0, 0);
            fanned = Spoor.checkpoint(new long[] {line}, 0, 1, parse, 0, 0, 0, 3,
                    Attachment.builder().put("rows", "3").put("raw", new byte[] {0, 1}).build());
            tagged = Spoor.entry(parse, 9, Attachment.of(Map.of("source", "file.txt")));
            Spoor.poke(join, parse, Event.SHUFFLE_WRITE);
            Spoor.poke(0, parse, Event.EXIT);
            run = Spoor.runDirectory();
            assertTrue(run.startsWith(root.toString()));
        }
        List<Map<String, Object>> reports = TestSupport.dump(root);
        Map<String, Map<String, Object>> index = byId(reports);
        Map<String, Object> entry = index.get(TestSupport.hex(line));
        assertEquals("entry", entry.get("kind"));
        assertEquals("parse", entry.get("operator"));
        assertEquals("Job.java:12", entry.get("call_site"));
        assertEquals(TestSupport.hex(Spoor.keyHash("the line")), entry.get("key_hash"));
        assertEquals(List.of(TestSupport.hex(line)), index.get(TestSupport.hex(word)).get("parents"));
        assertEquals(List.of(TestSupport.hex(line), TestSupport.hex(word)), index.get(TestSupport.hex(join)).get("parents"));
        assertEquals(List.of(TestSupport.hex(line), TestSupport.hex(word), TestSupport.hex(join)),
                index.get(TestSupport.hex(many)).get("parents"), "zeros are left out");
        assertEquals(3L, index.get(TestSupport.hex(fanned)).get("fanout"));
        @SuppressWarnings("unchecked")
        List<Map<String, Object>> pairs = (List<Map<String, Object>>) index.get(TestSupport.hex(fanned)).get("attachment");
        assertEquals("rows", pairs.get(0).get("key"));
        assertEquals("3", pairs.get(0).get("value"));
        @SuppressWarnings("unchecked")
        List<Map<String, Object>> source = (List<Map<String, Object>>) index.get(TestSupport.hex(tagged)).get("attachment");
        assertEquals("file.txt", source.get(0).get("value"));
        long pokes = reports.stream().filter(r -> "poke".equals(r.get("kind"))).count();
        assertEquals(1, pokes);
    }

    @Test
    void entryGateLetsExactlyTheUntracedPass() throws Exception {
        assertFalse(new EntryGate().untraced(), "nothing to claim before start: entry decides (and throws)");
        Path root = TestSupport.temporaryRoot();
        try (Spoor spoor = Spoor.builder().logDir(root.toString()).sampling(Sampling.every(10)).useEnvironment(false).start()) {
            int op = Spoor.operator("gate", null);
            EntryGate gate = new EntryGate();
            int wrong = 0;
            for (int i = 0; i < 5000; i++) {
                long id = gate.untraced() ? 0 : Spoor.entry(op, i);
                wrong += (id != 0) != (i % 10 == 9) ? 1 : 0;
            }
            assertEquals(0, wrong, "every 10th record traced, as by entry alone");
            Spoor.flush();
            assertEquals(500, Spoor.stats().sampled());
            Spoor.setSampling(Sampling.keyHash(0.5));
            Spoor.entry(op, 1);
            assertFalse(gate.untraced(), "key-hash sampling: every record is decided by its key");
            Spoor.setSampling(Sampling.off());
            Spoor.entry(op, 1);
            for (int i = 0; i < 3000; i++) {
                assertTrue(gate.untraced());
            }
        }
    }

    @Test
    void untrackedRecordsNeedNoLibrary() {
        assertFalse(Spoor.isRunning());
        assertEquals(0, Spoor.checkpoint(0, 1));
        assertEquals(0, Spoor.checkpoint(0, 1, 2, 3, 4));
        assertEquals(0, Spoor.checkpoint(0, 0, 1, 2, 3, 4));
        assertEquals(0, Spoor.checkpoint(new long[] {0, 0}, 1, 0, 0, 0));
        Spoor.poke(0, 1, Event.EXIT);
    }

    @Test
    void badInputThrowsWithCodeAndDetail() throws Exception {
        SpoorException closed = assertThrows(SpoorException.class, () -> Spoor.entry(1, 0));
        assertEquals(SpoorException.NOT_INITIALIZED, closed.code());
        assertTrue(closed.detail().contains("not initialized"), closed.detail());
        Path root = TestSupport.temporaryRoot();
        SpoorException config = assertThrows(SpoorException.class,
                () -> Spoor.builder().logDir(root.toString()).ringSlots(1000).useEnvironment(false).start());
        assertEquals(SpoorException.INVALID_CONFIG, config.code());
        assertTrue(config.detail().contains("ring_slots"), config.detail());
        try (Spoor spoor = startAll(root)) {
            assertEquals(SpoorException.ALREADY_INITIALIZED, assertThrows(SpoorException.class, () -> startAll(root)).code());
            int op = Spoor.operator("bad", null);
            long parent = Spoor.entry(op, 0);
            assertThrows(NullPointerException.class, () -> Spoor.checkpoint(null, op, 0, 0, 0));
            assertThrows(NullPointerException.class, () -> Spoor.operator(null, null));
            assertThrows(IndexOutOfBoundsException.class, () -> Spoor.checkpoint(new long[] {parent}, 1, 5, op, 0, 0, 0, 0, null));
            SpoorException tooMany = assertThrows(SpoorException.class, () -> Spoor.checkpoint(filled(parent, 1_000_000), op, 0, 0, 0));
            assertEquals(SpoorException.TOO_MANY_PARENTS, tooMany.code());
            assertTrue(tooMany.detail().contains("1000000"), tooMany.detail());
            assertEquals(SpoorException.INVALID_ARGUMENT,
                    assertThrows(SpoorException.class, () -> Spoor.checkpoint(new long[] {parent}, 0, 1, op, 0, 0, 0, 70_000, null)).code());
            assertEquals(SpoorException.ATTACHMENT_TOO_LARGE,
                    assertThrows(SpoorException.class, () -> Attachment.builder().put("k", "v".repeat(2000))).code());
            assertEquals(SpoorException.INVALID_ARGUMENT,
                    assertThrows(SpoorException.class, () -> Attachment.builder().put("", "empty key")).code());
            assertEquals(SpoorException.INVALID_ARGUMENT, assertThrows(SpoorException.class, () -> Spoor.poke(parent, op, 0, 0, null)).code());
            assertEquals(SpoorException.INVALID_ARGUMENT, assertThrows(SpoorException.class, () -> Spoor.operator("", null)).code());
            assertEquals(SpoorException.INVALID_ARGUMENT, assertThrows(SpoorException.class, () -> Spoor.operator("n".repeat(300), null)).code());
            assertEquals(SpoorException.PARSE, assertThrows(SpoorException.class, () -> Spoor.fromContext("00-zz-01")).code());
            assertEquals(SpoorException.PARSE, assertThrows(SpoorException.class, () -> Spoor.fromContextBytes(new byte[3])).code());
            assertEquals(SpoorException.INVALID_CONFIG, assertThrows(SpoorException.class, () -> Spoor.setSampling(Sampling.every(0))).code());
            assertThrows(IllegalArgumentException.class, () -> Spoor.flush(0));
            assertEquals(SpoorException.INVALID_ARGUMENT, assertThrows(SpoorException.class,
                    () -> Native.checkpointN(null, 0, 1, op, 0, 0, 0, 0, null, false)).code(), "a null array reaching native code throws");
            assertEquals(SpoorException.INVALID_ARGUMENT, assertThrows(SpoorException.class,
                    () -> Native.checkpointN(new long[] {parent}, 0, 1, op, 0, 0, 0, 0, new byte[] {5, 0}, false)).code(),
                    "a malformed attachment encoding");
            assertEquals(SpoorException.INVALID_ARGUMENT, assertThrows(SpoorException.class,
                    () -> Spoor.builder().logDir("a\u0000b").start()).code());
        }
        assertEquals(SpoorException.NOT_INITIALIZED, assertThrows(SpoorException.class, () -> Spoor.checkpoint(7, 1)).code());
        assertEquals(SpoorException.NOT_INITIALIZED, assertThrows(SpoorException.class, Spoor::stats).code());
    }

    static long[] filled(long value, int count) {
        long[] values = new long[count];
        java.util.Arrays.fill(values, value);
        return values;
    }

    @Test
    void contextsSamplingStatsKeysAndNames() throws Exception {
        Path root = TestSupport.temporaryRoot();
        try (Spoor spoor = startAll(root)) {
            int op = Spoor.operator("ctx", null);
            long record = Spoor.entry(op, 0);
            String context = Spoor.toContext(record);
            assertEquals(22, context.length());
            assertEquals(record, Spoor.fromContext(context));
            assertEquals(record, Spoor.fromContext(context.toUpperCase()));
            assertEquals(record, Spoor.fromContextBytes(Spoor.toContextBytes(record)));
            assertEquals("00-0000000000000000-00", Spoor.toContext(0));
            assertEquals(Sampling.all(), Spoor.getSampling());
            Spoor.setSampling(Sampling.off());
            for (int i = 0; i < 100; i++) {
                assertEquals(0, Spoor.entry(op, i));
            }
            Spoor.setSampling(Sampling.every(10));
            int sampled = 0;
            for (int i = 0; i < 100; i++) {
                sampled += Spoor.entry(op, i) != 0 ? 1 : 0;
            }
            assertEquals(10, sampled);
            Spoor.setSampling(Sampling.probability(0.5));
            assertEquals(Sampling.probability(0.5), Spoor.getSampling());
            Spoor.flush();
            Stats stats = Spoor.stats();
            assertEquals(11, stats.written());
            assertEquals(stats.written(), stats.committed() + stats.dropped());
            assertEquals(stats.committed(), stats.drained());
            assertEquals(11, Spoor.threadStats().written());
            Spoor.setPartition(4);
            long partitioned = Spoor.checkpoint(record, op);
            Spoor.setPartition(-1);
            assertNotEquals(0, partitioned);
            assertTrue(Spoor.shmName().startsWith("/"));
        }
        // The cross-language key hash (spoor.h): FNV-1a 64 of the canonical bytes.
        assertEquals(0xaf63dc4c8601ec8cL, Spoor.keyHash("a"));
        assertEquals(Spoor.keyHash("a"), Spoor.keyHash("a".getBytes(StandardCharsets.UTF_8)));
        assertEquals(Spoor.keyHash(-1L), Spoor.keyHash(new byte[] {-1, -1, -1, -1, -1, -1, -1, -1}));
        assertEquals(Spoor.keyHash(1.5), Spoor.keyHash(Double.doubleToRawLongBits(1.5)));
        assertTrue(Spoor.keySampled(Spoor.keyHash("a"), 1.0));
        assertFalse(Spoor.keySampled(Spoor.keyHash("a"), 0.0));
        assertEquals("error", Spoor.eventName(Event.ERROR.code()));
        assertEquals("0.1.0", Spoor.version());
        assertEquals(1, Spoor.abiVersion());
        assertTrue(Spoor.strerror(-1).toLowerCase().contains("invalid"));
        assertEquals(0, Spoor.recoverDead(root.resolve("missing").toString()));
    }

    @Test
    void foldsReportOnceWithEveryParent() throws Exception {
        Path root = TestSupport.temporaryRoot();
        long total;
        long[] ids = new long[10];
        try (Spoor spoor = startAll(root)) {
            int op = Spoor.operator("sum", null);
            Fold fold = new Fold();
            for (int i = 0; i < ids.length; i++) {
                ids[i] = Spoor.entry(op, i);
                fold.add(ids[i]);
            }
            fold.add(0);
            Fold partial = new Fold();
            partial.add(ids[0]);
            assertEquals(10, fold.size());
            total = fold.finish(op, Spoor.keyHash("k"), 0, 0);
            assertEquals(0, fold.size(), "finish resets");
            assertEquals(0, new Fold().finish(op, 0, 0, 0), "nothing tracked: no report");
            Fold merged = new Fold();
            merged.merge(partial);
            assertEquals(1, merged.size());
            assertEquals(0, partial.size());
        }
        Map<String, Object> report = byId(TestSupport.dump(root)).get(TestSupport.hex(total));
        assertEquals(Boolean.TRUE, report.get("fold"));
        assertEquals(10, ((List<?>) report.get("parents")).size());
    }

    @Test
    void operatorIdsSurviveCloseAndStart() throws Exception {
        Path root = TestSupport.temporaryRoot();
        int first;
        try (Spoor spoor = startAll(root)) {
            first = Spoor.operator("stable", "A.java:1");
        }
        long record;
        try (Spoor spoor = startAll(root)) {
            assertEquals(first, Spoor.operator("stable", "A.java:1"));
            record = Spoor.entry(first, 0);
        }
        boolean found = false;
        for (Map<String, Object> report : TestSupport.dump(root)) {
            if (TestSupport.hex(record).equals(report.get("id"))) {
                assertEquals("stable", report.get("operator"));
                found = true;
            }
        }
        assertTrue(found);
    }
}
