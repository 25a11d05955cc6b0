package io.spoor.spark;

import io.spoor.Spoor;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.spark.executor.TaskMetrics;
import org.apache.spark.scheduler.SparkListener;
import org.apache.spark.scheduler.SparkListenerStageCompleted;
import org.apache.spark.scheduler.SparkListenerStageSubmitted;
import org.apache.spark.scheduler.SparkListenerTaskEnd;
import org.apache.spark.scheduler.SparkListenerTaskStart;
import org.apache.spark.scheduler.StageInfo;

/**
 * The engine's events as Spoor records, made in the driver without user code and whatever the
 * sampling ({@link Spoor#mint}): each stage is a record (operator {@code spark.stage}, key the
 * stage id, attachment its name, attempt and task count), each task a record whose parent is its
 * stage's (operator {@code spark.task}, key the task id, attachment stage, partition, attempt,
 * executor and host), made when the task starts. When a task ends its record is poked with
 * {@link #TASK_END} carrying the task's metrics; when a stage completes, with {@link #STAGE_END}.
 */
public final class SpoorListener extends SparkListener {
    /** Event code of a task's end (custom range): the attachment holds its metrics. */
    public static final int TASK_END = 1001;
    /** Event code of a stage's completion. */
    public static final int STAGE_END = 1002;

    private final Map<Long, Long> stages = new ConcurrentHashMap<>();
    private final Map<Long, Long> tasks = new ConcurrentHashMap<>();

    private static long stageKey(int stage, int attempt) {
        return ((long) stage << 32) | (attempt & 0xffffffffL);
    }

    private static boolean running() {
        return Spoor.isRunning();
    }

    @Override
    public void onStageSubmitted(SparkListenerStageSubmitted event) {
        if (!running()) {
            return;
        }
        StageInfo info = event.stageInfo();
        int op = Spoor.operator("spark.stage", "driver");
        long record = Spoor.mint(op, Spoor.keyHash((long) info.stageId()), SpoorPlugin.attachment(
                "stage", info.stageId(), "attempt", info.attemptNumber(), "name", info.name(), "tasks", info.numTasks()));
        stages.put(stageKey(info.stageId(), info.attemptNumber()), record);
    }

    @Override
    public void onTaskStart(SparkListenerTaskStart event) {
        if (!running()) {
            return;
        }
        var task = event.taskInfo();
        long stage = stages.getOrDefault(stageKey(event.stageId(), event.stageAttemptId()), 0L);
        int op = Spoor.operator("spark.task", "driver");
        long record = stage != 0
                ? Spoor.checkpoint(new long[] {stage}, 0, 1, op, Spoor.keyHash(task.taskId()), 0, 0, 0, SpoorPlugin.attachment(
                        "stage", event.stageId(), "partition", task.partitionId(), "attempt", task.attemptNumber(),
                        "executor", task.executorId(), "host", task.host()))
                : Spoor.mint(op, Spoor.keyHash(task.taskId()), null);
        tasks.put(task.taskId(), record);
    }

    @Override
    public void onTaskEnd(SparkListenerTaskEnd event) {
        if (!running()) {
            return;
        }
        Long record = tasks.remove(event.taskInfo().taskId());
        if (record == null) {
            return;
        }
        TaskMetrics metrics = event.taskMetrics();
        int op = Spoor.operator("spark.task", "driver");
        if (metrics == null) {
            Spoor.poke(record, op, TASK_END, 0, SpoorPlugin.attachment("status", event.reason().toString()));
            return;
        }
        Spoor.poke(record, op, TASK_END, 0, SpoorPlugin.attachment(
                "status", event.taskInfo().successful() ? "success" : "failed",
                "run_ms", metrics.executorRunTime(),
                "cpu_ns", metrics.executorCpuTime(),
                "gc_ms", metrics.jvmGCTime(),
                "deserialize_ms", metrics.executorDeserializeTime(),
                "serialize_ms", metrics.resultSerializationTime(),
                "records_read", metrics.inputMetrics().recordsRead(),
                "bytes_read", metrics.inputMetrics().bytesRead(),
                "records_written", metrics.outputMetrics().recordsWritten(),
                "bytes_written", metrics.outputMetrics().bytesWritten(),
                "shuffle_records_read", metrics.shuffleReadMetrics().recordsRead(),
                "shuffle_bytes_read", metrics.shuffleReadMetrics().totalBytesRead(),
                "shuffle_records_written", metrics.shuffleWriteMetrics().recordsWritten(),
                "shuffle_bytes_written", metrics.shuffleWriteMetrics().bytesWritten()));
    }

    @Override
    public void onStageCompleted(SparkListenerStageCompleted event) {
        if (!running()) {
            return;
        }
        StageInfo info = event.stageInfo();
        Long record = stages.remove(stageKey(info.stageId(), info.attemptNumber()));
        if (record != null) {
            Spoor.poke(record, Spoor.operator("spark.stage", "driver"), STAGE_END, 0, SpoorPlugin.attachment(
                    "status", info.failureReason().isDefined() ? "failed: " + info.failureReason().get() : "completed"));
        }
    }
}
