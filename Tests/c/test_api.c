/*
 * test_api.c - the Spoor C API test suite: main() and the tests that need no traced data
 * (pure functions, error codes, configuration validation, lifecycle).
 *
 * Every function declared in include/spoor.h is called somewhere in this suite. The private
 * slow paths (spoor__entry_slow, spoor__checkpoint1_slow, spoor__checkpoint_slow,
 * spoor__poke_slow, spoor__fold_grow, spoor__fold_finish_slow) are exercised through the
 * inline functions that call them, as the header asks; spoor__mix64 is called directly to
 * check spoor_key_sampled.
 *
 * The last line printed is "N passed, N failed"; the exit status is non-zero on any failure.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "spoor.h"
#include "util.h"

unsigned long check_passed;
unsigned long check_failed;

void util_cleanup(int keep_files);

/* ============================================================================================
 * Versions, status strings, error details
 * ========================================================================================== */

void test_static_info(void) {
    char expected[32];
    snprintf(expected, sizeof expected, "%d.%d.%d", SPOOR_VERSION_MAJOR, SPOOR_VERSION_MINOR,
             SPOOR_VERSION_PATCH);
    CHECK_STR(spoor_version(), expected);
    CHECK_EQ(spoor_abi_version(), SPOOR_ABI_VERSION);
    /* Event names: one table, exported. */
    CHECK_STR(spoor_event_name(SPOOR_EVENT_SHUFFLE_WRITE), "shuffle_write");
    CHECK_STR(spoor_event_name(SPOOR_EVENT_NETWORK_RECEIVE), "network_receive");
    CHECK_STR(spoor_event_name(SPOOR_EVENT_ERROR), "error");
    CHECK_STR(spoor_event_name(SPOOR_EVENT_CUSTOM), "custom");
    CHECK_STR(spoor_event_name(65535), "custom");
    CHECK_STR(spoor_event_name(0), "unknown");
    CHECK_STR(spoor_event_name(12), "unknown");
    CHECK_STR(spoor_event_name(65536), "unknown");
    /* Key hashes: FNV-1a test vectors; integers as 8 little-endian bytes. */
    CHECK_EQ(spoor_hash_bytes("", 0), 0xcbf29ce484222325ull);
    CHECK_EQ(spoor_hash_bytes("a", 1), 0xaf63dc4c8601ec8cull);
    CHECK_EQ(spoor_hash_bytes("foobar", 6), 0x85944171f73967e8ull);
    {
        const unsigned char seven[8] = {7, 0, 0, 0, 0, 0, 0, 0};
        CHECK_EQ(spoor_hash_u64(7), spoor_hash_bytes(seven, 8));
    }
    /* spoor_now is CLOCK_MONOTONIC: never goes backwards, and is non-zero. */
    uint64_t a = spoor_now();
    uint64_t b = spoor_now();
    CHECK(a != 0);
    CHECK(b >= a);
}

void test_strerror(void) {
    static const int codes[] = {
        SPOOR_OK, SPOOR_DROPPED, SPOOR_E_INVALID_ARGUMENT, SPOOR_E_NOT_INITIALIZED,
        SPOOR_E_ALREADY_INITIALIZED, SPOOR_E_ABI_MISMATCH, SPOOR_E_INVALID_CONFIG, SPOOR_E_SHM,
        SPOOR_E_TOO_MANY_PARENTS, SPOOR_E_ATTACHMENT_TOO_LARGE, SPOOR_E_REPORT_TOO_LARGE,
        SPOOR_E_TOO_MANY_OPERATORS, SPOOR_E_BUFFER_TOO_SMALL, SPOOR_E_PARSE, SPOOR_E_IO,
        SPOOR_E_TIMEOUT, SPOOR_E_NO_MEMORY,
    };
    const size_t n = sizeof codes / sizeof codes[0];
    CHECK_EQ(n, 17);
    for (size_t i = 0; i < n; i++) {
        const char *text = spoor_strerror(codes[i]);
        if (!CHECK(text != NULL && text[0] != 0)) continue;
        if (!CHECK(strcmp(text, "unknown spoor status") != 0)) fprintf(stderr, "    code %d\n", codes[i]);
        for (size_t j = 0; j < i; j++) {
            if (!CHECK(strcmp(text, spoor_strerror(codes[j])) != 0)) {
                fprintf(stderr, "    codes %d and %d share a description\n", codes[i], codes[j]);
            }
        }
    }
    static const int unknown[] = {2, 3, -16, -100, 1000, INT_MIN, INT_MAX};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        CHECK_STR(spoor_strerror(unknown[i]), "unknown spoor status");
    }
}

static void *detail_thread(void *arg) {
    const char **out = arg;
    /* A thread that never failed has an empty detail. */
    out[0] = strdup(spoor_error_detail());
    spoor_stats stats;
    (void)spoor_get_stats(&stats); /* NOT_INITIALIZED: sets this thread's detail only */
    out[1] = strdup(spoor_error_detail());
    return NULL;
}

void test_error_detail(void) {
    /* A failure in this thread. */
    CHECK_EQ(spoor_get_stats(NULL), SPOOR_E_INVALID_ARGUMENT);
    char mine[300];
    snprintf(mine, sizeof mine, "%s", spoor_error_detail());
    CHECK(mine[0] != 0);
    /* Another thread: starts empty, its failure does not touch this thread's detail. */
    const char *theirs[2] = {NULL, NULL};
    pthread_t thread;
    CHECK_EQ(pthread_create(&thread, NULL, detail_thread, theirs), 0);
    pthread_join(thread, NULL);
    CHECK_STR(theirs[0], "");
    CHECK(theirs[1] != NULL && theirs[1][0] != 0);
    CHECK(theirs[1] != NULL && strcmp(theirs[1], mine) != 0);
    CHECK_STR(spoor_error_detail(), mine);
    free((void *)theirs[0]);
    free((void *)theirs[1]);
}

/* ============================================================================================
 * Keys and context propagation (no spoor_init needed)
 * ========================================================================================== */

void test_hash(void) {
    CHECK_EQ(spoor_hash_bytes("", 0), 0xcbf29ce484222325ULL);
    CHECK_EQ(spoor_hash_bytes("a", 1), 0xaf63dc4c8601ec8cULL);
    CHECK_EQ(spoor_hash_bytes("foobar", 6), 0x85944171f73967e8ULL);
    /* Only `len` bytes are read: the rest of the buffer does not matter. */
    CHECK_EQ(spoor_hash_bytes("foobarbaz", 6), 0x85944171f73967e8ULL);
    /* Embedded NUL bytes are data. */
    CHECK(spoor_hash_bytes("a\0b", 3) != spoor_hash_bytes("a", 1));
    CHECK_EQ(spoor_hash_bytes(NULL, 0), 0xcbf29ce484222325ULL);
    CHECK_EQ(spoor_hash_bytes(NULL, 5), 0);
    CHECK_EQ(spoor_hash_bytes(NULL, SIZE_MAX), 0);
}

/* The murmur3 64-bit finaliser, written out from its specification. */
static uint64_t murmur3_fmix64(uint64_t k) {
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ULL;
    k ^= k >> 33;
    return k;
}

/* floor(p * 2^64) for p in (0, 1): the threshold the header documents. */
static uint64_t threshold_of(double p) { return (uint64_t)ldexp(p, 64); }

void test_key_sampled(void) {
    int hits = 0;
    for (uint64_t i = 0; i < 10000; i++) {
        uint64_t key = spoor_hash_bytes(&i, sizeof i);
        int a = spoor_key_sampled(key, 0.25);
        int b = spoor_key_sampled(key, 0.25);
        if (a != b || (a != 0 && a != 1)) {
            CHECK(a == b && (a == 0 || a == 1));
            break;
        }
        hits += a;
        /* The documented formula. */
        int expected = spoor__mix64(key) < threshold_of(0.25);
        if (a != expected) {
            CHECK_EQ(a, expected);
            break;
        }
        /* Monotone in p: a key sampled at 0.25 is sampled at 0.5. */
        if (a && !spoor_key_sampled(key, 0.5)) {
            CHECK(!"sampled at p=0.25 but not at p=0.5");
            break;
        }
    }
    /* The hash is fixed, so this count is deterministic; it must be near 2500. */
    CHECK(hits > 2200 && hits < 2800);
    /* Edge probabilities. */
    int ones = 0, zeros = 0;
    for (uint64_t key = 0; key < 1000; key++) {
        ones += spoor_key_sampled(key * 0x9e3779b97f4a7c15ULL, 1.0);
        ones += spoor_key_sampled(key * 0x9e3779b97f4a7c15ULL, 1.5);
        ones += spoor_key_sampled(key * 0x9e3779b97f4a7c15ULL, INFINITY);
        zeros += spoor_key_sampled(key * 0x9e3779b97f4a7c15ULL, 0.0);
        zeros += spoor_key_sampled(key * 0x9e3779b97f4a7c15ULL, -0.5);
        zeros += spoor_key_sampled(key * 0x9e3779b97f4a7c15ULL, -INFINITY);
        zeros += spoor_key_sampled(key * 0x9e3779b97f4a7c15ULL, NAN);
    }
    CHECK_EQ(ones, 3000);
    CHECK_EQ(zeros, 0);
    CHECK_EQ(spoor_key_sampled(0, 1.0), 1);
    CHECK_EQ(spoor_key_sampled(UINT64_MAX, 0.0), 0);
    CHECK_EQ(spoor_key_sampled(UINT64_MAX, NAN), 0);
    /* spoor__mix64 is the murmur3 64-bit finaliser of key ^ 0x9e3779b97f4a7c15, as documented. */
    int mix_ok = 1;
    for (uint64_t i = 0; i < 1000; i++) {
        uint64_t key = i * 0x2545f4914f6cdd1dULL;
        mix_ok &= spoor__mix64(key) == murmur3_fmix64(key ^ 0x9e3779b97f4a7c15ULL);
    }
    CHECK(mix_ok);
    CHECK(spoor__mix64(0) != 0); /* key 0 ("no key") is not special */
}

