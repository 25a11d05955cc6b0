/*
 * test_trace.c - Spoor semantics with real data: lineage read back with `spoor dump`, stats
 * invariants, sampling strategies, id uniqueness, fan-out, full rings, folds, sinks, re-init.
 *
 * Synchronisation is by spoor_flush, pthread_join and barriers only; nothing sleeps and nothing
 * measures wall-clock time.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "check.h"
#include "spoor.h"
#include "util.h"

static uint64_t key_of(const char *text) { return spoor_hash_bytes(text, strlen(text)); }

static void check_invariants(const spoor_stats *s) {
    CHECK_EQ(s->written, s->committed + s->dropped);
    CHECK_EQ(s->drained, s->committed);
    CHECK_EQ(s->sink_errors, 0);
}

/* Registers an operator with this file and line as its call site. */
#define REGISTER(name, out) register_at((name), __FILE__, __LINE__, (out))
static int register_at(const char *name, const char *file, int line, uint32_t *out) {
    char site[256];
    int n = snprintf(site, sizeof site, "%s:%d", file, line);
    if (n < 0 || (size_t)n >= sizeof site) n = 0;
    return spoor_register_operator(name, strlen(name), site, (size_t)n, out);
}

/* ============================================================================================
 * A small traced topology, read back with `spoor dump` and `spoor stats`
 * ========================================================================================== */

