/*
 * bench.c - libspoor hot-path and drain benchmarks.
 *
 * Prints one JSON object per line:
 *   {"bench": NAME, "unit": "ns/op" | "reports/s" | "allocs/op", "median": X, "p99": Y,
 *    "threads": T, ...}
 * Every ns/op row also carries "allocs_per_op" (heap allocations counted by interposing malloc
 * and friends in this executable, on the measuring thread, during the timed loops) and
 * "ratio_to_baseline" (median / the median of a relaxed atomic increment measured in the same
 * run). For ns/op rows "p99" is the 99th percentile of the per-sample averages; for reports/s
 * it is the 1st percentile (the slow tail). This is a program that prints figures, not a test.
 *
 * Usage: bench [--quick] [--hot | --drain | --saturate | --collector SPOOR_CLI]
 *   --quick: fewer samples; --hot: only the hot-path rows; --drain: only the drain rows;
 *   --collector: the drain rows of the in-process collector and of a collector process
 *   (`SPOOR_CLI collect --once`) for 1, 2 and 4 rings, one after the other in this process;
 *   --saturate: only the rows of a saturating producer (4 threads at 100% sampling) under each
 *   full-ring policy, ring size and collector period. Without one of the three, all of them in
 *   one process. scripts/bench runs the three in three processes: the drain rows measured in
 *   the process that had just run the hot-path rows varied from 11 to 32 M reports/s between
 *   runs (see settle_page_cache), in a fresh process 30-35 M/s.
 */
#define _GNU_SOURCE
#include <spoor.h>

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- allocation counting -------------------------------------------------------------- */

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);

static __thread int counting;
static __thread unsigned long long allocations;

void *malloc(size_t n) {
    if (counting) allocations++;
    return __libc_malloc(n);
}
void *calloc(size_t a, size_t b) {
    if (counting) allocations++;
    return __libc_calloc(a, b);
}
void *realloc(void *p, size_t n) {
    if (counting) allocations++;
    return __libc_realloc(p, n);
}
void *memalign(size_t a, size_t n) {
    if (counting) allocations++;
    return __libc_memalign(a, n);
}
void *aligned_alloc(size_t a, size_t n) {
    if (counting) allocations++;
    return __libc_memalign(a, n);
}
int posix_memalign(void **out, size_t a, size_t n) {
    if (counting) allocations++;
    void *p = __libc_memalign(a, n);
    if (p == NULL) return 12; /* ENOMEM */
    *out = p;
    return 0;
}
void free(void *p) { __libc_free(p); }

/* ---- timing ------------------------------------------------------------------------------ */

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int compare_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double percentile(double *values, int n, double p) {
    qsort(values, (size_t)n, sizeof *values, compare_double);
    int index = (int)(p * (n - 1) + 0.5);
    return values[index];
}

/* Keeps a value alive without a memory access. */
#define OPAQUE(x) __asm__ volatile("" : "+r"(x))

static uint64_t sink_word;
static uint64_t atomic_counter;
static int quick;

/* ---- the measured operations ------------------------------------------------------------- */

enum op_kind {
    OP_BASELINE,
    OP_UNTRACKED,
    OP_UNSAMPLED_ENTRY,
    OP_SAMPLED_ENTRY,
    OP_CHECKPOINT1,
    OP_CHECKPOINT4_ATTACH,
    OP_HASH_PARTITION,     /* plain hash partitioning computed inline (SpoorDataflow's HashPartitioner) */
    OP_PARTITION_HASHED,   /* spoor_partitioner_partition of keys it does not place (keep/spill) */
    OP_PARTITION_PLACED,   /* spoor_partitioner_partition of its placed keys */
};

/* A partitioner over 17 partitions placing 64 keys, with keep and spill (see load_bench_partitioner). */
static spoor_partitioner *bench_partitioner;
static uint64_t placed_keys[64];

typedef struct bench_case {
    const char *name;
    enum op_kind kind;
    int ops_per_sample;
    int samples;
    int needs_flush; /* writes reports: empty the ring between samples (not timed) */
    double target_ns;
} bench_case;

static uint32_t op_source, op_map;
static const char attachment_value[] = "split-words:0123456789abcdef"; /* 28 bytes */
static spoor_attr attachment[1];

typedef struct sample_result {
    double *ns_per_op;
    unsigned long long allocations;
    unsigned long long ops;
} sample_result;

