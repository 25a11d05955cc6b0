/* Lineage queries over a large log (issue 10: "a query over a log of 10^8 reports answers in
 * under a second").
 *
 *   lineage SPOOR_CLI DIR REPORTS
 *
 * 1. Writes a log of about REPORTS reports with libspoor itself (two threads, the log sink, the
 *    block policy so that nothing is dropped): per input record an entry, a map, a flatMap with
 *    fan-out 4, a checkpoint per flatMap output, and every 64 inputs a fold of the last 256
 *    checkpoint outputs poked with an exit event. A backward query from a fold output returns
 *    about 640 records up to 64 entry points; a forward query from an entry 11.
 * 2. Runs `spoor index DIR` and reports its time, throughput and size.
 * 3. Runs `spoor lineage ID DIR` for 25 fold outputs (backward) and 25 entries (forward), spread
 *    over the whole run, each a separate process as a user runs it (cold process, warm page
 *    cache), and reports the median and the worst wall time, next to `spoor --help`, the
 *    cost of starting the process at all; then the same queries each after dropping the index
 *    from the page cache (posix_fadvise DONTNEED), so that every page it reads comes from disk.
 *
 * Prints one JSON object per line. */
#define _GNU_SOURCE
#include <spoor.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SAMPLES 25
#define FOLD_INPUTS 64
#define FANOUT 4

static uint64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static int compare_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static uint32_t op_read, op_parse, op_split, op_count, op_sum;

typedef struct producer {
    uint64_t inputs;
    uint64_t entries[SAMPLES];
    uint64_t folds[SAMPLES];
    uint64_t reports;
} producer;

static void *produce(void *raw) {
    producer *p = raw;
    uint64_t *window = malloc(sizeof(uint64_t) * FOLD_INPUTS * FANOUT);
    size_t in_window = 0;
    uint64_t stride = p->inputs / SAMPLES, entry_sample = 0, fold_sample = 0, folds = 0;
    for (uint64_t i = 0; i < p->inputs; i++) {
        uint64_t entry, parsed, split, counted;
        spoor_entry(op_read, spoor_hash_u64(i % 1000), &entry);
        uint64_t start = spoor_now();
        spoor_checkpoint1(entry, op_parse, 0, start, start + 40, &parsed);
        spoor_report_info info = {op_split, FANOUT, 0, start + 40, start + 90, NULL, 0};
        spoor_checkpoint(&parsed, 1, &info, &split);
        for (uint64_t k = 0; k < FANOUT; k++) {
            spoor_checkpoint1(split + k, op_count, spoor_hash_u64((i * 7 + k) % 5000), start + 90, start + 120, &counted);
            window[in_window++] = counted;
        }
        p->reports += 3 + FANOUT;
        if (entry_sample < SAMPLES && i == entry_sample * stride + stride / 2) p->entries[entry_sample++] = entry;
        if (in_window == FOLD_INPUTS * FANOUT) {
            spoor_report_info sum = {op_sum, 1, 0, start + 120, start + 400, NULL, 0};
            uint64_t total;
            spoor_fold_report(window, in_window, &sum, &total);
            spoor_poke(total, op_sum, SPOOR_EVENT_EXIT, 0);
            p->reports += 2;
            in_window = 0;
            folds++;
            if (fold_sample < SAMPLES && folds * FOLD_INPUTS >= fold_sample * stride + stride / 2) p->folds[fold_sample++] = total;
        }
    }
    free(window);
    return NULL;
}

/* Runs argv with standard output to /dev/null (or captured into out), returns its wall time in
 * seconds; exits if it fails. */
static double run(char *const argv[], char *out, size_t capacity) {
    int pipes[2];
    if (pipe(pipes) != 0) exit(1);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    if (out) {
        posix_spawn_file_actions_adddup2(&actions, pipes[1], 1);
    } else {
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    }
    posix_spawn_file_actions_addclose(&actions, pipes[0]);
    posix_spawn_file_actions_addclose(&actions, pipes[1]);
    extern char **environ;
    uint64_t start = now_ns();
    pid_t child;
    if (posix_spawn(&child, argv[0], &actions, NULL, argv, environ) != 0) {
        fprintf(stderr, "cannot start %s: %s\n", argv[0], strerror(errno));
        exit(1);
    }
    posix_spawn_file_actions_destroy(&actions);
    close(pipes[1]);
    size_t used = 0;
    ssize_t got;
    char scratch[4096];
    while ((got = read(pipes[0], out ? out + used : scratch, out ? capacity - 1 - used : sizeof scratch)) > 0) {
        if (out) used += (size_t)got;
        if (out && used >= capacity - 1) break;
    }
    if (out) out[used] = 0;
    close(pipes[0]);
    int status = 0;
    waitpid(child, &status, 0);
    double seconds = (double)(now_ns() - start) / 1e9;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "%s %s failed (status %d)\n", argv[0], argv[1], status);
        exit(1);
    }
    return seconds;
}

/* Drops the index file's pages from the page cache (they are clean: the kernel rereads them
 * from disk), so that the next query starts cold. */
static void evict(const char *index) {
    int fd = open(index, O_RDONLY);
    if (fd < 0 || posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) != 0) {
        fprintf(stderr, "cannot evict %s\n", index);
        exit(1);
    }
    close(fd);
}