void test_lineage_and_dump(void) {
    char shm[64], run_dir[4096], field[48], expect[512];
    spoor_config cfg;
    config_default(&cfg, shm);
    if (!CHECK_EQ(spoor_init(&cfg), SPOOR_OK)) return;

    uint32_t op_read = 0, op_parse = 0, op_join = 0, op_reduce = 0, op_sink = 0, op_long = 0;
    CHECK_EQ(REGISTER("read", &op_read), SPOOR_OK);
    CHECK_EQ(spoor_register_operator("parse!!!", 5, "parse.c:7", 9, &op_parse), SPOOR_OK);
    CHECK_EQ(REGISTER("join", &op_join), SPOOR_OK);
    CHECK_EQ(REGISTER("reduce", &op_reduce), SPOOR_OK);
    CHECK_EQ(REGISTER("sink", &op_sink), SPOOR_OK);
    /* A call site longer than SPOOR_MAX_NAME_LEN keeps its last bytes. */
    char long_site[400];
    for (int i = 0; i < 399; i++) long_site[i] = (char)('a' + i % 26);
    memcpy(long_site + 399 - 4, "TAIL", 4);
    long_site[399] = 0;
    CHECK_EQ(spoor_register_operator("longsite", 8, long_site, 399, &op_long), SPOOR_OK);
    /* Operator ids are distinct and >= 1. */
    uint32_t ops[] = {op_read, op_parse, op_join, op_reduce, op_sink, op_long};
    for (int i = 0; i < 6; i++) {
        CHECK(ops[i] >= 1);
        for (int j = 0; j < i; j++) CHECK(ops[i] != ops[j]);
    }

    spoor_set_partition(3);
    uint64_t e1 = 0, e2 = 0, c1 = 0, c2 = 0, j = 0, f = 0, r = 0, l = 0;
    CHECK_EQ(spoor_entry(op_read, key_of("line-1"), &e1), SPOOR_OK);
    static const unsigned char blob[3] = {0x00, 0xff, 0x10};
    spoor_attr entry_attrs[2] = {{"source", 6, "unit-test", 9}, {"blob", 4, blob, 3}};
    CHECK_EQ(spoor_entry_ex(op_read, key_of("line-2"), entry_attrs, 2, &e2), SPOOR_OK);
    CHECK(e1 != 0 && e2 != 0 && e1 != e2);

    /* UDF times measured by the caller. */
    uint64_t t0 = spoor_now();
    CHECK_EQ(spoor_checkpoint1(e1, op_parse, key_of("word"), t0, t0 + 1000, &c1), SPOOR_OK);
    spoor_set_partition(UINT32_MAX); /* none */
    CHECK_EQ(spoor_checkpoint1(e2, op_parse, 0, 0, 0, &c2), SPOOR_OK);
    CHECK(c1 != 0 && c2 != 0);

    /* A join of two tracked parents and an untracked one, with an attachment. */
    uint64_t parents[3] = {c1, 0, c2};
    spoor_attr join_attr = {"rule", 4, "inner", 5};
    spoor_report_info info;
    memset(&info, 0, sizeof info);
    info.op = op_join;
    info.key_hash = key_of("joined");
    info.start_ns = t0;
    info.end_ns = t0 + 5000;
    info.attrs = &join_attr;
    info.n_attrs = 1;
    CHECK_EQ(spoor_checkpoint(parents, 3, &info, &j), SPOOR_OK);
    CHECK(j != 0);

    /* Fan-out: 4 outputs of the same input, consecutive ids. */
    memset(&info, 0, sizeof info);
    info.op = op_parse;
    info.fanout = 4;
    CHECK_EQ(spoor_checkpoint(&j, 1, &info, &f), SPOOR_OK);
    CHECK(f != 0);

    /* A fold of more than SPOOR_FOLD_INLINE parents, built from two partial folds. */
    spoor_fold fold = SPOOR_FOLD_INIT, partial = SPOOR_FOLD_INIT;
    uint64_t fold_parents[9] = {f, f + 1, f + 2, f + 3, e1, e2, c1, c2, j};
    for (int i = 0; i < 8; i++) {
        CHECK_EQ(spoor_fold_add(&fold, fold_parents[i]), SPOOR_OK);
        CHECK_EQ(spoor_fold_add(&fold, 0), SPOOR_OK); /* untracked: not kept */
    }
    CHECK_EQ(spoor_fold_add(&partial, j), SPOOR_OK);
    CHECK_EQ(spoor_fold_merge(&fold, &partial), SPOOR_OK);
    CHECK_EQ(fold.count, 9);
    memset(&info, 0, sizeof info);
    info.op = op_reduce;
    info.key_hash = key_of("total");
    CHECK_EQ(spoor_fold_finish(&fold, &info, &r), SPOOR_OK);
    CHECK(r != 0);
    CHECK_EQ(fold.count, 0);
    CHECK(fold.heap == NULL);
    /* The fold can be reused after finish. */
    CHECK_EQ(spoor_fold_add(&fold, e1), SPOOR_OK);
    CHECK_EQ(spoor_fold_finish(&fold, NULL, &l), SPOOR_OK); /* info NULL: operator 0 */
    CHECK(l != 0);
    /* A fold the caller accumulated itself: zeros left out, flagged as a fold. */
    uint64_t accumulated[3] = {e1, 0, e2}, g = 0;
    CHECK_EQ(spoor_fold_report(accumulated, 3, &info, &g), SPOOR_OK);
    CHECK(g != 0);

    /* Pokes. */
    CHECK_EQ(spoor_poke(r, op_sink, SPOOR_EVENT_EXIT, 0), SPOOR_OK);
    CHECK_EQ(spoor_poke(e1, op_sink, SPOOR_EVENT_CUSTOM + 7, 12345), SPOOR_OK);
    CHECK_EQ(spoor_poke(c2, op_long, SPOOR_EVENT_FILTERED, 0), SPOOR_OK);

    /* 2 entries, 2 one-parent checkpoints, join, fan-out, 3 folds, 3 pokes. */
    const uint64_t reports = 12;
    CHECK_EQ(spoor_flush(0), SPOOR_OK);
    spoor_stats stats, mine;
    CHECK_EQ(spoor_get_stats(&stats), SPOOR_OK);
    check_invariants(&stats);
    CHECK_EQ(stats.written, reports);
    CHECK_EQ(stats.dropped, 0);
    CHECK_EQ(stats.sampled, 2);
    CHECK(stats.batches >= 1);
    CHECK_EQ(stats.threads, 1);
    CHECK_EQ(spoor_get_thread_stats(&mine), SPOOR_OK);
    CHECK_EQ(mine.written, reports);
    CHECK_EQ(mine.committed, reports);
    CHECK_EQ(mine.drained, reports);
    CHECK_EQ(mine.sampled, 2);
    CHECK_EQ(mine.threads, 1);

    current_run_dir(run_dir);
    CHECK_EQ(spoor_shutdown(), SPOOR_OK);

    char *dump = dump_dir(run_dir);
    CHECK_EQ(count_lines_with(dump, "\"kind\":"), reports);
    char *line;

    /* Entry 1: operator, call site, key, partition. */
    line = report_line(dump, "entry", e1);
    if (CHECK(line != NULL)) {
        CHECK(strstr(line, "\"operator\":\"read\"") != NULL);
        snprintf(expect, sizeof expect, "\"call_site\":\"%s:", __FILE__);
        CHECK(strstr(line, expect) != NULL);
        CHECK(strstr(line, json_hex(field, "key_hash", key_of("line-1"))) != NULL);
        CHECK(strstr(line, "\"parents\":[]") != NULL);
        CHECK(strstr(line, "\"partition\":3") != NULL);
        CHECK(strstr(line, "\"fold\":false") != NULL);
        CHECK(strstr(line, "\"attachment\":[]") != NULL);
        CHECK(strstr(line, "\"end_utc\":\"20") != NULL); /* the wall-clock time of the entry */
    }
    free(line);
    /* Entry 2: text and binary attachment values. */
    line = report_line(dump, "entry", e2);
    if (CHECK(line != NULL)) {
        CHECK(strstr(line, "\"attachment\":[{\"key\":\"source\",\"value\":\"unit-test\",\"encoding\":\"utf8\"},"
                           "{\"key\":\"blob\",\"value\":\"00ff10\",\"encoding\":\"hex\"}]") != NULL);
    }
    free(line);
    /* Checkpoint c1: parent, name cut to name_len, times. */
    line = report_line(dump, "checkpoint", c1);
    if (CHECK(line != NULL)) {
        snprintf(expect, sizeof expect, "\"parents\":[\"%016" PRIx64 "\"]", e1);
        CHECK(strstr(line, expect) != NULL);
        CHECK(strstr(line, "\"operator\":\"parse\",\"call_site\":\"parse.c:7\"") != NULL);
        snprintf(expect, sizeof expect, "\"start_ns\":%" PRIu64 ",\"start_utc\":\"20", t0);
        CHECK(strstr(line, expect) != NULL);
        snprintf(expect, sizeof expect, "\"end_ns\":%" PRIu64 ",\"end_utc\":\"20", t0 + 1000);
        CHECK(strstr(line, expect) != NULL);
        CHECK(strstr(line, "\"duration_ns\":1000,") != NULL);
        CHECK(strstr(line, "\"partition\":3") != NULL);
        CHECK(strstr(line, "\"fanout\":1") != NULL);
    }
    free(line);
    /* Checkpoint c2: no partition, the library's clock as end time. */
    line = report_line(dump, "checkpoint", c2);
    if (CHECK(line != NULL)) {
        CHECK(strstr(line, "\"partition\":null") != NULL);
        CHECK(strstr(line, "\"start_ns\":null,\"start_utc\":null,") != NULL); /* not measured */
        CHECK(strstr(line, "\"end_ns\":null") == NULL);
        CHECK(strstr(line, "\"duration_ns\":null,") != NULL);
        CHECK(strstr(line, "\"key_hash\":null,") != NULL);
    }
    free(line);
    /* Join: the untracked parent is left out. */
    line = report_line(dump, "checkpoint", j);
    if (CHECK(line != NULL)) {
        snprintf(expect, sizeof expect, "\"parents\":[\"%016" PRIx64 "\",\"%016" PRIx64 "\"]", c1, c2);
        CHECK(strstr(line, expect) != NULL);
        CHECK(strstr(line, "\"operator\":\"join\"") != NULL);
        CHECK(strstr(line, "\"attachment\":[{\"key\":\"rule\",\"value\":\"inner\",\"encoding\":\"utf8\"}]") != NULL);
        CHECK(strstr(line, "\"duration_ns\":5000") != NULL);
    }
    free(line);
    /* Fan-out. */
    line = report_line(dump, "checkpoint", f);
    if (CHECK(line != NULL)) {
        CHECK(strstr(line, "\"fanout\":4") != NULL);
        snprintf(expect, sizeof expect, "\"parents\":[\"%016" PRIx64 "\"]", j);
        CHECK(strstr(line, expect) != NULL);
    }
    free(line);
    /* The fold: flagged, all nine parents in order. */
    line = report_line(dump, "checkpoint", r);
    if (CHECK(line != NULL)) {
        CHECK(strstr(line, "\"fold\":true") != NULL);
        CHECK(strstr(line, "\"truncated\":false") != NULL);
        CHECK(strstr(line, "\"operator\":\"reduce\"") != NULL);
        CHECK(strstr(line, json_hex(field, "key_hash", key_of("total"))) != NULL);
        char all[400] = "\"parents\":[";
        for (int i = 0; i < 9; i++) {
            char one[24];
            snprintf(one, sizeof one, "%s\"%016" PRIx64 "\"", i ? "," : "", fold_parents[i]);
            strcat(all, one);
        }
        strcat(all, "]");
        CHECK(strstr(line, all) != NULL);
    }
    free(line);
    line = report_line(dump, "checkpoint", l);
    if (CHECK(line != NULL)) {
        CHECK(strstr(line, "\"fold\":true") != NULL);
        CHECK(strstr(line, "\"op\":0,") != NULL);
    }
    free(line);
    line = report_line(dump, "checkpoint", g);
    if (CHECK(line != NULL)) {
        CHECK(strstr(line, "\"fold\":true") != NULL);
        CHECK(strstr(line, "\"operator\":\"reduce\"") != NULL);
        snprintf(expect, sizeof expect, "\"parents\":[\"%016" PRIx64 "\",\"%016" PRIx64 "\"]", e1, e2);
        CHECK(strstr(line, expect) != NULL);
    }
    free(line);
    /* Pokes: event names, explicit timestamp, and the long call site's tail. */
    line = report_line(dump, "poke", r);
    if (CHECK(line != NULL)) {
        CHECK(strstr(line, "\"event\":\"exit\"") != NULL);
        CHECK(strstr(line, "\"operator\":\"sink\"") != NULL);
    }
    free(line);
    line = report_line(dump, "poke", e1);
    if (CHECK(line != NULL)) {
        CHECK(strstr(line, "\"event\":\"custom:1007\"") != NULL);
        CHECK(strstr(line, "\"end_ns\":12345") != NULL);
    }
    free(line);
    line = report_line(dump, "poke", c2);
    if (CHECK(line != NULL)) {
        CHECK(strstr(line, "\"event\":\"filtered\"") != NULL);
        snprintf(expect, sizeof expect, "\"call_site\":\"%.*s\"", (int)SPOOR_MAX_NAME_LEN,
                 long_site + 399 - SPOOR_MAX_NAME_LEN);
        CHECK(strstr(line, expect) != NULL);
    }
    free(line);
    free(dump);

    /* `spoor stats`: the counts per kind and the close record. */
    int status = 0;
    char *stats_out = cli_run("stats", run_dir, &status);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK(strstr(stats_out, "\"reports\":12,\"entries\":2,\"checkpoints\":7,\"pokes\":3") != NULL);
    CHECK(strstr(stats_out, "\"closed\":true,\"written\":12,\"committed\":12,\"dropped\":0") != NULL);
    CHECK(strstr(stats_out, "\"damaged_segments\":0") != NULL);
    CHECK(strstr(stats_out, "{\"op\":") != NULL && strstr(stats_out, "\"name\":\"reduce\"") != NULL);
    free(stats_out);
}

