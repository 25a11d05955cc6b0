/*
 * Repro: spoor_fold_finish with an invalid `info` (fanout > 65536, a bad attribute) resets the
 * fold, losing its parents.
 *
 * Contract (spoor.h, spoor_fold_finish): "The fold is reset (its buffer released) either way,
 * unless the arguments are invalid." fanout > 65536 is SPOOR_E_INVALID_ARGUMENT.
 * Expected: SPOOR_E_INVALID_ARGUMENT and fold.count still 2 (the caller can fix info and retry).
 * Actual:   SPOOR_E_INVALID_ARGUMENT and fold.count 0.
 *
 *   gcc -std=c11 fold_finish_invalid_resets.c $(pkg-config --cflags --libs spoor) -o /tmp/r && /tmp/r
 */
#define _GNU_SOURCE
#include <spoor.h>
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
    uint64_t a = 0, b = 0, id = 0;
    spoor_entry(0, 1, &a);
    spoor_entry(0, 2, &b);
    spoor_fold fold = SPOOR_FOLD_INIT;
    spoor_fold_add(&fold, a);
    spoor_fold_add(&fold, b);
    spoor_report_info info = {.fanout = 70000};
    int rc = spoor_fold_finish(&fold, &info, &id);
    unsigned long long kept = fold.count;
    printf("rc %d (expected %d), fold.count %llu (expected 2)\n", rc, SPOOR_E_INVALID_ARGUMENT, kept);
    spoor_fold_discard(&fold);
    spoor_shutdown();
    return rc == SPOOR_E_INVALID_ARGUMENT && kept == 2 ? 0 : 1;
}
