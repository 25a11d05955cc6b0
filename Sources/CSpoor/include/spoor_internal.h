/*
 * spoor_internal.h - layouts and helpers private to libspoor (not installed).
 *
 * The shared-memory layout is described here in C with plain integer fields, explicit padding
 * and static assertions on every offset, so that the Swift runtime, the recovery reader and any
 * other process draining a segment agree byte for byte. docs/shm-layout.md is the prose version.
 * Atomics on shared memory go through the static-inline helpers below (C11 __atomic builtins).
 */
#ifndef SPOOR_INTERNAL_H
#define SPOOR_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "spoor.h"

/* ---- shared-memory segment ------------------------------------------------------------ */

#define SPOORINT_SHM_MAGIC 0x4d4853524f4f5053ULL /* "SPOORSHM" read as little-endian bytes */
#define SPOORINT_SHM_LAYOUT_VERSION 4u /* 2: shared rings; 3: the sharer table; 4: the consumer lease */
#define SPOORINT_SLOT_SIZE 64u
#define SPOORINT_HEADER_SIZE 4096u
#define SPOORINT_RUN_DIR_CAPACITY 3072u

/* Segment states (spoorint_shm_header.state). */
#define SPOORINT_SEGMENT_RUNNING 1u
#define SPOORINT_SEGMENT_CLOSED 2u    /* shut down cleanly: everything was drained */
#define SPOORINT_SEGMENT_RECOVERED 3u /* drained by `spoor recover` after its owner died */

typedef struct spoorint_shm_header {
    uint64_t magic;                 /*   0 */
    uint32_t layout_version;        /*   8 */
    uint32_t header_size;           /*  12 */
    uint64_t total_size;            /*  16 */
    uint32_t ring_count;            /*  24 */
    uint32_t ring_slots;            /*  28 */
    uint32_t slot_size;             /*  32 */
    uint32_t owner_pid;             /*  36 */
    uint64_t ring_table_offset;     /*  40 */
    uint64_t ring_data_offset;      /*  48 */
    uint64_t operator_table_offset; /*  56 */
    uint32_t operator_capacity;     /*  64 */
    uint32_t operator_entry_size;   /*  68 */
    uint64_t operator_count;        /*  72: release-published after an entry is written */
    uint64_t created_realtime_ns;   /*  80 */
    uint64_t created_monotonic_ns;  /*  88 */
    uint64_t run_id;                /*  96 */
    uint64_t state;                 /* 104: SPOORINT_SEGMENT_* */
    uint64_t sharer_table_offset;   /* 112 */
    uint32_t sharer_capacity;       /* 120 */
    uint32_t sharer_entry_size;     /* 124 */
    uint64_t sharer_count;          /* 128: entries ever claimed (a high-water mark), release-
                                               published after the entry is written */
    /* The consumer lease (docs/shm-layout.md, "The consumer lease"): who drains the rings. A
     * holder is named by SPOORINT_CONSUMER(pid, start): its pid in the low 32 bits and the low 32
     * bits of its start time (clock ticks after boot, /proc/PID/stat) in the high ones, so that a
     * reused pid does not look like the holder. 0 is the owner process's own collector. */
    uint64_t consumer;              /* 136: the current consumer, 0 = the owner's collector */
    uint64_t consumer_request;      /* 144: a collector process asking for the rings, 0 = none */
    uint64_t consumer_log_segment;  /* 152: log segment index the next consumer starts at,
                                               stored before `consumer` is release-stored */
    uint64_t consumer_reclaim;      /* 160: 1: the owner wants its rings back (shutdown) */
    uint64_t consumer_handoffs;     /* 168: how many times `consumer` changed */
    uint8_t reserved[1024 - 176];   /* 176 */
    char run_dir[SPOORINT_RUN_DIR_CAPACITY]; /* 1024: NUL-terminated log run directory */
} spoorint_shm_header;

_Static_assert(sizeof(spoorint_shm_header) == SPOORINT_HEADER_SIZE, "header size");