/* Runs one sample of `n` operations and returns its duration in ns. */
static uint64_t run_sample(enum op_kind kind, int n, uint64_t seed_parent) {
    uint64_t acc = 0;
    uint64_t start = now_ns();
    switch (kind) {
    case OP_BASELINE:
        for (int i = 0; i < n; i++) __atomic_fetch_add(&atomic_counter, 1, __ATOMIC_RELAXED);
        break;
    case OP_UNTRACKED:
        for (int i = 0; i < n; i++) {
            uint64_t parent = 0, out;
            OPAQUE(parent);
            spoor_checkpoint1(parent, op_map, (uint64_t)i, 0, 1, &out);
            acc ^= out;
        }
        break;
    case OP_UNSAMPLED_ENTRY:
    case OP_SAMPLED_ENTRY:
        for (int i = 0; i < n; i++) {
            uint64_t out;
            spoor_entry(op_source, (uint64_t)i, &out);
            acc ^= out;
        }
        break;
    case OP_CHECKPOINT1:
        for (int i = 0; i < n; i++) {
            uint64_t parent = seed_parent + (uint64_t)i, out;
            OPAQUE(parent);
            /* times measured by the caller around its UDF, as an engine integration does */
            spoor_checkpoint1(parent, op_map, (uint64_t)i, 1000 + (uint64_t)i, 1100 + (uint64_t)i, &out);
            acc ^= out;
        }
        break;
    case OP_CHECKPOINT4_ATTACH: {
        spoor_report_info info;
        memset(&info, 0, sizeof info);
        info.op = op_map;
        info.attrs = attachment;
        info.n_attrs = 1;
        for (int i = 0; i < n; i++) {
            uint64_t parents[4] = {seed_parent + (uint64_t)i, seed_parent + 1, seed_parent + 2, seed_parent + 3};
            OPAQUE(parents[0]);
            info.key_hash = (uint64_t)i;
            info.start_ns = 1000 + (uint64_t)i;
            info.end_ns = 1100 + (uint64_t)i;
            uint64_t out;
            spoor_checkpoint(parents, 4, &info, &out);
            acc ^= out;
        }
        break;
    }
    case OP_HASH_PARTITION: {
        /* The partition count is a run-time value, as in an engine (a constant would let the
         * compiler turn the modulo into a multiplication). */
        uint64_t partitions = 17;
        OPAQUE(partitions);
        for (int i = 0; i < n; i++) {
            uint64_t key = (uint64_t)i * 0xd6e8feb86659fd93ULL;
            OPAQUE(key);
            acc += ((key * 0x9e3779b97f4a7c15ULL) >> 17) % partitions;
        }
        break;
    }
    case OP_PARTITION_HASHED:
        for (int i = 0; i < n; i++) {
            uint64_t key = (uint64_t)i * 0xd6e8feb86659fd93ULL;
            OPAQUE(key);
            acc += (uint64_t)spoor_partitioner_partition(bench_partitioner, key);
        }
        break;
    case OP_PARTITION_PLACED:
        for (int i = 0; i < n; i++) {
            uint64_t key = placed_keys[i & 63];
            OPAQUE(key);
            acc += (uint64_t)spoor_partitioner_partition(bench_partitioner, key);
        }
        break;
    }
    uint64_t elapsed = now_ns() - start;
    sink_word ^= acc;
    return elapsed;
}

typedef struct worker_args {
    const bench_case *bench;
    double *ns_per_op; /* samples */
    unsigned long long allocations;
    unsigned long long ops;
    pthread_barrier_t *barrier;
    uint64_t seed_parent;
} worker_args;

static void *worker(void *raw) {
    worker_args *args = raw;
    const bench_case *b = args->bench;
    spoor_set_partition(0);
    /* warm up: attach the thread's ring, fault in code and data */
    run_sample(b->kind, b->ops_per_sample, args->seed_parent);
    if (b->needs_flush) spoor_flush(0);
    if (args->barrier) pthread_barrier_wait(args->barrier);
    for (int s = 0; s < b->samples; s++) {
        counting = 1;
        unsigned long long before = allocations;
        uint64_t elapsed = run_sample(b->kind, b->ops_per_sample, args->seed_parent + (uint64_t)s * 1000003u);
        args->allocations += allocations - before;
        counting = 0;
        args->ops += (unsigned long long)b->ops_per_sample;
        args->ns_per_op[s] = (double)elapsed / b->ops_per_sample;
        if (b->needs_flush) spoor_flush(0);
    }
    return NULL;
}

static void set_sampling(uint32_t mode, uint64_t every_n) {
    spoor_sampling s;
    memset(&s, 0, sizeof s);
    s.mode = mode;
    s.every_n = every_n;
    if (spoor_set_sampling(&s) != SPOOR_OK) {
        fprintf(stderr, "set_sampling: %s\n", spoor_error_detail());
        exit(1);
    }
}

