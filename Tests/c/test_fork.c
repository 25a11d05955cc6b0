/*
 * test_fork.c - processes: a forked child starts uninitialised and never writes into its
 * parent's rings, may start a run of its own, and a dead process's segment is recovered with
 * `spoor recover`.
 *
 * Children report their checks to the parent through a pipe and exit with a status the parent
 * checks with waitpid. alarm() in each child is a watchdog against a hang (a failure, not a
 * way to wait).
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "spoor.h"
#include "util.h"

#define KEY_PARENT_BEFORE 0x0000000000b0f0e1ULL
#define KEY_PARENT_AFTER 0x00000000a17e0001ULL
#define KEY_PARENT_BG 0x00000000b6b6b6b6ULL
#define KEY_CHILD 0x00000000c41d0001ULL     /* the child's calls into the parent's run */
#define KEY_CHILD_OWN 0x00000000c41d0002ULL /* the child's own run */
#define KEY_RECOVER 0x000000000dead001ULL

/* In a child: the pass/fail counts since `passed0`/`failed0` go to the parent through `fd`, then
 * the child exits without running atexit handlers (the parent's, inherited, must not run). */
static void child_finish(int fd, unsigned long passed0, unsigned long failed0) {
    unsigned long counts[2] = {check_passed - passed0, check_failed - failed0};
    if (write(fd, counts, sizeof counts) != (ssize_t)sizeof counts) _exit(3);
    fflush(NULL);
    _exit(counts[1] == 0 ? 0 : 1);
}

