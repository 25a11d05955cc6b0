package io.spoor.spark;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import io.spoor.Sampling;
import io.spoor.Spoor;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.nio.file.Files;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

/** reduceByKey's map-side partial as Spark's Java serializer writes it into the shuffle. */
class PartialTest {
    static TracedPairRDD.Partial roundTrip(TracedPairRDD.Partial partial) throws Exception {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ObjectOutputStream out = new ObjectOutputStream(bytes)) {
            out.writeObject(partial);
        }
        try (ObjectInputStream in = new ObjectInputStream(new ByteArrayInputStream(bytes.toByteArray()))) {
            return (TracedPairRDD.Partial) in.readObject();
        }
    }

    @Test
    void aPartialCrossesAsOneRecordOrWithEveryId() throws Exception {
        TracedPairRDD.Partial partial = new TracedPairRDD.Partial(42, 11);
        partial.add(12);
        partial.add(13);
        // Without Spoor in the JVM every id crosses.
        assertFalse(Spoor.isRunning());
        TracedPairRDD.Partial plain = roundTrip(partial);
        assertEquals(42, plain.value);
        assertArrayEquals(new long[] {11, 12, 13}, Arrays.copyOf(plain.ids, plain.count));
        // With it, the partial is reported as a fold of its ids and only that record's id crosses.
        try (Spoor spoor = Spoor.builder().logDir(Files.createTempDirectory("spoor-partial-").toString()).sampling(Sampling.all())
                .useEnvironment(false).start()) {
            long before = Spoor.stats().written();
            TracedPairRDD.Partial folded = roundTrip(partial);
            assertEquals(42, folded.value);
            assertEquals(1, folded.count);
            assertNotEquals(0, folded.ids[0]);
            assertFalse(Arrays.asList(11L, 12L, 13L).contains(folded.ids[0]), "a new record");
            assertEquals(before + 2, Spoor.stats().written(), "the fold report and its shuffle_write poke");
            // A partial of one record crosses as that record (poked, not folded).
            TracedPairRDD.Partial single = roundTrip(new TracedPairRDD.Partial("x", 77));
            assertArrayEquals(new long[] {77}, Arrays.copyOf(single.ids, single.count));
        }
    }
}