static double baseline_median = 0;

static const char *ring_path = "private";

static void run_case(const bench_case *b, int threads) {
    int samples = b->samples;
    double *all = calloc((size_t)(samples * threads), sizeof(double));
    worker_args args[4];
    pthread_t ids[4];
    if (threads > 4) threads = 4;
    pthread_barrier_t barrier;
    pthread_barrier_init(&barrier, NULL, (unsigned)threads);
    for (int t = 0; t < threads; t++) {
        memset(&args[t], 0, sizeof args[t]);
        args[t].bench = b;
        args[t].ns_per_op = all + t * samples;
        args[t].barrier = threads > 1 ? &barrier : NULL;
        args[t].seed_parent = 0x100000000ull * (uint64_t)(t + 1);
        pthread_create(&ids[t], NULL, worker, &args[t]);
    }
    unsigned long long allocs = 0, ops = 0;
    for (int t = 0; t < threads; t++) {
        pthread_join(ids[t], NULL);
        allocs += args[t].allocations;
        ops += args[t].ops;
    }
    pthread_barrier_destroy(&barrier);
    int n = samples * threads;
    double p99 = percentile(all, n, 0.99);
    double median = percentile(all, n, 0.50);
    if (b->kind == OP_BASELINE && threads == 1) baseline_median = median;
    printf("{\"bench\":\"%s\",\"unit\":\"ns/op\",\"median\":%.3f,\"p99\":%.3f,\"threads\":%d,\"ring\":\"%s\","
           "\"samples\":%d,\"ops_per_sample\":%d,\"allocs_per_op\":%.6f,\"ratio_to_baseline\":%.3f",
           b->name, median, p99, threads, ring_path, n, b->ops_per_sample, ops ? (double)allocs / (double)ops : 0.0,
           baseline_median > 0 ? median / baseline_median : 1.0);
    if (b->target_ns > 0) printf(",\"target\":%.1f", b->target_ns);
    printf("}\n");
    fflush(stdout);
    free(all);
}

/* Loads the benchmark's partitioner: 64 placed keys on 17 partitions, partitions 0-3 keeping
 * half of their hashed keys and spilling the rest evenly, as a plan for a skewed exchange does. */
static void load_bench_partitioner(void) {
    char json[8192];
    size_t n = (size_t)snprintf(json, sizeof json,
        "{\"format\":\"spoor-partitioner\",\"version\":1,\"hash\":\"spoor-mix17\",\"partitions\":17,\"keys\":[");
    uint64_t state = 12345;
    for (int i = 0; i < 64; i++) {
        state = state * 6364136223846793005ULL + 1442695040888963407ULL;
        placed_keys[i] = state | 1;
        n += (size_t)snprintf(json + n, sizeof json - n, "%s{\"key_hash\":\"%016llx\",\"partition\":%d}",
                              i ? "," : "", (unsigned long long)placed_keys[i], i % 17);
    }
    n += (size_t)snprintf(json + n, sizeof json - n,
        "],\"keep\":[0.5,0.5,0.5,0.5,1,1,1,1,1,1,1,1,1,1,1,1,1],\"spill\":[0,0,0,0,1,1,1,1,1,1,1,1,1,1,1,1,1]}");
    if (spoor_partitioner_load(json, n, &bench_partitioner) != SPOOR_OK) {
        fprintf(stderr, "partitioner: %s\n", spoor_error_detail());
        exit(1);
    }
}

/* ---- drain throughput ---------------------------------------------------------------------- */

typedef struct fill_args {
    int reports;
    pthread_barrier_t *barrier;
} fill_args;

/* Realistic report contents for the drain: parents minted consecutively upstream, hashed keys
 * (8 random-looking bytes), a UDF start every ~120 ns and durations of 40-103 ns. */
static void *fill(void *raw) {
    fill_args *args = raw;
    uint64_t parent = 0x5f3a9c0000000000ull;
    uint64_t clock = spoor_now();
    for (int i = 0; i < args->reports; i++) {
        uint64_t out, key = (uint64_t)i * 2654435761u;
        uint64_t start = clock + (uint64_t)i * 120u;
        spoor_checkpoint1(parent + (uint64_t)i, op_map, spoor_hash_bytes(&key, sizeof key), start,
                          start + 40u + (key & 63u), &out);
    }
    pthread_barrier_wait(args->barrier);  /* filled */
    pthread_barrier_wait(args->barrier);  /* drained: keep the thread (and its ring) alive */
    return NULL;
}

