package io.spoor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class TracedTest {
    @AfterEach
    void stop() {
        if (Spoor.isRunning()) {
            Native.shutdown();
        }
    }

    @Test
    void liftsReportParentsOperatorsAndEvents() throws Exception {
        Path root = TestSupport.temporaryRoot();
        Traced<String> line;
        Traced<String> upper;
        List<Traced<String>> words;
        Traced<Integer> total;
        List<String> sink = new ArrayList<>();
        try (Spoor spoor = SpoorTest.startAll(root)) {
            int source = Spoor.operator("lines", "Job.java:1");
            line = Traced.enter("to be or not", source, Spoor.keyHash("to be or not"));
            upper = line.map(String::toUpperCase);
            words = upper.flatMap(text -> Arrays.asList(text.split(" ")));
            Traced<String> kept = words.get(0).filter(word -> !word.equals("OR"));
            assertNull(words.get(2).filter(word -> !word.equals("OR")));
            Traced<Integer> one = kept.map(String::length);
            Traced<Integer> two = words.get(1).map(String::length);
            total = one.combine(two, Integer::sum);
            total.combineWith(line, (n, text) -> n + text.length()).forEach(value -> sink.add("x" + value));
            assertTrue(line.flatMap(text -> List.of()).isEmpty());
        }
        assertEquals(List.of("x16"), sink);
        List<Map<String, Object>> reports = TestSupport.dump(root);
        Map<String, Map<String, Object>> index = SpoorTest.byId(reports);
        Map<String, Object> mapped = index.get(TestSupport.hex(upper.id()));
        assertEquals(List.of(TestSupport.hex(line.id())), mapped.get("parents"));
        assertEquals("map:io.spoor.TracedTest", mapped.get("operator"));
        assertTrue(((String) mapped.get("call_site")).startsWith("TracedTest.java:"), (String) mapped.get("call_site"));
        assertTrue(mapped.get("duration_ns") instanceof Long);
        assertEquals(4L, index.get(TestSupport.hex(words.get(0).id())).get("fanout"));
        assertEquals(words.get(0).id() + 3, words.get(3).id(), "consecutive ids");
        assertEquals(2, ((List<?>) index.get(TestSupport.hex(total.id())).get("parents")).size());
        long filtered = reports.stream().filter(r -> "filtered".equals(r.get("event"))).count();
        assertEquals(2, filtered, "the filter removed OR; a flatMap with no output");
        assertEquals(1, reports.stream().filter(r -> "exit".equals(r.get("event"))).count());
    }

    @Test
    void untrackedRecordsRunTheFunctionOnly() throws Exception {
        Path root = TestSupport.temporaryRoot();
        try (Spoor spoor = Spoor.builder().logDir(root.toString()).sampling(Sampling.off()).useEnvironment(false).start()) {
            Traced<String> line = Traced.enter("a b", Spoor.operator("src", null), 0);
            assertEquals(0, line.id());
            assertEquals(3, line.map(String::length).value());
            assertEquals(2, line.flatMap(text -> Arrays.asList(text.split(" "))).size());
            assertNull(line.filter(text -> false));
            assertEquals("a ba b", line.combine(line, String::concat).value());
            Spoor.flush();
            assertEquals(0, Spoor.stats().written(), "nothing crossed into native code");
        }
    }

    @Test
    void exceptionsAreErrorEventsAndRethrownUnchanged() throws Exception {
        Path root = TestSupport.temporaryRoot();
        IllegalStateException failure = new IllegalStateException("bad record: \u00e9" + "x".repeat(1000));
        Traced<String> record;
        try (Spoor spoor = SpoorTest.startAll(root)) {
            record = Traced.enter("poison", Spoor.operator("src", null), 0);
            IllegalStateException caught = assertThrows(IllegalStateException.class, () -> record.map(text -> {
                throw failure;
            }));
            assertSame(failure, caught);
            assertThrows(ArithmeticException.class, () -> record.map(text -> 1 / (text.length() - 6)));
            assertThrows(IllegalStateException.class, () -> Traced.untracked("x").map(text -> {
                throw failure;
            }));
        }
        List<Map<String, Object>> errors = new ArrayList<>();
        for (Map<String, Object> report : TestSupport.dump(root)) {
            if ("error".equals(report.get("event"))) {
                errors.add(report);
            }
        }
        assertEquals(2, errors.size(), "one error event per failed traced call");
        assertEquals(TestSupport.hex(record.id()), errors.get(0).get("id"));
        @SuppressWarnings("unchecked")
        List<Map<String, Object>> pairs = (List<Map<String, Object>>) errors.get(0).get("attachment");
        assertEquals("error.type", pairs.get(0).get("key"));
        assertEquals("java.lang.IllegalStateException", pairs.get(0).get("value"));
        String message = (String) pairs.get(1).get("value");
        assertTrue(message.startsWith("bad record: \u00e9") && message.length() <= 512, message);
    }
}