/* Byte offsets of the segment header's atomically accessed words and of the run directory. */
enum {
    SPOORINT_SHM_MAGIC_OFFSET = offsetof(spoorint_shm_header, magic),
    SPOORINT_SHM_OPERATOR_COUNT_OFFSET = offsetof(spoorint_shm_header, operator_count),
    SPOORINT_SHM_STATE_OFFSET = offsetof(spoorint_shm_header, state),
    SPOORINT_SHM_SHARER_COUNT_OFFSET = offsetof(spoorint_shm_header, sharer_count),
    SPOORINT_SHM_CONSUMER_OFFSET = offsetof(spoorint_shm_header, consumer),
    SPOORINT_SHM_CONSUMER_REQUEST_OFFSET = offsetof(spoorint_shm_header, consumer_request),
    SPOORINT_SHM_CONSUMER_LOG_SEGMENT_OFFSET = offsetof(spoorint_shm_header, consumer_log_segment),
    SPOORINT_SHM_CONSUMER_RECLAIM_OFFSET = offsetof(spoorint_shm_header, consumer_reclaim),
    SPOORINT_SHM_CONSUMER_HANDOFFS_OFFSET = offsetof(spoorint_shm_header, consumer_handoffs),
    SPOORINT_SHM_RUN_DIR_OFFSET = offsetof(spoorint_shm_header, run_dir),
};
_Static_assert(offsetof(spoorint_shm_header, operator_count) == 72, "operator_count");
_Static_assert(offsetof(spoorint_shm_header, state) == 104, "state");
_Static_assert(offsetof(spoorint_shm_header, sharer_count) == 128, "sharer_count");
_Static_assert(offsetof(spoorint_shm_header, consumer) == 136, "consumer");
_Static_assert(offsetof(spoorint_shm_header, consumer_handoffs) == 168, "consumer_handoffs");
_Static_assert(offsetof(spoorint_shm_header, run_dir) == 1024, "run_dir");

/* Ring states (spoorint_shm_ring.state). */
#define SPOORINT_RING_FREE 0u
#define SPOORINT_RING_OWNED 1u
#define SPOORINT_RING_ORPHANED 2u /* its thread exited; free once drained */

/* One ring's descriptor: three cache lines, so that the producer's and the consumer's hot words
 * never share a line. Positions count 64-byte slots and only ever grow; slot = position & mask. */
/* Ring flags (spoorint_shm_ring.flags). */
#define SPOORINT_RING_SHARED 1u /* multi-producer: see below */

/* A private ring has one producer, its owning thread, which writes each report and then
 * release-stores `head`. A shared ring (SPOORINT_RING_SHARED) takes the threads that found no
 * private ring free: a producer reserves its slots by compare-and-swap on `head`, writes the
 * report with kind 0 and release-stores its kind byte last; the consumer reads up to the first
 * header whose kind is still 0 (reserved, not yet committed), and zeroes the kind byte of every
 * slot it consumed before it publishes `tail`, so that a stale byte never looks committed.
 * Its producer counters (committed, dropped, sampled) are updated with atomic adds.
 * Under SPOOR_FULL_OVERWRITE a private ring's producer may also move `tail`: it frees the oldest
 * whole reports by compare-and-swap before it writes over them, and the consumer, which copies a
 * batch out before it delivers it, claims the batch by compare-and-swap on `tail` too, keeping
 * only what was not freed before its copy ended. */
typedef struct spoorint_shm_ring {
    /* line 0: ownership, written at take / release */
    uint64_t state;       /*   0 */
    uint64_t owner_tid;   /*   8: private: the owner; shared: the first thread to attach */
    uint64_t takes;       /*  16: how many threads have owned it (shared: attached to it) */
    uint64_t flags;       /*  24: SPOORINT_RING_* */
    uint64_t sharers;     /*  32: shared: threads attached now */
    uint64_t pad0[3];
    /* line 1: written by the producer only */
    uint64_t head;        /*  64: release-published after the slots are written */
    uint64_t committed;   /*  72 */
    uint64_t dropped;     /*  80 */
    uint64_t sampled;     /*  88 */
    uint64_t overwritten; /*  96: reports freed by the producer under SPOOR_FULL_OVERWRITE (each
                                  also moved from committed to dropped) */
    uint64_t unlisted_dropped; /* 104: shared: the part of `dropped` lost by threads that found
                                  the sharer table full (the rest is in their sharer entries) */
    uint64_t pad1[2];
    /* line 2: written by the consumer only */
    uint64_t tail;        /* 128: release-published after the batch reached the sink */
    uint64_t drained;     /* 136 */
    uint64_t batches;     /* 144 */
    uint64_t sink_errors; /* 152 */
    /* What the log's loss records account for, so that the next consumer after a handoff goes
     * on from there instead of logging the ring's losses again: */
    uint64_t sink_lost;          /* 160: reports lost to sink errors */
    uint64_t logged_full;        /* 168: ring-full losses in loss records */
    uint64_t logged_overwritten; /* 176: overwritten reports in loss records */
    uint64_t logged_sink;        /* 184: sink losses in loss records */
} spoorint_shm_ring;

