package io.spoor;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;

/**
 * Loads the native layer once per JVM, as zstd-jni and snappy-java do.
 *
 * <p>In order: the file or directory named by the system property {@code spoor.native.path}
 * (a directory must hold {@code libspoor_jni.so} and {@code libspoor.so.0}); then
 * {@code System.loadLibrary("spoor_jni")} from {@code java.library.path}; then the libraries
 * bundled in the jar under {@code /io/spoor/native/linux-x86_64/}, copied into a private
 * temporary directory (mode 0700), loaded, and deleted (a loaded library needs no file). When
 * every way fails, the {@link UnsatisfiedLinkError} lists what was looked for where and why each
 * failed.
 */
final class NativeLoader {
    static final String PROPERTY = "spoor.native.path";
    static final String RESOURCE_DIR = "/io/spoor/native/linux-x86_64/";
    static final String JNI_LIBRARY = "libspoor_jni.so";
    static final String CORE_LIBRARY = "libspoor.so.0";

    private static boolean loaded;

    private NativeLoader() {}

    static synchronized void load() {
        if (loaded) {
            return;
        }
        List<String> attempts = new ArrayList<>();
        String given = System.getProperty(PROPERTY);
        if (given != null && !given.isEmpty()) {
            Path path = Path.of(given);
            Path library = Files.isDirectory(path) ? path.resolve(JNI_LIBRARY) : path;
            try {
                System.load(library.toAbsolutePath().toString());
                loaded = true;
                return;
            } catch (UnsatisfiedLinkError error) {
                throw new UnsatisfiedLinkError("spoor: -D" + PROPERTY + "=" + given + ": could not load "
                        + library.toAbsolutePath() + ": " + error.getMessage());
            }
        }
        try {
            System.loadLibrary("spoor_jni");
            loaded = true;
            return;
        } catch (UnsatisfiedLinkError error) {
            attempts.add("java.library.path (" + System.getProperty("java.library.path") + "): " + error.getMessage());
        }
        String arch = System.getProperty("os.arch", "");
        String os = System.getProperty("os.name", "");
        if (!os.toLowerCase().startsWith("linux") || !(arch.equals("amd64") || arch.equals("x86_64"))) {
            attempts.add("the jar bundles linux-x86_64 only, this JVM runs on " + os + "/" + arch);
            throw failure(attempts);
        }
        try {
            Path directory = Files.createTempDirectory("spoor-native-");
            try {
                Path jni = extract(directory, JNI_LIBRARY);
                extract(directory, CORE_LIBRARY);
                System.load(jni.toString());
                loaded = true;
                return;
            } finally {
                Files.deleteIfExists(directory.resolve(JNI_LIBRARY));
                Files.deleteIfExists(directory.resolve(CORE_LIBRARY));
                Files.deleteIfExists(directory);
            }
        } catch (IOException | UnsatisfiedLinkError error) {
            attempts.add("the jar's " + RESOURCE_DIR + ": " + error.getMessage());
        }
        throw failure(attempts);
    }

    private static Path extract(Path directory, String name) throws IOException {
        try (InputStream in = NativeLoader.class.getResourceAsStream(RESOURCE_DIR + name)) {
            if (in == null) {
                throw new IOException(RESOURCE_DIR + name + " is not in the jar");
            }
            Path target = directory.resolve(name);
            Files.copy(in, target, StandardCopyOption.REPLACE_EXISTING);
            return target;
        }
    }

    private static UnsatisfiedLinkError failure(List<String> attempts) {
        return new UnsatisfiedLinkError("spoor: could not load the native library libspoor_jni.so; looked in "
                + String.join("; ", attempts) + ". Set -D" + PROPERTY + "=DIR to a directory holding "
                + JNI_LIBRARY + " and " + CORE_LIBRARY + ".");
    }
}