void test_context(void) {
    char buf[64];
    uint64_t id = 0;
    uint32_t flags = 0;

    /* String round trips. */
    CHECK_EQ(spoor_context_encode(0x00f067aa0ba902b7ULL, SPOOR_CONTEXT_SAMPLED, buf, sizeof buf),
             SPOOR_CONTEXT_STRING_LEN);
    CHECK_STR(buf, "00-00f067aa0ba902b7-01");
    CHECK_EQ(strlen(buf), SPOOR_CONTEXT_STRING_LEN);
    CHECK_EQ(spoor_context_decode(buf, SPOOR_CONTEXT_STRING_LEN, &id, &flags), SPOOR_OK);
    CHECK_EQ(id, 0x00f067aa0ba902b7ULL);
    CHECK_EQ(flags, SPOOR_CONTEXT_SAMPLED);
    CHECK_EQ(spoor_context_encode(0, 0, buf, sizeof buf), SPOOR_CONTEXT_STRING_LEN);
    CHECK_STR(buf, "00-0000000000000000-00");
    CHECK_EQ(spoor_context_decode(buf, SPOOR_CONTEXT_STRING_LEN, &id, &flags), SPOOR_OK);
    CHECK_EQ(id, 0);
    CHECK_EQ(flags, 0);
    CHECK_EQ(spoor_context_encode(UINT64_MAX, 0xffu, buf, sizeof buf), SPOOR_CONTEXT_STRING_LEN);
    CHECK_STR(buf, "00-ffffffffffffffff-ff");
    CHECK_EQ(spoor_context_decode(buf, SPOOR_CONTEXT_STRING_LEN, &id, &flags), SPOOR_OK);
    CHECK_EQ(id, UINT64_MAX);
    CHECK_EQ(flags, 0xff);
    /* Exactly enough room, and upper-case hex, and no NUL needed after the 22 characters. */
    CHECK_EQ(spoor_context_encode(0x1234, SPOOR_CONTEXT_SAMPLED, buf, SPOOR_CONTEXT_STRING_LEN + 1),
             SPOOR_CONTEXT_STRING_LEN);
    CHECK_EQ(spoor_context_decode("00-00F067AA0BA902B7-01", 22, &id, &flags), SPOOR_OK);
    CHECK_EQ(id, 0x00f067aa0ba902b7ULL);
    CHECK_EQ(spoor_context_decode("00-000000000000abcd-01trailing", 22, &id, &flags), SPOOR_OK);
    CHECK_EQ(id, 0xabcd);

    /* Encoding errors. */
    CHECK_EQ(spoor_context_encode(1, SPOOR_CONTEXT_SAMPLED, NULL, 64), SPOOR_E_INVALID_ARGUMENT);
    CHECK(spoor_error_detail()[0] != 0);
    CHECK_EQ(spoor_context_encode(1, 0x101, buf, sizeof buf), SPOOR_E_INVALID_ARGUMENT);
    CHECK_EQ(spoor_context_encode(0, SPOOR_CONTEXT_SAMPLED, buf, sizeof buf), SPOOR_E_INVALID_ARGUMENT);
    CHECK_EQ(spoor_context_encode(7, 0, buf, sizeof buf), SPOOR_E_INVALID_ARGUMENT);
    CHECK_EQ(spoor_context_encode(7, 0x02, buf, sizeof buf), SPOOR_E_INVALID_ARGUMENT);
    CHECK_EQ(spoor_context_encode(7, 1, buf, SPOOR_CONTEXT_STRING_LEN), SPOOR_E_BUFFER_TOO_SMALL);
    CHECK_EQ(spoor_context_encode(7, 1, buf, 0), SPOOR_E_BUFFER_TOO_SMALL);
    /* A capacity is a lower bound: any larger value, however absurd, is "big enough". */
    CHECK_EQ(spoor_context_encode(7, 1, buf, SIZE_MAX), SPOOR_CONTEXT_STRING_LEN);

    /* Decoding errors. */
    const char *good = "00-00f067aa0ba902b7-01";
    CHECK_EQ(spoor_context_decode(NULL, 22, &id, &flags), SPOOR_E_INVALID_ARGUMENT);
    CHECK_EQ(spoor_context_decode(good, 22, NULL, &flags), SPOOR_E_INVALID_ARGUMENT);
    CHECK_EQ(spoor_context_decode(good, 22, &id, NULL), SPOOR_E_INVALID_ARGUMENT);
    CHECK_EQ(spoor_context_decode(good, 21, &id, &flags), SPOOR_E_PARSE);
    CHECK_EQ(spoor_context_decode(good, 0, &id, &flags), SPOOR_E_PARSE);
    CHECK_EQ(spoor_context_decode("00-00f067aa0ba902b7-010", 23, &id, &flags), SPOOR_E_PARSE);
    CHECK_EQ(spoor_context_decode(good, SIZE_MAX, &id, &flags), SPOOR_E_PARSE);
    CHECK_EQ(spoor_context_decode("01-00f067aa0ba902b7-01", 22, &id, &flags), SPOOR_E_PARSE);
    CHECK_EQ(spoor_context_decode("ff-00f067aa0ba902b7-01", 22, &id, &flags), SPOOR_E_PARSE);
    CHECK_EQ(spoor_context_decode("00_00f067aa0ba902b7-01", 22, &id, &flags), SPOOR_E_PARSE);
    CHECK_EQ(spoor_context_decode("00-00f067aa0ba902b7_01", 22, &id, &flags), SPOOR_E_PARSE);
    CHECK_EQ(spoor_context_decode("00-00f067aa0ba902bg-01", 22, &id, &flags), SPOOR_E_PARSE);
    CHECK_EQ(spoor_context_decode("00- 0f067aa0ba902b7-01", 22, &id, &flags), SPOOR_E_PARSE);
    CHECK_EQ(spoor_context_decode("00-00f067aa0ba902b7-0x", 22, &id, &flags), SPOOR_E_PARSE);
    CHECK_EQ(spoor_context_decode("00-00f067aa\0ba902b7-01", 22, &id, &flags), SPOOR_E_PARSE);
    /* Flags inconsistent with the id. */
    CHECK_EQ(spoor_context_decode("00-0000000000000000-01", 22, &id, &flags), SPOOR_E_PARSE);
    CHECK_EQ(spoor_context_decode("00-0000000000000005-00", 22, &id, &flags), SPOOR_E_PARSE);
    CHECK_EQ(spoor_context_decode("00-0000000000000005-02", 22, &id, &flags), SPOOR_E_PARSE);
    CHECK(spoor_error_detail()[0] != 0);
    /* A failed decode leaves the outputs alone or sets them, but never crashes; the last
     * successful values are not asserted. */

    /* Binary round trips: version 0, flags, id big-endian. */
    uint8_t bytes[16];
    memset(bytes, 0xee, sizeof bytes);
    CHECK_EQ(spoor_context_encode_bytes(0x0102030405060708ULL, SPOOR_CONTEXT_SAMPLED, bytes, sizeof bytes),
             SPOOR_CONTEXT_BYTES_LEN);
    static const uint8_t expected[10] = {0, 1, 1, 2, 3, 4, 5, 6, 7, 8};
    CHECK(memcmp(bytes, expected, sizeof expected) == 0);
    CHECK_EQ(bytes[10], 0xee); /* nothing written past 10 bytes */
    CHECK_EQ(spoor_context_decode_bytes(bytes, SPOOR_CONTEXT_BYTES_LEN, &id, &flags), SPOOR_OK);
    CHECK_EQ(id, 0x0102030405060708ULL);
    CHECK_EQ(flags, 1);
    CHECK_EQ(spoor_context_encode_bytes(0, 0, bytes, SPOOR_CONTEXT_BYTES_LEN), SPOOR_CONTEXT_BYTES_LEN);
    CHECK_EQ(spoor_context_decode_bytes(bytes, SPOOR_CONTEXT_BYTES_LEN, &id, &flags), SPOOR_OK);
    CHECK_EQ(id, 0);
    CHECK_EQ(flags, 0);
    /* Binary errors. */
    CHECK_EQ(spoor_context_encode_bytes(1, 1, NULL, 10), SPOOR_E_INVALID_ARGUMENT);
    CHECK_EQ(spoor_context_encode_bytes(1, 0, bytes, 10), SPOOR_E_INVALID_ARGUMENT);
    CHECK_EQ(spoor_context_encode_bytes(0, 1, bytes, 10), SPOOR_E_INVALID_ARGUMENT);
    CHECK_EQ(spoor_context_encode_bytes(1, 256 | 1, bytes, 10), SPOOR_E_INVALID_ARGUMENT);
    CHECK_EQ(spoor_context_encode_bytes(1, 1, bytes, 9), SPOOR_E_BUFFER_TOO_SMALL);
    CHECK_EQ(spoor_context_encode_bytes(1, 1, bytes, SIZE_MAX), SPOOR_CONTEXT_BYTES_LEN);
    uint8_t bad[10] = {0, 1, 1, 2, 3, 4, 5, 6, 7, 8};
    CHECK_EQ(spoor_context_decode_bytes(NULL, 10, &id, &flags), SPOOR_E_INVALID_ARGUMENT);
    CHECK_EQ(spoor_context_decode_bytes(bad, 10, NULL, &flags), SPOOR_E_INVALID_ARGUMENT);
    CHECK_EQ(spoor_context_decode_bytes(bad, 10, &id, NULL), SPOOR_E_INVALID_ARGUMENT);
    CHECK_EQ(spoor_context_decode_bytes(bad, 9, &id, &flags), SPOOR_E_PARSE);
    CHECK_EQ(spoor_context_decode_bytes(bad, 0, &id, &flags), SPOOR_E_PARSE);
    CHECK_EQ(spoor_context_decode_bytes(bad, SIZE_MAX, &id, &flags), SPOOR_E_PARSE);
    bad[0] = 1; /* version */
    CHECK_EQ(spoor_context_decode_bytes(bad, 10, &id, &flags), SPOOR_E_PARSE);
    bad[0] = 0;
    bad[1] = 0; /* id without the sampled flag */
    CHECK_EQ(spoor_context_decode_bytes(bad, 10, &id, &flags), SPOOR_E_PARSE);
    static const uint8_t zero_sampled[10] = {0, 1, 0, 0, 0, 0, 0, 0, 0, 0};
    CHECK_EQ(spoor_context_decode_bytes(zero_sampled, 10, &id, &flags), SPOOR_E_PARSE);
    /* String and binary forms agree. */
    CHECK_EQ(spoor_context_encode(0xfedcba9876543210ULL, 0x81, buf, sizeof buf), 22);
    uint64_t id2 = 0;
    uint32_t flags2 = 0;
    CHECK_EQ(spoor_context_decode(buf, 22, &id, &flags), SPOOR_OK);
    CHECK_EQ(spoor_context_encode_bytes(id, flags, bytes, 10), 10);
    CHECK_EQ(spoor_context_decode_bytes(bytes, 10, &id2, &flags2), SPOOR_OK);
    CHECK_EQ(id2, 0xfedcba9876543210ULL);
    CHECK_EQ(flags2, 0x81);
}