_Static_assert(sizeof(spoorint_shm_ring) == 192, "ring descriptor size");

/* Byte offsets of the ring descriptor's fields (the words the producer and consumer access
 * atomically), derived from the struct. */
enum {
    SPOORINT_RING_STATE_OFFSET = offsetof(spoorint_shm_ring, state),
    SPOORINT_RING_OWNER_TID_OFFSET = offsetof(spoorint_shm_ring, owner_tid),
    SPOORINT_RING_TAKES_OFFSET = offsetof(spoorint_shm_ring, takes),
    SPOORINT_RING_FLAGS_OFFSET = offsetof(spoorint_shm_ring, flags),
    SPOORINT_RING_SHARERS_OFFSET = offsetof(spoorint_shm_ring, sharers),
    SPOORINT_RING_HEAD_OFFSET = offsetof(spoorint_shm_ring, head),
    SPOORINT_RING_COMMITTED_OFFSET = offsetof(spoorint_shm_ring, committed),
    SPOORINT_RING_DROPPED_OFFSET = offsetof(spoorint_shm_ring, dropped),
    SPOORINT_RING_SAMPLED_OFFSET = offsetof(spoorint_shm_ring, sampled),
    SPOORINT_RING_OVERWRITTEN_OFFSET = offsetof(spoorint_shm_ring, overwritten),
    SPOORINT_RING_UNLISTED_DROPPED_OFFSET = offsetof(spoorint_shm_ring, unlisted_dropped),
    SPOORINT_RING_TAIL_OFFSET = offsetof(spoorint_shm_ring, tail),
    SPOORINT_RING_DRAINED_OFFSET = offsetof(spoorint_shm_ring, drained),
    SPOORINT_RING_BATCHES_OFFSET = offsetof(spoorint_shm_ring, batches),
    SPOORINT_RING_SINK_ERRORS_OFFSET = offsetof(spoorint_shm_ring, sink_errors),
    SPOORINT_RING_SINK_LOST_OFFSET = offsetof(spoorint_shm_ring, sink_lost),
    SPOORINT_RING_LOGGED_FULL_OFFSET = offsetof(spoorint_shm_ring, logged_full),
    SPOORINT_RING_LOGGED_OVERWRITTEN_OFFSET = offsetof(spoorint_shm_ring, logged_overwritten),
    SPOORINT_RING_LOGGED_SINK_OFFSET = offsetof(spoorint_shm_ring, logged_sink),
};
_Static_assert(offsetof(spoorint_shm_ring, flags) == 24, "flags");
_Static_assert(offsetof(spoorint_shm_ring, sharers) == 32, "sharers");
_Static_assert(offsetof(spoorint_shm_ring, head) == 64, "head");
_Static_assert(offsetof(spoorint_shm_ring, tail) == 128, "tail");

/* The sharer table: one entry per thread attached to a shared ring, so that the log can say which
 * thread lost what (a shared ring's own `dropped` counts every producer together). A thread
 * claims the lowest free entry when it attaches (under the library lock) and marks it detached
 * when it exits; the collector logs each entry's new drops every pass and frees a detached entry
 * once its last drops are in the log. A thread that finds the table full counts its drops in its
 * ring's `unlisted_dropped`, which the log records with no thread. */
#define SPOORINT_SHARER_CAPACITY 4096u
#define SPOORINT_SHARER_FREE 0u
#define SPOORINT_SHARER_ATTACHED 1u
#define SPOORINT_SHARER_DETACHED 2u /* its thread exited: free once its drops are logged */

typedef struct spoorint_shm_sharer {
    uint64_t state;   /*  0: SPOORINT_SHARER_*, release-stored after the fields below */
    uint64_t tid;     /*  8: the thread */
    uint64_t ring;    /* 16: the shared ring it writes into */
    uint64_t claims;  /* 24: how many threads have held this entry (tells one holder from the next) */
    uint64_t dropped; /* 32: written by the thread only: its reports the ring had no room for */
    uint64_t logged_claims; /* 40: consumer only: the holder (`claims`) `logged` is about */
    uint64_t logged;        /* 48: consumer only: that holder's drops the log accounts for */
    uint64_t pad[1];
} spoorint_shm_sharer;