/* Bytes of all files in a run directory. */
static unsigned long long directory_bytes(const char *path) {
    unsigned long long total = 0;
    DIR *dir = opendir(path);
    if (dir == NULL) return 0;
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL) {
        struct stat info;
        if (fstatat(dirfd(dir), entry->d_name, &info, 0) == 0 && S_ISREG(info.st_mode)) {
            total += (unsigned long long)info.st_size;
        }
    }
    closedir(dir);
    return total;
}

/* Between rounds (untimed): writes the finished run's log files to disk and drops them from the
 * page cache, then writes and deletes a 32 MiB scratch file in the log root.
 *
 * Why: the drain writes its log into page-cache pages the kernel allocates as the segment grows.
 * This VM (Firecracker; dmesg says "Free page reporting enabled", page_reporting_order 9) hands
 * memory that stays free for about two seconds back to the host in 2 MiB blocks, and the first
 * touch of such a page costs a host fault, which the guest sees as a slow copy: in perf, a run
 * with slow drain rounds had the collector in copy_folio_from_iter_atomic (the kernel's copy
 * into the page cache) for 12.7% of all samples, a run with fast ones for 0.7%, for the same
 * bytes. Which pages a round's log gets depends on what was freed before: the same drain
 * measured 11 to 32 M reports/s from one round to the next after the hot-path rows in the same
 * process, 30-35 M/s run alone. This step, with the drain rows in a process of their own
 * (scripts/bench), makes each round's log land on pages that were just in use; neither alone
 * was enough (with this step but in one process, one full run still measured 24.9 M/s for 4
 * rings). The figure is then the drain's own cost (encoding, CRC, writev into the page cache).
 * A long-running process that keeps writing its log pays such faults on this VM, not on a
 * machine without page reporting. */
