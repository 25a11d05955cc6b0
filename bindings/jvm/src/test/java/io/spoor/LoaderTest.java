package io.spoor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Loading the native layer, each case in a JVM of its own (a JVM loads it once). */
class LoaderTest {
    static final String PROBE = """
            public class Probe {
                public static void main(String[] args) {
                    System.out.println(io.spoor.Spoor.version() + " " + io.spoor.Spoor.abiVersion());
                }
            }
            """;

    static String run(Path jar, String... properties) throws IOException, InterruptedException {
        Path directory = Files.createTempDirectory("spoor-loader-");
        Files.writeString(directory.resolve("Probe.java"), PROBE);
        List<String> command = new ArrayList<>();
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        command.add("-cp");
        command.add(jar.toString());
        for (String property : properties) {
            command.add(property);
        }
        command.add(directory.resolve("Probe.java").toString());
        Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
        String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        process.waitFor();
        return output;
    }

    static Path jar() {
        return Path.of(System.getProperty("spoor.jar", "../../build/jvm/spoor.jar")).toAbsolutePath();
    }

    @Test
    void loadsTheBundledLibraryWithNothingOnTheLibraryPath() throws Exception {
        String output = run(jar(), "-Djava.library.path=/nonexistent");
        assertEquals("0.1.0 1", output.strip());
    }

    @Test
    void aMissingLibrarySaysWhatWasLookedForWhere() throws Exception {
        String output = run(jar(), "-Dspoor.native.path=/nonexistent/spoor");
        assertTrue(output.contains("UnsatisfiedLinkError") && output.contains("spoor.native.path=/nonexistent/spoor"), output);
        // The classes without the bundled libraries: java.library.path and the jar are both named.
        Path classes = Path.of(System.getProperty("spoor.classes", "../../build/jvm/classes-only")).toAbsolutePath();
        String missing = run(classes, "-Djava.library.path=/nonexistent");
        assertTrue(missing.contains("java.library.path (/nonexistent)") && missing.contains("/io/spoor/native/linux-x86_64/"), missing);
    }
}