static void queries(const char *cli, const char *dir, const uint64_t *ids, int n, const char *direction, const char *cold_index) {
    double times[SAMPLES];
    for (int i = 0; i < n; i++) {
        if (cold_index) evict(cold_index);
        char id[32];
        snprintf(id, sizeof id, "%016llx", (unsigned long long)ids[i]);
        char *argv[] = {(char *)cli, "lineage", id, (char *)dir, (char *)direction, "--no-recover", NULL};
        times[i] = run(argv, NULL, 0);
    }
    qsort(times, (size_t)n, sizeof times[0], compare_double);
    printf("{\"bench\":\"lineage_query\",\"direction\":\"%s\",\"page_cache\":\"%s\",\"unit\":\"s\",\"median\":%.4f,"
           "\"max\":%.4f,\"min\":%.4f,\"samples\":%d,\"target\":1.0}\n",
           direction + 2, cold_index ? "cold" : "warm", times[n / 2], times[n - 1], times[0], n);
    fflush(stdout);
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s SPOOR_CLI DIR REPORTS\n", argv[0]);
        return 64;
    }
    const char *cli = argv[1], *root = argv[2];
    double target = strtod(argv[3], NULL);
    uint64_t per_input = 3 + FANOUT; /* plus 2 per FOLD_INPUTS inputs */
    uint64_t inputs = (uint64_t)(target / ((double)per_input + 2.0 / FOLD_INPUTS) / 2.0);
    if (inputs < SAMPLES * FOLD_INPUTS) inputs = SAMPLES * FOLD_INPUTS;

    spoor_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.log_dir = root;
    cfg.flags = SPOOR_CONFIG_IGNORE_ENV;
    cfg.sink = SPOOR_SINK_LOG;
    cfg.sampling.mode = SPOOR_SAMPLE_ALL;
    cfg.full_policy = SPOOR_FULL_BLOCK;
    cfg.block_timeout_ms = 60000;
    cfg.ring_slots = 1u << 18;
    if (spoor_init(&cfg) != SPOOR_OK) {
        fprintf(stderr, "init: %s\n", spoor_error_detail());
        return 1;
    }
    spoor_register_operator("read", 4, "lineage.c:60", 12, &op_read);
    spoor_register_operator("parse", 5, "lineage.c:62", 12, &op_parse);
    spoor_register_operator("split", 5, "lineage.c:64", 12, &op_split);
    spoor_register_operator("count", 5, "lineage.c:66", 12, &op_count);
    spoor_register_operator("sum", 3, "lineage.c:74", 12, &op_sum);
    char run_dir[4096];
    spoor_run_dir(run_dir, sizeof run_dir);
    producer producers[2];
    memset(producers, 0, sizeof producers);
    pthread_t threads[2];
    uint64_t start = now_ns();
    for (int t = 0; t < 2; t++) {
        producers[t].inputs = inputs;
        pthread_create(&threads[t], NULL, produce, &producers[t]);
    }
    for (int t = 0; t < 2; t++) pthread_join(threads[t], NULL);
    spoor_stats stats;
    spoor_flush(60000);
    spoor_get_stats(&stats);
    spoor_shutdown();
    double written = (double)(now_ns() - start) / 1e9;
    uint64_t reports = producers[0].reports + producers[1].reports;
    if (stats.dropped != 0 || stats.written != reports) {
        fprintf(stderr, "the log lost reports: written %llu of %llu, dropped %llu\n", (unsigned long long)stats.written,
                (unsigned long long)reports, (unsigned long long)stats.dropped);
        return 1;
    }
    printf("{\"bench\":\"lineage_log\",\"reports\":%llu,\"seconds\":%.2f,\"run\":\"%s\"}\n", (unsigned long long)reports,
           written, run_dir);
    fflush(stdout);

    char summary[4096];
    char *index_argv[] = {(char *)cli, "index", run_dir, "--no-recover", NULL};
    double indexing = run(index_argv, summary, sizeof summary);
    const char *bytes = strstr(summary, "\"bytes\":");
    const char *records = strstr(summary, "\"records\":");
    const char *edges = strstr(summary, "\"edges\":");
    printf("{\"bench\":\"lineage_index_build\",\"reports\":%llu,\"records\":%llu,\"edges\":%llu,\"seconds\":%.2f,"
           "\"reports_per_second\":%.0f,\"index_bytes\":%llu}\n",
           (unsigned long long)reports, records ? strtoull(records + 10, NULL, 10) : 0ull,
           edges ? strtoull(edges + 8, NULL, 10) : 0ull, indexing, (double)reports / indexing,
           bytes ? strtoull(bytes + 8, NULL, 10) : 0ull);
    fflush(stdout);

    double starts[SAMPLES];
    for (int i = 0; i < SAMPLES; i++) {
        char *version_argv[] = {(char *)cli, "--help", NULL};
        starts[i] = run(version_argv, NULL, 0);
    }
    qsort(starts, SAMPLES, sizeof starts[0], compare_double);
    printf("{\"bench\":\"cli_process_start\",\"unit\":\"s\",\"median\":%.4f,\"max\":%.4f,\"samples\":%d}\n",
           starts[SAMPLES / 2], starts[SAMPLES - 1], SAMPLES);
    uint64_t folds[SAMPLES], entries[SAMPLES];
    for (int i = 0; i < SAMPLES; i++) {
        folds[i] = producers[i % 2].folds[i];
        entries[i] = producers[i % 2].entries[i];
    }
    queries(cli, run_dir, folds, SAMPLES, "--backward", NULL);
    queries(cli, run_dir, entries, SAMPLES, "--forward", NULL);
    char index[4200];
    snprintf(index, sizeof index, "%s/.spoor-lineage.index", run_dir);
    queries(cli, run_dir, folds, SAMPLES, "--backward", index);
    queries(cli, run_dir, entries, SAMPLES, "--forward", index);
    return 0;
}