/* In the parent: adds the child's counts and checks its exit status. */
static void reap_child(pid_t child, int fd) {
    unsigned long counts[2] = {0, 0};
    ssize_t got = read(fd, counts, sizeof counts);
    int status = -1;
    CHECK_EQ(waitpid(child, &status, 0), child);
    if (!CHECK(got == (ssize_t)sizeof counts)) fprintf(stderr, "    child sent no results (status %d)\n", status);
    __atomic_fetch_add(&check_passed, counts[0], __ATOMIC_RELAXED);
    __atomic_fetch_add(&check_failed, counts[1], __ATOMIC_RELAXED);
    if (!CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
        fprintf(stderr, "    child status: %s %d\n", WIFSIGNALED(status) ? "signal" : "exit",
                WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
    }
}

/* The child's side: every call that would write into the parent's run fails; then a run of its
 * own works. `parent_ids` are ids minted by the parent. */
static void child_body(const uint64_t parent_ids[2], uint32_t parent_op, const char *own_dir) {
    uint64_t id = 99;
    CHECK_EQ(spoor_checkpoint1(parent_ids[0], parent_op, KEY_CHILD, 0, 0, &id), SPOOR_E_NOT_INITIALIZED);
    CHECK_EQ(id, 0);
    id = 99;
    spoor_report_info info = {.op = parent_op, .key_hash = KEY_CHILD, .fanout = 3};
    CHECK_EQ(spoor_checkpoint(parent_ids, 2, &info, &id), SPOOR_E_NOT_INITIALIZED);
    id = 99;
    CHECK_EQ(spoor_entry(parent_op, KEY_CHILD, &id), SPOOR_E_NOT_INITIALIZED);
    CHECK_EQ(id, 0);
    spoor_attr attr = {"who", 3, "child", 5};
    CHECK_EQ(spoor_entry_ex(parent_op, KEY_CHILD, &attr, 1, &id), SPOOR_E_NOT_INITIALIZED);
    CHECK_EQ(spoor_poke(parent_ids[0], parent_op, SPOOR_EVENT_EXIT, 0), SPOOR_E_NOT_INITIALIZED);
    spoor_fold fold = SPOOR_FOLD_INIT;
    for (int i = 0; i < 10; i++) spoor_fold_add(&fold, parent_ids[i % 2]);
    info.fanout = 0;
    CHECK_EQ(spoor_fold_finish(&fold, &info, &id), SPOOR_E_NOT_INITIALIZED);
    CHECK_EQ(fold.count, 0);
    char buf[4096];
    spoor_stats stats;
    spoor_sampling sampling = {.mode = SPOOR_SAMPLE_ALL};
    uint32_t op = 0;
    CHECK_EQ(spoor_flush(0), SPOOR_E_NOT_INITIALIZED);
    CHECK_EQ(spoor_get_stats(&stats), SPOOR_E_NOT_INITIALIZED);
    CHECK_EQ(spoor_get_thread_stats(&stats), SPOOR_E_NOT_INITIALIZED);
    CHECK_EQ(spoor_run_dir(buf, sizeof buf), SPOOR_E_NOT_INITIALIZED);
    CHECK_EQ(spoor_shm_name(buf, sizeof buf), SPOOR_E_NOT_INITIALIZED);
    CHECK_EQ(spoor_set_sampling(&sampling), SPOOR_E_NOT_INITIALIZED);
    CHECK_EQ(spoor_get_sampling(&sampling), SPOOR_E_NOT_INITIALIZED);
    CHECK_EQ(spoor_register_operator("child_op", 8, NULL, 0, &op), SPOOR_E_NOT_INITIALIZED);
    CHECK_EQ(spoor_shutdown(), SPOOR_E_NOT_INITIALIZED);
    /* Untracked records are fine as everywhere. */
    CHECK_EQ(spoor_checkpoint1(0, parent_op, KEY_CHILD, 0, 0, &id), SPOOR_OK);
    CHECK_EQ(id, 0);

    /* A run of its own: its own log directory and the default shm name (with its own pid). */
    spoor_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.flags = SPOOR_CONFIG_IGNORE_ENV;
    cfg.log_dir = own_dir;
    cfg.sampling.mode = SPOOR_SAMPLE_ALL;
    if (!CHECK_EQ(spoor_init(&cfg), SPOOR_OK)) return;
    char prefix[64];
    snprintf(prefix, sizeof prefix, "/spoor.%ld.", (long)getpid());
    CHECK(spoor_shm_name(buf, sizeof buf) > 0 && strncmp(buf, prefix, strlen(prefix)) == 0);
    CHECK_EQ(spoor_register_operator("child_op", 8, NULL, 0, &op), SPOOR_OK);
    uint64_t own = 0, cross = 0;
    CHECK_EQ(spoor_entry(op, KEY_CHILD_OWN, &own), SPOOR_OK);
    CHECK(own != 0);
    /* Lineage across processes: the parent's id as a parent in the child's run. */
    CHECK_EQ(spoor_checkpoint1(parent_ids[1], op, KEY_CHILD_OWN, 0, 0, &cross), SPOOR_OK);
    CHECK(cross != 0);
    CHECK_EQ(spoor_flush(0), SPOOR_OK);
    CHECK_EQ(spoor_get_stats(&stats), SPOOR_OK);
    CHECK_EQ(stats.written, 2);
    CHECK_EQ(stats.drained, 2);
    CHECK_EQ(spoor_shutdown(), SPOOR_OK);
}

/* A parent thread that keeps using the library while the parent forks: tracing (at most
 * BG_MAX_REPORTS reports, to keep the log small), reading stats under the library's lock, and
 * flushing. */
#define BG_MAX_REPORTS 20000
struct background {
    uint64_t root;
    uint32_t op;
    int stop;
    uint64_t calls;
    int errors;
};

static void *background_tracer(void *arg) {
    struct background *bg = arg;
    for (uint64_t i = 0; !__atomic_load_n(&bg->stop, __ATOMIC_ACQUIRE); i++) {
        if (bg->calls < BG_MAX_REPORTS) {
            uint64_t id = 0;
            int rc = spoor_checkpoint1(bg->root, bg->op, KEY_PARENT_BG, 0, 0, &id);
            if (rc != SPOOR_OK && rc != SPOOR_DROPPED) bg->errors++;
            bg->calls++;
        }
        spoor_stats stats;
        if (spoor_get_stats(&stats) != SPOOR_OK) bg->errors++;
        if (i % 64 == 0 && spoor_flush(0) != SPOOR_OK) bg->errors++;
    }
    return NULL;
}

void test_fork(void) {
    char shm[64], run_dir[4096], hex[48];
    spoor_config cfg;
    config_default(&cfg, shm);
    if (!CHECK_EQ(spoor_init(&cfg), SPOOR_OK)) return;
    uint32_t op = 0;
    CHECK_EQ(spoor_register_operator("parent_op", 9, "test_fork.c", 11, &op), SPOOR_OK);
    uint64_t ids[2] = {0, 0};
    CHECK_EQ(spoor_entry(op, KEY_PARENT_BEFORE, &ids[0]), SPOOR_OK);
    CHECK_EQ(spoor_checkpoint1(ids[0], op, KEY_PARENT_BEFORE, 0, 0, &ids[1]), SPOOR_OK);
    CHECK_EQ(spoor_flush(0), SPOOR_OK);
    current_run_dir(run_dir);

    /* A plain fork. */
    const char *child_dir = tmp_dir();
    int fds[2];
    if (!CHECK(pipe(fds) == 0)) return;
    unsigned long passed0 = check_passed, failed0 = check_failed;
    fflush(NULL);
    pid_t child = fork();
    if (child == 0) {
        close(fds[0]);
        alarm(120);
        child_body(ids, op, child_dir);
        child_finish(fds[1], passed0, failed0);
    }
    close(fds[1]);
    CHECK(child > 0);
    if (child > 0) reap_child(child, fds[0]);
    close(fds[0]);

    /* Forks while another parent thread is tracing. */
    struct background bg = {ids[1], op, 0, 0, 0};
    pthread_t thread;
    CHECK_EQ(pthread_create(&thread, NULL, background_tracer, &bg), 0);
    const char *child_dirs[3];
    for (int k = 0; k < 3; k++) {
        child_dirs[k] = tmp_dir();
        if (!CHECK(pipe(fds) == 0)) break;
        passed0 = check_passed;
        failed0 = check_failed;
        fflush(NULL);
        child = fork();
        if (child == 0) {
            close(fds[0]);
            alarm(120);
            child_body(ids, op, child_dirs[k]);
            child_finish(fds[1], passed0, failed0);
        }
        close(fds[1]);
        CHECK(child > 0);
        if (child > 0) reap_child(child, fds[0]);
        close(fds[0]);
    }
    __atomic_store_n(&bg.stop, 1, __ATOMIC_RELEASE);
    pthread_join(thread, NULL);
    CHECK_EQ(bg.errors, 0);

    /* The parent's run is unaffected and holds none of the children's reports. */
    uint64_t after = 0;
    CHECK_EQ(spoor_checkpoint1(ids[1], op, KEY_PARENT_AFTER, 0, 0, &after), SPOOR_OK);
    CHECK(after != 0);
    CHECK_EQ(spoor_flush(0), SPOOR_OK);
    spoor_stats stats;
    CHECK_EQ(spoor_get_stats(&stats), SPOOR_OK);
    CHECK_EQ(stats.written, 3 + bg.calls);
    CHECK_EQ(stats.drained, stats.committed);
    CHECK_EQ(spoor_shutdown(), SPOOR_OK);

    char *dump = dump_dir(run_dir);
    CHECK_EQ(count_lines_with(dump, json_hex(hex, "key_hash", KEY_PARENT_AFTER)), 1);
    CHECK_EQ(count_lines_with(dump, json_hex(hex, "key_hash", KEY_PARENT_BEFORE)), 2);
    CHECK_EQ(count_lines_with(dump, json_hex(hex, "key_hash", KEY_PARENT_BG)), stats.committed - 3);
    CHECK_EQ(count_lines_with(dump, json_hex(hex, "key_hash", KEY_CHILD)), 0);
    CHECK_EQ(count_lines_with(dump, json_hex(hex, "key_hash", KEY_CHILD_OWN)), 0);
    CHECK_EQ(count_lines_with(dump, "child_op"), 0);
    free(dump);

    /* Each child's own run holds exactly its two reports, the second with the parent's id. */
    const char *all_dirs[4] = {child_dir, child_dirs[0], child_dirs[1], child_dirs[2]};
    for (int k = 0; k < 4; k++) {
        char *own = dump_dir(all_dirs[k]);
        CHECK_EQ(count_lines_with(own, "\"kind\":"), 2);
        CHECK_EQ(count_lines_with(own, json_hex(hex, "key_hash", KEY_CHILD_OWN)), 2);
        CHECK_EQ(count_lines_with(own, "\"operator\":\"child_op\""), 2);
        char parent_field[64];
        snprintf(parent_field, sizeof parent_field, "\"parents\":[\"%016" PRIx64 "\"]", ids[1]);
        CHECK_EQ(count_lines_with(own, parent_field), 1);
        CHECK_EQ(count_lines_with(own, json_hex(hex, "key_hash", KEY_CHILD)), 0);
        free(own);
    }
}

/* ============================================================================================
 * Recovery of a dead process's segment
 * ========================================================================================== */

void test_recover(void) {
    char shm[64], hex[48];
    spoor_config cfg;
    config_default(&cfg, shm);
    cfg.flush_interval_ms = 60000; /* nothing reaches the log unless asked */

    /* A live owner's segment is refused. */
    if (CHECK_EQ(spoor_init(&cfg), SPOOR_OK)) {
        int status = 0;
        char *out = cli_run("recover", cfg.shm_name, &status);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) != 0);
        CHECK(shm_exists(cfg.shm_name));
        free(out);
        uint64_t id = 0;
        CHECK_EQ(spoor_entry(1, 1, &id), SPOOR_OK);
        CHECK(id != 0);
        CHECK_EQ(spoor_shutdown(), SPOOR_OK);
    }

    /* A child traces, then dies without spoor_shutdown or a flush. */
    config_default(&cfg, shm);
    cfg.flush_interval_ms = 60000;
    int fds[2];
    if (!CHECK(pipe(fds) == 0)) return;
    fflush(NULL);
    pid_t child = fork();
    if (child == 0) {
        close(fds[0]);
        alarm(120);
        int rc = spoor_init(&cfg);
        uint32_t op = 0;
        rc |= spoor_register_operator("recovered_op", 12, NULL, 0, &op);
        for (int i = 0; i < 10; i++) {
            uint64_t id = 0, out = 0;
            rc |= spoor_entry(op, KEY_RECOVER, &id);
            rc |= spoor_checkpoint1(id, op, KEY_RECOVER, 0, 0, &out);
        }
        char dir[4096];
        int len = spoor_run_dir(dir, sizeof dir);
        if (rc != 0 || len <= 0) _exit(1);
        if (write(fds[1], dir, (size_t)len + 1) != len + 1) _exit(2);
        _exit(0); /* dies: no atexit handler, no shutdown */
    }
    close(fds[1]);
    char dir[4096] = {0};
    ssize_t got = read(fds[0], dir, sizeof dir - 1);
    close(fds[0]);
    int status = -1;
    CHECK_EQ(waitpid(child, &status, 0), child);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    if (!CHECK(got > 0 && dir[0] == '/')) return;
    CHECK(shm_exists(cfg.shm_name));

    char *out = cli_run("recover", cfg.shm_name, &status);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    /* {"run_directory":..., "recovered":N, ...}: N reports came from the rings (the rest, if
     * any, the collector had written before the child died); the dump below checks that all 20
     * are in the log exactly once. */
    const char *r = strstr(out, "\"recovered\":");
    if (CHECK(r != NULL)) {
        unsigned long recovered = strtoul(r + 12, NULL, 10);
        if (!CHECK(recovered > 0 && recovered <= 20)) fprintf(stderr, "    %s\n", out);
    }
    CHECK(strstr(out, "\"damaged_rings\":[]") != NULL);
    free(out);
    CHECK(!shm_exists(cfg.shm_name));

    char *dump = dump_dir(dir);
    CHECK_EQ(count_lines_with(dump, json_hex(hex, "key_hash", KEY_RECOVER)), 20);
    CHECK_EQ(count_lines_with(dump, "\"operator\":\"recovered_op\""), 20);
    free(dump);

    /* Recovering again: the name is gone. */
    out = cli_run("recover", cfg.shm_name, &status);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) != 0);
    free(out);
}
