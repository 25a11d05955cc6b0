/*
 * wordcount.c - a word count traced with Spoor, record by record.
 *
 * The pipeline is the classic one:
 *
 *     read_line ──> split_words ──> to_pair ──> count_word ──> emit
 *     (source)      (flatMap)       (map)       (reduce)       (sink)
 *
 * Spoor gives every traced record a 64-bit id and asks the program to report, at a few points
 * called checkpoints, which output record came from which input records. The reports land in a
 * log that `spoor dump` prints as JSON, so afterwards you can follow any output back to the
 * lines it came from ("which lines made the count of 'the' 7?").
 *
 * The concepts, in the order this file uses them:
 *
 *   spoor_init        starts the library: a shared-memory ring per thread, a collector thread
 *                     that drains the rings into a run directory of the log.
 *   operators         each step of the pipeline is registered once under a name and a call site
 *                     (file:line); reports carry the small operator id.
 *   spoor_entry       a record enters the traced topology. The sampler decides whether it is
 *                     traced: if so it gets an id, else id 0 ("untracked").
 *   spoor_checkpoint1 a step turned one input record into one output record: the output gets
 *                     a new id and the report says (parent id -> child id, operator, key, time).
 *                     An untracked parent (id 0) gives an untracked child without entering the
 *                     library, so unsampled records cost almost nothing.
 *   spoor_fold_*      a reduce: add every contributing record's id as it is folded in, then
 *                     report once, with all of them as parents, when the aggregate is final.
 *   spoor_poke        an event on a record that does not create a new one: here, EXIT marks
 *                     the counts that left the pipeline.
 *   spoor_shutdown    drains everything into the log and closes it.
 *
 * Tracing never stops the job: a failing Spoor call is reported on stderr and the word count
 * goes on. With SPOOR_SAMPLING=off (or every:N, key:P, ...) in the environment the same binary
 * traces nothing (or a sample) without a code change.
 *
 * Usage: wordcount [TEXT_FILE]     (without a file: a built-in text)
 * Prints the most frequent words, the tracing counters, and the run directory to give to
 * `spoor dump DIR` / `spoor stats DIR`.
 */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <spoor.h>

/* ---- input --------------------------------------------------------------------------------- */

static const char *const builtin_text[] = {
    "The river keeps a record of every stone it has carried to the sea.",
    "A careful reader can follow a grain of sand back to the mountain it left,",
    "and a careful program can follow a number back to the lines it came from.",
    "That is all lineage is: the memory of where a thing has been.",
    "The miller counts the sacks, the baker counts the loaves,",
    "and the clerk counts the coins that the loaves were sold for.",
    "Each count is a small fold of many things into one thing.",
    "If the count is wrong, the clerk must ask which coin was counted twice,",
    "and which sack of flour never reached the baker at all.",
    "A trace answers the question without counting everything again.",
    "It keeps a thin thread from every output to every input,",
    "light enough to carry, strong enough to pull.",
    "The thread costs a little when the record is traced",
    "and almost nothing when it is not,",
    "so a busy mill can trace one sack in a hundred",
    "and still find the one that went astray.",
    "The sea does not remember the stones, but the river does,",
    "for a while, and then the log is all that is left.",
    "Read the log from the end: the count of a word,",
    "the pairs that made it, the words that made the pairs,",
    "the lines that held the words, and the file that held the lines.",
    "Every step is a checkpoint, every checkpoint a line in the log,",
    "and every line in the log a way back to the beginning.",
    "The miller and the baker and the clerk and the river",
    "all keep their records in their own way.",
    "This one keeps its record in a ring of memory",
    "that a quiet thread empties into a file on disk,",
    "a little at a time, so the work is never made to wait.",
    "When the work is done the thread empties the ring one last time,",
    "closes the file, and the record is complete.",
};

/* One input line: points either into builtin_text or into a heap copy read from the file. */
struct line {
    char *text;
    size_t len;
};

/* Reads every line of `path`, or the built-in text if path is NULL. Returns the line count. */
static size_t read_input(const char *path, struct line **out) {
    size_t count = 0, cap = sizeof builtin_text / sizeof builtin_text[0];
    struct line *lines = malloc(cap * sizeof *lines);
    if (lines == NULL) {
        perror("malloc");
        exit(1);
    }
    if (path == NULL) {
        for (count = 0; count < cap; count++) {
            lines[count].text = (char *)builtin_text[count]; /* never written, never freed */
            lines[count].len = strlen(builtin_text[count]);
        }
    } else {
        FILE *file = fopen(path, "r");
        if (file == NULL) {
            perror(path);
            exit(1);
        }
        char *buf = NULL;
        size_t buf_cap = 0;
        ssize_t got;
        while ((got = getline(&buf, &buf_cap, file)) >= 0) {
            if (count == cap) {
                cap *= 2;
                lines = realloc(lines, cap * sizeof *lines);
                if (lines == NULL) {
                    perror("realloc");
                    exit(1);
                }
            }
            lines[count].text = strndup(buf, (size_t)got);
            lines[count].len = (size_t)got;
            if (lines[count].text == NULL) {
                perror("strndup");
                exit(1);
            }
            count++;
        }
        free(buf);
        fclose(file);
    }
    *out = lines;
    return count;
}