/* ============================================================================================
 * Before spoor_init: everything that needs a running library says SPOOR_E_NOT_INITIALIZED
 * ========================================================================================== */

void test_uninitialized(void) {
    char buf[256];
    uint64_t id = 99;
    uint32_t op = 99;
    spoor_stats stats;
    spoor_sampling sampling = {.mode = SPOOR_SAMPLE_ALL};

    CHECK_EQ(spoor_shutdown(), SPOOR_E_NOT_INITIALIZED);
    CHECK(spoor_error_detail()[0] != 0);
    CHECK_EQ(spoor_flush(0), SPOOR_E_NOT_INITIALIZED);
    CHECK_EQ(spoor_flush(1), SPOOR_E_NOT_INITIALIZED);
    CHECK_EQ(spoor_run_dir(buf, sizeof buf), SPOOR_E_NOT_INITIALIZED);
    CHECK_EQ(spoor_shm_name(buf, sizeof buf), SPOOR_E_NOT_INITIALIZED);
    CHECK_EQ(spoor_set_sampling(&sampling), SPOOR_E_NOT_INITIALIZED);
    CHECK_EQ(spoor_get_sampling(&sampling), SPOOR_E_NOT_INITIALIZED);
    CHECK_EQ(spoor_register_operator("op", 2, "site", 4, &op), SPOOR_E_NOT_INITIALIZED);
    CHECK_EQ(spoor_get_stats(&stats), SPOOR_E_NOT_INITIALIZED);
    CHECK_EQ(spoor_get_thread_stats(&stats), SPOOR_E_NOT_INITIALIZED);

    CHECK_EQ(spoor_entry(1, 42, &id), SPOOR_E_NOT_INITIALIZED);
    CHECK_EQ(id, 0);
    id = 99;
    spoor_attr attr = {"k", 1, "v", 1};
    CHECK_EQ(spoor_entry_ex(1, 42, &attr, 1, &id), SPOOR_E_NOT_INITIALIZED);
    CHECK_EQ(id, 0);
    id = 99;
    CHECK_EQ(spoor_checkpoint1(0x1234, 1, 0, 0, 0, &id), SPOOR_E_NOT_INITIALIZED);
    CHECK_EQ(id, 0);
    uint64_t parents[3] = {0, 0x1234, 0x5678};
    spoor_report_info info = {.op = 1, .fanout = 3};
    id = 99;
    CHECK_EQ(spoor_checkpoint(parents, 3, &info, &id), SPOOR_E_NOT_INITIALIZED);
    CHECK_EQ(spoor_poke(0x1234, 1, SPOOR_EVENT_EXIT, 0), SPOOR_E_NOT_INITIALIZED);
    CHECK_EQ(spoor_poke_ex(0x1234, 1, SPOOR_EVENT_EXIT, 0, NULL, 0), SPOOR_E_NOT_INITIALIZED);
    {
        uint64_t minted = 7;
        CHECK_EQ(spoor_mint(1, 0, NULL, 0, &minted), SPOOR_E_NOT_INITIALIZED);
        CHECK_EQ(minted, 0);
    }
    /* The dead-segment sweep works without spoor_init and checks its arguments. */
    uint64_t swept_reports = 99;
    CHECK_EQ(spoor_recover_dead(NULL, 5, &swept_reports), SPOOR_E_INVALID_ARGUMENT);
    CHECK_EQ(swept_reports, 0);
    CHECK_EQ(spoor_recover_dead("x", 0, NULL), SPOOR_E_INVALID_ARGUMENT);
    CHECK_EQ(spoor_recover_dead("a\0b", 3, NULL), SPOOR_E_INVALID_ARGUMENT);
    CHECK_EQ(spoor_recover_dead("/nonexistent/spoor-root", 23, &swept_reports), 0);
    CHECK_EQ(swept_reports, 0);

    /* A fold works without the library until it must report; finish then fails and the fold
     * is reset all the same (its heap buffer released). */
    spoor_fold fold = SPOOR_FOLD_INIT;
    for (uint64_t i = 1; i <= 10; i++) CHECK_EQ(spoor_fold_add(&fold, i), SPOOR_OK);
    CHECK_EQ(fold.count, 10);
    id = 99;
    CHECK_EQ(spoor_fold_finish(&fold, NULL, &id), SPOOR_E_NOT_INITIALIZED);
    CHECK_EQ(fold.count, 0);
    CHECK(fold.heap == NULL);

    /* Untracked records never enter the library: SPOOR_OK and id 0 even now. */
    id = 99;
    CHECK_EQ(spoor_checkpoint1(0, 1, 0, 0, 0, &id), SPOOR_OK);
    CHECK_EQ(id, 0);
    uint64_t zeros[2] = {0, 0};
    id = 99;
    CHECK_EQ(spoor_checkpoint(zeros, 2, NULL, &id), SPOOR_OK);
    CHECK_EQ(id, 0);
    CHECK_EQ(spoor_poke(0, 1, SPOOR_EVENT_EXIT, 0), SPOOR_OK);
    id = 99;
    CHECK_EQ(spoor_fold_finish(&fold, NULL, &id), SPOOR_OK);
    CHECK_EQ(id, 0);
    spoor_set_partition(5); /* never fails */
    spoor_set_partition(UINT32_MAX);
}

/* ============================================================================================
 * spoor_init: ABI, configuration fields, environment, shared-memory names
 * ========================================================================================== */

/* The error detail of the last spoor_init made by expect_init (later calls overwrite the
 * thread's detail). */
static char last_detail[512];

/* Calls spoor_init(cfg) expecting `expected`; on failure checks that nothing was left behind
 * (the library is not running, no run directory, no shm name). */
static void expect_init(const spoor_config *cfg, int expected, const char *what) {
    int rc = spoor_init(cfg);
    snprintf(last_detail, sizeof last_detail, "%s", spoor_error_detail());
    if (!CHECK_EQ(rc, expected)) fprintf(stderr, "    case: %s (detail: %s)\n", what, spoor_error_detail());
    if (rc == SPOOR_OK) {
        spoor_shutdown();
        return;
    }
    if (!CHECK(spoor_error_detail()[0] != 0)) fprintf(stderr, "    case: %s\n", what);
    spoor_stats stats;
    CHECK_EQ(spoor_get_stats(&stats), SPOOR_E_NOT_INITIALIZED);
    if (cfg != NULL && cfg->log_dir != NULL && dir_entries(cfg->log_dir) >= 0) {
        if (!CHECK_EQ(dir_entries(cfg->log_dir), 0)) fprintf(stderr, "    case: %s\n", what);
    }
    if (cfg != NULL && cfg->shm_name != NULL && expected != SPOOR_E_SHM) {
        if (!CHECK(!shm_exists(cfg->shm_name))) fprintf(stderr, "    case: %s\n", what);
    }
}

