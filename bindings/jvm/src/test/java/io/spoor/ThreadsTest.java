package io.spoor;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class ThreadsTest {
    @AfterEach
    void stop() {
        if (Spoor.isRunning()) {
            Native.shutdown();
        }
    }

    /** 4 threads x 1M records (an entry and a checkpoint each): the counts add up exactly. */
    @Test
    void fourThreadsTraceAMillionRecordsEach() throws Exception {
        Path root = TestSupport.temporaryRoot();
        int records = Integer.getInteger("spoor.test.records", 1_000_000);
        AtomicLong calls = new AtomicLong();
        AtomicLong threadWritten = new AtomicLong();
        Stats total;
        try (Spoor spoor = Spoor.builder().logDir(root.toString()).sampling(Sampling.all()).discardReports(true)
                .useEnvironment(false).start()) {
            int op = Spoor.operator("threads", null);
            List<Thread> threads = new ArrayList<>();
            for (int t = 0; t < 4; t++) {
                int base = t * records;
                threads.add(new Thread(() -> {
                    long made = 0;
                    for (int i = 0; i < records; i++) {
                        long id = Spoor.entry(op, base + i);
                        made++;
                        if (Spoor.checkpoint(id, op, 0, 0, 0) != 0) {
                            made++;
                        }
                    }
                    calls.addAndGet(made);
                    threadWritten.addAndGet(Spoor.threadStats().written());
                }));
            }
            threads.forEach(Thread::start);
            for (Thread thread : threads) {
                thread.join();
            }
            Spoor.flush();
            total = Spoor.stats();
        }
        assertEquals(calls.get(), total.written());
        assertEquals(threadWritten.get(), total.written());
        assertEquals(total.written(), total.drained() + total.dropped());
        assertEquals(4L * records, total.sampled());
    }
}