/* ============================================================================================
 * Untracked records and sampling
 * ========================================================================================== */

void test_untracked(void) {
    char shm[64];
    spoor_config cfg;
    config_default(&cfg, shm);
    if (!CHECK_EQ(spoor_init(&cfg), SPOOR_OK)) return;
    spoor_stats before, after;
    CHECK_EQ(spoor_get_stats(&before), SPOOR_OK);
    uint64_t id = 99;
    CHECK_EQ(spoor_checkpoint1(0, 1, 7, 0, 0, &id), SPOOR_OK);
    CHECK_EQ(id, 0);
    uint64_t zeros[5] = {0, 0, 0, 0, 0};
    spoor_report_info info = {.op = 1, .fanout = 10};
    id = 99;
    CHECK_EQ(spoor_checkpoint(zeros, 5, &info, &id), SPOOR_OK);
    CHECK_EQ(id, 0);
    CHECK_EQ(spoor_poke(0, 1, SPOOR_EVENT_EXIT, 0), SPOOR_OK);
    spoor_fold fold = SPOOR_FOLD_INIT;
    for (int i = 0; i < 20; i++) CHECK_EQ(spoor_fold_add(&fold, 0), SPOOR_OK);
    id = 99;
    CHECK_EQ(spoor_fold_finish(&fold, &info, &id), SPOOR_OK);
    CHECK_EQ(id, 0);
    /* A chain from an untracked record stays untracked. */
    uint64_t a = 0, b = 0;
    CHECK_EQ(spoor_checkpoint1(0, 1, 0, 0, 0, &a), SPOOR_OK);
    CHECK_EQ(spoor_checkpoint1(a, 1, 0, 0, 0, &b), SPOOR_OK);
    CHECK_EQ(b, 0);
    CHECK_EQ(spoor_flush(0), SPOOR_OK);
    CHECK_EQ(spoor_get_stats(&after), SPOOR_OK);
    CHECK_EQ(after.written, before.written);
    CHECK_EQ(after.written, 0);
    CHECK_EQ(spoor_shutdown(), SPOOR_OK);
}

void test_sampling_off(void) {
    char shm[64];
    spoor_config cfg;
    config_default(&cfg, shm);
    cfg.sampling.mode = SPOOR_SAMPLE_OFF;
    if (!CHECK_EQ(spoor_init(&cfg), SPOOR_OK)) return;
    int nonzero = 0, not_ok = 0;
    spoor_attr attr = {"k", 1, "v", 1};
    for (int i = 0; i < 1000; i++) {
        uint64_t id = 99, id2 = 99;
        not_ok += spoor_entry(1, (uint64_t)i, &id) != SPOOR_OK;
        not_ok += spoor_entry_ex(1, (uint64_t)i, &attr, 1, &id2) != SPOOR_OK;
        nonzero += (id != 0) + (id2 != 0);
    }
    CHECK_EQ(not_ok, 0);
    CHECK_EQ(nonzero, 0);
    spoor_stats stats;
    CHECK_EQ(spoor_flush(0), SPOOR_OK);
    CHECK_EQ(spoor_get_stats(&stats), SPOOR_OK);
    CHECK_EQ(stats.written, 0);
    CHECK_EQ(stats.sampled, 0);
    CHECK_EQ(spoor_get_thread_stats(&stats), SPOOR_OK);
    CHECK_EQ(stats.written, 0);
    CHECK_EQ(stats.threads, 0); /* never wrote: no ring */
    /* KEY_HASH with probability 0 and PROBABILITY 0 trace nothing either. */
    spoor_sampling zero_key = {.mode = SPOOR_SAMPLE_KEY_HASH, .probability = 0.0};
    spoor_sampling zero_p = {.mode = SPOOR_SAMPLE_PROBABILITY, .probability = 0.0};
    CHECK_EQ(spoor_set_sampling(&zero_key), SPOOR_OK);
    for (uint64_t i = 0; i < 500; i++) {
        uint64_t id = 0;
        spoor_entry(1, i * 0x9e3779b97f4a7c15ULL, &id);
        nonzero += id != 0;
    }
    CHECK_EQ(spoor_set_sampling(&zero_p), SPOOR_OK);
    for (uint64_t i = 0; i < 500; i++) {
        uint64_t id = 0;
        spoor_entry(1, i, &id);
        nonzero += id != 0;
    }
    CHECK_EQ(nonzero, 0);
    CHECK_EQ(spoor_shutdown(), SPOOR_OK);
}

struct every_n_worker {
    int nonzero;
    spoor_stats stats;
    int rc;
};

static void *every_n_thread(void *arg) {
    struct every_n_worker *w = arg;
    for (int i = 0; i < 1000; i++) {
        uint64_t id = 0;
        if (spoor_entry(1, (uint64_t)i, &id) != SPOOR_OK) w->rc = -1;
        w->nonzero += id != 0;
    }
    if (spoor_flush(0) != SPOOR_OK) w->rc = -2;
    if (spoor_get_thread_stats(&w->stats) != SPOOR_OK) w->rc = -3;
    return NULL;
}

void test_every_n(void) {
    char shm[64];
    spoor_config cfg;
    config_default(&cfg, shm);
    cfg.sampling.mode = SPOOR_SAMPLE_EVERY_N;
    cfg.sampling.every_n = 10;
    if (!CHECK_EQ(spoor_init(&cfg), SPOOR_OK)) return;
    struct every_n_worker workers[4];
    memset(workers, 0, sizeof workers);
    pthread_t threads[3];
    for (int i = 0; i < 3; i++) CHECK_EQ(pthread_create(&threads[i], NULL, every_n_thread, &workers[i + 1]), 0);
    every_n_thread(&workers[0]); /* the main thread too */
    for (int i = 0; i < 3; i++) pthread_join(threads[i], NULL);
    for (int i = 0; i < 4; i++) {
        CHECK_EQ(workers[i].rc, 0);
        CHECK_EQ(workers[i].nonzero, 100);
        CHECK_EQ(workers[i].stats.sampled, 100);
        CHECK_EQ(workers[i].stats.committed, 100);
        CHECK_EQ(workers[i].stats.written, 100);
        CHECK_EQ(workers[i].stats.drained, 100);
    }
    spoor_stats stats;
    CHECK_EQ(spoor_flush(0), SPOOR_OK);
    CHECK_EQ(spoor_get_stats(&stats), SPOOR_OK);
    check_invariants(&stats);
    CHECK_EQ(stats.sampled, 400);
    CHECK_EQ(stats.written, 400);
    CHECK_EQ(spoor_shutdown(), SPOOR_OK);
}