_Static_assert(sizeof(spoorint_shm_sharer) == 64, "sharer entry size");

enum {
    SPOORINT_SHARER_STATE_OFFSET = offsetof(spoorint_shm_sharer, state),
    SPOORINT_SHARER_TID_OFFSET = offsetof(spoorint_shm_sharer, tid),
    SPOORINT_SHARER_RING_OFFSET = offsetof(spoorint_shm_sharer, ring),
    SPOORINT_SHARER_CLAIMS_OFFSET = offsetof(spoorint_shm_sharer, claims),
    SPOORINT_SHARER_DROPPED_OFFSET = offsetof(spoorint_shm_sharer, dropped),
    SPOORINT_SHARER_LOGGED_CLAIMS_OFFSET = offsetof(spoorint_shm_sharer, logged_claims),
    SPOORINT_SHARER_LOGGED_OFFSET = offsetof(spoorint_shm_sharer, logged),
};

typedef struct spoorint_shm_operator {
    uint16_t name_len;
    uint16_t site_len;
    uint32_t id;
    char name[SPOOR_MAX_NAME_LEN];
    char site[SPOOR_MAX_NAME_LEN];
} spoorint_shm_operator;

_Static_assert(sizeof(spoorint_shm_operator) == 512, "operator entry size");

/* ---- reports ------------------------------------------------------------------------- */

#define SPOORINT_KIND_ENTRY 1u
#define SPOORINT_KIND_CHECKPOINT 2u
#define SPOORINT_KIND_POKE 3u

#define SPOORINT_FLAG_FOLD 0x01u          /* reported by spoor_fold_finish */
#define SPOORINT_FLAG_TRUNCATED 0x02u     /* parents past SPOOR_MAX_PARENTS were left out */

/* The first slot of every report. Parents after the first, then the attachment, follow packed
 * in the next ceil((max(n_parents - 1, 0) * 8 + attach_len) / 64) slots. */
typedef struct spoorint_report_header {
    uint64_t id;         /*  0: output id (first of `fanout`), or the poked record */
    uint64_t parent0;    /*  8: first parent, 0 for entries and pokes */
    uint64_t key_hash;   /* 16 */
    uint64_t start_ns;   /* 24 */
    uint64_t end_ns;     /* 32: for entries and pokes, the event time */
    uint32_t op;         /* 40 */
    uint32_t partition;  /* 44: UINT32_MAX if none */
    uint32_t thread;     /* 48: OS thread id */
    uint32_t n_parents;  /* 52 */
    uint16_t attach_len; /* 56 */
    uint8_t kind;        /* 58: SPOORINT_KIND_* */
    uint8_t flags;       /* 59: SPOORINT_FLAG_* */
    uint32_t aux;        /* 60: checkpoint: fanout (>= 1); poke: event code; entry: 1 */
} spoorint_report_header;

_Static_assert(sizeof(spoorint_report_header) == SPOORINT_SLOT_SIZE, "report header size");

/* Byte offsets of the report header's fields, derived from the struct: the one definition that
 * the producer, the collector, recovery and the log encoder use (Swift imports these as
 * compile-time constants). */
enum {
    SPOORINT_REPORT_ID = offsetof(spoorint_report_header, id),
    SPOORINT_REPORT_PARENT0 = offsetof(spoorint_report_header, parent0),
    SPOORINT_REPORT_KEY_HASH = offsetof(spoorint_report_header, key_hash),
    SPOORINT_REPORT_START_NS = offsetof(spoorint_report_header, start_ns),
    SPOORINT_REPORT_END_NS = offsetof(spoorint_report_header, end_ns),
    SPOORINT_REPORT_OP = offsetof(spoorint_report_header, op),
    SPOORINT_REPORT_PARTITION = offsetof(spoorint_report_header, partition),
    SPOORINT_REPORT_THREAD = offsetof(spoorint_report_header, thread),
    SPOORINT_REPORT_N_PARENTS = offsetof(spoorint_report_header, n_parents),
    SPOORINT_REPORT_ATTACH_LEN = offsetof(spoorint_report_header, attach_len),
    SPOORINT_REPORT_KIND = offsetof(spoorint_report_header, kind),
    SPOORINT_REPORT_FLAGS = offsetof(spoorint_report_header, flags),
    SPOORINT_REPORT_AUX = offsetof(spoorint_report_header, aux),
};
_Static_assert(offsetof(spoorint_report_header, op) == 40, "op");
_Static_assert(offsetof(spoorint_report_header, aux) == 60, "aux");