/* ---- the word table: word -> (count, fold of the records that make up the count) ---------- */

#define MAX_WORD 64

struct word {
    char text[MAX_WORD];
    uint64_t key;        /* spoor_hash_bytes(text): the record key every report carries */
    uint64_t count;
    uint64_t first_seen; /* spoor_now() when the first occurrence was folded in */
    spoor_fold fold;     /* the ids of the (word, 1) records folded into count */
};

struct table {
    struct word *slots; /* open addressing; text[0] == 0 marks a free slot */
    size_t cap, used;
};

static struct word *table_find(struct table *t, const char *text, uint64_t key) {
    if (2 * (t->used + 1) > t->cap) { /* keep the table at most half full */
        size_t cap = t->cap ? 2 * t->cap : 256; /* a power of two */
        struct table bigger = {calloc(cap, sizeof(struct word)), cap, 0};
        if (bigger.slots == NULL) {
            perror("calloc");
            exit(1);
        }
        for (size_t i = 0; i < t->cap; i++) {
            if (t->slots[i].text[0] == 0) continue;
            size_t j = t->slots[i].key & (bigger.cap - 1);
            while (bigger.slots[j].text[0] != 0) j = (j + 1) & (bigger.cap - 1);
            bigger.slots[j] = t->slots[i]; /* a spoor_fold is a plain struct: copying moves it */
            bigger.used++;
        }
        free(t->slots);
        *t = bigger;
    }
    size_t i = key & (t->cap - 1);
    while (t->slots[i].text[0] != 0 && strcmp(t->slots[i].text, text) != 0) i = (i + 1) & (t->cap - 1);
    if (t->slots[i].text[0] == 0) {
        struct word *w = &t->slots[i];
        memset(w, 0, sizeof *w);
        snprintf(w->text, sizeof w->text, "%s", text);
        w->key = key;
        w->fold = (spoor_fold)SPOOR_FOLD_INIT; /* a fold must start zero-initialised */
        t->used++;
    }
    return &t->slots[i];
}

/* ---- Spoor helpers ---------------------------------------------------------------------------- */

/* A failing Spoor call is worth a message, never worth stopping the job. SPOOR_DROPPED (a full
 * ring: the report was lost and counted) is not an error: the returned id is still valid. */
static void warn_if_failed(int rc, const char *what) {
    if (rc < 0) fprintf(stderr, "wordcount: %s: %s (%s)\n", what, spoor_strerror(rc), spoor_error_detail());
}

/* Registers an operator with the call site "file:line" of the macro's use. */
#define REGISTER_OPERATOR(name, out) register_operator((name), __FILE__, __LINE__, (out))

static uint32_t register_operator(const char *name, const char *file, int line, uint32_t *out) {
    char site[256];
    int n = snprintf(site, sizeof site, "%s:%d", file, line);
    if (n < 0) n = 0;
    if ((size_t)n >= sizeof site) n = (int)sizeof site - 1; /* truncated */
    *out = 0; /* operator 0 = "unknown": reports still work if registration fails */
    warn_if_failed(spoor_register_operator(name, strlen(name), site, (size_t)n, out), name);
    return *out;
}

/* ---- the pipeline ---------------------------------------------------------------------------- */

static int by_count_then_word(const void *a, const void *b) {
    const struct word *x = *(const struct word *const *)a, *y = *(const struct word *const *)b;
    if (x->count != y->count) return x->count < y->count ? 1 : -1;
    return strcmp(x->text, y->text);
}

