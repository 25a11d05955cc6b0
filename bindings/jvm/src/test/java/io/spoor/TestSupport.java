package io.spoor;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Shared test support: a temporary log root and the log read back through {@code spoor dump}. */
final class TestSupport {
    private TestSupport() {}

    static Path temporaryRoot() throws IOException {
        return Files.createTempDirectory("spoor-jvm-test-");
    }

    static String cli() {
        String given = System.getenv("SPOOR_CLI");
        if (given != null && !given.isEmpty()) {
            return given;
        }
        return Path.of(System.getProperty("spoor.repo", "../..")).resolve("build/bin/spoor").toAbsolutePath().toString();
    }

    /** Every report of the log at `directory`, as `spoor dump` prints them. */
    @SuppressWarnings("unchecked")
    static List<Map<String, Object>> dump(Path directory) throws IOException, InterruptedException {
        Process process = new ProcessBuilder(cli(), "dump", directory.toString()).redirectError(ProcessBuilder.Redirect.DISCARD).start();
        String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (process.waitFor() != 0) {
            throw new IOException("spoor dump " + directory + " failed");
        }
        List<Map<String, Object>> reports = new ArrayList<>();
        for (String line : output.split("\n")) {
            if (!line.isBlank()) {
                reports.add((Map<String, Object>) new Json(line).value());
            }
        }
        return reports;
    }

    static String hex(long id) {
        return String.format("%016x", id);
    }

    /** A JSON reader for `spoor dump`'s lines: objects, arrays, strings, integers, booleans, null. */
    static final class Json {
        private final String text;
        private int at;

        Json(String text) {
            this.text = text;
        }

        Object value() {
            skip();
            char c = text.charAt(at);
            if (c == '{') {
                Map<String, Object> map = new LinkedHashMap<>();
                at++;
                skip();
                if (text.charAt(at) == '}') {
                    at++;
                    return map;
                }
                while (true) {
                    skip();
                    String key = string();
                    skip();
                    at++; // ':'
                    map.put(key, value());
                    skip();
                    if (text.charAt(at++) == '}') {
                        return map;
                    }
                }
            }
            if (c == '[') {
                List<Object> list = new ArrayList<>();
                at++;
                skip();
                if (text.charAt(at) == ']') {
                    at++;
                    return list;
                }
                while (true) {
                    list.add(value());
                    skip();
                    if (text.charAt(at++) == ']') {
                        return list;
                    }
                }
            }
            if (c == '"') {
                return string();
            }
            if (text.startsWith("null", at)) {
                at += 4;
                return null;
            }
            if (text.startsWith("true", at)) {
                at += 4;
                return Boolean.TRUE;
            }
            if (text.startsWith("false", at)) {
                at += 5;
                return Boolean.FALSE;
            }
            int start = at;
            while (at < text.length() && "-+0123456789.eE".indexOf(text.charAt(at)) >= 0) {
                at++;
            }
            String number = text.substring(start, at);
            return number.contains(".") || number.contains("e") ? (Object) Double.parseDouble(number) : (Object) Long.parseLong(number);
        }

        private String string() {
            StringBuilder out = new StringBuilder();
            at++; // '"'
            while (true) {
                char c = text.charAt(at++);
                if (c == '"') {
                    return out.toString();
                }
                if (c == '\\') {
                    char e = text.charAt(at++);
                    switch (e) {
                        case 'n' -> out.append('\n');
                        case 't' -> out.append('\t');
                        case 'r' -> out.append('\r');
                        case 'b' -> out.append('\b');
                        case 'f' -> out.append('\f');
                        case 'u' -> {
                            out.append((char) Integer.parseInt(text.substring(at, at + 4), 16));
                            at += 4;
                        }
                        default -> out.append(e);
                    }
                } else {
                    out.append(c);
                }
            }
        }

        private void skip() {
            while (at < text.length() && Character.isWhitespace(text.charAt(at))) {
                at++;
            }
        }
    }
}
