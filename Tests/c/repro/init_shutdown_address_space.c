/*
 * Repro: every spoor_init/spoor_shutdown cycle, and every failed spoor_init, kept the segment's
 * address range reserved (about 66 MB with the default rings): under a 4 GiB address-space
 * limit spoor_init failed with SPOOR_E_SHM after 56 cycles.
 *
 * Contract (docs/architecture.md, "End of life"): a process may cycle init/shutdown any number
 * of times; at most two retired segments stay reserved, and a failed init releases everything.
 * Runs 1,000 successful cycles (default ring sizes, one report each) and 1,000 failed inits
 * (the log directory cannot be created) under setrlimit(RLIMIT_AS, 4 GiB).
 *
 *   gcc -std=c11 init_shutdown_address_space.c $(pkg-config --cflags --libs spoor) -o /tmp/r && /tmp/r
 */
#define _GNU_SOURCE
#include <spoor.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

int main(void) {
    char dir[] = "/tmp/spoor-repro-XXXXXX";
    if (!mkdtemp(dir)) return 2;
    char blocker[64], unwritable[96];
    snprintf(blocker, sizeof blocker, "%s/file", dir);
    snprintf(unwritable, sizeof unwritable, "%s/file/logs", dir); /* under a regular file */
    FILE *f = fopen(blocker, "w");
    if (!f) return 2;
    fclose(f);
    /* Not under a sanitizer: its shadow memory needs far more than 4 GiB of address space. */
    struct rlimit limit = {4ull << 30, 4ull << 30};
    if (setrlimit(RLIMIT_AS, &limit) != 0) return 2;
    for (int cycle = 0; cycle < 1000; cycle++) {
        spoor_config cfg;
        memset(&cfg, 0, sizeof cfg);
        cfg.flags = SPOOR_CONFIG_IGNORE_ENV;
        cfg.sink = SPOOR_SINK_NONE;
        cfg.log_dir = dir;
        cfg.sampling.mode = SPOOR_SAMPLE_ALL;
        int status = spoor_init(&cfg);
        if (status != SPOOR_OK) {
            printf("cycle %d: spoor_init returned %d (%s)  expected 0  WRONG\n", cycle, status, spoor_error_detail());
            return 1;
        }
        uint64_t id = 0;
        spoor_entry(0, 1, &id);
        status = spoor_shutdown();
        if (status != SPOOR_OK) {
            printf("cycle %d: spoor_shutdown returned %d  WRONG\n", cycle, status);
            return 1;
        }
        cfg.sink = SPOOR_SINK_LOG;
        cfg.log_dir = unwritable;
        status = spoor_init(&cfg);
        if (status != SPOOR_E_IO) {
            printf("cycle %d: failed spoor_init returned %d (%s)  expected %d  WRONG\n", cycle, status,
                   spoor_error_detail(), SPOOR_E_IO);
            return 1;
        }
    }
    printf("1000 init/shutdown cycles and 1000 failed inits under a 4 GiB address-space limit  ok\n");
    unlink(blocker);
    rmdir(dir);
    return 0;
}