void test_key_hash_sampling(void) {
    char shm[64], run_dir[4096];
    spoor_config cfg;
    config_default(&cfg, shm);
    cfg.sampling.mode = SPOOR_SAMPLE_KEY_HASH;
    cfg.sampling.probability = 0.3;
    if (!CHECK_EQ(spoor_init(&cfg), SPOOR_OK)) return;
    int mismatches = 0, expected = 0, traced = 0;
    uint64_t first_traced_key = 0;
    for (int i = 0; i < 2000; i++) {
        char text[32];
        snprintf(text, sizeof text, "key-%d", i);
        uint64_t key = key_of(text), id = 0, id2 = 0;
        int want = spoor_key_sampled(key, 0.3);
        spoor_entry(1, key, &id);
        spoor_attr attr = {"i", 1, text, strlen(text)};
        spoor_entry_ex(1, key, &attr, 1, &id2);
        mismatches += (id != 0) != want;
        mismatches += (id2 != 0) != want;
        expected += want;
        traced += id != 0;
        if (want && first_traced_key == 0) first_traced_key = key;
    }
    CHECK_EQ(mismatches, 0);
    CHECK_EQ(traced, expected);
    CHECK(expected > 450 && expected < 750); /* deterministic: the hash is fixed */
    /* The same key is traced every time. */
    for (int i = 0; i < 10; i++) {
        uint64_t id = 0;
        spoor_entry(1, first_traced_key, &id);
        CHECK(id != 0);
    }
    CHECK_EQ(spoor_flush(0), SPOOR_OK);
    spoor_stats stats;
    CHECK_EQ(spoor_get_stats(&stats), SPOOR_OK);
    check_invariants(&stats);
    CHECK_EQ(stats.sampled, (uint64_t)(2 * expected + 10));
    current_run_dir(run_dir);
    CHECK_EQ(spoor_shutdown(), SPOOR_OK);
    char *dump = dump_dir(run_dir);
    CHECK_EQ(count_lines_with(dump, "\"kind\":\"entry\""), (size_t)(2 * expected + 10));
    free(dump);
}

/* One record through the gate the JVM binding uses: its claimed untraced entries first, then
 * spoor_entry. Returns the record's id (0: untracked); counts the spoor_entry calls. */
static uint64_t gated_entry(uint64_t *claimed, uint64_t max, size_t *entries) {
    if (*claimed == 0) *claimed = spoor_entry_skip(max);
    if (*claimed > 0) {
        (*claimed)--;
        return 0;
    }
    uint64_t id = 0;
    (*entries)++;
    spoor_entry(1, 42, &id);
    return id;
}

void test_entry_skip(void) {
    CHECK_EQ(spoor_entry_skip(100), (uint64_t)0); /* not initialised */
    char shm[64];
    spoor_config cfg;
    config_default(&cfg, shm);
    cfg.sampling.mode = SPOOR_SAMPLE_EVERY_N;
    cfg.sampling.every_n = 10;
    if (!CHECK_EQ(spoor_init(&cfg), SPOOR_OK)) return;
    /* Every-N is exact: through the gate (claims of 7 at most) the traced records are the
     * 10th, 20th, ... as with spoor_entry alone. */
    uint64_t claimed = 0;
    size_t entries = 0, wrong = 0;
    for (int i = 0; i < 1000; i++) {
        uint64_t id = gated_entry(&claimed, 7, &entries);
        wrong += (id != 0) != (i % 10 == 9);
    }
    CHECK_EQ(wrong, (size_t)0);
    CHECK(entries < 400); /* 100 traced, the rest mostly claimed */
    CHECK_EQ(spoor_entry_skip(0), (uint64_t)0);
    spoor_stats stats;
    CHECK_EQ(spoor_flush(0), SPOOR_OK);
    CHECK_EQ(spoor_get_stats(&stats), SPOOR_OK);
    CHECK_EQ(stats.sampled, 100);

    /* Probability: unbiased (1M records at p = 0.01: 10,000 expected, sigma 99.5), with about one
     * spoor_entry per traced record or per 1024 untraced ones. */
    spoor_sampling p = {.mode = SPOOR_SAMPLE_PROBABILITY, .probability = 0.01};
    CHECK_EQ(spoor_set_sampling(&p), SPOOR_OK);
    size_t traced = 0;
    claimed = 0;
    entries = 0;
    for (int i = 0; i < 1000000; i++) traced += gated_entry(&claimed, 1024, &entries) != 0;
    CHECK(traced > 9500 && traced < 10500);
    CHECK(entries < 2 * traced + 1000000 / 1024 + 10);

    /* Off: every entry can be claimed. Key hash: none can (each decision needs its key). */
    spoor_sampling off = {.mode = SPOOR_SAMPLE_OFF};
    CHECK_EQ(spoor_set_sampling(&off), SPOOR_OK);
    uint64_t id = 1;
    spoor_entry(1, 42, &id); /* takes the new sampling */
    CHECK_EQ(id, (uint64_t)0);
    CHECK_EQ(spoor_entry_skip(5000), (uint64_t)5000);
    spoor_sampling key = {.mode = SPOOR_SAMPLE_KEY_HASH, .probability = 0.5};
    CHECK_EQ(spoor_set_sampling(&key), SPOOR_OK);
    CHECK_EQ(spoor_entry_skip(5000), (uint64_t)0); /* the sampling changed: decided by the next entry */
    spoor_entry(1, 42, &id);
    CHECK_EQ(spoor_entry_skip(5000), (uint64_t)0);
    CHECK_EQ(spoor_shutdown(), SPOOR_OK);
    CHECK_EQ(spoor_entry_skip(100), (uint64_t)0); /* shut down */
}

/* ============================================================================================
 * Switching the strategy at run time
 * ========================================================================================== */

struct switch_ctx {
    pthread_barrier_t barrier;
    uint64_t ids[3];
};

static void *switch_thread(void *arg) {
    struct switch_ctx *ctx = arg;
    for (int round = 0; round < 3; round++) {
        pthread_barrier_wait(&ctx->barrier); /* main has switched */
        spoor_entry(1, 1, &ctx->ids[round]);
        pthread_barrier_wait(&ctx->barrier); /* main may switch again */
    }
    return NULL;
}

void test_runtime_switch(void) {
    char shm[64];
    spoor_config cfg;
    config_default(&cfg, shm);
    if (!CHECK_EQ(spoor_init(&cfg), SPOOR_OK)) return;
    spoor_sampling off = {.mode = SPOOR_SAMPLE_OFF}, all = {.mode = SPOOR_SAMPLE_ALL};
    spoor_sampling every3 = {.mode = SPOOR_SAMPLE_EVERY_N, .every_n = 3};
    uint64_t id = 0;
    CHECK_EQ(spoor_entry(1, 1, &id), SPOOR_OK);
    CHECK(id != 0);
    CHECK_EQ(spoor_set_sampling(&off), SPOOR_OK);
    CHECK_EQ(spoor_entry(1, 1, &id), SPOOR_OK);
    CHECK_EQ(id, 0);
    CHECK_EQ(spoor_set_sampling(&all), SPOOR_OK);
    CHECK_EQ(spoor_entry(1, 1, &id), SPOOR_OK);
    CHECK(id != 0);
    /* Every third entry from the switch on: 0, 0, traced, 0, 0, traced, ... */
    CHECK_EQ(spoor_set_sampling(&every3), SPOOR_OK);
    char pattern[10] = {0};
    for (int i = 0; i < 9; i++) {
        spoor_entry(1, 1, &id);
        pattern[i] = id != 0 ? 'X' : '.';
    }
    CHECK_STR(pattern, "..X..X..X");
    /* Switching again restarts the count. */
    CHECK_EQ(spoor_set_sampling(&every3), SPOOR_OK);
    spoor_entry(1, 1, &id);
    CHECK_EQ(id, 0);

    /* Another thread picks up each change at its next entry. */
    struct switch_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    pthread_barrier_init(&ctx.barrier, NULL, 2);
    pthread_t thread;
    CHECK_EQ(pthread_create(&thread, NULL, switch_thread, &ctx), 0);
    spoor_sampling order[3] = {all, off, all};
    for (int round = 0; round < 3; round++) {
        CHECK_EQ(spoor_set_sampling(&order[round]), SPOOR_OK);
        pthread_barrier_wait(&ctx.barrier);
        pthread_barrier_wait(&ctx.barrier);
    }
    pthread_join(thread, NULL);
    pthread_barrier_destroy(&ctx.barrier);
    CHECK(ctx.ids[0] != 0);
    CHECK_EQ(ctx.ids[1], 0);
    CHECK(ctx.ids[2] != 0);
    CHECK_EQ(spoor_shutdown(), SPOOR_OK);
}

