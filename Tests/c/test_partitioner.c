/*
 * test_partitioner.c - spoor_partitioner_*: loading partitioner files, routing keys as the header
 * and docs/skew.md describe (checked against an independent implementation of the documented
 * algorithm here), salts, malformed and hostile files, and concurrent routing.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "spoor.h"
#include "util.h"

/* ---- the documented algorithm, written again from the header's words -------------------- */

static uint64_t plain_partition(uint64_t h, uint64_t partitions) {
    return ((h * 0x9e3779b97f4a7c15ULL) >> 17) % partitions;
}

static double unit_draw(uint64_t h, uint64_t salt) {
    uint64_t z = (h ^ salt) + 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return (double)(z >> 11) * 0x1p-53;
}

/* A partitioner's routing for unplaced keys, with keep and spill as in the file (spill is
 * normalised here). */
static int expected_partition(uint64_t h, int partitions, const double *keep, const double *spill) {
    int p = (int)plain_partition(h, (uint64_t)partitions);
    if (keep == NULL || keep[p] >= 1 || unit_draw(h, 0x73746179) < keep[p]) return p;
    double total = 0;
    for (int q = 0; q < partitions; q++) total += spill[q];
    double point = unit_draw(h, 0x7370696c), end = 0;
    int last = 0;
    for (int q = 0; q < partitions; q++) {
        if (spill[q] > 0) last = q;
    }
    for (int q = 0; q < partitions; q++) {
        end += spill[q] / total;
        if (point < end && spill[q] > 0) return q;
        if (point < end) break;
    }
    return last;
}

static spoor_partitioner *load_text(const char *json) {
    spoor_partitioner *p = NULL;
    int status = spoor_partitioner_load(json, strlen(json), &p);
    if (!CHECK_EQ(status, SPOOR_OK)) {
        fprintf(stderr, "    detail: %s\n", spoor_error_detail());
        return NULL;
    }
    CHECK(p != NULL);
    return p;
}

