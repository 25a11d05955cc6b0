/*
 * Repro: an attribute length of 2^63 or more (e.g. SIZE_MAX) is accepted and writes a malformed
 * report that damages the log; every report of that batch becomes unreadable.
 *
 * Contract (spoor.h, spoor_entry_ex / spoor_attr / "No input crashes"): a key longer than 255
 * bytes or an attachment over SPOOR_MAX_ATTACHMENT returns SPOOR_E_ATTACHMENT_TOO_LARGE.
 * Expected: spoor_entry_ex(...) == SPOOR_E_ATTACHMENT_TOO_LARGE (-8); `spoor dump` shows 2 entries.
 * Actual:   SPOOR_OK (0) with an id; `spoor dump` prints
 *           "damaged log, stopped reading this segment: ... malformed report record" and no line.
 * Cause: size_t arrives in Swift as Int, so SIZE_MAX is -1 and passes `keyLength > 255` and
 *        `valueLength > SPOOR_MAX_ATTACHMENT`; the total wraps to a small number.
 *
 *   gcc -std=c11 attr_len_corrupts_log.c $(pkg-config --cflags --libs spoor) -o /tmp/r && /tmp/r
 *   spoor dump <printed directory>
 */
#define _GNU_SOURCE
#include <spoor.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
    char dir[] = "/tmp/spoor-repro-XXXXXX";
    spoor_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.flags = SPOOR_CONFIG_IGNORE_ENV;
    cfg.log_dir = mkdtemp(dir);
    cfg.sampling.mode = SPOOR_SAMPLE_ALL;
    if (spoor_init(&cfg) != SPOOR_OK) return 2;
    uint64_t before = 0, id = 0, after = 0;
    spoor_entry(0, 1, &before);
    spoor_attr attr = {"k", SIZE_MAX, "v", 1}; /* the same with {"k", 1, "v", SIZE_MAX} */
    int rc = spoor_entry_ex(0, 2, &attr, 1, &id);
    spoor_entry(0, 3, &after);
    printf("spoor_entry_ex with key_len SIZE_MAX: %d (expected %d), id %016llx\n", rc,
           SPOOR_E_ATTACHMENT_TOO_LARGE, (unsigned long long)id);
    char run_dir[4096];
    spoor_run_dir(run_dir, sizeof run_dir);
    spoor_shutdown();
    printf("run directory: %s\n", run_dir);
    return rc == SPOOR_E_ATTACHMENT_TOO_LARGE ? 0 : 1;
}
