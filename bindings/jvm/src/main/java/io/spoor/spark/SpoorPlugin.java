package io.spoor.spark;

import io.spoor.Attachment;
import io.spoor.Spoor;
import java.nio.file.Path;
import java.util.Map;
import org.apache.spark.SparkConf;
import org.apache.spark.SparkContext;
import org.apache.spark.api.plugin.DriverPlugin;
import org.apache.spark.api.plugin.ExecutorPlugin;
import org.apache.spark.api.plugin.PluginContext;
import org.apache.spark.api.plugin.SparkPlugin;

/**
 * {@code spark.plugins=io.spoor.spark.SpoorPlugin}: Spoor in the driver and in every executor,
 * configured by {@code spark.spoor.dir} (the log root every JVM writes its run under; default
 * {@code SPOOR_DIR}, then {@code spoor-traces}, resolved on the driver) and
 * {@code spark.spoor.sampling} (the share of source records traced; default 0.01). Executors
 * drain on shutdown. The driver records the engine's own events without user code, every stage
 * and every task whatever the sampling ({@link SpoorListener}).
 */
public final class SpoorPlugin implements SparkPlugin {
    static final String DIR = "spark.spoor.dir";
    static final String SAMPLING = "spark.spoor.sampling";

    /** Settings from a SparkConf, the directory made absolute here. */
    static SpoorSettings settings(SparkConf conf) {
        String directory = conf.get(DIR, System.getenv().getOrDefault("SPOOR_DIR", "spoor-traces"));
        return new SpoorSettings(Path.of(directory).toAbsolutePath().toString(), Double.parseDouble(conf.get(SAMPLING, "0.01")));
    }

    @Override
    public DriverPlugin driverPlugin() {
        return new DriverPlugin() {
            @Override
            public Map<String, String> init(SparkContext context, PluginContext plugin) {
                SpoorSettings settings = settings(context.getConf());
                settings.ensure();
                context.addSparkListener(new SpoorListener());
                return Map.of(DIR, settings.logDir, SAMPLING, Double.toString(settings.probability));
            }

            @Override
            public void shutdown() {
                SpoorSettings.stopOurs();
            }
        };
    }

    @Override
    public ExecutorPlugin executorPlugin() {
        return new ExecutorPlugin() {
            @Override
            public void init(PluginContext plugin, Map<String, String> extraConf) {
                String directory = extraConf.get(DIR);
                if (directory != null) {
                    new SpoorSettings(directory, Double.parseDouble(extraConf.getOrDefault(SAMPLING, "0.01"))).ensure();
                }
            }

            @Override
            public void shutdown() {
                // (In local mode the executor is the driver's JVM: the driver plugin stops it.)
                if (Spoor.isRunning()) {
                    Spoor.flush();
                }
            }
        };
    }

    /** @return an attachment of these pairs (values as text) */
    static Attachment attachment(Object... pairs) {
        Attachment.Builder builder = Attachment.builder();
        for (int i = 0; i + 1 < pairs.length; i += 2) {
            builder.put(String.valueOf(pairs[i]), String.valueOf(pairs[i + 1]));
        }
        return builder.build();
    }
}