static void settle_page_cache(const char *root, const char *run) {
    DIR *dir = opendir(run);
    if (dir != NULL) {
        struct dirent *entry;
        while ((entry = readdir(dir)) != NULL) {
            int fd = openat(dirfd(dir), entry->d_name, O_RDONLY);
            if (fd < 0) continue;
            fdatasync(fd);
            posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
            close(fd);
        }
        closedir(dir);
    }
    static char *scratch;
    const size_t bytes = 32u << 20;
    if (scratch == NULL) {
        scratch = malloc(bytes);
        if (scratch == NULL) return;
        memset(scratch, 0x5a, bytes);
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/scratch", root);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) return;
    for (size_t done = 0; done < bytes;) {
        ssize_t n = write(fd, scratch + done, bytes - done);
        if (n <= 0) break;
        done += (size_t)n;
    }
    close(fd);
    unlink(path);
}

/* Initialises the library for one round of the drain or saturation rows (exits on failure),
 * registers the "map" operator and copies the run directory into `run`. */
static void start_round(const spoor_config *cfg, char run[4096]) {
    if (spoor_init(cfg) != SPOOR_OK) {
        fprintf(stderr, "init: %s\n", spoor_error_detail());
        exit(1);
    }
    spoor_register_operator("map", 3, "bench.c", 7, &op_map);
    spoor_run_dir(run, 4096);
}

/* One round of the drain rows: the library started with rings that hold the whole round
 * (64 MiB each) and a collector thread that waits for spoor_flush (60 s interval), and
 * `threads` fill threads that each write `per_thread` reports and then wait at the barrier. */
typedef struct fill_round {
    char run[4096];
    pthread_barrier_t barrier;
    pthread_t ids[4];
    fill_args args;
    int threads;
} fill_round;

/* Starts a round and returns once its reports are in the rings. Every round starts with no
 * dirty pages from earlier rounds, so that the kernel's writeback throttling of this
 * benchmark's own backlog does not leak into the next round (untimed). */
static void fill_round_begin(fill_round *round, const char *dir, uint32_t sink, int threads, int per_thread) {
    spoor_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.log_dir = dir;
    cfg.flags = SPOOR_CONFIG_IGNORE_ENV;
    cfg.ring_slots = 1u << 20;
    cfg.max_threads = 4;
    cfg.flush_interval_ms = 60000;
    cfg.sampling.mode = SPOOR_SAMPLE_ALL;
    cfg.sink = sink;
    start_round(&cfg, round->run);
    sync();
    spoor_flush(0);
    round->threads = threads;
    pthread_barrier_init(&round->barrier, NULL, (unsigned)threads + 1);
    round->args = (fill_args){per_thread, &round->barrier};
    for (int t = 0; t < threads; t++) pthread_create(&round->ids[t], NULL, fill, &round->args);
    pthread_barrier_wait(&round->barrier);
}

/* Lets the fill threads exit and joins them (the library stays initialised). */
static void fill_round_release(fill_round *round) {
    pthread_barrier_wait(&round->barrier);
    for (int t = 0; t < round->threads; t++) pthread_join(round->ids[t], NULL);
    pthread_barrier_destroy(&round->barrier);
}

/* The same drain done by a collector process (`spoor collect --once`, docs/shm-layout.md "The
 * consumer lease"): the rings are filled as for drain_bench, then the collector process is
 * started; it asks for the rings, this process's collector thread hands them over (within a
 * clock period: it drains nothing itself, its interval being 60 s), and the collector drains
 * them into this run's log and prints the rate of its draining passes. Same rounds, sizes and
 * page-cache settling as drain_bench. */
static void collector_drain_bench(const char *dir, int threads, const char *cli) {
    int rounds = quick ? 3 : 9;
    int per_thread = (1 << 20) / threads - 1024;
    double rates[16];
    for (int r = 0; r < rounds; r++) {
        fill_round round;
        fill_round_begin(&round, dir, SPOOR_SINK_LOG, threads, per_thread);
        char prefix[64];
        snprintf(prefix, sizeof prefix, "spoor.%d.", (int)getpid());
        int out[2];
        if (pipe(out) != 0) exit(1);
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_adddup2(&actions, out[1], 1);
        posix_spawn_file_actions_addclose(&actions, out[0]);
        char *argv[] = {(char *)cli, "collect", "--once", "--no-reconstruction", "--interval-ms", "0",
                        "--segment-prefix", prefix, NULL};
        extern char **environ;
        pid_t child;
        if (posix_spawn(&child, cli, &actions, NULL, argv, environ) != 0) {
            fprintf(stderr, "cannot start %s\n", cli);
            exit(1);
        }
        posix_spawn_file_actions_destroy(&actions);
        close(out[1]);
        char line[4096];
        size_t used = 0;
        ssize_t got;
        while (used < sizeof line - 1 && (got = read(out[0], line + used, sizeof line - 1 - used)) > 0) used += (size_t)got;
        line[used] = 0;
        close(out[0]);
        int status = 0;
        waitpid(child, &status, 0);
        const char *rate = strstr(line, "\"reports_per_second\":");
        const char *reports = strstr(line, "\"reports\":");
        unsigned long long drained = reports ? strtoull(reports + 10, NULL, 10) : 0;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || !rate || drained != (unsigned long long)per_thread * (unsigned long long)threads) {
            fprintf(stderr, "collector round: status=%d drained=%llu output=%s\n", status, drained, line);
            exit(1);
        }
        rates[r] = strtod(rate + 21, NULL);
        fill_round_release(&round);
        spoor_shutdown();
        settle_page_cache(dir, round.run);
    }
    printf("{\"bench\":\"collector_process_drain_to_log\",\"unit\":\"reports/s\",\"median\":%.0f,\"p99\":%.0f,\"rings\":%d,"
           "\"samples\":%d,\"reports_per_sample\":%d,\"target\":30000000}\n",
           percentile(rates, rounds, 0.5), percentile(rates, rounds, 0.01), threads, rounds, per_thread * threads);
    fflush(stdout);
}

static void drain_bench(const char *dir, int threads, uint32_t sink) {
    int rounds = quick ? 3 : 9;
    int per_thread = (1 << 20) / threads - 1024;
    double rates[16];
    unsigned long long log_bytes = 0, log_reports = 0;
    for (int r = 0; r < rounds; r++) {
        fill_round round;
        fill_round_begin(&round, dir, sink, threads, per_thread);
        spoor_stats before;
        spoor_get_stats(&before);
        uint64_t start = now_ns();
        int rc = spoor_flush(60000);
        uint64_t elapsed = now_ns() - start;
        spoor_stats after;
        spoor_get_stats(&after);
        fill_round_release(&round);
        uint64_t drained = after.drained - before.drained;
        if (rc != SPOOR_OK || after.dropped != 0 || drained != (uint64_t)per_thread * (uint64_t)threads) {
            fprintf(stderr, "drain round: rc=%d dropped=%llu drained=%llu\n", rc,
                    (unsigned long long)after.dropped, (unsigned long long)drained);
            exit(1);
        }
        rates[r] = (double)drained * 1e9 / (double)elapsed;
        spoor_shutdown();
        settle_page_cache(dir, round.run);
        if (sink == SPOOR_SINK_LOG) {
            log_bytes += directory_bytes(round.run);
            log_reports += drained;
        }
    }
    double median = percentile(rates, rounds, 0.5);
    double p01 = percentile(rates, rounds, 0.01);
    if (sink == SPOOR_SINK_LOG) {
        printf("{\"bench\":\"drain_to_log_sink\",\"unit\":\"reports/s\",\"median\":%.0f,\"p99\":%.0f,\"threads\":%d,"
               "\"samples\":%d,\"reports_per_sample\":%d,\"log_bytes_per_report\":%.1f,\"target\":30000000}\n",
               median, p01, threads, rounds, per_thread * threads,
               log_reports ? (double)log_bytes / (double)log_reports : 0.0);
    } else {
        printf("{\"bench\":\"drain_to_discard_sink\",\"unit\":\"reports/s\",\"median\":%.0f,\"p99\":%.0f,\"threads\":%d,"
               "\"samples\":%d,\"reports_per_sample\":%d}\n",
               median, p01, threads, rounds, per_thread * threads);
    }
    fflush(stdout);
}

