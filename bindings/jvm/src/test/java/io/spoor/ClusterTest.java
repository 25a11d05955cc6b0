package io.spoor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.spoor.spark.TracedRDD;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIf;
import scala.Tuple2;

/**
 * The traced word count on a Spark standalone cluster on loopback: a master and two workers
 * started with the pip package's {@code spark-class}, so the executors are separate JVMs (one
 * core each), the driver this JVM. Reports from every executor land in one run, and the lineage
 * of a count crosses executors through the shuffle.
 */
@EnabledIf("clusterPossible")
class ClusterTest {
    static final Duration PATIENCE = Duration.ofSeconds(120);
    static final List<Process> daemons = new ArrayList<>();
    static Path work;
    static String master;

    static boolean clusterPossible() {
        return SparkTest.sparkPresent() && System.getProperty("spoor.sparkHome") != null && System.getProperty("spoor.testJar") != null;
    }

    static int freePort() throws IOException {
        try (ServerSocket socket = new ServerSocket(0)) {
            return socket.getLocalPort();
        }
    }

    static Process daemon(String name, String... arguments) throws IOException {
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("spoor.sparkHome"), "bin", "spark-class").toString()));
        command.addAll(Arrays.asList(arguments));
        ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(work.resolve(name + ".log").toFile());
        builder.environment().put("SPARK_LOCAL_IP", "127.0.0.1");
        builder.environment().put("SPARK_DAEMON_MEMORY", "512m");
        builder.environment().put("SPARK_WORKER_DIR", work.resolve(name + "-work").toString());
        Process process = builder.start();
        daemons.add(process);
        return process;
    }

    /** The master's count of alive workers, from its web UI's JSON (-1 while it is not up). */
    static int aliveWorkers(HttpClient client, int webPort) {
        try {
            String json = client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + webPort + "/json/")).timeout(Duration.ofSeconds(5)).build(),
                    HttpResponse.BodyHandlers.ofString()).body();
            Matcher alive = Pattern.compile("\"aliveworkers\"\\s*:\\s*(\\d+)").matcher(json);
            return alive.find() ? Integer.parseInt(alive.group(1)) : -1;
        } catch (IOException notYet) {
            return -1;
        } catch (InterruptedException interrupted) {
            Thread.currentThread().interrupt();
            return -1;
        }
    }

    @BeforeAll
    static void startCluster() throws Exception {
        work = Files.createTempDirectory("spoor-cluster-");
        int port = freePort();
        int webPort = freePort();
        master = "spark://127.0.0.1:" + port;
        daemon("master", "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", "--port", String.valueOf(port),
                "--webui-port", String.valueOf(webPort));
        for (int n = 1; n <= 2; n++) {
            daemon("worker" + n, "org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1", "--cores", "1", "--memory", "1g",
                    "--webui-port", String.valueOf(freePort()), "--work-dir", work.resolve("worker" + n + "-work").toString(), master);
        }
        HttpClient client = HttpClient.newHttpClient();
        long deadline = System.nanoTime() + PATIENCE.toNanos();
        while (aliveWorkers(client, webPort) < 2) {
            for (Process daemon : daemons) {
                assertTrue(daemon.isAlive(), "a cluster daemon exited: see " + work);
            }
            assertTrue(System.nanoTime() < deadline, "two workers did not register with the master within " + PATIENCE + ": see " + work);
            Thread.sleep(200);
        }
    }

    @AfterAll
    static void stopCluster() throws Exception {
        for (Process daemon : daemons) {
            daemon.destroy();
        }
        for (Process daemon : daemons) {
            if (!daemon.waitFor(30, java.util.concurrent.TimeUnit.SECONDS)) {
                daemon.destroyForcibly();
            }
        }
    }

    /** The job's functions, in a class of their own that the executors load from the test jar. */
    static final class Job {
        private Job() {}

        static java.util.Iterator<String> words(String line) {
            return Arrays.asList(line.split(" ")).iterator();
        }

        static Tuple2<String, Integer> one(String word) {
            return new Tuple2<>(word, 1);
        }
    }

    /** Waits until no process in `pids` runs any more (each executor drains into the run as it stops). */
    static void waitForExit(Set<Long> pids) throws InterruptedException {
        long deadline = System.nanoTime() + PATIENCE.toNanos();
        for (long pid : pids) {
            while (ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false)) {
                assertTrue(System.nanoTime() < deadline, "executor " + pid + " still runs " + PATIENCE + " after the application stopped");
                Thread.sleep(100);
            }
        }
    }

    @Test
    void wordCountAcrossTwoExecutors() throws Exception {
        List<String> lines = SparkTest.wordLines(11, 2000, 10, 30);
        Path root = TestSupport.temporaryRoot();
        long driver = ProcessHandle.current().pid();
        JavaSparkContext context = new JavaSparkContext(new SparkConf().setMaster(master).setAppName("spoor-cluster-test")
                .set("spark.ui.enabled", "false").set("spark.driver.host", "127.0.0.1").set("spark.log.level", "ERROR")
                .set("spark.jars", System.getProperty("spoor.jar") + "," + System.getProperty("spoor.testJar"))
                .set("spark.executor.memory", "512m").set("spark.executor.cores", "1").set("spark.cores.max", "2")
                .set("spark.scheduler.minRegisteredResourcesRatio", "1.0")
                .set("spark.scheduler.maxRegisteredResourcesWaitingTime", PATIENCE.toSeconds() + "s")
                .set("spark.plugins", "io.spoor.spark.SpoorPlugin").set("spark.spoor.dir", root.toString())
                .set("spark.spoor.sampling", "0.3"));
        context.setLogLevel("ERROR");
        List<Tuple2<String, Integer>> untraced;
        List<Traced<Tuple2<String, Integer>>> counts;
        try {
            JavaRDD<String> source = context.parallelize(lines, 8);
            untraced = new ArrayList<>(source.flatMap(Job::words).mapToPair(Job::one).reduceByKey(Integer::sum).collect());
            counts = TracedRDD.traced(source, -1, null).flatMap(Job::words).mapToPair(Job::one).reduceByKey(Integer::sum).collectTraced();
        } finally {
            context.stop();
        }
        List<Tuple2<String, Integer>> traced = new ArrayList<>();
        counts.forEach(record -> traced.add(record.value()));
        assertEquals(SparkTest.sorted(untraced), SparkTest.sorted(traced), "the traced job's results on the cluster are the untraced job's");

        // Each executor JVM writes a run of its own under the root (run-PID-…); all of them have
        // exited before the log is read, so nothing is still in flight.
        Set<Long> pids = new HashSet<>();
        try (var runs = Files.list(root)) {
            runs.map(run -> run.getFileName().toString().split("-")).filter(parts -> parts.length >= 3 && parts[1].matches("\\d+"))
                    .forEach(parts -> pids.add(Long.parseLong(parts[1])));
        }
        pids.remove(driver);
        assertTrue(pids.size() >= 2, "a run per executor JVM under " + root + ": " + pids);
        waitForExit(pids);

        Map<Long, Map<String, Object>> index = SparkTest.index(root);
        Set<Long> entryPids = new HashSet<>();
        Set<String> executorIds = new HashSet<>();
        Map<Long, String> byHash = new HashMap<>();
        lines.forEach(line -> byHash.put(Spoor.keyHash(line), line));
        Set<Long> sampled = new HashSet<>();
        for (Map<String, Object> report : index.values()) {
            // (The plugin's stage and task records are entries too, minted in the driver.)
            if ("entry".equals(report.get("kind")) && !((String) report.get("operator")).startsWith("spark.")) {
                entryPids.add((Long) report.get("pid"));
                sampled.add(Long.parseUnsignedLong((String) report.get("key_hash"), 16));
            }
        }
        for (Map<String, Object> report : index.values()) {
            if ("spark.task".equals(report.get("operator"))) {
                for (Object pair : (List<?>) report.get("attachment")) {
                    Map<?, ?> p = (Map<?, ?>) pair;
                    if ("executor".equals(p.get("key"))) {
                        executorIds.add((String) p.get("value"));
                    }
                }
            }
        }
        assertEquals(2, executorIds.size(), "the driver's plugin recorded tasks on both executors: " + executorIds);
        assertEquals(2, entryPids.size(), "both executor JVMs sampled source records into the one run: " + entryPids);
        assertTrue(!entryPids.contains(driver), "the records were traced in the executors, not the driver");

        int checked = 0;
        int crossing = 0;
        for (Traced<Tuple2<String, Integer>> record : counts) {
            String word = record.value()._1();
            if (record.id() == 0 || !word.startsWith("w")) {
                continue;
            }
            assertEquals(SparkTest.sampledLinesHolding(word, sampled, byHash), SparkTest.backward(index, record.id()),
                    "the count of " + word + " came from exactly the sampled lines holding it");
            checked++;
            Set<Object> reporters = new HashSet<>();
            SparkTest.lineage(index, record.id()).forEach(report -> reporters.add(report.get("pid")));
            if (reporters.size() == 2) {
                crossing++;
            }
        }
        assertEquals(30, checked, "every word's count is traced");
        assertTrue(crossing > 0, "some count's lineage crosses the two executors through the shuffle");
    }
}
