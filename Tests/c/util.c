/* util.c - helpers of the Spoor C tests (see util.h). */
#define _GNU_SOURCE
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

static char g_root[64];
static unsigned g_dirs;
static unsigned g_dir_cap;
static char **g_dir_paths;
static unsigned g_shm_names;
static pid_t g_shm_pid;

const char *tmp_dir(void) {
    if (g_root[0] == 0) {
        strcpy(g_root, "/tmp/spoor-ctest-XXXXXX");
        if (mkdtemp(g_root) == NULL) {
            perror("mkdtemp");
            exit(2);
        }
    }
    char *path = malloc(strlen(g_root) + 32);
    if (path == NULL) exit(2);
    sprintf(path, "%s/d%03u-XXXXXX", g_root, g_dirs++);
    if (mkdtemp(path) == NULL) {
        perror("mkdtemp");
        exit(2);
    }
    /* Kept until util_cleanup: tests print these paths on failure. */
    if (g_dirs > g_dir_cap) {
        g_dir_cap = g_dir_cap ? 2 * g_dir_cap : 64;
        g_dir_paths = realloc(g_dir_paths, g_dir_cap * sizeof *g_dir_paths);
        if (g_dir_paths == NULL) exit(2);
    }
    g_dir_paths[g_dirs - 1] = path;
    return path;
}

const char *shm_name_new(char *buf) {
    if (g_shm_pid == 0) g_shm_pid = getpid();
    snprintf(buf, 64, "/spoor-ctest-%ld-%u", (long)getpid(), g_shm_names++);
    return buf;
}

int shm_exists(const char *name) {
    int fd = shm_open(name, O_RDONLY, 0);
    if (fd < 0) return 0;
    close(fd);
    return 1;
}

void config_default(spoor_config *cfg, char shm_buf[64]) {
    memset(cfg, 0, sizeof *cfg);
    cfg->struct_size = sizeof *cfg;
    cfg->flags = SPOOR_CONFIG_IGNORE_ENV;
    cfg->log_dir = tmp_dir();
    cfg->shm_name = shm_name_new(shm_buf);
    cfg->sampling.mode = SPOOR_SAMPLE_ALL;
}

int dir_entries(const char *path) {
    DIR *dir = opendir(path);
    if (dir == NULL) return -1;
    int n = 0;
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL) {
        if (strcmp(entry->d_name, ".") != 0 && strcmp(entry->d_name, "..") != 0) n++;
    }
    closedir(dir);
    return n;
}

const char *cli_path(void) {
    const char *path = getenv("SPOOR_CLI");
    return path != NULL && path[0] != 0 ? path : "spoor";
}

char *cli_run(const char *subcommand, const char *arg, int *status) {
    size_t cmd_len = strlen(cli_path()) + strlen(subcommand) + strlen(arg) + 32;
    char *cmd = malloc(cmd_len);
    if (cmd == NULL) exit(2);
    snprintf(cmd, cmd_len, "'%s' %s '%s' 2>&1", cli_path(), subcommand, arg);
    fflush(NULL);
    FILE *pipe = popen(cmd, "r");
    free(cmd);
    size_t cap = 1 << 16, len = 0;
    char *out = malloc(cap);
    if (out == NULL) exit(2);
    if (pipe == NULL) {
        out[0] = 0;
        *status = -1;
        return out;
    }
    size_t got;
    while ((got = fread(out + len, 1, cap - len - 1, pipe)) > 0) {
        len += got;
        if (cap - len - 1 == 0) {
            cap *= 2;
            out = realloc(out, cap);
            if (out == NULL) exit(2);
        }
    }
    out[len] = 0;
    *status = pclose(pipe);
    return out;
}

char *dump_dir(const char *dir) {
    int status = 0;
    char *out = cli_run("dump", dir, &status);
    if (!CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
        fprintf(stderr, "    spoor dump %s exited with status %d:\n%.2000s\n", dir, status, out);
    }
    if (!CHECK(strstr(out, "damaged") == NULL)) {
        fprintf(stderr, "    spoor dump %s reports damage:\n%.2000s\n", dir, out);
    }
    return out;
}

char *find_line(const char *text, ...) {
    const char *line = text;
    while (line != NULL && *line != 0) {
        const char *end = strchr(line, '\n');
        size_t len = end != NULL ? (size_t)(end - line) : strlen(line);
        char *copy = strndup(line, len);
        if (copy == NULL) exit(2);
        int all = 1;
        va_list args;
        va_start(args, text);
        const char *needle;
        while ((needle = va_arg(args, const char *)) != NULL) {
            if (strstr(copy, needle) == NULL) {
                all = 0;
                break;
            }
        }
        va_end(args);
        if (all) return copy;
        free(copy);
        line = end != NULL ? end + 1 : NULL;
    }
    return NULL;
}

char *report_line(const char *dump, const char *kind, uint64_t id) {
    char kind_field[48], id_field[48];
    snprintf(kind_field, sizeof kind_field, "\"kind\":\"%s\"", kind);
    json_hex(id_field, "id", id);
    return find_line(dump, kind_field, id_field, (const char *)NULL);
}

size_t count_lines_with(const char *text, const char *needle) {
    size_t n = 0;
    const char *line = text;
    while (line != NULL && *line != 0) {
        const char *end = strchr(line, '\n');
        size_t len = end != NULL ? (size_t)(end - line) : strlen(line);
        char *copy = strndup(line, len);
        if (copy == NULL) exit(2);
        if (strstr(copy, needle) != NULL) n++;
        free(copy);
        line = end != NULL ? end + 1 : NULL;
    }
    return n;
}

const char *json_hex(char buf[48], const char *field, uint64_t value) {
    snprintf(buf, 48, "\"%s\":\"%016" PRIx64 "\"", field, value);
    return buf;
}

const char *current_run_dir(char buf[4096]) {
    if (spoor_run_dir(buf, 4096) < 0) buf[0] = 0;
    return buf;
}

/* ---- end-of-run cleanup ------------------------------------------------------------------ */

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* Removes the temporary root (unless failures should be inspected) and any shm name the
 * suite created that is still there. Called by main() in test_api.c. */
void util_cleanup(int keep_files);
void util_cleanup(int keep_files) {
    char name[64];
    for (unsigned i = 0; i < g_shm_names; i++) {
        snprintf(name, sizeof name, "/spoor-ctest-%ld-%u", (long)g_shm_pid, i);
        shm_unlink(name);
    }
    for (unsigned i = 0; i < g_dirs; i++) free(g_dir_paths[i]);
    free(g_dir_paths);
    if (g_root[0] == 0) return;
    if (keep_files) {
        fprintf(stderr, "logs kept for inspection in %s\n", g_root);
    } else {
        nftw(g_root, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    }
}