/* ---- a saturating producer ---------------------------------------------------------------- */

typedef struct saturate_args {
    uint64_t reports;
    uint64_t dropped;
    pthread_barrier_t *barrier;
} saturate_args;

/* Writes checkpoints back to back, as fast as the thread can, counting SPOOR_DROPPED. */
static void *saturate(void *raw) {
    saturate_args *args = raw;
    uint64_t parent = 0x7a3c000000000000ull, out;
    pthread_barrier_wait(args->barrier);
    for (uint64_t i = 0; i < args->reports; i++) {
        uint64_t start = spoor_now();
        if (spoor_checkpoint1(parent + i, op_map, i * 0x9e3779b97f4a7c15ull, start, start + 50, &out) == SPOOR_DROPPED) {
            args->dropped++;
        }
    }
    return NULL;
}

static double cpu_seconds(void) {
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    return (double)usage.ru_utime.tv_sec + (double)usage.ru_stime.tv_sec +
           ((double)usage.ru_utime.tv_usec + (double)usage.ru_stime.tv_usec) / 1e6;
}

/* 4 threads x `per_thread` checkpoints at 100% sampling into the log, under one full-ring
 * policy, ring size and collector period: the share of reports lost, the wall and CPU time, and
 * the rate that reached the log. Rounds alternate with the other configurations (the caller
 * interleaves them), and each round starts with no dirty pages (sync, untimed). */
static void saturate_round(const char *dir, uint32_t policy, uint32_t ring_slots, uint32_t flush_ms,
                           uint64_t per_thread, double *lost_share, double *seconds, double *cpu, double *logged_rate) {
    spoor_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.log_dir = dir;
    cfg.flags = SPOOR_CONFIG_IGNORE_ENV;
    cfg.ring_slots = ring_slots;
    cfg.flush_interval_ms = flush_ms;
    cfg.full_policy = policy;
    cfg.block_timeout_ms = 60000;
    cfg.sampling.mode = SPOOR_SAMPLE_ALL;
    char run[4096];
    start_round(&cfg, run);
    sync();
    pthread_barrier_t barrier;
    pthread_barrier_init(&barrier, NULL, 5);
    pthread_t ids[4];
    saturate_args args[4];
    for (int t = 0; t < 4; t++) {
        args[t] = (saturate_args){per_thread, 0, &barrier};
        pthread_create(&ids[t], NULL, saturate, &args[t]);
    }
    double cpu_before = cpu_seconds();
    uint64_t start = now_ns();
    pthread_barrier_wait(&barrier);
    for (int t = 0; t < 4; t++) pthread_join(ids[t], NULL);
    int rc = spoor_flush(60000);
    uint64_t elapsed = now_ns() - start;
    double cpu_after = cpu_seconds();
    spoor_stats stats;
    spoor_get_stats(&stats);
    spoor_shutdown();
    settle_page_cache(dir, run);
    uint64_t dropped = 0;
    for (int t = 0; t < 4; t++) dropped += args[t].dropped;
    if (rc != SPOOR_OK || stats.written != 4 * per_thread || stats.drained != stats.committed ||
        (policy != SPOOR_FULL_OVERWRITE && stats.dropped != dropped)) {
        fprintf(stderr, "saturate round: rc=%d written=%llu dropped=%llu (seen %llu)\n", rc,
                (unsigned long long)stats.written, (unsigned long long)stats.dropped, (unsigned long long)dropped);
        exit(1);
    }
    *lost_share = (double)stats.dropped / (double)stats.written;
    *seconds = (double)elapsed / 1e9;
    *cpu = cpu_after - cpu_before;
    *logged_rate = (double)stats.drained * 1e9 / (double)elapsed;
}

