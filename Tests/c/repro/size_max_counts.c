/*
 * Repro: size_t counts and capacities of 2^63 or more are read as negative numbers.
 *
 * Contract (spoor.h):
 *   spoor_checkpoint: SPOOR_E_TOO_MANY_PARENTS for n_parents > SPOOR_MAX_PARENTS;
 *   spoor_context_encode / _bytes, spoor_run_dir, spoor_shm_name: `capacity` must be at least
 *     the documented size (a larger capacity is fine);
 *   spoor_entry_ex / spoor_checkpoint attachments: an attachment over SPOOR_MAX_ATTACHMENT is
 *     SPOOR_E_ATTACHMENT_TOO_LARGE.
 * Expected / actual are printed per line.
 *
 *   gcc -std=c11 size_max_counts.c $(pkg-config --cflags --libs spoor) -o /tmp/r && /tmp/r
 */
#define _GNU_SOURCE
#include <spoor.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;
static void show(const char *what, int actual, int expected) {
    printf("%-46s actual %4d  expected %4d  %s\n", what, actual, expected, actual == expected ? "ok" : "WRONG");
    failures += actual != expected;
}

int main(void) {
    char dir[] = "/tmp/spoor-repro-XXXXXX";
    spoor_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.flags = SPOOR_CONFIG_IGNORE_ENV;
    cfg.log_dir = mkdtemp(dir);
    cfg.sampling.mode = SPOOR_SAMPLE_ALL;
    if (spoor_init(&cfg) != SPOOR_OK) return 2;
    uint64_t parent = 0, id = 0;
    spoor_entry(0, 1, &parent);
    uint64_t parents[1] = {parent};
    show("spoor_checkpoint(n_parents = SIZE_MAX)", spoor_checkpoint(parents, SIZE_MAX, NULL, &id),
         SPOOR_E_TOO_MANY_PARENTS);
    spoor_attr attr = {"k", 1, "v", 1};
    show("spoor_entry_ex(n_attrs = SIZE_MAX)", spoor_entry_ex(0, 1, &attr, SIZE_MAX, &id),
         SPOOR_E_ATTACHMENT_TOO_LARGE);
    char buf[64];
    show("spoor_context_encode(capacity = SIZE_MAX)", spoor_context_encode(5, 1, buf, SIZE_MAX),
         (int)SPOOR_CONTEXT_STRING_LEN);
    show("spoor_context_encode_bytes(capacity = SIZE_MAX)",
         spoor_context_encode_bytes(5, 1, (uint8_t *)buf, SIZE_MAX), (int)SPOOR_CONTEXT_BYTES_LEN);
    char name[256];
    int len = spoor_shm_name(name, sizeof name);
    show("spoor_shm_name(capacity = SIZE_MAX)", spoor_shm_name(name, SIZE_MAX), len);
    spoor_shutdown();
    return failures != 0;
}