/* ============================================================================================
 * Ids: non-zero, unique across threads, fan-out ranges reserved
 * ========================================================================================== */

#define ID_THREADS 4
#define IDS_PER_THREAD 5000

struct id_worker {
    uint64_t parent;
    uint64_t *ids;
    int errors;
};

static void *id_thread(void *arg) {
    struct id_worker *w = arg;
    for (int i = 0; i < IDS_PER_THREAD; i++) {
        int rc = spoor_checkpoint1(w->parent, 1, 0, 0, 0, &w->ids[i]);
        if (rc != SPOOR_OK && rc != SPOOR_DROPPED) w->errors++;
    }
    return NULL;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

void test_unique_ids_and_fanout(void) {
    char shm[64], run_dir[4096];
    spoor_config cfg;
    config_default(&cfg, shm);
    if (!CHECK_EQ(spoor_init(&cfg), SPOOR_OK)) return;
    uint64_t root = 0;
    CHECK_EQ(spoor_entry(1, 1, &root), SPOOR_OK);
    const size_t total = (ID_THREADS + 1) * IDS_PER_THREAD;
    uint64_t *ids = calloc(total, sizeof *ids);
    struct id_worker workers[ID_THREADS + 1];
    pthread_t threads[ID_THREADS];
    for (int i = 0; i <= ID_THREADS; i++) {
        workers[i] = (struct id_worker){root, ids + (size_t)i * IDS_PER_THREAD, 0};
    }
    for (int i = 0; i < ID_THREADS; i++) CHECK_EQ(pthread_create(&threads[i], NULL, id_thread, &workers[i]), 0);
    id_thread(&workers[ID_THREADS]);
    for (int i = 0; i < ID_THREADS; i++) pthread_join(threads[i], NULL);
    int errors = 0;
    for (int i = 0; i <= ID_THREADS; i++) errors += workers[i].errors;
    CHECK_EQ(errors, 0);
    qsort(ids, total, sizeof *ids, cmp_u64);
    size_t zeros = 0, dups = 0;
    for (size_t i = 0; i < total; i++) {
        zeros += ids[i] == 0;
        dups += i > 0 && ids[i] == ids[i - 1];
    }
    CHECK_EQ(zeros, 0);
    CHECK_EQ(dups, 0);
    free(ids);

    /* Fan-out m reserves m consecutive ids: later ids never fall in [first, first + m). */
    spoor_report_info info;
    memset(&info, 0, sizeof info);
    const uint32_t fanouts[] = {2, 100, 65536, 1000};
    for (size_t k = 0; k < sizeof fanouts / sizeof fanouts[0]; k++) {
        info.fanout = fanouts[k];
        uint64_t first = 0;
        CHECK_EQ(spoor_checkpoint(&root, 1, &info, &first), SPOOR_OK);
        CHECK(first != 0);
        CHECK(first + fanouts[k] - 1 >= first); /* the range does not wrap */
        size_t inside = 0;
        for (int i = 0; i < 2000; i++) {
            uint64_t id = 0;
            spoor_checkpoint1(root, 1, 0, 0, 0, &id);
            inside += id >= first && id < first + fanouts[k];
            /* and a nested fan-out does not overlap either */
            if (i % 500 == 0) {
                uint64_t other = 0;
                spoor_report_info small = {.fanout = 300};
                spoor_checkpoint(&root, 1, &small, &other);
                inside += other < first + fanouts[k] && other + 300 > first;
            }
        }
        if (!CHECK_EQ(inside, 0)) fprintf(stderr, "    fanout %u\n", fanouts[k]);
    }
    CHECK_EQ(spoor_flush(0), SPOOR_OK);
    spoor_stats stats;
    CHECK_EQ(spoor_get_stats(&stats), SPOOR_OK);
    check_invariants(&stats);
    current_run_dir(run_dir);
    CHECK_EQ(spoor_shutdown(), SPOOR_OK);
    char *dump = dump_dir(run_dir);
    CHECK_EQ(count_lines_with(dump, "\"fanout\":65536"), 1);
    CHECK_EQ(count_lines_with(dump, "\"fanout\":300"), 16);
    CHECK_EQ(count_lines_with(dump, "\"kind\":"), stats.committed);
    free(dump);
}

/* ============================================================================================
 * Full rings
 * ========================================================================================== */

void test_full_drop(void) {
    char shm[64], run_dir[4096];
    spoor_config cfg;
    config_default(&cfg, shm);
    cfg.ring_slots = 64;
    cfg.flush_interval_ms = 60000; /* the collector sleeps unless asked */
    cfg.full_policy = SPOOR_FULL_DROP;
    if (!CHECK_EQ(spoor_init(&cfg), SPOOR_OK)) return;
    uint64_t root = 0;
    CHECK_EQ(spoor_entry(1, 1, &root), SPOOR_OK);
    CHECK(root != 0);
    uint64_t ok = 1, dropped = 0, zero_ids = 0, bad = 0;
    for (int i = 0; i < 1000; i++) {
        uint64_t id = 0;
        int rc = spoor_checkpoint1(root, 1, 0, 0, 0, &id);
        ok += rc == SPOOR_OK;
        dropped += rc == SPOOR_DROPPED;
        bad += rc != SPOOR_OK && rc != SPOOR_DROPPED;
        zero_ids += id == 0; /* a dropped checkpoint still mints its id */
    }
    CHECK_EQ(bad, 0);
    CHECK_EQ(zero_ids, 0);
    CHECK(dropped > 0); /* the 64-slot ring held at most 64 of the 1001 reports */
    spoor_stats stats;
    CHECK_EQ(spoor_get_stats(&stats), SPOOR_OK);
    CHECK_EQ(stats.written, 1001);
    CHECK_EQ(stats.dropped, dropped);
    CHECK_EQ(stats.committed, ok);
    CHECK_EQ(stats.written, stats.committed + stats.dropped);

    /* While the ring is full: an entry drops and returns id 0, a poke and a many-parent
     * checkpoint drop too; the checkpoint still returns its id. */
    uint64_t id = 99;
    CHECK_EQ(spoor_entry(1, 2, &id), SPOOR_DROPPED);
    CHECK_EQ(id, 0);
    CHECK_EQ(spoor_poke(root, 1, SPOOR_EVENT_EXIT, 0), SPOOR_DROPPED);
    uint64_t two[2] = {root, root};
    id = 0;
    CHECK_EQ(spoor_checkpoint(two, 2, NULL, &id), SPOOR_DROPPED);
    CHECK(id != 0);
    spoor_fold fold = SPOOR_FOLD_INIT;
    spoor_fold_add(&fold, root);
    id = 0;
    CHECK_EQ(spoor_fold_finish(&fold, NULL, &id), SPOOR_DROPPED);
    CHECK(id != 0);
    dropped += 4;

    CHECK_EQ(spoor_flush(0), SPOOR_OK);
    CHECK_EQ(spoor_get_stats(&stats), SPOOR_OK);
    check_invariants(&stats);
    CHECK_EQ(stats.written, 1005);
    CHECK_EQ(stats.dropped, dropped);
    CHECK_EQ(stats.committed, ok);
    CHECK_EQ(stats.sampled, 2); /* the dropped entry was sampled */
    spoor_stats mine;
    CHECK_EQ(spoor_get_thread_stats(&mine), SPOOR_OK);
    CHECK_EQ(mine.dropped, dropped);
    CHECK_EQ(mine.committed, ok);
    CHECK_EQ(mine.written, 1005);
    /* Drained: there is room again. */
    CHECK_EQ(spoor_checkpoint1(root, 1, 0, 0, 0, &id), SPOOR_OK);
    current_run_dir(run_dir);
    CHECK_EQ(spoor_shutdown(), SPOOR_OK);
    char *dump = dump_dir(run_dir);
    CHECK_EQ(count_lines_with(dump, "\"kind\":\"checkpoint\""), ok - 1 + 1);
    CHECK_EQ(count_lines_with(dump, "\"kind\":"), ok + 1);
    free(dump);
    int status = 0;
    char *stats_out = cli_run("stats", run_dir, &status);
    char expect[128];
    snprintf(expect, sizeof expect, "\"written\":1006,\"committed\":%" PRIu64 ",\"dropped\":%" PRIu64, ok + 1, dropped);
    if (!CHECK(strstr(stats_out, expect) != NULL)) fprintf(stderr, "    %s\n    %s\n", expect, stats_out);
    free(stats_out);
}

/* SPOOR_FULL_OVERWRITE, chosen by SPOOR_FULL_POLICY: no checkpoint is refused, the ring keeps
 * the newest 64 one-slot reports, the rest are counted as dropped and the log's losses say
 * "overwritten"; the detail of a drop policy names its cause. */
void test_full_overwrite(void) {
    char shm[64], run_dir[4096];
    spoor_config cfg;
    config_default(&cfg, shm);
    cfg.flags = 0; /* read SPOOR_FULL_POLICY */
    cfg.ring_slots = 64;
    cfg.flush_interval_ms = 60000;
    setenv("SPOOR_FULL_POLICY", "overwrite", 1);
    int rc = spoor_init(&cfg);
    unsetenv("SPOOR_FULL_POLICY");
    if (!CHECK_EQ(rc, SPOOR_OK)) return;
    uint64_t bad = 0, last = 0;
    for (uint64_t i = 1; i <= 1000; i++) {
        uint64_t id = 0;
        bad += spoor_checkpoint1(i, 1, i, 0, 0, &id) != SPOOR_OK;
        last = id;
    }
    CHECK_EQ(bad, 0);
    CHECK(last != 0);
    CHECK_EQ(spoor_flush(0), SPOOR_OK);
    spoor_stats stats;
    CHECK_EQ(spoor_get_stats(&stats), SPOOR_OK);
    check_invariants(&stats);
    CHECK_EQ(stats.written, 1000);
    CHECK_EQ(stats.committed, 64);
    CHECK_EQ(stats.drained, 64);
    CHECK_EQ(stats.dropped, 936);
    current_run_dir(run_dir);
    CHECK_EQ(spoor_shutdown(), SPOOR_OK);
    char *dump = dump_dir(run_dir);
    CHECK_EQ(count_lines_with(dump, "\"kind\":\"checkpoint\""), 64);
    /* The oldest kept (parent 937 = 0x3a9), the newest (1000 = 0x3e8), and not the newest
     * overwritten (936 = 0x3a8). */
    CHECK(strstr(dump, "\"parents\":[\"00000000000003a9\"]") != NULL);
    CHECK(strstr(dump, "\"parents\":[\"00000000000003e8\"]") != NULL);
    CHECK(strstr(dump, "\"parents\":[\"00000000000003a8\"]") == NULL);
    free(dump);
    int status = 0;
    char *stats_out = cli_run("stats", run_dir, &status);
    if (!CHECK(strstr(stats_out, "\"reason\":\"overwritten\"") != NULL)) fprintf(stderr, "    %s\n", stats_out);
    free(stats_out);

    /* SPOOR_FULL_DROP names its cause; so does strerror, generically. */
    config_default(&cfg, shm);
    cfg.ring_slots = 64;
    cfg.flush_interval_ms = 60000;
    if (!CHECK_EQ(spoor_init(&cfg), SPOOR_OK)) return;
    rc = SPOOR_OK;
    for (uint64_t i = 1; i <= 1000 && rc == SPOOR_OK; i++) {
        uint64_t id = 0;
        rc = spoor_checkpoint1(i, 1, 0, 0, 0, &id);
    }
    CHECK_EQ(rc, SPOOR_DROPPED);
    CHECK(strstr(spoor_error_detail(), "SPOOR_FULL_DROP") != NULL);
    CHECK(strstr(spoor_strerror(SPOOR_DROPPED), "spoor_error_detail") != NULL);
    CHECK_EQ(spoor_shutdown(), SPOOR_OK);
}

/* SPOOR_FULL_BLOCK: a producer waits for room instead of dropping; a second thread keeps the
 * collector draining with spoor_flush until the producer is done. */
struct flusher {
    int stop;
    int errors;
};

static void *flush_loop(void *arg) {
    struct flusher *f = arg;
    while (!__atomic_load_n(&f->stop, __ATOMIC_ACQUIRE)) {
        if (spoor_flush(0) != SPOOR_OK) f->errors++;
    }
    return NULL;
}

static void test_full_block(void) {
    char shm[64];
    spoor_config cfg;
    config_default(&cfg, shm);
    cfg.ring_slots = 64;
    cfg.flush_interval_ms = 60000;
    cfg.full_policy = SPOOR_FULL_BLOCK;
    cfg.block_timeout_ms = 60000;
    if (!CHECK_EQ(spoor_init(&cfg), SPOOR_OK)) return;
    struct flusher f = {0, 0};
    pthread_t thread;
    CHECK_EQ(pthread_create(&thread, NULL, flush_loop, &f), 0);
    uint64_t root = 0, not_ok = 0;
    CHECK_EQ(spoor_entry(1, 1, &root), SPOOR_OK);
    for (int i = 0; i < 1000; i++) {
        uint64_t id = 0;
        not_ok += spoor_checkpoint1(root, 1, 0, 0, 0, &id) != SPOOR_OK;
    }
    __atomic_store_n(&f.stop, 1, __ATOMIC_RELEASE);
    pthread_join(thread, NULL);
    CHECK_EQ(not_ok, 0);
    CHECK_EQ(f.errors, 0);
    CHECK_EQ(spoor_flush(0), SPOOR_OK);
    spoor_stats stats;
    CHECK_EQ(spoor_get_stats(&stats), SPOOR_OK);
    check_invariants(&stats);
    CHECK_EQ(stats.dropped, 0);
    CHECK_EQ(stats.committed, 1001);
    CHECK_EQ(spoor_shutdown(), SPOOR_OK);
}

/* max_threads = 1: a second thread finds no free private ring, so it writes into a shared ring:
 * it is traced all the same (nothing dropped), and both count as live threads. */
struct ring_race {
    pthread_barrier_t barrier; /* main, A and B */
    int a_rc;
    int b_first_rc, b_entry_rc;
    uint64_t b_first_id, b_entry_id;
    uint64_t live_threads;
};

static void *ring_owner(void *arg) {
    struct ring_race *r = arg;
    uint64_t id = 0;
    r->a_rc = spoor_checkpoint1(0x1234, 1, 0, 0, 0, &id); /* takes the only private ring */
    pthread_barrier_wait(&r->barrier); /* 1: A owns the ring */
    pthread_barrier_wait(&r->barrier); /* 2: B has written */
    pthread_barrier_wait(&r->barrier); /* 3: main has counted */
    return NULL;
}

static void *ring_seeker(void *arg) {
    struct ring_race *r = arg;
    pthread_barrier_wait(&r->barrier); /* 1 */
    r->b_first_rc = spoor_checkpoint1(0x1234, 1, 0, 0, 0, &r->b_first_id);
    r->b_entry_id = 99;
    r->b_entry_rc = spoor_entry(1, 1, &r->b_entry_id);
    pthread_barrier_wait(&r->barrier); /* 2 */
    pthread_barrier_wait(&r->barrier); /* 3 */
    return NULL;
}

static void test_no_free_ring(void) {
    char shm[64];
    spoor_config cfg;
    config_default(&cfg, shm);
    cfg.max_threads = 1;
    if (!CHECK_EQ(spoor_init(&cfg), SPOOR_OK)) return;
    struct ring_race r;
    memset(&r, 0, sizeof r);
    pthread_barrier_init(&r.barrier, NULL, 3);
    pthread_t a, b;
    CHECK_EQ(pthread_create(&a, NULL, ring_owner, &r), 0);
    CHECK_EQ(pthread_create(&b, NULL, ring_seeker, &r), 0);
    pthread_barrier_wait(&r.barrier); /* 1 */
    pthread_barrier_wait(&r.barrier); /* 2 */
    spoor_stats live;
    CHECK_EQ(spoor_get_stats(&live), SPOOR_OK);
    r.live_threads = live.threads;
    pthread_barrier_wait(&r.barrier); /* 3 */
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    pthread_barrier_destroy(&r.barrier);

    CHECK_EQ(r.a_rc, SPOOR_OK);
    CHECK_EQ(r.b_first_rc, SPOOR_OK);
    CHECK(r.b_first_id != 0);
    CHECK_EQ(r.b_entry_rc, SPOOR_OK);
    CHECK(r.b_entry_id != 0);
    CHECK_EQ(r.live_threads, 2);
    CHECK_EQ(spoor_flush(0), SPOOR_OK);
    spoor_stats stats;
    CHECK_EQ(spoor_get_stats(&stats), SPOOR_OK);
    check_invariants(&stats);
    CHECK_EQ(stats.dropped, 0);
    CHECK_EQ(stats.committed, 3); /* A's report, B's checkpoint and B's entry */
    CHECK_EQ(stats.drained, 3);
    CHECK_EQ(stats.sampled, 1);
    CHECK_EQ(stats.threads, 0);   /* both exited */
    CHECK_EQ(spoor_shutdown(), SPOOR_OK);
}

void test_report_too_large(void) {
    char shm[64];
    spoor_config cfg;
    config_default(&cfg, shm);
    cfg.ring_slots = 64; /* a report may take 16 slots */
    if (!CHECK_EQ(spoor_init(&cfg), SPOOR_OK)) return;
    uint64_t root = 0, id = 0;
    CHECK_EQ(spoor_entry(1, 1, &root), SPOOR_OK);
    uint64_t parents[200];
    for (int i = 0; i < 200; i++) parents[i] = root + (uint64_t)i;
    /* 1 header slot + 120 more parents * 8 bytes = 16 slots: fits. 200 parents do not. */
    CHECK_EQ(spoor_checkpoint(parents, 121, NULL, &id), SPOOR_OK);
    id = 99;
    CHECK_EQ(spoor_checkpoint(parents, 200, NULL, &id), SPOOR_E_REPORT_TOO_LARGE);
    CHECK_EQ(id, 0); /* on an error *out_id is 0 */
    CHECK(spoor_error_detail()[0] != 0);
    /* A full attachment needs 17 slots. */
    static char value[1020];
    spoor_attr big = {"k", 1, value, sizeof value};
    CHECK_EQ(spoor_entry_ex(1, 1, &big, 1, &id), SPOOR_E_REPORT_TOO_LARGE);
    /* A fold too large to report is reset all the same. */
    spoor_fold fold = SPOOR_FOLD_INIT;
    for (int i = 0; i < 200; i++) spoor_fold_add(&fold, parents[i]);
    CHECK_EQ(spoor_fold_finish(&fold, NULL, &id), SPOOR_E_REPORT_TOO_LARGE);
    CHECK_EQ(fold.count, 0);
    CHECK(fold.heap == NULL);
    CHECK_EQ(spoor_flush(0), SPOOR_OK);
    spoor_stats stats;
    CHECK_EQ(spoor_get_stats(&stats), SPOOR_OK);
    check_invariants(&stats);
    CHECK_EQ(stats.written, 2);
    CHECK_EQ(spoor_shutdown(), SPOOR_OK);
    test_full_block();
    test_no_free_ring();
}

/* ============================================================================================
 * Folds past SPOOR_MAX_PARENTS
 * ========================================================================================== */

void test_fold_truncation(void) {
    char shm[64], run_dir[4096];
    spoor_config cfg;
    config_default(&cfg, shm);
    cfg.ring_slots = 65536; /* room for a 65536-parent report (8193 slots) */
    cfg.max_threads = 2;
    if (!CHECK_EQ(spoor_init(&cfg), SPOOR_OK)) return;

    spoor_fold fold = SPOOR_FOLD_INIT;
    int errors = 0;
    for (uint64_t i = 1; i <= SPOOR_MAX_PARENTS + 5; i++) errors += spoor_fold_add(&fold, i) != SPOOR_OK;
    CHECK_EQ(errors, 0);
    CHECK_EQ(fold.count, SPOOR_MAX_PARENTS);
    CHECK_EQ(fold.truncated, 5);
    uint64_t id = 0;
    spoor_report_info info = {.op = 0, .key_hash = 0xabcdef};
    CHECK_EQ(spoor_fold_finish(&fold, &info, &id), SPOOR_OK);
    CHECK(id != 0);
    CHECK_EQ(fold.count, 0);
    CHECK_EQ(fold.truncated, 0);
    CHECK(fold.heap == NULL);

    /* Merging two big folds keeps SPOOR_MAX_PARENTS and counts the rest as truncated. */
    spoor_fold a = SPOOR_FOLD_INIT, b = SPOOR_FOLD_INIT;
    for (uint64_t i = 1; i <= 40000; i++) {
        errors += spoor_fold_add(&a, i) != SPOOR_OK;
        errors += spoor_fold_add(&b, 100000 + i) != SPOOR_OK;
    }
    CHECK_EQ(errors, 0);
    CHECK_EQ(spoor_fold_merge(&a, &b), SPOOR_OK);
    CHECK_EQ(a.count, SPOOR_MAX_PARENTS);
    CHECK_EQ(a.truncated, 80000 - SPOOR_MAX_PARENTS);
    CHECK_EQ(b.count, 0);
    CHECK(b.heap == NULL);
    spoor_fold_discard(&a);
    CHECK_EQ(a.count, 0);
    CHECK_EQ(a.truncated, 0);

    CHECK_EQ(spoor_flush(0), SPOOR_OK);
    current_run_dir(run_dir);
    CHECK_EQ(spoor_shutdown(), SPOOR_OK);
    char *dump = dump_dir(run_dir);
    char *line = report_line(dump, "checkpoint", id);
    if (CHECK(line != NULL)) {
        CHECK(strstr(line, "\"fold\":true,\"truncated\":true") != NULL);
        CHECK(strstr(line, "\"parents\":[\"0000000000000001\",\"0000000000000002\",") != NULL);
        CHECK(strstr(line, ",\"0000000000010000\"]") != NULL);
        CHECK(strstr(line, "\"0000000000010001\"") == NULL);
        size_t parents = 0;
        const char *p = strstr(line, "\"parents\":[");
        const char *end = p != NULL ? strchr(p, ']') : NULL;
        for (; p != NULL && end != NULL && p < end; p++) parents += *p == ',';
        CHECK_EQ(parents + 1, SPOOR_MAX_PARENTS);
    }
    free(line);
    free(dump);
}

/* ============================================================================================
 * SPOOR_SINK_NONE, re-initialisation, thread statistics
 * ========================================================================================== */

void test_sink_none(void) {
    char shm[64], buf[4096];
    spoor_config cfg;
    config_default(&cfg, shm);
    cfg.sink = SPOOR_SINK_NONE;
    if (!CHECK_EQ(spoor_init(&cfg), SPOOR_OK)) return;
    uint64_t root = 0, id = 0;
    CHECK_EQ(spoor_entry(1, 1, &root), SPOOR_OK);
    CHECK(root != 0);
    for (int i = 0; i < 100; i++) CHECK_EQ(spoor_checkpoint1(root, 1, 0, 0, 0, &id), SPOOR_OK);
    CHECK_EQ(spoor_poke(id, 1, SPOOR_EVENT_EXIT, 0), SPOOR_OK);
    CHECK_EQ(spoor_flush(0), SPOOR_OK);
    spoor_stats stats;
    CHECK_EQ(spoor_get_stats(&stats), SPOOR_OK);
    check_invariants(&stats);
    CHECK_EQ(stats.written, 102);
    CHECK_EQ(stats.drained, 102);
    memset(buf, 'x', 16);
    CHECK_EQ(spoor_run_dir(buf, sizeof buf), 0); /* the empty string under SPOOR_SINK_NONE */
    CHECK_STR(buf, "");
    CHECK_EQ(spoor_shutdown(), SPOOR_OK);
    CHECK_EQ(dir_entries(cfg.log_dir), 0); /* nothing was logged */
}

void test_reinit(void) {
    char shm[64], first_dir[4096], second_dir[4096];
    spoor_config cfg;
    config_default(&cfg, shm);
    if (!CHECK_EQ(spoor_init(&cfg), SPOOR_OK)) return;
    uint64_t a = 0, a2 = 0;
    CHECK_EQ(spoor_entry(1, 1, &a), SPOOR_OK);
    CHECK_EQ(spoor_checkpoint1(a, 1, 0, 0, 0, &a2), SPOOR_OK);
    current_run_dir(first_dir);
    CHECK_EQ(spoor_shutdown(), SPOOR_OK);

    /* Same configuration, same shm name (released by shutdown): a new run. */
    if (!CHECK_EQ(spoor_init(&cfg), SPOOR_OK)) return;
    current_run_dir(second_dir);
    CHECK(second_dir[0] != 0 && strcmp(first_dir, second_dir) != 0);
    CHECK_EQ(dir_entries(cfg.log_dir), 2);
    uint64_t b = 0, b2 = 0;
    CHECK_EQ(spoor_entry(1, 2, &b), SPOOR_OK);
    CHECK(b != 0);
    /* An id of the first run is just a parent id in the second. */
    CHECK_EQ(spoor_checkpoint1(a2, 1, 0, 0, 0, &b2), SPOOR_OK);
    CHECK(b2 != 0);
    spoor_stats stats;
    CHECK_EQ(spoor_flush(0), SPOOR_OK);
    CHECK_EQ(spoor_get_stats(&stats), SPOOR_OK);
    check_invariants(&stats);
    CHECK_EQ(stats.written, 2); /* counters start again */
    CHECK_EQ(spoor_shutdown(), SPOOR_OK);

    char *dump1 = dump_dir(first_dir);
    char *dump2 = dump_dir(second_dir);
    char *line = report_line(dump1, "checkpoint", a2);
    CHECK(line != NULL);
    free(line);
    line = report_line(dump2, "checkpoint", b2);
    CHECK(line != NULL);
    free(line);
    CHECK_EQ(count_lines_with(dump1, "\"kind\":"), 2);
    CHECK_EQ(count_lines_with(dump2, "\"kind\":"), 2);
    free(dump1);
    free(dump2);
    /* The log root dumps both runs in order. */
    char *both = dump_dir(cfg.log_dir);
    CHECK_EQ(count_lines_with(both, "\"kind\":"), 4);
    free(both);
}

struct stats_worker {
    pthread_barrier_t *barrier;
    uint64_t root;
    spoor_stats mine;
    spoor_stats global_while_alive;
    int rc;
};

static void *stats_thread(void *arg) {
    struct stats_worker *w = arg;
    uint64_t id;
    spoor_stats none;
    /* Never wrote yet: all zero. */
    if (spoor_get_thread_stats(&none) != SPOOR_OK || none.written != 0 || none.threads != 0) w->rc = -1;
    for (int i = 0; i < 250; i++) {
        if (spoor_checkpoint1(w->root, 1, 0, 0, 0, &id) != SPOOR_OK) w->rc = -2;
    }
    if (spoor_flush(0) != SPOOR_OK) w->rc = -3;
    if (spoor_get_thread_stats(&w->mine) != SPOOR_OK) w->rc = -4;
    if (spoor_get_stats(&w->global_while_alive) != SPOOR_OK) w->rc = -5;
    return NULL;
}

void test_thread_stats(void) {
    char shm[64];
    spoor_config cfg;
    config_default(&cfg, shm);
    if (!CHECK_EQ(spoor_init(&cfg), SPOOR_OK)) return;
    spoor_stats mine, global;
    CHECK_EQ(spoor_get_thread_stats(&mine), SPOOR_OK);
    CHECK_EQ(mine.written, 0);
    CHECK_EQ(mine.threads, 0);
    uint64_t root = 0;
    CHECK_EQ(spoor_entry(1, 1, &root), SPOOR_OK);
    CHECK_EQ(spoor_flush(0), SPOOR_OK);
    CHECK_EQ(spoor_get_thread_stats(&mine), SPOOR_OK);
    CHECK_EQ(mine.written, 1);
    CHECK_EQ(mine.sampled, 1);
    CHECK_EQ(mine.threads, 1);
    CHECK_EQ(spoor_get_stats(&global), SPOOR_OK);
    CHECK_EQ(global.threads, 1);

    struct stats_worker workers[2];
    pthread_t threads[2];
    for (int i = 0; i < 2; i++) {
        memset(&workers[i], 0, sizeof workers[i]);
        workers[i].root = root;
        CHECK_EQ(pthread_create(&threads[i], NULL, stats_thread, &workers[i]), 0);
        pthread_join(threads[i], NULL); /* one after the other: the ring may be reused */
        CHECK_EQ(workers[i].rc, 0);
        CHECK_EQ(workers[i].mine.written, 250);
        CHECK_EQ(workers[i].mine.committed, 250);
        CHECK_EQ(workers[i].mine.drained, 250);
        CHECK_EQ(workers[i].mine.dropped, 0);
        CHECK_EQ(workers[i].mine.sampled, 0);
        CHECK_EQ(workers[i].mine.threads, 1);
        CHECK_EQ(workers[i].global_while_alive.threads, 2);
    }
    /* The exited threads hold no ring; their reports stay in the totals. */
    CHECK_EQ(spoor_flush(0), SPOOR_OK);
    CHECK_EQ(spoor_get_stats(&global), SPOOR_OK);
    check_invariants(&global);
    CHECK_EQ(global.threads, 1);
    CHECK_EQ(global.written, 501);
    /* This thread's counters are its own. */
    CHECK_EQ(spoor_get_thread_stats(&mine), SPOOR_OK);
    CHECK_EQ(mine.written, 1);
    CHECK_EQ(spoor_shutdown(), SPOOR_OK);
}