static void saturate_bench(const char *dir) {
    typedef struct {
        const char *policy_name;
        uint32_t policy, ring_slots, flush_ms;
    } config;
    const config configs[] = {
        {"drop", SPOOR_FULL_DROP, 0, 0},           /* the defaults: 16384 slots, 10 ms */
        {"drop", SPOOR_FULL_DROP, 0, 1},
        {"drop", SPOOR_FULL_DROP, 1u << 16, 0},
        {"drop", SPOOR_FULL_DROP, 1u << 18, 0},
        {"drop", SPOOR_FULL_DROP, 1u << 18, 1},
        {"block", SPOOR_FULL_BLOCK, 0, 0},
        {"overwrite", SPOOR_FULL_OVERWRITE, 0, 0},
    };
    enum { n_configs = sizeof configs / sizeof configs[0] };
    int rounds = quick ? 1 : 3;
    uint64_t per_thread = quick ? 2500000 : 10000000;
    double lost[n_configs][3], secs[n_configs][3], cpus[n_configs][3], rates[n_configs][3];
    for (int r = 0; r < rounds; r++) {
        for (int c = 0; c < n_configs; c++) {
            saturate_round(dir, configs[c].policy, configs[c].ring_slots, configs[c].flush_ms, per_thread,
                           &lost[c][r], &secs[c][r], &cpus[c][r], &rates[c][r]);
        }
    }
    for (int c = 0; c < n_configs; c++) {
        printf("{\"bench\":\"saturating_producer\",\"unit\":\"lost share\",\"median\":%.4f,\"min\":%.4f,\"max\":%.4f,"
               "\"threads\":4,\"reports_per_thread\":%llu,\"policy\":\"%s\",\"ring_slots\":%u,\"flush_ms\":%u,"
               "\"seconds\":%.3f,\"cpu_seconds\":%.3f,\"logged_reports_per_s\":%.0f,\"samples\":%d}\n",
               percentile(lost[c], rounds, 0.5), percentile(lost[c], rounds, 0.0), percentile(lost[c], rounds, 1.0),
               (unsigned long long)per_thread, configs[c].policy_name,
               configs[c].ring_slots ? configs[c].ring_slots : 16384u, configs[c].flush_ms ? configs[c].flush_ms : 10u,
               percentile(secs[c], rounds, 0.5), percentile(cpus[c], rounds, 0.5), percentile(rates[c], rounds, 0.5), rounds);
        fflush(stdout);
    }
}