void test_init_errors(void) {
    char shm[64];
    spoor_config cfg;

    /* ABI mismatch, checked before anything else. */
    config_default(&cfg, shm);
    CHECK_EQ(spoor_init_abi(SPOOR_ABI_VERSION + 1, &cfg), SPOOR_E_ABI_MISMATCH);
    CHECK(spoor_error_detail()[0] != 0);
    CHECK_EQ(spoor_init_abi(0, &cfg), SPOOR_E_ABI_MISMATCH);
    CHECK_EQ(spoor_init_abi(SPOOR_ABI_VERSION + 1, NULL), SPOOR_E_ABI_MISMATCH);
    CHECK_EQ(dir_entries(cfg.log_dir), 0);
    CHECK(!shm_exists(cfg.shm_name));

    /* The valid baseline, through spoor_init_abi directly. */
    config_default(&cfg, shm);
    CHECK_EQ(spoor_init_abi(SPOOR_ABI_VERSION, &cfg), SPOOR_OK);
    CHECK_EQ(spoor_shutdown(), SPOOR_OK);

#define BAD_CONFIG(field_assignment)                    \
    do {                                                \
        config_default(&cfg, shm);                      \
        field_assignment;                               \
        expect_init(&cfg, SPOOR_E_INVALID_CONFIG, #field_assignment); \
    } while (0)

    BAD_CONFIG(cfg.struct_size = sizeof cfg - 8);
    BAD_CONFIG(cfg.struct_size = sizeof cfg + 8);
    BAD_CONFIG(cfg.struct_size = 1);
    BAD_CONFIG(cfg.flags = 0x2);
    BAD_CONFIG(cfg.flags = SPOOR_CONFIG_IGNORE_ENV | 0x80000000u);
    BAD_CONFIG(cfg.ring_slots = 100);
    BAD_CONFIG(cfg.ring_slots = 63);
    BAD_CONFIG(cfg.ring_slots = 32);
    BAD_CONFIG(cfg.ring_slots = 1u << 25);
    BAD_CONFIG(cfg.ring_slots = UINT32_MAX);
    BAD_CONFIG(cfg.max_threads = 5000);
    BAD_CONFIG(cfg.max_threads = 4097);
    BAD_CONFIG(cfg.flush_interval_ms = 60001);
    BAD_CONFIG(cfg.full_policy = 3);
    BAD_CONFIG(cfg.block_timeout_ms = 60001);
    BAD_CONFIG(cfg.sink = 2);
    BAD_CONFIG(cfg.segment_bytes = 1000);
    BAD_CONFIG(cfg.segment_bytes = (1ULL << 40) + 1);
    BAD_CONFIG(cfg.log_dir = "");
    BAD_CONFIG(cfg.sampling.mode = 7);
    BAD_CONFIG(cfg.sampling.mode = 99);
    BAD_CONFIG(cfg.sampling.reserved = 1);
    BAD_CONFIG((cfg.sampling.mode = SPOOR_SAMPLE_PROBABILITY, cfg.sampling.probability = 2.0));
    BAD_CONFIG((cfg.sampling.mode = SPOOR_SAMPLE_PROBABILITY, cfg.sampling.probability = -0.1));
    BAD_CONFIG((cfg.sampling.mode = SPOOR_SAMPLE_PROBABILITY, cfg.sampling.probability = NAN));
    BAD_CONFIG((cfg.sampling.mode = SPOOR_SAMPLE_KEY_HASH, cfg.sampling.probability = 2.0));
    BAD_CONFIG((cfg.sampling.mode = SPOOR_SAMPLE_KEY_HASH, cfg.sampling.probability = INFINITY));
    BAD_CONFIG((cfg.sampling.mode = SPOOR_SAMPLE_EVERY_N, cfg.sampling.every_n = 0));
    BAD_CONFIG((cfg.sampling.mode = SPOOR_SAMPLE_RATE, cfg.sampling.per_second = 0));
    BAD_CONFIG((cfg.sampling.mode = SPOOR_SAMPLE_RATE, cfg.sampling.per_second = 1ULL << 32));
#undef BAD_CONFIG

    /* A log_dir far longer than any path. */
    char *long_dir = malloc(5000);
    memset(long_dir, 'd', 4999);
    long_dir[0] = '/';
    long_dir[4999] = 0;
    config_default(&cfg, shm);
    cfg.log_dir = long_dir;
    expect_init(&cfg, SPOOR_E_INVALID_CONFIG, "log_dir of 4999 bytes");
    free(long_dir);

    /* A log_dir that cannot be created (below a regular file): SPOOR_E_IO, and the shm name
     * the failed init created is gone again. */
    char file_path[512], below[600];
    snprintf(file_path, sizeof file_path, "%s/a-file", tmp_dir());
    FILE *file = fopen(file_path, "w");
    if (CHECK(file != NULL)) fclose(file);
    snprintf(below, sizeof below, "%s/logs", file_path);
    config_default(&cfg, shm);
    cfg.log_dir = below;
    expect_init(&cfg, SPOOR_E_IO, "log_dir below a regular file");

    /* Valid boundary values are accepted. */
    config_default(&cfg, shm);
    cfg.struct_size = 0; /* "this header's size" */
    cfg.ring_slots = 64;
    cfg.max_threads = 1;
    cfg.flush_interval_ms = 1;
    cfg.block_timeout_ms = 60000;
    cfg.full_policy = SPOOR_FULL_BLOCK;
    cfg.segment_bytes = 64 << 10;
    cfg.seed = 12345;
    cfg.sampling.mode = SPOOR_SAMPLE_RATE;
    cfg.sampling.per_second = 1;
    expect_init(&cfg, SPOOR_OK, "boundary values");
    config_default(&cfg, shm);
    cfg.max_threads = 4096;
    cfg.flush_interval_ms = 60000;
    cfg.sampling.mode = SPOOR_SAMPLE_KEY_HASH;
    cfg.sampling.probability = 1.0;
    expect_init(&cfg, SPOOR_OK, "max_threads 4096");
}

void test_env(void) {
    char shm[64], buf[4096];
    spoor_config cfg;

    struct {
        const char *name, *value;
    } bad[] = {
        {"SPOOR_SAMPLING", "bogus"},     {"SPOOR_SAMPLING", "every:0"},
        {"SPOOR_SAMPLING", "probability:2"}, {"SPOOR_SAMPLING", "key:x"},
        {"SPOOR_SAMPLING", "rate:0"},    {"SPOOR_RING_SLOTS", "100"},
        {"SPOOR_RING_SLOTS", "abc"},     {"SPOOR_MAX_THREADS", "5000"},
        {"SPOOR_MAX_THREADS", "-1"},     {"SPOOR_FLUSH_MS", "70000"},
        {"SPOOR_FULL_POLICY", "maybe"},  {"SPOOR_BLOCK_TIMEOUT_MS", "x"},
        {"SPOOR_SEGMENT_BYTES", "12"},   {"SPOOR_SEED", "seed"},
        {"SPOOR_SINK", "stdout"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        setenv(bad[i].name, bad[i].value, 1);
        config_default(&cfg, shm);
        cfg.flags = 0; /* read the environment */
        char what[128];
        snprintf(what, sizeof what, "%s=%s", bad[i].name, bad[i].value);
        expect_init(&cfg, SPOOR_E_INVALID_CONFIG, what);
        /* The detail names the variable. */
        if (!CHECK(strstr(last_detail, bad[i].name) != NULL)) {
            fprintf(stderr, "    %s: detail \"%s\"\n", what, last_detail);
        }
        /* SPOOR_CONFIG_IGNORE_ENV: the same variable is not even read. */
        config_default(&cfg, shm);
        expect_init(&cfg, SPOOR_OK, what);
        unsetenv(bad[i].name);
    }

    /* Valid variables override the fields. */
    const char *env_dir = tmp_dir();
    char env_shm[64];
    shm_name_new(env_shm);
    setenv("SPOOR_SAMPLING", "every:5", 1);
    setenv("SPOOR_DIR", env_dir, 1);
    setenv("SPOOR_SHM_NAME", env_shm, 1);
    config_default(&cfg, shm);
    cfg.flags = 0;
    if (CHECK_EQ(spoor_init(&cfg), SPOOR_OK)) {
        spoor_sampling s;
        memset(&s, 0, sizeof s);
        CHECK_EQ(spoor_get_sampling(&s), SPOOR_OK);
        CHECK_EQ(s.mode, SPOOR_SAMPLE_EVERY_N);
        CHECK_EQ(s.every_n, 5);
        CHECK(spoor_run_dir(buf, sizeof buf) > 0);
        CHECK(strncmp(buf, env_dir, strlen(env_dir)) == 0);
        CHECK(spoor_shm_name(buf, sizeof buf) > 0);
        CHECK_STR(buf, env_shm);
        CHECK(shm_exists(env_shm));
        CHECK_EQ(dir_entries(cfg.log_dir), 0); /* the field was overridden */
        CHECK_EQ(spoor_shutdown(), SPOOR_OK);
        CHECK(!shm_exists(env_shm));
    }
    unsetenv("SPOOR_SAMPLING");
    unsetenv("SPOOR_SHM_NAME");

    /* spoor_init(NULL): defaults plus environment; the default shm name is
     * "/spoor.PID.RANDOM". SPOOR_DIR keeps the log out of the working directory. */
    if (CHECK_EQ(spoor_init(NULL), SPOOR_OK)) {
        char prefix[64];
        snprintf(prefix, sizeof prefix, "/spoor.%ld.", (long)getpid());
        CHECK(spoor_shm_name(buf, sizeof buf) > 0);
        CHECK(strncmp(buf, prefix, strlen(prefix)) == 0 && strlen(buf) > strlen(prefix));
        CHECK(strchr(buf + 1, '/') == NULL);
        char default_shm[4096];
        snprintf(default_shm, sizeof default_shm, "%s", buf);
        CHECK(shm_exists(default_shm));
        spoor_sampling s;
        CHECK_EQ(spoor_get_sampling(&s), SPOOR_OK);
        /* The default strategy: SPOOR_SAMPLE_DEFAULT or its meaning, probability 0.01. */
        CHECK(s.mode == SPOOR_SAMPLE_DEFAULT || (s.mode == SPOOR_SAMPLE_PROBABILITY && s.probability == 0.01));
        CHECK(spoor_run_dir(buf, sizeof buf) > 0);
        CHECK(strncmp(buf, env_dir, strlen(env_dir)) == 0);
        CHECK_EQ(spoor_shutdown(), SPOOR_OK);
        CHECK(!shm_exists(default_shm));
    }
    unsetenv("SPOOR_DIR");
}

void test_shm_names(void) {
    char shm[64];
    spoor_config cfg;
    static const char *bad_names[] = {"noslash", "/a/b", "/", "", "//x", "/x/"};
    for (size_t i = 0; i < sizeof bad_names / sizeof bad_names[0]; i++) {
        config_default(&cfg, shm);
        cfg.shm_name = bad_names[i];
        expect_init(&cfg, SPOOR_E_SHM, bad_names[i]);
    }
    char long_name[301];
    memset(long_name, 'n', 300);
    long_name[0] = '/';
    long_name[300] = 0;
    config_default(&cfg, shm);
    cfg.shm_name = long_name;
    expect_init(&cfg, SPOOR_E_SHM, "300-byte shm name");
    /* 255 bytes ("/" and 254 more) is the documented maximum and is accepted. */
    char max_name[256];
    snprintf(max_name, sizeof max_name, "/spoor-ctest-%ld-max-", (long)getpid());
    memset(max_name + strlen(max_name), 'm', 255 - strlen(max_name));
    max_name[255] = 0;
    config_default(&cfg, shm);
    cfg.shm_name = max_name;
    if (CHECK_EQ(spoor_init(&cfg), SPOOR_OK)) {
        CHECK(shm_exists(max_name));
        CHECK_EQ(spoor_shutdown(), SPOOR_OK);
    }
    CHECK(!shm_exists(max_name));

    /* A name already in use by someone else: SPOOR_E_SHM, and the other segment survives. */
    config_default(&cfg, shm);
    int fd = shm_open(cfg.shm_name, O_CREAT | O_EXCL | O_RDWR, 0600);
    if (CHECK(fd >= 0)) {
        CHECK_EQ(ftruncate(fd, 4096), 0);
        expect_init(&cfg, SPOOR_E_SHM, "shm name in use");
        CHECK(strstr(last_detail, cfg.shm_name) != NULL);
        CHECK(shm_exists(cfg.shm_name));
        struct stat st;
        CHECK(fstat(fd, &st) == 0 && st.st_size == 4096);
        close(fd);
        CHECK_EQ(shm_unlink(cfg.shm_name), 0);
    }

    /* A name in use by another live spoor_init: a child process initialises with it and
     * waits; our init with the same name fails; once the child shut down the name is free. */
    config_default(&cfg, shm);
    int ready[2], done[2];
    if (!CHECK(pipe(ready) == 0 && pipe(done) == 0)) return;
    fflush(NULL);
    pid_t child = fork();
    if (child == 0) {
        close(ready[0]);
        close(done[1]);
        alarm(120); /* watchdog: a hang becomes a failure */
        char byte = spoor_init(&cfg) == SPOOR_OK ? 'y' : 'n';
        if (write(ready[1], &byte, 1) != 1) _exit(3);
        if (read(done[0], &byte, 1) != 1) _exit(4);
        _exit(spoor_shutdown() == SPOOR_OK ? 0 : 5);
    }
    close(ready[1]); /* so that a dead child reads as end of file, not a hang */
    close(done[0]);
    char byte = 0;
    CHECK(child > 0);
    CHECK(read(ready[0], &byte, 1) == 1 && byte == 'y');
    spoor_config same_name = cfg;
    same_name.log_dir = tmp_dir(); /* the child's run directory is in cfg.log_dir */
    expect_init(&same_name, SPOOR_E_SHM, "shm name held by another process's spoor_init");
    CHECK(shm_exists(cfg.shm_name));
    CHECK(write(done[1], "x", 1) == 1);
    int status = -1;
    CHECK_EQ(waitpid(child, &status, 0), child);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK(!shm_exists(cfg.shm_name));
    close(ready[0]);
    close(done[1]);
    same_name.log_dir = tmp_dir();
    expect_init(&same_name, SPOOR_OK, "shm name free again");
}

/* ============================================================================================
 * Lifecycle: double init, concurrent init, calls after shutdown
 * ========================================================================================== */

struct init_race {
    pthread_barrier_t barrier;
    const spoor_config *cfg;
    int results[4];
};

static void *init_racer(void *arg) {
    struct init_race *race = arg;
    static int next;
    int me = __atomic_fetch_add(&next, 1, __ATOMIC_RELAXED) % 4;
    pthread_barrier_wait(&race->barrier);
    race->results[me] = spoor_init(race->cfg);
    return NULL;
}

void test_lifecycle(void) {
    char shm[64], buf[4096];
    spoor_config cfg;
    config_default(&cfg, shm);
    if (!CHECK_EQ(spoor_init(&cfg), SPOOR_OK)) return;

    /* Double init, with the same or another configuration, leaves the first run alone. */
    CHECK_EQ(spoor_init(&cfg), SPOOR_E_ALREADY_INITIALIZED);
    CHECK(spoor_error_detail()[0] != 0);
    CHECK_EQ(spoor_init(NULL), SPOOR_E_ALREADY_INITIALIZED);
    spoor_config other;
    char other_shm[64];
    config_default(&other, other_shm);
    CHECK_EQ(spoor_init(&other), SPOOR_E_ALREADY_INITIALIZED);
    CHECK_EQ(dir_entries(other.log_dir), 0);
    CHECK(!shm_exists(other.shm_name));
    /* A bad config still says "already initialized" or "invalid config"; either way it fails. */
    other.ring_slots = 3;
    CHECK(spoor_init(&other) < 0);

    /* The run: one run directory in log_dir, the shm name exists while running. */
    int len = spoor_run_dir(buf, sizeof buf);
    CHECK(len > 0 && (size_t)len == strlen(buf));
    CHECK(strncmp(buf, cfg.log_dir, strlen(cfg.log_dir)) == 0 && buf[strlen(cfg.log_dir)] == '/');
    struct stat st;
    CHECK(stat(buf, &st) == 0 && S_ISDIR(st.st_mode));
    CHECK_EQ(dir_entries(cfg.log_dir), 1);
    len = spoor_shm_name(buf, sizeof buf);
    CHECK_EQ(len, strlen(cfg.shm_name));
    CHECK_STR(buf, cfg.shm_name);
    CHECK(shm_exists(cfg.shm_name));

    uint64_t entry = 0, id = 0;
    CHECK_EQ(spoor_entry(0, 1, &entry), SPOOR_OK);
    CHECK(entry != 0);
    CHECK_EQ(spoor_flush(0), SPOOR_OK);
    CHECK_EQ(spoor_flush(60000), SPOOR_OK);

    CHECK_EQ(spoor_shutdown(), SPOOR_OK);
    CHECK(!shm_exists(cfg.shm_name));
    CHECK_EQ(spoor_shutdown(), SPOOR_E_NOT_INITIALIZED);

    /* After shutdown everything says NOT_INITIALIZED (and never crashes), even with the ids
     * of the finished run. */
    id = 99;
    CHECK_EQ(spoor_checkpoint1(entry, 0, 0, 0, 0, &id), SPOOR_E_NOT_INITIALIZED);
    CHECK_EQ(id, 0);
    id = 99;
    CHECK_EQ(spoor_entry(0, 1, &id), SPOOR_E_NOT_INITIALIZED);
    CHECK_EQ(id, 0);
    spoor_attr attr = {"k", 1, NULL, 0};
    CHECK_EQ(spoor_entry_ex(0, 1, &attr, 1, &id), SPOOR_E_NOT_INITIALIZED);
    uint64_t parents[2] = {entry, entry};
    CHECK_EQ(spoor_checkpoint(parents, 2, NULL, &id), SPOOR_E_NOT_INITIALIZED);
    CHECK_EQ(spoor_poke(entry, 0, SPOOR_EVENT_EXIT, 0), SPOOR_E_NOT_INITIALIZED);
    spoor_fold fold = SPOOR_FOLD_INIT;
    CHECK_EQ(spoor_fold_add(&fold, entry), SPOOR_OK);
    CHECK_EQ(spoor_fold_finish(&fold, NULL, &id), SPOOR_E_NOT_INITIALIZED);
    CHECK_EQ(fold.count, 0);
    CHECK_EQ(spoor_flush(0), SPOOR_E_NOT_INITIALIZED);
    CHECK_EQ(spoor_run_dir(buf, sizeof buf), SPOOR_E_NOT_INITIALIZED);
    CHECK_EQ(spoor_shm_name(buf, sizeof buf), SPOOR_E_NOT_INITIALIZED);
    spoor_stats stats;
    CHECK_EQ(spoor_get_stats(&stats), SPOOR_E_NOT_INITIALIZED);
    CHECK_EQ(spoor_get_thread_stats(&stats), SPOOR_E_NOT_INITIALIZED);
    spoor_sampling s = {.mode = SPOOR_SAMPLE_OFF};
    CHECK_EQ(spoor_set_sampling(&s), SPOOR_E_NOT_INITIALIZED);
    CHECK_EQ(spoor_get_sampling(&s), SPOOR_E_NOT_INITIALIZED);
    uint32_t op = 0;
    CHECK_EQ(spoor_register_operator("x", 1, NULL, 0, &op), SPOOR_E_NOT_INITIALIZED);

    /* Concurrent spoor_init: exactly one wins. */
    config_default(&cfg, shm);
    struct init_race race;
    race.cfg = &cfg;
    memset(race.results, 0x7f, sizeof race.results);
    pthread_barrier_init(&race.barrier, NULL, 4);
    pthread_t threads[4];
    for (int i = 0; i < 4; i++) pthread_create(&threads[i], NULL, init_racer, &race);
    for (int i = 0; i < 4; i++) pthread_join(threads[i], NULL);
    pthread_barrier_destroy(&race.barrier);
    int ok = 0, already = 0;
    for (int i = 0; i < 4; i++) {
        ok += race.results[i] == SPOOR_OK;
        already += race.results[i] == SPOOR_E_ALREADY_INITIALIZED;
    }
    CHECK_EQ(ok, 1);
    CHECK_EQ(already, 3);
    if (ok == 1) CHECK_EQ(spoor_shutdown(), SPOOR_OK);
}

/* ============================================================================================
 * Bad arguments while running
 * ========================================================================================== */

/* spoor_checkpoint fails with `expected` and leaves *out_id at 0, as documented. */
#define CHECKPOINT_FAILS(parents, n, info, expected)                                \
    do {                                                                            \
        uint64_t out_ = 99;                                                         \
        CHECK_EQ(spoor_checkpoint((parents), (n), (info), &out_), (expected));     \
        CHECK_EQ(out_, 0);                                                          \
    } while (0)

void test_bad_arguments(void) {
    char shm[64], buf[4096];
    spoor_config cfg;
    config_default(&cfg, shm);
    if (!CHECK_EQ(spoor_init(&cfg), SPOOR_OK)) return;

    /* spoor_fold_report: every bad input, and all-zero parents. */
    {
        uint64_t id = 99, zeros[2] = {0, 0}, one[1] = {0};
        CHECK_EQ(spoor_fold_report(zeros, 2, NULL, NULL), SPOOR_E_INVALID_ARGUMENT);
        CHECK_EQ(spoor_fold_report(NULL, 2, NULL, &id), SPOOR_E_INVALID_ARGUMENT);
        CHECK_EQ(id, 0);
        CHECK_EQ(spoor_fold_report(one, 0, NULL, &id), SPOOR_E_INVALID_ARGUMENT);
        CHECK_EQ(spoor_fold_report(one, SIZE_MAX, NULL, &id), SPOOR_E_TOO_MANY_PARENTS);
        CHECK_EQ(spoor_fold_report(one, (size_t)SPOOR_MAX_PARENTS + 1, NULL, &id), SPOOR_E_TOO_MANY_PARENTS);
        id = 99;
        CHECK_EQ(spoor_fold_report(zeros, 2, NULL, &id), SPOOR_OK);
        CHECK_EQ(id, 0);
    }

    /* Operators. */
    uint32_t op = 0, op2 = 0, op3 = 0;
    CHECK_EQ(spoor_register_operator(NULL, 3, NULL, 0, &op), SPOOR_E_INVALID_ARGUMENT);
    CHECK(spoor_error_detail()[0] != 0);
    CHECK_EQ(spoor_register_operator("map", 3, NULL, 0, NULL), SPOOR_E_INVALID_ARGUMENT);
    CHECK_EQ(spoor_register_operator("map", 0, NULL, 0, &op), SPOOR_E_INVALID_ARGUMENT);
    CHECK_EQ(spoor_register_operator("map", SIZE_MAX, NULL, 0, &op), SPOOR_E_INVALID_ARGUMENT);
    CHECK_EQ(spoor_register_operator("map", 3, NULL, 7, &op), SPOOR_E_INVALID_ARGUMENT);
    char long_name[SPOOR_MAX_NAME_LEN + 2];
    memset(long_name, 'n', sizeof long_name);
    CHECK_EQ(spoor_register_operator(long_name, SPOOR_MAX_NAME_LEN + 1, NULL, 0, &op), SPOOR_E_INVALID_ARGUMENT);
    CHECK_EQ(spoor_register_operator(long_name, SPOOR_MAX_NAME_LEN, NULL, 0, &op), SPOOR_OK);
    CHECK(op >= 1);
    /* Interning: same (name, site) gives the same id; another site another id. Names need no
     * NUL and only name_len bytes count. */
    CHECK_EQ(spoor_register_operator("map!!!", 3, "a.c:1", 5, &op), SPOOR_OK);
    CHECK_EQ(spoor_register_operator("map???", 3, "a.c:1", 5, &op2), SPOOR_OK);
    CHECK_EQ(spoor_register_operator("map", 3, "a.c:2", 5, &op3), SPOOR_OK);
    CHECK(op >= 1);
    CHECK_EQ(op2, op);
    CHECK(op3 != op && op3 >= 1);

    /* Entries. */
    uint64_t id = 0;
    CHECK_EQ(spoor_entry(op, 1, NULL), SPOOR_E_INVALID_ARGUMENT);
    CHECK_EQ(spoor_entry_ex(op, 1, NULL, 0, NULL), SPOOR_E_INVALID_ARGUMENT);
    CHECK_EQ(spoor_entry_ex(op, 1, NULL, 1, &id), SPOOR_E_INVALID_ARGUMENT);
    CHECK_EQ(spoor_entry_ex(op, 1, NULL, 0, &id), SPOOR_OK); /* no attachment */
    CHECK(id != 0);
    spoor_attr attrs[2] = {{"key", 3, "value", 5}, {"k2", 2, NULL, 0}};
    CHECK_EQ(spoor_entry_ex(op, 1, attrs, 2, &id), SPOOR_OK);
    CHECK(id != 0);
    spoor_attr empty_key = {"", 0, "v", 1};
    CHECK_EQ(spoor_entry_ex(op, 1, &empty_key, 1, &id), SPOOR_E_INVALID_ARGUMENT);
    spoor_attr null_key = {NULL, 3, "v", 1};
    CHECK_EQ(spoor_entry_ex(op, 1, &null_key, 1, &id), SPOOR_E_INVALID_ARGUMENT);
    spoor_attr null_value = {"k", 1, NULL, 4};
    CHECK_EQ(spoor_entry_ex(op, 1, &null_value, 1, &id), SPOOR_E_INVALID_ARGUMENT);
    /* Keys: 255 bytes fit, 256 do not. */
    char key[300];
    memset(key, 'k', sizeof key);
    spoor_attr key255 = {key, 255, "v", 1};
    CHECK_EQ(spoor_entry_ex(op, 1, &key255, 1, &id), SPOOR_OK);
    spoor_attr key256 = {key, 256, "v", 1};
    CHECK_EQ(spoor_entry_ex(op, 1, &key256, 1, &id), SPOOR_E_ATTACHMENT_TOO_LARGE);
    CHECK(spoor_error_detail()[0] != 0);
    /* Attachment size: each pair costs 3 + key + value bytes, at most SPOOR_MAX_ATTACHMENT. */
    static char value[2000];
    spoor_attr full = {"k", 1, value, SPOOR_MAX_ATTACHMENT - 4};
    CHECK_EQ(spoor_entry_ex(op, 1, &full, 1, &id), SPOOR_OK);
    spoor_attr over = {"k", 1, value, SPOOR_MAX_ATTACHMENT - 3};
    CHECK_EQ(spoor_entry_ex(op, 1, &over, 1, &id), SPOOR_E_ATTACHMENT_TOO_LARGE);
    spoor_attr way_over = {"k", 1, value, 2000};
    CHECK_EQ(spoor_entry_ex(op, 1, &way_over, 1, &id), SPOOR_E_ATTACHMENT_TOO_LARGE);
    spoor_attr many[300];
    for (int i = 0; i < 300; i++) many[i] = (spoor_attr){"k", 1, NULL, 0};
    CHECK_EQ(spoor_entry_ex(op, 1, many, 256, &id), SPOOR_OK); /* 256 * 4 = 1024 bytes */
    CHECK_EQ(spoor_entry_ex(op, 1, many, 257, &id), SPOOR_E_ATTACHMENT_TOO_LARGE);

    /* One-parent checkpoints. */
    uint64_t parent = 0;
    CHECK_EQ(spoor_entry(op, 1, &parent), SPOOR_OK);
    CHECK(parent != 0);
    CHECK_EQ(spoor_checkpoint1(parent, op, 0, 0, 0, NULL), SPOOR_E_INVALID_ARGUMENT);
    CHECK_EQ(spoor_checkpoint1(0, op, 0, 0, 0, NULL), SPOOR_E_INVALID_ARGUMENT);
    CHECK_EQ(spoor_checkpoint1(parent, op, 0, 0, 0, &id), SPOOR_OK);
    CHECK(id != 0 && id != parent);

    /* Many-parent checkpoints. */
    uint64_t parents[4] = {parent, 0, parent, 0};
    spoor_report_info info;
    memset(&info, 0, sizeof info);
    CHECKPOINT_FAILS(NULL, 1, &info, SPOOR_E_INVALID_ARGUMENT);
    CHECK_EQ(spoor_checkpoint(parents, 1, &info, NULL), SPOOR_E_INVALID_ARGUMENT);
    CHECKPOINT_FAILS(parents, 0, &info, SPOOR_E_INVALID_ARGUMENT);
    CHECK_EQ(spoor_checkpoint(NULL, 0, NULL, NULL), SPOOR_E_INVALID_ARGUMENT);
    CHECKPOINT_FAILS(parents, SPOOR_MAX_PARENTS + 1, &info, SPOOR_E_TOO_MANY_PARENTS);
    CHECK(spoor_error_detail()[0] != 0);
    /* Absurd counts: the 4-element array must not be read (ASan would see it), and the error is
     * the one the header names for "more than SPOOR_MAX_PARENTS". */
    CHECKPOINT_FAILS(parents, SIZE_MAX, &info, SPOOR_E_TOO_MANY_PARENTS);
    CHECKPOINT_FAILS(parents, (size_t)1 << 63, &info, SPOOR_E_TOO_MANY_PARENTS);
    CHECKPOINT_FAILS(parents, (size_t)1 << 40, &info, SPOOR_E_TOO_MANY_PARENTS);
    CHECK_EQ(spoor_checkpoint(parents, 4, NULL, &id), SPOOR_OK); /* info may be NULL */
    CHECK(id != 0);
    info.fanout = 65537;
    CHECKPOINT_FAILS(parents, 4, &info, SPOOR_E_INVALID_ARGUMENT);
    info.fanout = UINT32_MAX;
    CHECKPOINT_FAILS(parents, 4, &info, SPOOR_E_INVALID_ARGUMENT);
    info.fanout = 65536;
    CHECK_EQ(spoor_checkpoint(parents, 4, &info, &id), SPOOR_OK);
    info.fanout = 0;
    info.attrs = NULL;
    info.n_attrs = 2;
    CHECKPOINT_FAILS(parents, 4, &info, SPOOR_E_INVALID_ARGUMENT);
    info.attrs = &empty_key;
    info.n_attrs = 1;
    CHECKPOINT_FAILS(parents, 4, &info, SPOOR_E_INVALID_ARGUMENT);
    info.attrs = &key256;
    CHECKPOINT_FAILS(parents, 4, &info, SPOOR_E_ATTACHMENT_TOO_LARGE);
    info.attrs = attrs;
    info.n_attrs = 2;
    CHECK_EQ(spoor_checkpoint(parents, 4, &info, &id), SPOOR_OK);

    /* Pokes: event codes are 1..65535; untracked ids are not checked at all. */
    CHECK_EQ(spoor_poke(parent, op, 0, 0), SPOOR_E_INVALID_ARGUMENT);
    CHECK(spoor_error_detail()[0] != 0);
    CHECK_EQ(spoor_poke(parent, op, 65536, 0), SPOOR_E_INVALID_ARGUMENT);
    CHECK_EQ(spoor_poke(parent, op, UINT32_MAX, 0), SPOOR_E_INVALID_ARGUMENT);
    CHECK_EQ(spoor_poke(parent, op, 65535, 0), SPOOR_OK);
    CHECK_EQ(spoor_poke(parent, op, SPOOR_EVENT_SHUFFLE_WRITE, 0), SPOOR_OK);
    CHECK_EQ(spoor_poke(0, op, 0, 0), SPOOR_OK);
    /* Minted records: always traced, even with sampling off; the id survives a lost report. */
    {
        uint64_t minted = 0;
        CHECK_EQ(spoor_mint(op, 5, NULL, 0, NULL), SPOOR_E_INVALID_ARGUMENT);
        CHECK_EQ(spoor_mint(op, 5, NULL, 1, &minted), SPOOR_E_INVALID_ARGUMENT);
        CHECK_EQ(minted, 0);
        CHECK_EQ(spoor_mint(op, 5, &key256, 1, &minted), SPOOR_E_ATTACHMENT_TOO_LARGE);
        spoor_sampling off = {0};
        off.mode = SPOOR_SAMPLE_OFF;
        spoor_sampling before;
        CHECK_EQ(spoor_get_sampling(&before), SPOOR_OK);
        CHECK_EQ(spoor_set_sampling(&off), SPOOR_OK);
        uint64_t unsampled = 1;
        CHECK_EQ(spoor_entry(op, 5, &unsampled), SPOOR_OK);
        CHECK_EQ(unsampled, 0);
        CHECK_EQ(spoor_mint(op, 5, NULL, 0, &minted), SPOOR_OK);
        CHECK(minted != 0);
        CHECK_EQ(spoor_mint(op, 5, attrs, 2, &minted), SPOOR_OK);
        CHECK(minted != 0);
        CHECK_EQ(spoor_set_sampling(&before), SPOOR_OK);
    }
    /* Pokes with an attachment: the same checks, and the attachment's. */
    CHECK_EQ(spoor_poke_ex(parent, op, 0, 0, NULL, 0), SPOOR_E_INVALID_ARGUMENT);
    CHECK_EQ(spoor_poke_ex(parent, op, 65536, 0, attrs, 2), SPOOR_E_INVALID_ARGUMENT);
    CHECK_EQ(spoor_poke_ex(0, op, 0, 0, NULL, 5), SPOOR_OK); /* untracked: nothing is read */
    CHECK_EQ(spoor_poke_ex(parent, op, SPOOR_EVENT_ERROR, 0, NULL, 1), SPOOR_E_INVALID_ARGUMENT);
    CHECK_EQ(spoor_poke_ex(parent, op, SPOOR_EVENT_ERROR, 0, &empty_key, 1), SPOOR_E_INVALID_ARGUMENT);
    CHECK_EQ(spoor_poke_ex(parent, op, SPOOR_EVENT_ERROR, 0, &key256, 1), SPOOR_E_ATTACHMENT_TOO_LARGE);
    CHECK_EQ(spoor_poke_ex(parent, op, SPOOR_EVENT_ERROR, 0, attrs, 2), SPOOR_OK);
    CHECK_EQ(spoor_poke_ex(parent, op, SPOOR_EVENT_EXIT, 12345, NULL, 0), SPOOR_OK);

    /* Folds. */
    spoor_fold fold = SPOOR_FOLD_INIT;
    CHECK_EQ(spoor_fold_add(NULL, 5), SPOOR_E_INVALID_ARGUMENT);
    CHECK_EQ(spoor_fold_add(NULL, 0), SPOOR_E_INVALID_ARGUMENT);
    CHECK_EQ(spoor_fold_finish(NULL, NULL, &id), SPOOR_E_INVALID_ARGUMENT);
    CHECK_EQ(spoor_fold_add(&fold, parent), SPOOR_OK);
    CHECK_EQ(spoor_fold_finish(&fold, NULL, NULL), SPOOR_E_INVALID_ARGUMENT);
    CHECK_EQ(fold.count, 1); /* invalid arguments: the fold is kept */
    spoor_fold empty = SPOOR_FOLD_INIT;
    CHECK_EQ(spoor_fold_finish(&empty, NULL, NULL), SPOOR_E_INVALID_ARGUMENT);
    info.fanout = 70000;
    CHECK_EQ(spoor_fold_finish(&fold, &info, &id), SPOOR_E_INVALID_ARGUMENT);
    CHECK_EQ(fold.count, 1); /* "reset either way, unless the arguments are invalid" */
    info.fanout = 0;
    spoor_fold_discard(&fold);
    CHECK_EQ(fold.count, 0);
    /* A fold that was not zero-initialised is refused rather than written out of bounds. */
    spoor_fold garbage;
    memset(&garbage, 0, sizeof garbage);
    garbage.count = 1000;
    CHECK_EQ(spoor_fold_add(&garbage, 7), SPOOR_E_INVALID_ARGUMENT);
    CHECK_EQ(spoor_fold_finish(&garbage, NULL, &id), SPOOR_E_INVALID_ARGUMENT);
    /* The header's promise for a fold that was never initialised: whatever its bytes, with a
     * consistent-looking count and capacity and a wild heap pointer, no function dereferences,
     * reallocates or frees that pointer (ASan and a plain run would both fault if one did). */
    for (unsigned pattern = 0; pattern < 4; pattern++) {
        memset(&garbage, 0x5a + (int)pattern, sizeof garbage);
        garbage.heap = (uint64_t *)(uintptr_t)(0xdead0000ull + pattern * 4096u);
        garbage.count = 3;
        garbage.heap_capacity = 8 + pattern;
        CHECK_EQ(spoor_fold_add(&garbage, 9), SPOOR_E_INVALID_ARGUMENT);
        spoor_fold other = SPOOR_FOLD_INIT;
        CHECK_EQ(spoor_fold_merge(&other, &garbage), SPOOR_E_INVALID_ARGUMENT);
        CHECK_EQ(spoor_fold_merge(&garbage, &other), SPOOR_E_INVALID_ARGUMENT);
        CHECK_EQ(spoor_fold_finish(&garbage, NULL, &id), SPOOR_E_INVALID_ARGUMENT);
        spoor_fold_discard(&garbage);
        CHECK(garbage.heap == NULL && garbage.count == 0); /* zeroed, nothing freed */
    }

    /* Stats and sampling getters. */
    CHECK_EQ(spoor_get_stats(NULL), SPOOR_E_INVALID_ARGUMENT);
    CHECK_EQ(spoor_get_thread_stats(NULL), SPOOR_E_INVALID_ARGUMENT);
    CHECK_EQ(spoor_get_sampling(NULL), SPOOR_E_INVALID_ARGUMENT);
    CHECK_EQ(spoor_set_sampling(NULL), SPOOR_E_INVALID_ARGUMENT);

    /* Run directory and shm name buffers. */
    int len = spoor_run_dir(buf, sizeof buf);
    CHECK(len > 0);
    CHECK_EQ(spoor_run_dir(NULL, 100), SPOOR_E_INVALID_ARGUMENT);
    CHECK_EQ(spoor_run_dir(NULL, 0), SPOOR_E_INVALID_ARGUMENT);
    char small[8];
    memset(small, 'x', sizeof small);
    CHECK_EQ(spoor_run_dir(small, 0), SPOOR_E_BUFFER_TOO_SMALL);
    CHECK_EQ(spoor_run_dir(small, sizeof small), SPOOR_E_BUFFER_TOO_SMALL);
    CHECK(spoor_error_detail()[0] != 0);
    char *exact = malloc((size_t)len + 1);
    CHECK_EQ(spoor_run_dir(exact, (size_t)len), SPOOR_E_BUFFER_TOO_SMALL); /* no room for NUL */
    CHECK_EQ(spoor_run_dir(exact, (size_t)len + 1), len);
    CHECK_STR(exact, buf);
    free(exact);
    CHECK_EQ(spoor_run_dir(buf, SIZE_MAX), len); /* a capacity is a lower bound */
    len = spoor_shm_name(buf, sizeof buf);
    CHECK_EQ(len, strlen(shm));
    CHECK_EQ(spoor_shm_name(NULL, 64), SPOOR_E_INVALID_ARGUMENT);
    CHECK_EQ(spoor_shm_name(small, sizeof small), SPOOR_E_BUFFER_TOO_SMALL);
    CHECK_EQ(spoor_shm_name(small, (size_t)len), SPOOR_E_BUFFER_TOO_SMALL);
    char name_buf[64];
    CHECK_EQ(spoor_shm_name(name_buf, (size_t)len + 1), len);
    CHECK_STR(name_buf, shm);
    CHECK_EQ(spoor_shm_name(buf, SIZE_MAX), len);

    /* Nothing above broke the run. */
    spoor_stats stats;
    CHECK_EQ(spoor_flush(0), SPOOR_OK);
    CHECK_EQ(spoor_get_stats(&stats), SPOOR_OK);
    CHECK_EQ(stats.written, stats.committed + stats.dropped);
    CHECK_EQ(stats.drained, stats.committed);
    CHECK_EQ(stats.sink_errors, 0);
    char run_dir[4096];
    current_run_dir(run_dir);
    CHECK_EQ(spoor_shutdown(), SPOOR_OK);
    free(dump_dir(run_dir));
}

/* Absurd sizes ("negative" size_t values, lengths no buffer can have) must be refused with the
 * documented error and must never reach the ring: a report whose encoded lengths disagree with
 * its contents would damage the log. Kept in a run of its own so that a failure here does not
 * hide the other tests' reports. */
static void test_absurd_sizes(void) {
    char shm[64];
    spoor_config cfg;
    config_default(&cfg, shm);
    if (!CHECK_EQ(spoor_init(&cfg), SPOOR_OK)) return;
    uint64_t before = 0, id = 0, after = 0;
    CHECK_EQ(spoor_entry(0, 1, &before), SPOOR_OK);
    spoor_attr attrs[2] = {{"key", 3, "value", 5}, {"k2", 2, NULL, 0}};
    spoor_attr huge_key = {"k", SIZE_MAX, "v", 1};
    spoor_attr huge_value = {"k", 1, "v", SIZE_MAX};
    spoor_attr big_value = {"k", 1, "v", (size_t)1 << 62};
    CHECK_EQ(spoor_entry_ex(0, 2, attrs, SIZE_MAX, &id), SPOOR_E_ATTACHMENT_TOO_LARGE);
    CHECK_EQ(spoor_entry_ex(0, 2, &huge_key, 1, &id), SPOOR_E_ATTACHMENT_TOO_LARGE);
    CHECK_EQ(spoor_entry_ex(0, 2, &huge_value, 1, &id), SPOOR_E_ATTACHMENT_TOO_LARGE);
    CHECK_EQ(spoor_entry_ex(0, 2, &big_value, 1, &id), SPOOR_E_ATTACHMENT_TOO_LARGE);
    spoor_report_info info;
    memset(&info, 0, sizeof info);
    info.attrs = attrs;
    info.n_attrs = SIZE_MAX;
    CHECKPOINT_FAILS(&before, 1, &info, SPOOR_E_ATTACHMENT_TOO_LARGE);
    info.attrs = &huge_key;
    info.n_attrs = 1;
    CHECKPOINT_FAILS(&before, 1, &info, SPOOR_E_ATTACHMENT_TOO_LARGE);
    info.attrs = &huge_value;
    CHECKPOINT_FAILS(&before, 1, &info, SPOOR_E_ATTACHMENT_TOO_LARGE);
    CHECK_EQ(spoor_entry(0, 3, &after), SPOOR_OK);
    char run_dir[4096];
    current_run_dir(run_dir);
    CHECK_EQ(spoor_flush(0), SPOOR_OK);
    spoor_stats stats;
    CHECK_EQ(spoor_get_stats(&stats), SPOOR_OK);
    CHECK_EQ(stats.written, 2);
    CHECK_EQ(stats.sink_errors, 0);
    CHECK_EQ(spoor_shutdown(), SPOOR_OK);
    /* The log stays readable and holds both plain entries. */
    char *dump = dump_dir(run_dir);
    char *line = report_line(dump, "entry", before);
    CHECK(line != NULL);
    free(line);
    line = report_line(dump, "entry", after);
    CHECK(line != NULL);
    free(line);
    free(dump);
}

/* ============================================================================================
 * Sampling: set/get round trips and invalid strategies
 * ========================================================================================== */

static int same_sampling(const spoor_sampling *a, const spoor_sampling *b) {
    if (a->mode != b->mode) return 0;
    switch (a->mode) {
    case SPOOR_SAMPLE_PROBABILITY:
    case SPOOR_SAMPLE_KEY_HASH: return a->probability == b->probability;
    case SPOOR_SAMPLE_EVERY_N: return a->every_n == b->every_n;
    case SPOOR_SAMPLE_RATE: return a->per_second == b->per_second;
    default: return 1;
    }
}

void test_sampling_config(void) {
    char shm[64];
    spoor_config cfg;
    config_default(&cfg, shm);
    cfg.sampling.mode = SPOOR_SAMPLE_PROBABILITY;
    cfg.sampling.probability = 0.125;
    if (!CHECK_EQ(spoor_init(&cfg), SPOOR_OK)) return;

    spoor_sampling got;
    memset(&got, 0xff, sizeof got);
    CHECK_EQ(spoor_get_sampling(&got), SPOOR_OK);
    CHECK(same_sampling(&got, &cfg.sampling));

    spoor_sampling good[] = {
        {.mode = SPOOR_SAMPLE_OFF},
        {.mode = SPOOR_SAMPLE_ALL},
        {.mode = SPOOR_SAMPLE_PROBABILITY, .probability = 0.25},
        {.mode = SPOOR_SAMPLE_PROBABILITY, .probability = 0.0},
        {.mode = SPOOR_SAMPLE_PROBABILITY, .probability = 1.0},
        {.mode = SPOOR_SAMPLE_EVERY_N, .every_n = 7},
        {.mode = SPOOR_SAMPLE_EVERY_N, .every_n = 1},
        {.mode = SPOOR_SAMPLE_EVERY_N, .every_n = UINT64_MAX},
        {.mode = SPOOR_SAMPLE_RATE, .per_second = 100},
        {.mode = SPOOR_SAMPLE_RATE, .per_second = UINT32_MAX},
        {.mode = SPOOR_SAMPLE_KEY_HASH, .probability = 0.5},
        {.mode = SPOOR_SAMPLE_KEY_HASH, .probability = 0.0},
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        if (!CHECK_EQ(spoor_set_sampling(&good[i]), SPOOR_OK)) fprintf(stderr, "    case %zu\n", i);
        memset(&got, 0, sizeof got);
        CHECK_EQ(spoor_get_sampling(&got), SPOOR_OK);
        if (!CHECK(same_sampling(&got, &good[i]))) {
            fprintf(stderr, "    case %zu: set mode %u, got mode %u\n", i, good[i].mode, got.mode);
        }
        CHECK_EQ(got.reserved, 0);
    }
    spoor_sampling def = {.mode = SPOOR_SAMPLE_DEFAULT};
    CHECK_EQ(spoor_set_sampling(&def), SPOOR_OK);
    CHECK_EQ(spoor_get_sampling(&got), SPOOR_OK);
    CHECK(got.mode == SPOOR_SAMPLE_DEFAULT || (got.mode == SPOOR_SAMPLE_PROBABILITY && got.probability == 0.01));

    /* Invalid strategies are refused and leave the current one in place. */
    spoor_sampling current = {.mode = SPOOR_SAMPLE_EVERY_N, .every_n = 3};
    CHECK_EQ(spoor_set_sampling(&current), SPOOR_OK);
    spoor_sampling bad[] = {
        {.mode = 7},
        {.mode = UINT32_MAX},
        {.mode = SPOOR_SAMPLE_ALL, .reserved = 1},
        {.mode = SPOOR_SAMPLE_PROBABILITY, .probability = 2.0},
        {.mode = SPOOR_SAMPLE_PROBABILITY, .probability = -1e-9},
        {.mode = SPOOR_SAMPLE_PROBABILITY, .probability = NAN},
        {.mode = SPOOR_SAMPLE_KEY_HASH, .probability = 1.0000001},
        {.mode = SPOOR_SAMPLE_EVERY_N, .every_n = 0},
        {.mode = SPOOR_SAMPLE_RATE, .per_second = 0},
        {.mode = SPOOR_SAMPLE_RATE, .per_second = 1ULL << 32},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (!CHECK_EQ(spoor_set_sampling(&bad[i]), SPOOR_E_INVALID_CONFIG)) fprintf(stderr, "    case %zu\n", i);
        CHECK(spoor_error_detail()[0] != 0);
        CHECK_EQ(spoor_get_sampling(&got), SPOOR_OK);
        CHECK(same_sampling(&got, &current));
    }
    CHECK_EQ(spoor_shutdown(), SPOOR_OK);
}

/* ============================================================================================
 * Folds without reporting: add, merge, discard (no spoor_init needed)
 * ========================================================================================== */

static uint64_t fold_id(const spoor_fold *fold, uint64_t i) {
    return fold->heap != NULL ? fold->heap[i] : fold->inline_ids[i];
}

void test_folds_offline(void) {
    spoor_fold a = SPOOR_FOLD_INIT, b = SPOOR_FOLD_INIT;
    /* Untracked ids cost nothing and are not kept. */
    CHECK_EQ(spoor_fold_add(&a, 0), SPOOR_OK);
    CHECK_EQ(a.count, 0);
    for (uint64_t i = 1; i <= SPOOR_FOLD_INLINE; i++) CHECK_EQ(spoor_fold_add(&a, i), SPOOR_OK);
    CHECK_EQ(a.count, SPOOR_FOLD_INLINE);
    CHECK(a.heap == NULL);
    /* Past the inline capacity the fold grows a heap buffer and keeps the order. */
    for (uint64_t i = SPOOR_FOLD_INLINE + 1; i <= 100; i++) CHECK_EQ(spoor_fold_add(&a, i), SPOOR_OK);
    CHECK_EQ(a.count, 100);
    CHECK(a.heap != NULL);
    CHECK((a.heap_capacity & 0xffffffffu) >= 100);
    int in_order = 1;
    for (uint64_t i = 0; i < 100; i++) in_order &= fold_id(&a, i) == i + 1;
    CHECK(in_order);
    CHECK_EQ(a.truncated, 0);

    /* Merge inline into heap and heap into inline. */
    CHECK_EQ(spoor_fold_add(&b, 1000), SPOOR_OK);
    CHECK_EQ(spoor_fold_add(&b, 1001), SPOOR_OK);
    CHECK_EQ(spoor_fold_merge(&a, &b), SPOOR_OK);
    CHECK_EQ(a.count, 102);
    CHECK_EQ(fold_id(&a, 100), 1000);
    CHECK_EQ(fold_id(&a, 101), 1001);
    CHECK_EQ(b.count, 0);
    CHECK(b.heap == NULL);
    CHECK_EQ(spoor_fold_add(&b, 2000), SPOOR_OK);
    CHECK_EQ(spoor_fold_merge(&b, &a), SPOOR_OK);
    CHECK_EQ(b.count, 103);
    CHECK_EQ(fold_id(&b, 0), 2000);
    CHECK_EQ(fold_id(&b, 1), 1);
    CHECK_EQ(fold_id(&b, 102), 1001);
    CHECK_EQ(a.count, 0);
    CHECK(a.heap == NULL);
    /* Merging an empty fold changes nothing. */
    CHECK_EQ(spoor_fold_merge(&b, &a), SPOOR_OK);
    CHECK_EQ(b.count, 103);
    /* Bad merges. */
    CHECK_EQ(spoor_fold_merge(NULL, &a), SPOOR_E_INVALID_ARGUMENT);
    CHECK_EQ(spoor_fold_merge(&a, NULL), SPOOR_E_INVALID_ARGUMENT);
    CHECK_EQ(spoor_fold_merge(NULL, NULL), SPOOR_E_INVALID_ARGUMENT);
    CHECK_EQ(spoor_fold_merge(&b, &b), SPOOR_E_INVALID_ARGUMENT);
    CHECK_EQ(b.count, 103);
    /* Discard releases everything; discarding twice or NULL is harmless. */
    spoor_fold_discard(&b);
    CHECK_EQ(b.count, 0);
    CHECK(b.heap == NULL);
    CHECK_EQ(b.heap_capacity, 0);
    spoor_fold_discard(&b);
    spoor_fold_discard(NULL);
    /* A discarded fold is reusable. */
    CHECK_EQ(spoor_fold_add(&b, 77), SPOOR_OK);
    CHECK_EQ(b.count, 1);
    CHECK_EQ(fold_id(&b, 0), 77);
    spoor_fold_discard(&b);
}

/* ============================================================================================
 * main
 * ========================================================================================== */

/* Drop every SPOOR_* variable the caller's environment may carry (except the CLI path), so
 * that the tests see exactly the configuration they build. */
static void clear_spoor_environment(void) {
    extern char **environ;
    char *names[64];
    int n = 0;
    for (char **env = environ; *env != NULL && n < 64; env++) {
        if (strncmp(*env, "SPOOR_", 6) == 0 && strncmp(*env, "SPOOR_CLI=", 10) != 0) {
            names[n++] = strndup(*env, strcspn(*env, "="));
        }
    }
    for (int i = 0; i < n; i++) {
        unsetenv(names[i]);
        free(names[i]);
    }
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN); /* a dead child's pipe must fail a check, not kill the suite */
    clear_spoor_environment();

    static const struct {
        const char *name;
        void (*run)(void);
    } tests[] = {
        /* Order matters for the first three: nothing may have initialised the library yet. */
        {"uninitialized", test_uninitialized},
        {"error_detail", test_error_detail},
        {"folds_offline", test_folds_offline},
        {"static_info", test_static_info},
        {"strerror", test_strerror},
        {"hash", test_hash},
        {"key_sampled", test_key_sampled},
        {"partitioner", test_partitioner},
        {"context", test_context},
        {"init_errors", test_init_errors},
        {"env", test_env},
        {"shm_names", test_shm_names},
        {"lifecycle", test_lifecycle},
        {"bad_arguments", test_bad_arguments},
        {"absurd_sizes", test_absurd_sizes},
        {"sampling_config", test_sampling_config},
        {"lineage_and_dump", test_lineage_and_dump},
        {"untracked", test_untracked},
        {"sampling_off", test_sampling_off},
        {"every_n", test_every_n},
        {"entry_skip", test_entry_skip},
        {"key_hash_sampling", test_key_hash_sampling},
        {"runtime_switch", test_runtime_switch},
        {"unique_ids_and_fanout", test_unique_ids_and_fanout},
        {"full_drop", test_full_drop},
        {"full_overwrite", test_full_overwrite},
        {"report_too_large", test_report_too_large},
        {"fold_truncation", test_fold_truncation},
        {"sink_none", test_sink_none},
        {"reinit", test_reinit},
        {"thread_stats", test_thread_stats},
        {"fork", test_fork},
        {"recover", test_recover},
    };
    for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
        unsigned long failed_before = check_failed, passed_before = check_passed;
        tests[i].run();
        /* A test that left the library running would break the next one. */
        if (spoor_shutdown() != SPOOR_E_NOT_INITIALIZED) {
            CHECK(!"test left the library initialised");
        }
        printf("%-24s %4lu passed, %lu failed\n", tests[i].name, check_passed - passed_before,
               check_failed - failed_before);
    }
    util_cleanup(check_failed != 0);
    printf("%lu passed, %lu failed\n", check_passed, check_failed);
    return check_failed == 0 ? 0 : 1;
}