int main(int argc, char **argv) {
    struct line *lines;
    size_t n_lines = read_input(argc > 1 ? argv[1] : NULL, &lines);

    /* 1. Start Spoor. A zeroed config means defaults; we only ask to trace every record.
     *    Environment variables (SPOOR_SAMPLING, SPOOR_DIR, ...) override these fields. */
    spoor_config config;
    memset(&config, 0, sizeof config);
    config.struct_size = sizeof config;
    config.sampling.mode = SPOOR_SAMPLE_ALL;
    int rc = spoor_init(&config);
    if (rc != SPOOR_OK) {
        /* Even now the word count could run untraced: every checkpoint below would return
         * SPOOR_E_NOT_INITIALIZED. An example is clearer if it just stops. */
        fprintf(stderr, "wordcount: spoor_init: %s (%s)\n", spoor_strerror(rc), spoor_error_detail());
        return 1;
    }

    /* 2. Register the operators once. */
    uint32_t op_read, op_split, op_pair, op_count, op_emit;
    REGISTER_OPERATOR("read_line", &op_read);
    REGISTER_OPERATOR("split_words", &op_split);
    REGISTER_OPERATOR("to_pair", &op_pair);
    REGISTER_OPERATOR("count_word", &op_count);
    REGISTER_OPERATOR("emit", &op_emit);

    /* 3. Stream the lines through read_line -> split_words -> to_pair, folding each pair into
     *    its word's count. */
    struct table table = {NULL, 0, 0};
    uint64_t traced_lines = 0, total_words = 0;
    for (size_t i = 0; i < n_lines; i++) {
        const char *text = lines[i].text;
        size_t len = lines[i].len;

        /* Entry checkpoint: the line enters the topology, keyed by its hash. line_id is 0 if
         * the sampler chose not to trace it; the code below does not need to care. */
        uint64_t line_id = 0;
        warn_if_failed(spoor_entry(op_read, spoor_hash_bytes(text, len), &line_id), "spoor_entry");
        traced_lines += line_id != 0;

        /* flatMap: one line -> many words, each reported as a child of the line. (A step that
         * emits m outputs at once could instead call spoor_checkpoint with info.fanout = m and
         * get m consecutive ids from one report.) */
        size_t pos = 0;
        while (pos < len) {
            /* The UDF: find the next word and lower-case it; timed with spoor_now(), the clock
             * of every report, so the log shows how long each call took. */
            uint64_t start = spoor_now();
            while (pos < len && !isalpha((unsigned char)text[pos])) pos++;
            char word[MAX_WORD];
            size_t wlen = 0;
            while (pos < len && (isalpha((unsigned char)text[pos]) || text[pos] == '\'')) {
                if (wlen + 1 < sizeof word) word[wlen++] = (char)tolower((unsigned char)text[pos]);
                pos++;
            }
            word[wlen] = 0;
            uint64_t end = spoor_now();
            if (wlen == 0) break;
            total_words++;

            uint64_t key = spoor_hash_bytes(word, wlen); /* the same hash in every language */
            uint64_t word_id = 0;
            warn_if_failed(spoor_checkpoint1(line_id, op_split, key, start, end, &word_id), "split_words");

            /* map: word -> (word, 1). A new record, so a new id whose parent is the word. */
            start = spoor_now();
            struct {
                const char *word;
                uint64_t one;
            } pair = {word, 1};
            end = spoor_now();
            uint64_t pair_id = 0;
            warn_if_failed(spoor_checkpoint1(word_id, op_pair, key, start, end, &pair_id), "to_pair");

            /* reduce, incrementally: add the 1 to the word's count and remember which record it
             * came from. Nothing is reported yet: a fold reports once, when the count is final. */
            struct word *w = table_find(&table, pair.word, key);
            if (w->count == 0) w->first_seen = spoor_now();
            w->count += pair.one;
            warn_if_failed(spoor_fold_add(&w->fold, pair_id), "spoor_fold_add");
        }
    }

    /* 4. The counts are final: report each one (a single report whose parents are all the pairs
     *    that were folded in), then mark it as leaving the pipeline. */
    struct word **words = malloc((table.used ? table.used : 1) * sizeof *words);
    if (words == NULL) {
        perror("malloc");
        return 1;
    }
    size_t n_words = 0;
    for (size_t i = 0; i < table.cap; i++) {
        struct word *w = &table.slots[i];
        if (w->text[0] == 0) continue;
        words[n_words++] = w;
        spoor_report_info info;
        memset(&info, 0, sizeof info);
        info.op = op_count;
        info.key_hash = w->key;
        info.start_ns = w->first_seen; /* the fold's "UDF" ran from its first input to now */
        info.end_ns = 0;               /* 0: the library reads the clock */
        uint64_t count_id = 0;
        warn_if_failed(spoor_fold_finish(&w->fold, &info, &count_id), "count_word");
        /* emit: the sink. A poke records an event on an existing record (no new id). */
        warn_if_failed(spoor_poke(count_id, op_emit, SPOOR_EVENT_EXIT, 0), "emit");
    }

    /* 5. The result. */
    qsort(words, n_words, sizeof *words, by_count_then_word);
    printf("%zu lines, %llu words, %zu distinct words\n", n_lines, (unsigned long long)total_words, n_words);
    printf("top words:\n");
    for (size_t i = 0; i < n_words && i < 10; i++) {
        printf("  %-12s %llu\n", words[i]->text, (unsigned long long)words[i]->count);
    }

    /* 6. Tracing counters: wait until the collector has drained every report, then read them.
     *    written = committed + dropped; dropped reports (full rings) are counted, never silent. */
    spoor_stats stats;
    memset(&stats, 0, sizeof stats);
    warn_if_failed(spoor_flush(0), "spoor_flush");
    warn_if_failed(spoor_get_stats(&stats), "spoor_get_stats");
    printf("traced lines: %llu of %zu\n", (unsigned long long)traced_lines, n_lines);
    printf("reports: written %llu, committed %llu, dropped %llu\n", (unsigned long long)stats.written,
           (unsigned long long)stats.committed, (unsigned long long)stats.dropped);

    /* 7. Where the log is, then stop tracing (this drains and closes the log). */
    char run_dir[4096] = "";
    warn_if_failed(spoor_run_dir(run_dir, sizeof run_dir), "spoor_run_dir");
    warn_if_failed(spoor_shutdown(), "spoor_shutdown");
    printf("spoor run directory: %s\n", run_dir);

    free(words);
    free(table.slots);
    if (argc > 1) {
        for (size_t i = 0; i < n_lines; i++) free(lines[i].text);
    }
    free(lines);
    return 0;
}