int main(int argc, char **argv) {
    int drain_only = 0, saturate_only = 0, hot_only = 0;
    const char *collector_cli = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) quick = 1;
        if (strcmp(argv[i], "--hot") == 0) hot_only = 1;
        if (strcmp(argv[i], "--drain") == 0) drain_only = 1;
        if (strcmp(argv[i], "--saturate") == 0) saturate_only = 1;
        if (strcmp(argv[i], "--collector") == 0 && i + 1 < argc) {
            collector_cli = argv[++i];
            drain_only = 1;
        }
    }
    char dir[] = "/tmp/spoor-bench-XXXXXX";
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    attachment[0].key = "udf";
    attachment[0].key_len = 3;
    attachment[0].value = attachment_value;
    attachment[0].value_len = 26; /* encoded: 3-byte pair header + 3 + 26 = 32 bytes */

    if (drain_only) goto drains;
    if (saturate_only) goto saturation;
    spoor_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.log_dir = dir;
    cfg.flags = SPOOR_CONFIG_IGNORE_ENV;
    cfg.ring_slots = 1u << 16; /* 4 MiB per thread: a sample's reports fit */
    cfg.sampling.mode = SPOOR_SAMPLE_OFF;
    if (spoor_init(&cfg) != SPOOR_OK) {
        fprintf(stderr, "init: %s\n", spoor_error_detail());
        return 1;
    }
    spoor_register_operator("source", 6, "bench.c", 7, &op_source);
    spoor_register_operator("map", 3, "bench.c", 7, &op_map);

    int cheap_samples = quick ? 20 : 200;
    int write_samples = quick ? 20 : 300;
    bench_case cases[] = {
        {"baseline_relaxed_atomic_increment", OP_BASELINE, 100000, cheap_samples, 0, 0},
        {"untracked_checkpoint", OP_UNTRACKED, 100000, cheap_samples, 0, 1.0},
        {"unsampled_entry", OP_UNSAMPLED_ENTRY, 100000, cheap_samples, 0, 3.0},
        {"sampled_entry", OP_SAMPLED_ENTRY, 4096, write_samples, 1, 0},
        {"checkpoint_1_parent", OP_CHECKPOINT1, 4096, write_samples, 1, 10.0},
        {"checkpoint_4_parents_32B_attachment", OP_CHECKPOINT4_ATTACH, 4096, write_samples, 1, 25.0},
    };
    /* The partitioner's per-record call, beside the plain hash partition computed inline. */
    load_bench_partitioner();
    bench_case partition_cases[] = {
        {"hash_partition_inline", OP_HASH_PARTITION, 100000, cheap_samples, 0, 0},
        {"partitioner_hashed_key", OP_PARTITION_HASHED, 100000, cheap_samples, 0, 0},
        {"partitioner_placed_key", OP_PARTITION_PLACED, 100000, cheap_samples, 0, 0},
    };
    for (int threads = 1; threads <= 2; threads++) {
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            const bench_case *b = &cases[i];
            if (b->kind == OP_UNSAMPLED_ENTRY) set_sampling(SPOOR_SAMPLE_EVERY_N, 1ull << 40);
            else if (b->kind == OP_SAMPLED_ENTRY) set_sampling(SPOOR_SAMPLE_ALL, 0);
            else set_sampling(SPOOR_SAMPLE_OFF, 0);
            run_case(b, threads);
        }
    }
    for (size_t i = 0; i < sizeof partition_cases / sizeof partition_cases[0]; i++) run_case(&partition_cases[i], 1);
    spoor_partitioner_free(bench_partitioner);
    spoor_stats stats;
    spoor_get_stats(&stats);
    spoor_shutdown();
    if (stats.dropped != 0) {
        fprintf(stderr, "warning: %llu reports dropped during the hot-path runs\n", (unsigned long long)stats.dropped);
    }

    /* The shared-ring path: one private ring, held by this thread, and one shared ring
     * (SPOOR_SHARED_RINGS=1), so that 1, 2 and 4 workers all write into the same shared ring. */
    setenv("SPOOR_SHARED_RINGS", "1", 1);
    memset(&cfg, 0, sizeof cfg);
    cfg.log_dir = dir;
    cfg.ring_slots = 1u << 16;
    cfg.max_threads = 1;
    cfg.sampling.mode = SPOOR_SAMPLE_OFF;
    if (spoor_init(&cfg) != SPOOR_OK) {
        fprintf(stderr, "init (shared rings): %s\n", spoor_error_detail());
        return 1;
    }
    unsetenv("SPOOR_SHARED_RINGS");
    spoor_register_operator("source", 6, "bench.c", 7, &op_source);
    spoor_register_operator("map", 3, "bench.c", 7, &op_map);
    uint64_t holder = 0;
    spoor_checkpoint1(1, op_map, 0, 0, 1, &holder); /* this thread takes the one private ring */
    ring_path = "shared";
    for (int threads = 1; threads <= 4; threads *= 2) {
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            const bench_case *b = &cases[i];
            if (b->kind != OP_CHECKPOINT1 && b->kind != OP_CHECKPOINT4_ATTACH && b->kind != OP_SAMPLED_ENTRY) continue;
            set_sampling(b->kind == OP_SAMPLED_ENTRY ? SPOOR_SAMPLE_ALL : SPOOR_SAMPLE_OFF, 0);
            run_case(b, threads);
        }
    }
    spoor_get_stats(&stats);
    spoor_shutdown();
    if (stats.dropped != 0) {
        fprintf(stderr, "warning: %llu reports dropped during the shared-ring runs\n", (unsigned long long)stats.dropped);
    }
    /* The hot-path runs above wrote their reports to the log too: let that backlog reach the
     * disk before measuring the drain (untimed). */
    sync();
    if (hot_only) goto done;
drains:
    if (collector_cli) {
        /* The in-process collector and the collector process, ring count by ring count. */
        for (int rings = 1; rings <= 4; rings *= 2) {
            drain_bench(dir, rings, SPOOR_SINK_LOG);
            collector_drain_bench(dir, rings, collector_cli);
        }
        goto done;
    }
    drain_bench(dir, 1, SPOOR_SINK_LOG);
    drain_bench(dir, 2, SPOOR_SINK_LOG);
    drain_bench(dir, 4, SPOOR_SINK_LOG);
    drain_bench(dir, 1, SPOOR_SINK_NONE);
    if (drain_only) goto done;
saturation:
    saturate_bench(dir);
done:;
    char command[256];
    snprintf(command, sizeof command, "rm -rf %s", dir);
    if (system(command) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return (int)(sink_word & 0); /* keep sink_word alive */
}