static uint64_t next_key(uint64_t *state) {
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* ---- loading and routing ---------------------------------------------------------------- */

static void test_plain(void) {
    spoor_partitioner *p = load_text(
        "{\"format\":\"spoor-partitioner\",\"version\":1,\"partitions\":17,\"hash\":\"spoor-mix17\",\"keys\":[]}");
    if (!p) return;
    CHECK_EQ(spoor_partitioner_partitions(p), 17);
    CHECK_EQ(spoor_partitioner_keys(p), 0);
    uint64_t state = 1;
    int wrong = 0, bad_salts = 0;
    for (int i = 0; i < 100000; i++) {
        uint64_t h = next_key(&state);
        wrong += spoor_partitioner_partition(p, h) != (int)plain_partition(h, 17);
        bad_salts += spoor_partitioner_salts(p, h) != 1;
    }
    CHECK_EQ(wrong, 0);
    CHECK_EQ(bad_salts, 0);
    /* The text key "a" (FNV-1a 0xaf63dc4c8601ec8c), as every binding hashes it. */
    CHECK_EQ(spoor_partitioner_partition(p, spoor_hash_bytes("a", 1)), plain_partition(0xaf63dc4c8601ec8cULL, 17));
    spoor_partitioner_free(p);
}

static const double keep4[4] = {0.25, 1, 1, 0.5};
static const double spill4[4] = {0, 3, 1, 0};

static void test_placed_and_spilled(void) {
    spoor_partitioner *p = load_text(
        "{\"format\": \"spoor-partitioner\", \"version\": 1, \"operator\": \"pair (wc.swift:9)\",\n"
        " \"partitions\": 4, \"hash\": \"spoor-mix17\",\n"
        " \"keys\": [{\"key_hash\": \"00000000000000ff\", \"partition\": 3, \"salts\": 2, \"value\": \"the\","
        "            \"share\": 0.3, \"error_share\": 0.001},\n"
        "          {\"key_hash\": \"0000000000000000\", \"partition\": 2},\n"
        "          {\"key_hash\": \"AF63DC4C8601EC8C\", \"partition\": 0, \"salts\": 4}],\n"
        " \"keep\": [0.25, 1, 1, 0.5], \"spill\": [0, 3, 1, 0],\n"
        " \"imbalance\": {\"before\": 2.1, \"after\": 1.02, \"lower_bound\": 1},\n"
        " \"migrated_share\": 0.2, \"error_share\": 0.001, \"heavy_threshold\": 0.06, \"later\": [null]}");
    if (!p) return;
    CHECK_EQ(spoor_partitioner_partitions(p), 4);
    CHECK_EQ(spoor_partitioner_keys(p), 3);
    CHECK_EQ(spoor_partitioner_partition(p, 0xff), 3);
    CHECK_EQ(spoor_partitioner_salts(p, 0xff), 2);
    CHECK_EQ(spoor_partitioner_partition(p, 0), 2);
    CHECK_EQ(spoor_partitioner_salts(p, 0), 1);
    CHECK_EQ(spoor_partitioner_partition(p, spoor_hash_bytes("a", 1)), 0);
    CHECK_EQ(spoor_partitioner_salts(p, spoor_hash_bytes("a", 1)), 4);
    uint64_t state = 7;
    int wrong = 0, counts[4] = {0, 0, 0, 0};
    for (int i = 0; i < 200000; i++) {
        uint64_t h = next_key(&state);
        if (h == 0xff || h == 0 || h == 0xaf63dc4c8601ec8cULL) continue;
        int got = spoor_partitioner_partition(p, h);
        wrong += got != expected_partition(h, 4, keep4, spill4);
        if (got >= 0 && got < 4) counts[got]++;
    }
    CHECK_EQ(wrong, 0);
    /* Plain hashing puts a quarter on each; 3/4 of partition 0's and 1/2 of partition 3's move
     * (5/16 of all keys), 3/4 of them to partition 1 and 1/4 to partition 2. */
    double n = 200000;
    CHECK(counts[0] / n > 0.0625 - 0.005 && counts[0] / n < 0.0625 + 0.005);
    CHECK(counts[3] / n > 0.125 - 0.005 && counts[3] / n < 0.125 + 0.005);
    CHECK(counts[1] / n > 0.25 + 0.234375 - 0.006 && counts[1] / n < 0.25 + 0.234375 + 0.006);
    CHECK(counts[2] / n > 0.25 + 0.078125 - 0.006 && counts[2] / n < 0.25 + 0.078125 + 0.006);
    spoor_partitioner_free(p);
}

/* ---- refusals -------------------------------------------------------------------------- */

static void expect_refused(const char *json, const char *detail_part) {
    spoor_partitioner *p = (spoor_partitioner *)(uintptr_t)0x1234;
    int status = spoor_partitioner_load(json, strlen(json), &p);
    if (!CHECK_EQ(status, SPOOR_E_PARSE)) {
        fprintf(stderr, "    accepted: %s\n", json);
        if (status == SPOOR_OK) spoor_partitioner_free(p);
        return;
    }
    CHECK(p == (spoor_partitioner *)(uintptr_t)0x1234); /* *out unchanged */
    if (!CHECK(strstr(spoor_error_detail(), detail_part) != NULL)) {
        fprintf(stderr, "    detail: %s\n    wanted: %s\n", spoor_error_detail(), detail_part);
    }
}

#define HEAD "{\"format\":\"spoor-partitioner\",\"version\":1,\"hash\":\"spoor-mix17\","

static void test_refused(void) {
    expect_refused("", "unexpected end of input");
    expect_refused("[]", "not a JSON object");
    expect_refused("{\"format\":\"other\"}", "not \"spoor-partitioner\"");
    expect_refused("{\"format\":\"spoor-partitioner\",\"version\":2}", "version 2");
    expect_refused("{\"format\":\"spoor-partitioner\",\"version\":1,\"hash\":\"fnv\"}", "hash \"fnv\"");
    expect_refused(HEAD "\"partitions\":0,\"keys\":[]}", "partitions must be in");
    expect_refused(HEAD "\"partitions\":1048577,\"keys\":[]}", "partitions must be in");
    expect_refused(HEAD "\"partitions\":2.5,\"keys\":[]}", "must be an integer");
    expect_refused(HEAD "\"partitions\":1e300,\"keys\":[]}", "must be an integer");
    expect_refused(HEAD "\"partitions\":\"4\",\"keys\":[]}", "partitions is missing or not a number");
    expect_refused(HEAD "\"partitions\":4}", "keys is missing");
    expect_refused(HEAD "\"partitions\":4,\"keys\":[{\"key_hash\":\"12\",\"partition\":0}]}", "not 16 hex digits");
    expect_refused(HEAD "\"partitions\":4,\"keys\":[{\"key_hash\":\"+00000000000000f\",\"partition\":0}]}", "not 16 hex digits");
    expect_refused(HEAD "\"partitions\":4,\"keys\":[{\"key_hash\":\"000000000000000f\",\"partition\":4}]}", "outside 0..<4");
    expect_refused(HEAD "\"partitions\":4,\"keys\":[{\"key_hash\":\"000000000000000f\",\"partition\":-1}]}", "outside 0..<4");
    expect_refused(HEAD "\"partitions\":4,\"keys\":[{\"key_hash\":\"000000000000000f\",\"partition\":1,\"salts\":5}]}", "salts 5");
    expect_refused(HEAD "\"partitions\":4,\"keys\":[{\"key_hash\":\"000000000000000f\",\"partition\":1},"
                   "{\"key_hash\":\"000000000000000F\",\"partition\":2}]}", "listed twice");
    expect_refused(HEAD "\"partitions\":2,\"keys\":[],\"keep\":[1,1]}", "keep and spill come together");
    expect_refused(HEAD "\"partitions\":2,\"keys\":[],\"keep\":[1],\"spill\":[1,0]}", "keep must hold 2 numbers");
    expect_refused(HEAD "\"partitions\":2,\"keys\":[],\"keep\":[1,1.5],\"spill\":[1,0]}", "keep must hold 2 numbers");
    expect_refused(HEAD "\"partitions\":2,\"keys\":[],\"keep\":[1,1],\"spill\":[-1,0]}", "spill must hold 2 numbers");
    expect_refused(HEAD "\"partitions\":2,\"keys\":[],\"keep\":[0.5,1],\"spill\":[0,0]}", "spill is all zero");
    expect_refused(HEAD "\"partitions\":2,\"keys\":[],\"keep\":[0.5,1],\"spill\":[1e308,1e308]}", "finite");
    expect_refused(HEAD "\"partitions\":2,\"keys\":[],\"operator\":3}", "operator is not a string");
    expect_refused(HEAD "\"partitions\":2,\"keys\":[], }", "expected a member name");
    expect_refused(HEAD "\"partitions\":2,\"keys\":[]} x", "unexpected data after the value");
    expect_refused(HEAD "\"partitions\":2,\"keys\":[],\"operator\":\"\\ud800\"}", "unpaired surrogate");
    expect_refused(HEAD "\"partitions\":2,\"keys\":[],\"operator\":\"\xff\"}", "not valid UTF-8");
    expect_refused(HEAD "\"partitions\":2,\"keys\":[],\"migrated_share\":01}", "expected ',' or '}'");
    expect_refused(HEAD "\"partitions\":2,\"keys\":[],\"migrated_share\":1e999}", "number out of range");

    /* Nesting far deeper than any stack allows for a naive parser. */
    size_t depth = 1000000;
    char *deep = malloc(depth + 1);
    if (CHECK(deep != NULL)) {
        memset(deep, '[', depth);
        deep[depth] = 0;
        spoor_partitioner *p = NULL;
        CHECK_EQ(spoor_partitioner_load(deep, depth, &p), SPOOR_E_PARSE);
        CHECK(strstr(spoor_error_detail(), "nested deeper") != NULL);
        free(deep);
    }

    /* Arguments. */
    spoor_partitioner *p = NULL;
    CHECK_EQ(spoor_partitioner_load(NULL, 0, &p), SPOOR_E_PARSE); /* no bytes: not JSON */
    CHECK_EQ(spoor_partitioner_load(NULL, 5, &p), SPOOR_E_INVALID_ARGUMENT);
    CHECK_EQ(spoor_partitioner_load("{}", 2, NULL), SPOOR_E_INVALID_ARGUMENT);
    CHECK_EQ(spoor_partitioner_load("{}", SIZE_MAX, &p), SPOOR_E_PARSE);
    CHECK(p == NULL);
    CHECK_EQ(spoor_partitioner_partitions(NULL), SPOOR_E_INVALID_ARGUMENT);
    CHECK_EQ(spoor_partitioner_partition(NULL, 1), SPOOR_E_INVALID_ARGUMENT);
    CHECK_EQ(spoor_partitioner_salts(NULL, 1), SPOOR_E_INVALID_ARGUMENT);
    CHECK_EQ(spoor_partitioner_keys(NULL), SPOOR_E_INVALID_ARGUMENT);
    /* Memory that is not a partitioner (the magic word is missing). */
    uint64_t not_a_table[16] = {0};
    CHECK_EQ(spoor_partitioner_partition((const spoor_partitioner *)not_a_table, 1), SPOOR_E_INVALID_ARGUMENT);
    CHECK(strstr(spoor_error_detail(), "not a live spoor_partitioner") != NULL);
    spoor_partitioner_free(NULL);
}

/* ---- many keys, many threads ------------------------------------------------------------ */

enum { MANY_KEYS = 5000, ROUTE_THREADS = 4, ROUTED = 200000 };

typedef struct {
    const spoor_partitioner *p;
    const uint64_t *hashes;
    const int *expected;
    int wrong;
} route_args;

static void *route(void *raw) {
    route_args *args = raw;
    for (int round = 0; round < 4; round++) {
        for (int i = 0; i < ROUTED; i++) {
            args->wrong += spoor_partitioner_partition(args->p, args->hashes[i]) != args->expected[i];
        }
    }
    return NULL;
}

static void test_many_keys_threads(void) {
    /* 5,000 placed keys (the table probes past collisions) on 64 partitions. */
    size_t cap = 64 + (size_t)MANY_KEYS * 64;
    char *json = malloc(cap);
    uint64_t *placed = malloc(sizeof(uint64_t) * MANY_KEYS);
    uint64_t *hashes = malloc(sizeof(uint64_t) * ROUTED);
    int *expected = malloc(sizeof(int) * ROUTED);
    if (!CHECK(json && placed && hashes && expected)) goto done;
    size_t n = (size_t)snprintf(json, cap, HEAD "\"partitions\":64,\"keys\":[");
    uint64_t state = 99;
    for (int i = 0; i < MANY_KEYS; i++) {
        placed[i] = next_key(&state) & ~0xfULL; /* shared low bits: a hostile probe pattern */
        n += (size_t)snprintf(json + n, cap - n, "%s{\"key_hash\":\"%016llx\",\"partition\":%d}", i ? "," : "",
                              (unsigned long long)placed[i], i % 64);
    }
    n += (size_t)snprintf(json + n, cap - n, "]}");
    spoor_partitioner *p = NULL;
    if (!CHECK_EQ(spoor_partitioner_load(json, n, &p), SPOOR_OK)) goto done;
    CHECK_EQ(spoor_partitioner_keys(p), MANY_KEYS);
    int wrong = 0;
    for (int i = 0; i < MANY_KEYS; i++) wrong += spoor_partitioner_partition(p, placed[i]) != i % 64;
    CHECK_EQ(wrong, 0);
    for (int i = 0; i < ROUTED; i++) {
        hashes[i] = i % 2 ? placed[(i / 2) % MANY_KEYS] : next_key(&state);
        expected[i] = i % 2 ? ((i / 2) % MANY_KEYS) % 64 : (int)plain_partition(hashes[i], 64);
    }
    pthread_t threads[ROUTE_THREADS];
    route_args args[ROUTE_THREADS];
    for (int t = 0; t < ROUTE_THREADS; t++) {
        args[t] = (route_args){p, hashes, expected, 0};
        CHECK_EQ(pthread_create(&threads[t], NULL, route, &args[t]), 0);
    }
    for (int t = 0; t < ROUTE_THREADS; t++) {
        pthread_join(threads[t], NULL);
        CHECK_EQ(args[t].wrong, 0);
    }
    spoor_partitioner_free(p);
done:
    free(json);
    free(placed);
    free(hashes);
    free(expected);
}

void test_partitioner(void) {
    test_plain();
    test_placed_and_spilled();
    test_refused();
    test_many_keys_threads();
}