/* ---- atomics on shared memory ---------------------------------------------------------- */

static inline uint64_t spoorint_load_acquire(const uint64_t *SPOOR_NONNULL p) {
    return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}
static inline uint64_t spoorint_load_relaxed(const uint64_t *SPOOR_NONNULL p) {
    return __atomic_load_n(p, __ATOMIC_RELAXED);
}
static inline void spoorint_store_release(uint64_t *SPOOR_NONNULL p, uint64_t v) {
    __atomic_store_n(p, v, __ATOMIC_RELEASE);
}
static inline void spoorint_store_relaxed(uint64_t *SPOOR_NONNULL p, uint64_t v) {
    __atomic_store_n(p, v, __ATOMIC_RELAXED);
}
/* Single-writer counter: a relaxed load and store, no locked instruction. */
static inline void spoorint_bump(uint64_t *SPOOR_NONNULL p, uint64_t v) {
    __atomic_store_n(p, __atomic_load_n(p, __ATOMIC_RELAXED) + v, __ATOMIC_RELAXED);
}
static inline bool spoorint_cas(uint64_t *SPOOR_NONNULL p, uint64_t expected, uint64_t desired) {
    return __atomic_compare_exchange_n(p, &expected, desired, false, __ATOMIC_ACQ_REL,
                                       __ATOMIC_ACQUIRE);
}
static inline uint64_t spoorint_fetch_add(uint64_t *SPOOR_NONNULL p, uint64_t v) {
    return __atomic_fetch_add(p, v, __ATOMIC_ACQ_REL);
}
/* Compare-and-swap that reports the value it found in *expected on failure. */
static inline bool spoorint_cas_observe(uint64_t *SPOOR_NONNULL p, uint64_t *SPOOR_NONNULL expected,
                                        uint64_t desired) {
    return __atomic_compare_exchange_n(p, expected, desired, false, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
}
/* A counter several threads add to (no ordering beyond atomicity). */
static inline void spoorint_add_relaxed(uint64_t *SPOOR_NONNULL p, uint64_t v) {
    (void)__atomic_fetch_add(p, v, __ATOMIC_RELAXED);
}
static inline void spoorint_sub_relaxed(uint64_t *SPOOR_NONNULL p, uint64_t v) {
    (void)__atomic_fetch_sub(p, v, __ATOMIC_RELAXED);
}
/* The commit byte of a shared ring's report (its kind). */
static inline void spoorint_store_release_u8(uint8_t *SPOOR_NONNULL p, uint8_t v) {
    __atomic_store_n(p, v, __ATOMIC_RELEASE);
}
static inline uint8_t spoorint_load_acquire_u8(const uint8_t *SPOOR_NONNULL p) {
    return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

/* ---- process globals defined in state.c ------------------------------------------------ */

/* Address of spoor__sampler_epoch (Swift cannot take a stable address of a C global). */
static inline uint64_t *SPOOR_NONNULL spoorint_sampler_epoch_ptr(void) {
    return &spoor__sampler_epoch;
}
/* The calling thread's state. From inside the library this costs a __tls_get_addr call:
 * the hot paths receive the pointer from the caller's inline code instead. */
spoor__thread *SPOOR_NONNULL spoorint_thread_state(void);
/* The calling thread's error-detail buffer (SPOORINT_DETAIL_CAPACITY bytes). */
#define SPOORINT_DETAIL_CAPACITY 256u
/* The buffer, for writing a new detail (this also forgets any static detail). */
char *SPOOR_NONNULL spoorint_error_detail_buffer(void);
/* Makes `detail` (a static string) the calling thread's last failure, without copying it. */
void spoorint_set_error_static(const char *SPOOR_NONNULL detail);
/* The calling thread's last failure: the static detail if one is set, else the buffer. */
const char *SPOOR_NONNULL spoorint_error_detail(void);

/* ---- memory ---------------------------------------------------------------------------- */

/* Copies `words` 8-byte words from ring memory that a producer may be writing over at the same
 * time (a private ring under SPOOR_FULL_OVERWRITE), then fences so that the caller's later
 * loads of the ring's tail come after the copy. The caller keeps only what its compare-and-swap
 * of the tail then claims: a claim from position t succeeds only if the tail was still t, so
 * nothing at or past t had been freed, hence written over, while the copy was made. The racing
 * words are read with relaxed atomic loads and the function is not instrumented by
 * ThreadSanitizer (the race is the design; the claim orders everything kept). Both pointers
 * 8-byte aligned. */
void spoorint_copy_racing_words(void *SPOOR_NONNULL destination, const void *SPOOR_NONNULL source,
                                size_t words);

/* Asks the CPU to start loading the cache line at `address` for reading. Never faults, whatever
 * the address. (Piggyback reporting walks graphs built on other threads, long out of cache.) */
static inline void spoorint_prefetch(const void *SPOOR_NULLABLE address) { __builtin_prefetch(address, 0, 3); }
/* The same, for writing (prefetchw): the producer asks for ring lines a few reports ahead. */
static inline void spoorint_prefetch_write(const void *SPOOR_NULLABLE address) { __builtin_prefetch(address, 1, 3); }

/* A hint that the caller is spinning on a value another thread will change. */
static inline void spoorint_pause(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* ---- clock ----------------------------------------------------------------------------- */

/* A cheap monotonic tick counter: the TSC on x86-64 (about 11 ns here, against about 28 ns for
 * clock_gettime), CLOCK_MONOTONIC nanoseconds elsewhere. */
#if defined(__x86_64__)
static inline uint64_t spoorint_ticks(void) { return __builtin_ia32_rdtsc(); }
#define SPOORINT_HAVE_TSC 1
#else
static inline uint64_t spoorint_ticks(void) { return 0; }
#define SPOORINT_HAVE_TSC 0
#endif

/* 1 if the CPU says its TSC is invariant (CPUID 0x80000007 EDX bit 8: constant rate in every
 * P-, C- and T-state, as Linux's "constant_tsc nonstop_tsc"), else 0. */
int spoorint_tsc_invariant(void);

/* The mapping from TSC ticks to CLOCK_MONOTONIC nanoseconds that spoor_now() applies:
 *   ns = base_ns + ((ticks - base_ticks) * mult) >> 32
 * published by one writer (init, then the collector thread, which recalibrates it against
 * CLOCK_MONOTONIC on a schedule) under a sequence lock: `seq` is odd while an update is under
 * way. mult 0 means "no TSC mapping": spoor_now() reads clock_gettime(CLOCK_MONOTONIC). */
typedef struct spoorint_clock {
    uint64_t seq;
    uint64_t base_ticks;
    uint64_t base_ns;
    uint64_t mult;      /* nanoseconds per tick in 32.32 fixed point */
} spoorint_clock;

extern spoorint_clock spoorint_clock_state;

/* Publishes a new mapping (single writer). */
static inline void spoorint_clock_publish(uint64_t base_ticks, uint64_t base_ns, uint64_t mult) {
    spoorint_clock *c = &spoorint_clock_state;
    uint64_t seq = __atomic_load_n(&c->seq, __ATOMIC_RELAXED);
    __atomic_store_n(&c->seq, seq + 1, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
    __atomic_store_n(&c->base_ticks, base_ticks, __ATOMIC_RELAXED);
    __atomic_store_n(&c->base_ns, base_ns, __ATOMIC_RELAXED);
    __atomic_store_n(&c->mult, mult, __ATOMIC_RELAXED);
    __atomic_store_n(&c->seq, seq + 2, __ATOMIC_RELEASE);
}

/* Applies the current mapping to `ticks`; 0 if there is none (the caller reads the system
 * clock instead). Lock-free: retries only while the writer is mid-update. */
static inline uint64_t spoorint_clock_map(uint64_t ticks) {
    const spoorint_clock *c = &spoorint_clock_state;
    for (;;) {
        uint64_t seq = __atomic_load_n(&c->seq, __ATOMIC_ACQUIRE);
        uint64_t base_ticks = __atomic_load_n(&c->base_ticks, __ATOMIC_RELAXED);
        uint64_t base_ns = __atomic_load_n(&c->base_ns, __ATOMIC_RELAXED);
        uint64_t mult = __atomic_load_n(&c->mult, __ATOMIC_RELAXED);
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if ((seq & 1) == 0 && __atomic_load_n(&c->seq, __ATOMIC_RELAXED) == seq) {
            if (mult == 0) return 0;
            /* A tick value a little before the base (another CPU read it a moment earlier)
             * maps a little before base_ns; the signed product keeps that exact. */
            __int128 delta = (__int128)(int64_t)(ticks - base_ticks);
            return base_ns + (uint64_t)(int64_t)((delta * (__int128)mult) >> 32);
        }
    }
}

/* The mapping's current rate (0: none). Only its writer calls this. */
static inline uint64_t spoorint_clock_mult(void) {
    return __atomic_load_n(&spoorint_clock_state.mult, __ATOMIC_RELAXED);
}

/* CLOCK_MONOTONIC nanoseconds from the vDSO. */
uint64_t spoorint_monotonic_ns(void);

/* ---- checksums -------------------------------------------------------------------------- */

/* CRC-32C (Castagnoli), as in iSCSI/ext4: crc = spoorint_crc32c(0, data, len) for a whole
 * buffer, or chained by passing the previous result. SSE4.2 when the CPU has it. */
uint32_t spoorint_crc32c(uint32_t crc, const void *SPOOR_NULLABLE data, size_t len);

/* ---- process globals of the runtime ---------------------------------------------------- */

/* Generation of the running library instance (spoor__generation, declared in spoor.h); 0 while
 * not initialised. A thread's producer state is valid only while spoor__thread.generation
 * equals it. */
static inline uint64_t *SPOOR_NONNULL spoorint_generation_ptr(void) { return &spoor__generation; }
/* Rate sampling window: (second << 32) | entries admitted in that second. */
extern uint64_t spoorint_rate_window;
static inline uint64_t *SPOOR_NONNULL spoorint_rate_window_ptr(void) { return &spoorint_rate_window; }

/* Reports dropped by threads that found no free ring (process-wide). */
extern uint64_t spoorint_no_ring_dropped;
static inline uint64_t *SPOOR_NONNULL spoorint_no_ring_dropped_ptr(void) { return &spoorint_no_ring_dropped; }
/* Entries sampled by threads that found no free ring (process-wide). */
extern uint64_t spoorint_no_ring_sampled;
static inline uint64_t *SPOOR_NONNULL spoorint_no_ring_sampled_ptr(void) { return &spoorint_no_ring_sampled; }
/* Reports refused with SPOOR_E_REPORT_TOO_LARGE (process-wide). */
extern uint64_t spoorint_too_large;
static inline uint64_t *SPOOR_NONNULL spoorint_too_large_ptr(void) { return &spoorint_too_large; }
/* SPOOR_FULL_BLOCK wait bound in nanoseconds. */
extern uint64_t spoorint_block_timeout_ns;
static inline uint64_t *SPOOR_NONNULL spoorint_block_timeout_ptr(void) { return &spoorint_block_timeout_ns; }

/* spoor_fold field offsets the runtime relies on. */
_Static_assert(offsetof(spoor_fold, inline_ids) == 8, "fold inline ids");
_Static_assert(offsetof(spoor_fold, heap) == 56, "fold heap");
_Static_assert(offsetof(spoor_fold, heap_capacity) == 64, "fold capacity");
_Static_assert(offsetof(spoor_fold, truncated) == 72, "fold truncated");
_Static_assert(sizeof(spoor_fold) == 80, "fold size");

/* ---- platform (platform.c) -------------------------------------------------------------- */

uint32_t spoorint_gettid(void);
/* The CPU the calling thread runs on (0 if unknown). */
int spoorint_getcpu(void);
/* The calling thread's file-system uid / gid (Linux setfsuid(2) / setfsgid(2)); returns the
 * previous value. Used by `spoor recover` to create files as a segment's owner. */
int spoorint_setfsuid(uint32_t uid);
int spoorint_setfsgid(uint32_t gid);
/* Fills buf from getrandom(2); 0 or -1 (errno set). */
int spoorint_random_bytes(void *SPOOR_NONNULL buf, size_t len);
/* Faults in [addr, addr + len) for writing (MADV_POPULATE_WRITE, else touching each page). */
int spoorint_prefault(void *SPOOR_NONNULL addr, size_t len);
/* Maps the pages of [addr, addr + len) of a shared mapping into this process without writing
 * them (MADV_POPULATE_READ, or a read per page): a collector process does this for a ring before
 * its first drain, so that the drain does not take a page fault per 4 KiB. */
int spoorint_populate_read(const void *SPOOR_NONNULL addr, size_t len);

/* Names a thread (at most 15 characters). */
void spoorint_set_thread_name(unsigned long thread, const char *SPOOR_NONNULL name);

#endif /* SPOOR_INTERNAL_H */
