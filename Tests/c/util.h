/*
 * util.h - helpers shared by the Spoor C tests: temporary log directories, unique
 * shared-memory names, configurations, and reading a run back with the `spoor` CLI.
 */
#ifndef SPOOR_CTEST_UTIL_H
#define SPOOR_CTEST_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "spoor.h"

/* A fresh directory under the suite's temporary root (itself made by mkdtemp under /tmp).
 * The string is owned by the helper and lives until the end of the program. */
const char *tmp_dir(void);

/* A unique shm name "/spoor-ctest-<pid>-<n>", written into buf (at least 64 bytes). Every
 * name handed out is shm_unlink()ed at the end of the run in case a test left it behind. */
const char *shm_name_new(char *buf);

/* Whether the shared-memory name exists (shm_open succeeds). */
int shm_exists(const char *name);

/* A configuration with every field at its default except: struct_size set, environment
 * ignored, a fresh log_dir and a fresh shm name (stored in the given buffer), sampling ALL. */
void config_default(spoor_config *cfg, char shm_buf[64]);

/* Number of entries (other than . and ..) in a directory, or -1 if it cannot be opened. */
int dir_entries(const char *path);

/* Path to the spoor CLI (from $SPOOR_CLI, else "spoor" on PATH). */
const char *cli_path(void);

/* Runs `spoor SUBCOMMAND ARG` with stderr merged into stdout and returns everything it printed
 * (malloc'd, NUL-terminated; the caller frees). *status gets the exit status from pclose. */
char *cli_run(const char *subcommand, const char *arg, int *status);

/* `spoor dump DIR`, with a check that it exits 0 and reports no damage. The caller frees. */
char *dump_dir(const char *dir);

/* The first line of `text` containing every one of the NULL-terminated needles, as a malloc'd
 * string without the newline, or NULL. */
char *find_line(const char *text, ...);

/* The JSON line of the report of `kind` ("entry", "checkpoint", "poke") with id `id`. */
char *report_line(const char *dump, const char *kind, uint64_t id);

/* The number of lines of `text` that contain `needle`. */
size_t count_lines_with(const char *text, const char *needle);

/* "\"id\":\"%016llx\"" and friends: format a quoted JSON field for an id-like value. */
const char *json_hex(char buf[48], const char *field, uint64_t value);

/* Reads the current run directory into buf (capacity 4096); returns buf, or "" on error. */
const char *current_run_dir(char buf[4096]);

/* Tests, one function per area; each file defines its own. */
void test_static_info(void);
void test_strerror(void);
void test_error_detail(void);
void test_hash(void);
void test_key_sampled(void);
void test_context(void);
void test_uninitialized(void);
void test_init_errors(void);
void test_env(void);
void test_shm_names(void);
void test_lifecycle(void);
void test_bad_arguments(void);
void test_sampling_config(void);
void test_folds_offline(void);
void test_partitioner(void);

void test_lineage_and_dump(void);
void test_untracked(void);
void test_sampling_off(void);
void test_every_n(void);
void test_entry_skip(void);
void test_key_hash_sampling(void);
void test_runtime_switch(void);
void test_unique_ids_and_fanout(void);
void test_full_drop(void);
void test_full_overwrite(void);
void test_report_too_large(void);
void test_fold_truncation(void);
void test_sink_none(void);
void test_reinit(void);
void test_thread_stats(void);

void test_fork(void);
void test_recover(void);

#endif /* SPOOR_CTEST_UTIL_H */
