/*
 * Repro: when a SPOOR_* environment variable is out of range, spoor_error_detail() names the
 * config field, not the variable.
 *
 * Contract (spoor.h, SPOOR_E_INVALID_CONFIG): "A field of spoor_config, a SPOOR_* environment
 * variable or a spoor_sampling is invalid; spoor_error_detail() names it."
 * Expected: SPOOR_E_INVALID_CONFIG, detail mentioning "SPOOR_RING_SLOTS".
 * Actual:   SPOOR_E_INVALID_CONFIG, detail "ring_slots 100 is not a power of two in [64, 2^24]".
 * Same for SPOOR_MAX_THREADS=5000, SPOOR_FLUSH_MS=70000, SPOOR_SEGMENT_BYTES=12 and
 * SPOOR_SAMPLING=probability:2 (malformed values such as SPOOR_RING_SLOTS=abc are named).
 *
 *   gcc -std=c11 env_detail_names_field.c $(pkg-config --cflags --libs spoor) -o /tmp/r && /tmp/r
 */
#define _GNU_SOURCE
#include <spoor.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
    char dir[] = "/tmp/spoor-repro-XXXXXX";
    setenv("SPOOR_DIR", mkdtemp(dir), 1);
    setenv("SPOOR_RING_SLOTS", "100", 1);
    int rc = spoor_init(NULL);
    const char *detail = spoor_error_detail();
    printf("rc %d (expected %d), detail \"%s\"\n", rc, SPOOR_E_INVALID_CONFIG, detail);
    if (rc == SPOOR_OK) spoor_shutdown();
    return rc == SPOOR_E_INVALID_CONFIG && strstr(detail, "SPOOR_RING_SLOTS") != NULL ? 0 : 1;
}
