/*
 * spoor.h - Spoor: record-level lineage tracing for data pipelines.
 *
 * This header is the contract of libspoor.so. Every function is documented with its
 * ownership rules, its thread-safety and the error codes it returns.
 *
 * Conventions
 *   - Functions return an int status: SPOOR_OK (0) on success, SPOOR_DROPPED (1) when a report
 *     was lost and counted (spoor_error_detail() says why), or a negative SPOOR_E_* code. spoor_strerror() names
 *     every code; spoor_error_detail() gives the calling thread's last failure in words.
 *   - Record ids are 64-bit; 0 means "untracked". An untracked record flows through the
 *     checkpoint functions at the cost of a branch: they return SPOOR_OK with *out_id = 0
 *     without entering the library (they are static inline below).
 *   - No input crashes the host process: NULL pointers, absurd sizes, calls before spoor_init or
 *     after spoor_shutdown, and calls in a forked child all return an error code.
 *   - Times are CLOCK_MONOTONIC nanoseconds (spoor_now()). Every log segment records a
 *     (CLOCK_REALTIME, CLOCK_MONOTONIC) pair so readers can place them on the wall clock.
 *   - Thread-safety: every function may be called from any number of threads at once unless
 *     its comment says otherwise. Each thread writes into a ring of its own (single producer)
 *     while one of the max_threads private rings is free, so concurrent checkpoints share no
 *     written cache line. A thread that finds none free writes into one of the shared rings
 *     (SPOOR_SHARED_RINGS, default one per CPU, at most 64), which take any number of producers
 *     (a compare-and-swap to reserve, an atomic add to count): no thread is ever untraceable.
 *     Rate-limited sampling touches a process-wide word (one compare-and-swap per sampling
 *     decision, not per entry).
 *   - Reentrancy and signals: the checkpoint, entry, poke and fold functions are reentrant
 *     (a report written from a signal handler that interrupted a report of the same thread on
 *     a private ring may overwrite the interrupted one's slots: do not trace from signal
 *     handlers); spoor_now, spoor_generation, spoor_hash_bytes, spoor_key_sampled, the context
 *     encoders and decoders and spoor_strerror are async-signal-safe. spoor_init, spoor_shutdown,
 *     spoor_flush, spoor_register_operator and the statistics functions take a lock and are
 *     not async-signal-safe.
 *
 * Versioning
 *   SPOOR_VERSION_* is the release of this header. SPOOR_ABI_VERSION changes whenever a struct
 *   layout or a function signature changes incompatibly; spoor_init() passes the ABI version the
 *   caller was compiled against and the library refuses a mismatch (SPOOR_E_ABI_MISMATCH).
 *
 * Names that start with "spoor__" (two underscores) are private to the library: they are
 * declared here only because the inline fast paths use them. Do not call them directly.
 */
#ifndef SPOOR_H
#define SPOOR_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SPOOR_VERSION_MAJOR 0
#define SPOOR_VERSION_MINOR 1
#define SPOOR_VERSION_PATCH 0
/** Version of the binary interface (struct layouts and signatures) this header describes. */
#define SPOOR_ABI_VERSION 1u

#if defined(__clang__)
#define SPOOR_NONNULL _Nonnull
#define SPOOR_NULLABLE _Nullable
#else
#define SPOOR_NONNULL
#define SPOOR_NULLABLE
#endif

#if defined(__GNUC__) || defined(__clang__)
#define SPOOR_LIKELY(x) __builtin_expect(!!(x), 1)
#define SPOOR_UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define SPOOR_LIKELY(x) (x)
#define SPOOR_UNLIKELY(x) (x)
#endif

/* ============================================================================================
 * Status and error codes
 * ========================================================================================== */

/** Success. */
#define SPOOR_OK 0
/** Not an error: the report was lost and counted in spoor_stats.dropped. spoor_error_detail()
 *  names the cause: the thread's private ring was full (SPOOR_FULL_DROP), it stayed full for
 *  block_timeout_ms (SPOOR_FULL_BLOCK), a shared ring was full, the library shut down while the
 *  thread waited, or the thread had no ring. A checkpoint still returns the minted output id so
 *  downstream lineage continues; a sampled entry returns id 0. */
#define SPOOR_DROPPED 1
/** A required pointer was NULL, a count was 0 where at least 1 is needed, or a value is
 *  outside its documented range. */
#define SPOOR_E_INVALID_ARGUMENT (-1)
/** spoor_init has not been called, spoor_shutdown has been called, or this is a forked child
 *  that has not called spoor_init itself. */
#define SPOOR_E_NOT_INITIALIZED (-2)
/** spoor_init was called while the library is already initialized. */
#define SPOOR_E_ALREADY_INITIALIZED (-3)
/** The caller was compiled against a different SPOOR_ABI_VERSION than the library. */
#define SPOOR_E_ABI_MISMATCH (-4)
/** A field of spoor_config, a SPOOR_* environment variable or a spoor_sampling is invalid;
 *  spoor_error_detail() names it. */
#define SPOOR_E_INVALID_CONFIG (-5)
/** The shared-memory segment could not be created or mapped: a bad name (it must be "/name"
 *  with no other '/', at most 255 bytes), a name already in use, or no memory in /dev/shm. */
#define SPOOR_E_SHM (-6)
/** More parents than SPOOR_MAX_PARENTS were passed. */
#define SPOOR_E_TOO_MANY_PARENTS (-7)
/** The attachment exceeds SPOOR_MAX_ATTACHMENT bytes once encoded, or a key exceeds 255 bytes. */
#define SPOOR_E_ATTACHMENT_TOO_LARGE (-8)
/** The encoded report would occupy more than a quarter of a ring; raise ring_slots. */
#define SPOOR_E_REPORT_TOO_LARGE (-9)
/** The operator table is full (SPOOR_MAX_OPERATORS). */
#define SPOOR_E_TOO_MANY_OPERATORS (-10)
/** An output buffer is smaller than the documented size. */
#define SPOOR_E_BUFFER_TOO_SMALL (-11)
/** A context string or byte sequence, or a partitioner file, is malformed. */
#define SPOOR_E_PARSE (-12)
/** The log directory could not be created or written. */
#define SPOOR_E_IO (-13)
/** spoor_flush or a blocking write did not complete within its timeout. */
#define SPOOR_E_TIMEOUT (-14)
/** The library could not allocate memory (outside the hot path). */
#define SPOOR_E_NO_MEMORY (-15)

/** A static, human-readable description of a status or error code. Never NULL; unknown codes
 *  give "unknown spoor status". Thread-safe; the string is owned by the library. */
const char *SPOOR_NONNULL spoor_strerror(int code);

/** The calling thread's description of its most recent failure (which argument, which
 *  environment variable, which system call and errno), or "" if none. The string is owned by
 *  the library, lives in thread-local storage and stays valid until the thread's next failing
 *  call. Thread-safe. */
const char *SPOOR_NONNULL spoor_error_detail(void);

/** The library's version string, "MAJOR.MINOR.PATCH". Static, owned by the library. */
const char *SPOOR_NONNULL spoor_version(void);

/** The SPOOR_ABI_VERSION the library was built with. */
uint32_t spoor_abi_version(void);

/* ============================================================================================
 * Configuration and lifecycle
 * ========================================================================================== */

/** Sampling strategies applied at entry checkpoints. */
typedef enum spoor_sampling_mode {
    /** The default: SPOOR_SAMPLE_PROBABILITY with probability 0.01. */
    SPOOR_SAMPLE_DEFAULT = 0,
    /** Trace nothing: every entry returns id 0. */
    SPOOR_SAMPLE_OFF = 1,
    /** Trace every entry. */
    SPOOR_SAMPLE_ALL = 2,
    /** Trace each entry independently with `probability` (per-thread geometric skips, so an
     *  unsampled entry costs a decrement, not a random draw). */
    SPOOR_SAMPLE_PROBABILITY = 3,
    /** Trace every `every_n`-th entry of each thread. */
    SPOOR_SAMPLE_EVERY_N = 4,
    /** Trace at most `per_second` entries per second of CLOCK_MONOTONIC, process-wide (each
     *  whole second is a window; the cap is exact). */
    SPOOR_SAMPLE_RATE = 5,
    /** Trace an entry iff spoor_key_sampled(key_hash, probability): a pure function of the key
     *  hash, so the same key is traced in every process, host and language. */
    SPOOR_SAMPLE_KEY_HASH = 6
} spoor_sampling_mode;

/** A sampling strategy. All-zero means SPOOR_SAMPLE_DEFAULT. */
typedef struct spoor_sampling {
    uint32_t mode;        /**< a spoor_sampling_mode */
    uint32_t reserved;    /**< must be 0 */
    double probability;   /**< PROBABILITY and KEY_HASH: in [0, 1] */
    uint64_t every_n;     /**< EVERY_N: at least 1 */
    uint64_t per_second;  /**< RATE: in [1, 2^32 - 1] */
} spoor_sampling;

/** What the library does when a thread's ring is full. */
typedef enum spoor_full_policy {
    /** Drop the report and count it (default): the caller never waits. */
    SPOOR_FULL_DROP = 0,
    /** Wait for the collector to make room (spinning, then sleeping 8 to 512 µs at a time, so
     *  that the collector gets the CPU), at most block_timeout_ms, then drop and count. */
    SPOOR_FULL_BLOCK = 1,
    /** Keep the newest (a flight recorder): a report that finds its private ring full frees
     *  the oldest reports the collector has not taken yet and takes their place; each one
     *  freed is counted in spoor_stats.dropped (and no longer in committed) and in the log as
     *  an "overwritten" loss. The caller never waits. The collector then copies each batch out
     *  of the ring before it writes it (one memcpy per batch), and only hands the sink reports
     *  that were not overwritten while it copied. A shared ring (threads beyond max_threads)
     *  has several producers and drops instead. */
    SPOOR_FULL_OVERWRITE = 2
} spoor_full_policy;

/** Where the collector sends drained batches. */
typedef enum spoor_sink_kind {
    /** The append-only binary log under log_dir (default). */
    SPOOR_SINK_LOG = 0,
    /** Drain and discard (for measuring the tracing overhead alone). */
    SPOOR_SINK_NONE = 1
} spoor_sink_kind;

/** spoor_config.flags: do not read SPOOR_* environment variables. */
#define SPOOR_CONFIG_IGNORE_ENV 0x1u

/**
 * Library configuration. A zero-initialised struct (or a NULL pointer) means defaults. Unless
 * SPOOR_CONFIG_IGNORE_ENV is set, these environment variables override the fields, so a job can
 * be traced, or its tracing changed, without a code change:
 *   SPOOR_SAMPLING       off | all | probability:P | every:N | rate:K | key:P
 *   SPOOR_DIR            log_dir          SPOOR_SHM_NAME        shm_name
 *   SPOOR_RING_SLOTS     ring_slots       SPOOR_MAX_THREADS     max_threads
 *   SPOOR_FLUSH_MS       flush_interval_ms
 *   SPOOR_FULL_POLICY    drop | block | overwrite
 *   SPOOR_BLOCK_TIMEOUT_MS block_timeout_ms
 *   SPOOR_SEGMENT_BYTES  segment_bytes    SPOOR_SEED            seed
 *   SPOOR_SINK           log | none
 *   SPOOR_SHARED_RINGS   shared (multi-producer) rings for threads beyond max_threads: [1, 64];
 *                        default: the number of online CPUs, at most 64 (no config field)
 *   SPOOR_CLOCK          auto | monotonic   (spoor_now: the TSC where invariant, or always
 *                                            clock_gettime; no config field)
 * A malformed variable makes spoor_init fail with SPOOR_E_INVALID_CONFIG.
 */
typedef struct spoor_config {
    uint32_t struct_size;        /**< sizeof(spoor_config), or 0 for "this header's size" */
    uint32_t flags;              /**< SPOOR_CONFIG_* bits */
    const char *SPOOR_NULLABLE log_dir;   /**< root of the log; NULL: "spoor-traces". Each init
                                               creates a run directory inside it. Copied. */
    const char *SPOOR_NULLABLE shm_name;  /**< POSIX shm name; NULL: "/spoor.PID.RANDOM". Copied. */
    uint32_t ring_slots;         /**< slots (64 bytes each) per thread ring: power of two in
                                      [64, 2^24]; 0: 16384 (1 MiB) */
    uint32_t max_threads;        /**< private rings in the segment: [1, 4096]; 0: 64. A thread
                                      takes one at its first report and gives it back when it
                                      exits; the ring is reusable once the collector has drained
                                      it. A thread that finds none free writes into a shared
                                      ring for the rest of its life (see SPOOR_SHARED_RINGS) */
    uint32_t flush_interval_ms;  /**< collector period: [1, 60000]; 0: 10. While a pass finds a
                                      ring at least 1/16 full or new losses, the next comes after
                                      a tenth of it (at least 1 ms) */
    uint32_t full_policy;        /**< a spoor_full_policy */
    uint32_t block_timeout_ms;   /**< SPOOR_FULL_BLOCK wait bound: [1, 60000]; 0: 1000 */
    uint32_t sink;               /**< a spoor_sink_kind */
    uint64_t segment_bytes;      /**< log segment roll size: [64 KiB, 2^40]; 0: 64 MiB */
    uint64_t seed;               /**< sampler seed; 0: random per thread */
    spoor_sampling sampling;     /**< initial sampling strategy */
} spoor_config;

/** Private: initialise with the ABI version the caller was compiled against. Use spoor_init. */
int spoor_init_abi(uint32_t abi_version, const spoor_config *SPOOR_NULLABLE config);

/**
 * Initialise the library: validate the configuration (after environment overrides), create the
 * shared-memory segment (mode 0600), create the run directory and start the collector thread.
 * `config` may be NULL (defaults); it is read during the call only.
 * Errors: SPOOR_E_ALREADY_INITIALIZED, SPOOR_E_ABI_MISMATCH, SPOOR_E_INVALID_CONFIG,
 * SPOOR_E_SHM, SPOOR_E_IO, SPOOR_E_NO_MEMORY. On error nothing is left behind.
 * Thread-safe (concurrent calls: one succeeds, the others get SPOOR_E_ALREADY_INITIALIZED).
 * After spoor_shutdown the library may be initialised again (a new run). A forked child starts
 * uninitialised: it never writes into its parent's rings, and may call spoor_init for a segment
 * and run of its own.
 */
static inline int spoor_init(const spoor_config *SPOOR_NULLABLE config) {
    return spoor_init_abi(SPOOR_ABI_VERSION, config);
}

/**
 * Stop tracing: every report committed before this call is drained into the sink, the sink is
 * closed, the shared-memory name is unlinked and its pages released (the address range stays
 * reserved as untouched anonymous memory, so a thread racing with shutdown writes harmlessly). Checkpoints that race
 * with spoor_shutdown may be lost (never crash). Also runs automatically at normal process exit.
 * Errors: SPOOR_E_NOT_INITIALIZED; SPOOR_E_IO if the sink failed to close (the library is shut
 * down all the same). Thread-safe.
 */
int spoor_shutdown(void);

/**
 * Wait until every report committed before the call has been drained and handed to the sink,
 * and the sink has written it out (to the page cache; not fsync). Wakes the collector.
 * `timeout_ms` 0 means 10000. Errors: SPOOR_E_NOT_INITIALIZED, SPOOR_E_TIMEOUT, SPOOR_E_IO.
 * Thread-safe.
 */
int spoor_flush(uint32_t timeout_ms);

/**
 * Drain what dead processes left in shared memory: every segment of the calling user that still
 * says running, whose run directory lies under `log_root`, and whose process is gone (killed with
 * SIGKILL, crashed; a pid reused by another process counts as gone: it does not map the segment)
 * is drained into its own run directory, as `spoor recover NAME` would, and unlinked. Segments of
 * live processes, of other users and of other log roots are left alone; two processes sweeping
 * at once never drain one segment twice (a file lock). spoor_init and spoor_shutdown do this for
 * their own log root, so a worker killed mid-run loses nothing it had committed once any process
 * logging under the same root starts or stops (and `spoor dump`/`spoor stats` over the directory
 * do it too).
 * `log_root` is `log_root_len` bytes (no NUL needed); NULL with 0: the running instance's log
 * root, or "spoor-traces". `*out_reports` (may be NULL) receives the reports recovered.
 * Returns the number of segments recovered (>= 0), or SPOOR_E_INVALID_ARGUMENT (NULL with a
 * length, a length of 0 or above 4095, a NUL byte). Works without spoor_init; thread-safe; it
 * reads /dev/shm and writes log files, so it is not async-signal-safe.
 */
int spoor_recover_dead(const char *SPOOR_NULLABLE log_root, size_t log_root_len,
                       uint64_t *SPOOR_NULLABLE out_reports);

/**
 * Copy the current run directory (where the log sink writes) into `buf`, NUL-terminated; the
 * empty string under SPOOR_SINK_NONE.
 * Returns the path length (>= 0) or SPOOR_E_NOT_INITIALIZED, SPOOR_E_INVALID_ARGUMENT (NULL
 * buf), SPOOR_E_BUFFER_TOO_SMALL. Thread-safe.
 */
int spoor_run_dir(char *SPOOR_NULLABLE buf, size_t capacity);

/**
 * Copy the shared-memory segment name into `buf`, NUL-terminated, as for spoor_run_dir. A
 * separate process can drain this segment after a crash (`spoor recover NAME`).
 */
int spoor_shm_name(char *SPOOR_NULLABLE buf, size_t capacity);

/**
 * Replace the sampling strategy at run time, without restart. Every thread picks it up at its
 * next entry checkpoint. `sampling` is read during the call only.
 * Errors: SPOOR_E_NOT_INITIALIZED, SPOOR_E_INVALID_ARGUMENT (NULL), SPOOR_E_INVALID_CONFIG.
 * Thread-safe.
 */
int spoor_set_sampling(const spoor_sampling *SPOOR_NULLABLE sampling);

/** Copy the current sampling strategy into `out`. Errors: SPOOR_E_NOT_INITIALIZED,
 *  SPOOR_E_INVALID_ARGUMENT (NULL). Thread-safe. */
int spoor_get_sampling(spoor_sampling *SPOOR_NULLABLE out);

/**
 * The current time in CLOCK_MONOTONIC nanoseconds: the one clock of every report, entries and
 * checkpoints alike; pass it as start_ns/end_ns of the checkpoint calls. Where the CPU has an
 * invariant TSC (CPUID 0x80000007 EDX bit 8) it is read from the TSC (about 11 ns here, against
 * about 28 ns for clock_gettime) through a mapping that spoor_init calibrates and the collector
 * re-calibrates against CLOCK_MONOTONIC every 100 ms, slewing (never stepping, unless it is off
 * by more than a millisecond) so that it stays monotonic and follows NTP adjustments of
 * CLOCK_MONOTONIC; otherwise, before spoor_init, after spoor_shutdown, and with
 * SPOOR_CLOCK=monotonic, it is clock_gettime(CLOCK_MONOTONIC) itself. Log readers convert to
 * wall-clock time with the (CLOCK_REALTIME, CLOCK_MONOTONIC) pair of each segment header.
 * Thread-safe, lock-free, async-signal-safe; works without spoor_init.
 */
uint64_t spoor_now(void);

/** Private: the library generation (see spoor_generation). */
extern uint64_t spoor__generation;

/**
 * The generation of the running library instance: a number that changes with every successful
 * spoor_init (it is never reused within a process), and 0 while the library is not
 * initialised (before spoor_init, after spoor_shutdown, in a forked child). Operator ids belong
 * to one generation: a binding that caches them keys its cache by this value. Inline, one
 * relaxed load; thread-safe and async-signal-safe.
 */
static inline uint64_t spoor_generation(void) {
    return __atomic_load_n(&spoor__generation, __ATOMIC_RELAXED);
}

/* ============================================================================================
 * Operators
 * ========================================================================================== */

/** Longest operator name and call site, in bytes. A longer call site keeps its last bytes. */
#define SPOOR_MAX_NAME_LEN 252u
/** Most operators one initialisation can register. */
#define SPOOR_MAX_OPERATORS 4096u

/**
 * Register an operator (a UDF, a stage, an engine step) once and get its small id (>= 1) for
 * the checkpoint calls. Names are interned: registering the same (name, call_site) again
 * returns the same id; ids are never reused within a run. Reports carry only the id; the log
 * carries the names once. `call_site` may be NULL with length 0 (e.g. "wordcount.c:42").
 * Strings are copied; they need not be NUL-terminated.
 * Errors: SPOOR_E_NOT_INITIALIZED, SPOOR_E_INVALID_ARGUMENT (NULL name or out_op, empty name or
 * a name longer than SPOOR_MAX_NAME_LEN, NULL call_site with a length), SPOOR_E_TOO_MANY_OPERATORS.
 * Thread-safe. Operator ids given to the checkpoint functions are not validated there (an
 * unknown id is reported as is and shown as unknown by readers).
 */
int spoor_register_operator(const char *SPOOR_NULLABLE name, size_t name_len,
                            const char *SPOOR_NULLABLE call_site, size_t call_site_len,
                            uint32_t *SPOOR_NULLABLE out_op);

/* ============================================================================================
 * Reports: private thread state used by the inline fast paths
 * ========================================================================================== */

/** Private: per-thread state. Its first fields are read by the inline functions below; the
 *  rest belongs to the library. Zero-initialised for every new thread. */
typedef struct spoor__thread {
    uint64_t sampler_epoch;      /* equals spoor__sampler_epoch while the fields below are valid */
    uint64_t countdown;          /* entries until the next sampling decision; 0: key-hash mode */
    uint64_t key_threshold;      /* mode parameter. key-hash: sample iff spoor__mix64(key) <
                                    threshold; probability: bits of log1p(-p); every-N: N;
                                    rate: the per-second cap */
    uint32_t partition_plus_one; /* spoor_set_partition value + 1; 0: none */
    uint32_t tid;                /* OS thread id, cached */
    uint64_t generation;         /* library generation the producer fields belong to */
    unsigned char *SPOOR_NULLABLE slots; /* ring slots */
    void *SPOOR_NULLABLE ring;   /* ring descriptor in the shared segment */
    uint64_t mask;               /* ring slots - 1 */
    uint64_t head;               /* next slot position to write */
    uint64_t tail_cache;         /* last consumer position seen */
    uint64_t next_id;            /* next id of the current id block */
    uint64_t id_block_end;       /* first id past the current block */
    uint64_t rng;                /* sampler PRNG state */
    uint64_t id_rng;             /* id-block PRNG state (seeded from getrandom) */
    uint64_t rate_gap;           /* rate mode: current gap between decisions */
    uint64_t rate_gap_start_ns;  /* rate mode: when the current gap started */
    uint64_t base_written;       /* ring counters when this thread took the ring */
    uint64_t base_committed;
    uint64_t base_dropped;
    uint64_t base_sampled;
    uint64_t base_drained;
    uint64_t lost_no_ring;       /* reports dropped because no ring was free */
    uint32_t ring_index;         /* ring in the segment, or UINT32_MAX */
    uint32_t state_flags;        /* library bits */
    uint64_t own_committed;      /* on a shared ring: this thread's reports published */
    uint64_t own_dropped;        /* on a shared ring: this thread's reports lost */
    uint64_t own_sampled;        /* on a shared ring: this thread's sampled entries */
    void *SPOOR_NULLABLE sharer; /* on a shared ring: this thread's sharer-table entry, or NULL */
} spoor__thread;

/** Private: the calling thread's state. */
extern __thread spoor__thread spoor__tls;
/** Private: bumped on every sampling change, init, shutdown and fork. */
extern uint64_t spoor__sampler_epoch;

/** Private: the key-hash sampling mix: the murmur3 64-bit finaliser of key ^ 0x9e3779b97f4a7c15
 *  (the constant keeps key 0, "no key", from being special). */
static inline uint64_t spoor__mix64(uint64_t x) {
    x ^= 0x9e3779b97f4a7c15ULL;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

/* ============================================================================================
 * Reports
 * ========================================================================================== */

/** Most parents one report can carry (zeros excluded). */
#define SPOOR_MAX_PARENTS 65536u
/** Most bytes of an encoded attachment (each pair costs 3 bytes plus key and value). */
#define SPOOR_MAX_ATTACHMENT 1024u

/** One key/value pair of an attachment: small metadata about a UDF call. Bytes are copied into
 *  the report; `value` need not be text. */
typedef struct spoor_attr {
    const char *SPOOR_NULLABLE key;      /**< 1..255 bytes */
    size_t key_len;
    const void *SPOOR_NULLABLE value;    /**< 0..1020 bytes; NULL only with value_len 0 */
    size_t value_len;
} spoor_attr;

/** Everything a checkpoint can report besides its parents. Zero-initialise, then set fields. */
typedef struct spoor_report_info {
    uint32_t op;          /**< operator id from spoor_register_operator */
    uint32_t fanout;      /**< output records minted (one-to-many): 0 or 1 means one. The ids
                               are consecutive: *out_id, *out_id + 1, ..., at most 65536 */
    uint64_t key_hash;    /**< key of the output record (spoor_hash_bytes), or 0 */
    uint64_t start_ns;    /**< UDF start (spoor_now), or 0 if not measured */
    uint64_t end_ns;      /**< UDF end, or 0: the library reads the clock */
    const spoor_attr *SPOOR_NULLABLE attrs; /**< attachment pairs, or NULL */
    size_t n_attrs;
} spoor_report_info;

/** Private slow paths of the inline functions below. */
int spoor__entry_slow(spoor__thread *SPOOR_NONNULL thread, uint32_t op, uint64_t key_hash,
                      const spoor_attr *SPOOR_NULLABLE attrs, size_t n_attrs,
                      uint64_t *SPOOR_NULLABLE out_id);
int spoor__checkpoint1_slow(spoor__thread *SPOOR_NONNULL thread, uint64_t parent, uint32_t op,
                            uint64_t key_hash, uint64_t start_ns, uint64_t end_ns,
                            uint64_t *SPOOR_NULLABLE out_id);
int spoor__checkpoint_slow(spoor__thread *SPOOR_NONNULL thread,
                           const uint64_t *SPOOR_NULLABLE parents, size_t n_parents,
                           const spoor_report_info *SPOOR_NULLABLE info,
                           uint64_t *SPOOR_NULLABLE out_id);
int spoor__poke_slow(spoor__thread *SPOOR_NONNULL thread, uint64_t id, uint32_t op,
                     uint32_t event, uint64_t timestamp_ns);

/**
 * Entry checkpoint: a record enters the traced topology. Applies the sampling strategy; if the
 * record is sampled, mints its id, reports it (kind "entry", timestamped) and stores the id in
 * *out_id; otherwise stores 0. `key_hash` is the record's key (0 if none); key-hash sampling
 * decides on it. An unsampled entry costs a thread-local decrement and does not enter the
 * library. Returns SPOOR_OK, SPOOR_DROPPED (ring full: *out_id = 0) or SPOOR_E_NOT_INITIALIZED,
 * SPOOR_E_INVALID_ARGUMENT (NULL out_id). Thread-safe.
 */
static inline int spoor_entry(uint32_t op, uint64_t key_hash, uint64_t *SPOOR_NULLABLE out_id) {
    spoor__thread *t = &spoor__tls;
    if (SPOOR_LIKELY(t->sampler_epoch == __atomic_load_n(&spoor__sampler_epoch, __ATOMIC_RELAXED)
                     && out_id != 0)) {
        uint64_t c = t->countdown;
        if (SPOOR_LIKELY(c > 1)) {
            t->countdown = c - 1;
            *out_id = 0;
            return SPOOR_OK;
        }
        if (c == 0 && spoor__mix64(key_hash) >= t->key_threshold) {
            *out_id = 0;
            return SPOOR_OK;
        }
    }
    return spoor__entry_slow(t, op, key_hash, 0, 0, out_id);
}

/** Entry checkpoint with an attachment, otherwise as spoor_entry. Additional errors:
 *  SPOOR_E_INVALID_ARGUMENT (NULL attrs with n_attrs > 0, empty key), SPOOR_E_ATTACHMENT_TOO_LARGE,
 *  SPOOR_E_REPORT_TOO_LARGE (the attachment needs more than a quarter of a ring). */
static inline int spoor_entry_ex(uint32_t op, uint64_t key_hash,
                                 const spoor_attr *SPOOR_NULLABLE attrs, size_t n_attrs,
                                 uint64_t *SPOOR_NULLABLE out_id) {
    spoor__thread *t = &spoor__tls;
    if (SPOOR_LIKELY(t->sampler_epoch == __atomic_load_n(&spoor__sampler_epoch, __ATOMIC_RELAXED)
                     && out_id != 0)) {
        uint64_t c = t->countdown;
        if (SPOOR_LIKELY(c > 1)) {
            t->countdown = c - 1;
            *out_id = 0;
            return SPOOR_OK;
        }
        if (c == 0 && spoor__mix64(key_hash) >= t->key_threshold) {
            *out_id = 0;
            return SPOOR_OK;
        }
    }
    return spoor__entry_slow(t, op, key_hash, attrs, n_attrs, out_id);
}

/**
 * Claims up to `max` of the calling thread's next entries that the sampler will not trace, and
 * returns how many (n): the next n calls of spoor_entry on this thread would each have returned
 * an untraced 0, and are consumed now, exactly as those n calls would have (the sampler state
 * moves on by n; nothing is counted, as nothing is for an untraced entry). The caller then lets n
 * records pass as untracked without calling spoor_entry or computing their key hashes, which a
 * binding whose every call crosses an FFI (JNI, ctypes) uses to keep untraced records on its
 * side. Returns 0 when the next entry needs its own decision: it is the one to be traced, the
 * sampling is by key hash (each decision depends on the key), the sampling changed since the
 * thread's last entry, the library is not initialised, or `max` is 0. Sampling changed after a
 * claim applies once the claimed entries are used up, so keep `max` small (the JVM binding
 * claims 1024). Thread-safe (this thread's state only); inline, never enters the library.
 */
static inline uint64_t spoor_entry_skip(uint64_t max) {
    spoor__thread *t = &spoor__tls;
    if (SPOOR_LIKELY(t->sampler_epoch == __atomic_load_n(&spoor__sampler_epoch, __ATOMIC_RELAXED))) {
        uint64_t c = t->countdown;
        if (SPOOR_LIKELY(c > 1)) {
            uint64_t n = c - 1 < max ? c - 1 : max;
            t->countdown = c - n;
            return n;
        }
    }
    return 0;
}

/**
 * An entry that is always traced, whatever the sampling: mints an id for a record the caller
 * must be able to follow in every case (an engine's job, stage or task record, which its events
 * are then poked on), reports it as an entry (with `attrs` if any) and stores the id in *out_id.
 * Not counted as sampled. If the report is lost (SPOOR_DROPPED) the id is still stored, so what
 * follows can name the record. `attrs` is read during the call only.
 * Returns SPOOR_OK, SPOOR_DROPPED, or SPOOR_E_NOT_INITIALIZED, SPOOR_E_INVALID_ARGUMENT (NULL
 * out_id, NULL attrs with n_attrs > 0, an empty key), SPOOR_E_ATTACHMENT_TOO_LARGE,
 * SPOOR_E_REPORT_TOO_LARGE; on an error *out_id is 0. Thread-safe; not inline.
 */
int spoor_mint(uint32_t op, uint64_t key_hash, const spoor_attr *SPOOR_NULLABLE attrs, size_t n_attrs,
               uint64_t *SPOOR_NULLABLE out_id);

/**
 * Checkpoint with one parent (map, filter that kept the record, flatMap output by output):
 * if `parent` is 0 the output is untracked: *out_id = 0 and SPOOR_OK, without entering the
 * library. Otherwise mints the output record's id into *out_id and reports (parent, operator,
 * key hash, start/end time, thread, partition). Pass the times you measured around your UDF
 * (end_ns 0: the library reads the clock once).
 * Returns SPOOR_OK, SPOOR_DROPPED (report lost and counted; *out_id is still valid), or
 * SPOOR_E_NOT_INITIALIZED, SPOOR_E_INVALID_ARGUMENT (NULL out_id). Thread-safe.
 */
static inline int spoor_checkpoint1(uint64_t parent, uint32_t op, uint64_t key_hash,
                                    uint64_t start_ns, uint64_t end_ns,
                                    uint64_t *SPOOR_NULLABLE out_id) {
    if (SPOOR_LIKELY(parent == 0 && out_id != 0)) {
        *out_id = 0;
        return SPOOR_OK;
    }
    return spoor__checkpoint1_slow(&spoor__tls, parent, op, key_hash, start_ns, end_ns, out_id);
}

/**
 * Checkpoint with n >= 1 parents (reduce, join, cogroup, windows) and optional attachment and
 * fan-out (`info` may be NULL: operator 0, no key, clock read by the library). Parents equal to
 * 0 are untracked and left out of the report; if every parent is 0, *out_id = 0 and SPOOR_OK
 * without entering the library. With info->fanout = m > 1 the call mints m consecutive ids
 * (*out_id .. *out_id + m - 1) for m outputs of the same inputs and writes one report.
 * `parents` and `info` are read during the call only.
 * Returns SPOOR_OK, SPOOR_DROPPED, or SPOOR_E_NOT_INITIALIZED, SPOOR_E_INVALID_ARGUMENT (NULL
 * parents or out_id, n_parents 0, fanout > 65536, a bad attribute), SPOOR_E_TOO_MANY_PARENTS
 * (n_parents > SPOOR_MAX_PARENTS), SPOOR_E_ATTACHMENT_TOO_LARGE, SPOOR_E_REPORT_TOO_LARGE.
 * On an error (negative) *out_id is 0. Thread-safe.
 */
static inline int spoor_checkpoint(const uint64_t *SPOOR_NULLABLE parents, size_t n_parents,
                                   const spoor_report_info *SPOOR_NULLABLE info,
                                   uint64_t *SPOOR_NULLABLE out_id) {
    if (SPOOR_LIKELY(parents != 0 && out_id != 0 && n_parents != 0
                     && n_parents <= SPOOR_MAX_PARENTS)) {
        uint64_t any = 0;
        for (size_t i = 0; i < n_parents; i++) any |= parents[i];
        if (SPOOR_LIKELY(any == 0)) {
            *out_id = 0;
            return SPOOR_OK;
        }
    }
    return spoor__checkpoint_slow(&spoor__tls, parents, n_parents, info, out_id);
}

/** Engine events a record can be poked with (no mutation, just a timestamped observation). */
typedef enum spoor_event {
    SPOOR_EVENT_SHUFFLE_WRITE = 1,
    SPOOR_EVENT_SHUFFLE_READ = 2,
    SPOOR_EVENT_SERIALIZE = 3,
    SPOOR_EVENT_DESERIALIZE = 4,
    SPOOR_EVENT_BUFFER_ENTER = 5,
    SPOOR_EVENT_BUFFER_LEAVE = 6,
    SPOOR_EVENT_NETWORK_SEND = 7,
    SPOOR_EVENT_NETWORK_RECEIVE = 8,
    /** The record was removed by a filter: it has no output. */
    SPOOR_EVENT_FILTERED = 9,
    /** The record left the traced topology (a sink, a side effect, an exit point). */
    SPOOR_EVENT_EXIT = 10,
    /** User code failed on the record (an exception, an error result). */
    SPOOR_EVENT_ERROR = 11,
    /** First code free for engine-specific events; codes up to 65535. */
    SPOOR_EVENT_CUSTOM = 1000
} spoor_event;

/** The name of an event code: "shuffle_write", "shuffle_read", "serialize", "deserialize",
 *  "buffer_enter", "buffer_leave", "network_send", "network_receive", "filtered", "exit",
 *  "error"; "custom" for codes SPOOR_EVENT_CUSTOM to 65535; "unknown" otherwise. The names the
 *  log tools print. Static, owned by the library; thread-safe, works without spoor_init. */
const char *SPOOR_NONNULL spoor_event_name(uint32_t event);

/**
 * Poke: report an engine event on record `id` at `timestamp_ns` (0: now). If `id` is 0
 * (untracked) returns SPOOR_OK without entering the library.
 * Returns SPOOR_OK, SPOOR_DROPPED, or SPOOR_E_NOT_INITIALIZED, SPOOR_E_INVALID_ARGUMENT (event 0
 * or > 65535). Thread-safe.
 */
static inline int spoor_poke(uint64_t id, uint32_t op, uint32_t event, uint64_t timestamp_ns) {
    if (SPOOR_LIKELY(id == 0)) return SPOOR_OK;
    return spoor__poke_slow(&spoor__tls, id, op, event, timestamp_ns);
}

/**
 * Poke with an attachment: as spoor_poke, and the report carries `attrs` (an error event with
 * the exception's type and message, a custom event's details). If `id` is 0 returns SPOOR_OK
 * and reads nothing. `attrs` is read during the call only.
 * Returns SPOOR_OK, SPOOR_DROPPED, or SPOOR_E_NOT_INITIALIZED, SPOOR_E_INVALID_ARGUMENT (event 0
 * or > 65535, NULL attrs with n_attrs > 0, an empty key), SPOOR_E_ATTACHMENT_TOO_LARGE,
 * SPOOR_E_REPORT_TOO_LARGE. Thread-safe; not inline (a call into the library).
 */
int spoor_poke_ex(uint64_t id, uint32_t op, uint32_t event, uint64_t timestamp_ns,
                  const spoor_attr *SPOOR_NULLABLE attrs, size_t n_attrs);

/**
 * Set the partition (task, split, operator instance) the calling thread works on; every report
 * the thread writes carries it until changed. UINT32_MAX means none (the initial value).
 * Inline, thread-local, never fails.
 */
static inline void spoor_set_partition(uint32_t partition) {
    spoor__tls.partition_plus_one = partition + 1u;
}

/* ============================================================================================
 * Folding: report an aggregate once, with every contributing parent
 * ========================================================================================== */

/** Parents a fold keeps without allocating. */
#define SPOOR_FOLD_INLINE 6

/**
 * A fold accumulator (reduceByKey, aggregate, a window): instead of reporting each
 * intermediate step of a fold, add each contributing record's id and report once when the
 * aggregate is final. Caller-owned; zero-initialise (SPOOR_FOLD_INIT). Untracked ids (0) cost
 * a branch. Holds up to SPOOR_FOLD_INLINE ids inline and grows a library-owned heap buffer
 * beyond that (released by spoor_fold_finish / spoor_fold_discard). Not thread-safe: one fold
 * is used by one thread at a time (it may move between threads between calls).
 */
typedef struct spoor_fold {
    uint64_t count;                            /* tracked parents added */
    uint64_t inline_ids[SPOOR_FOLD_INLINE];
    uint64_t *SPOOR_NULLABLE heap;             /* library-owned overflow buffer */
    uint64_t heap_capacity;                    /* library-owned: capacity and a tag */
    uint64_t truncated;                        /* parents beyond SPOOR_MAX_PARENTS, not kept */
} spoor_fold;

#define SPOOR_FOLD_INIT {0, {0, 0, 0, 0, 0, 0}, 0, 0, 0}

/** Private: grows the heap buffer. */
int spoor__fold_grow(spoor_fold *SPOOR_NONNULL fold, uint64_t id);
/** Private: reports the fold. */
int spoor__fold_finish_slow(spoor__thread *SPOOR_NONNULL thread, spoor_fold *SPOOR_NULLABLE fold,
                            const spoor_report_info *SPOOR_NULLABLE info,
                            uint64_t *SPOOR_NULLABLE out_id);

/**
 * A fold that was never initialised (stack or heap garbage): every fold function checks the
 * fold before it uses it, and refuses one that this library did not initialise or leave with
 * SPOOR_E_INVALID_ARGUMENT, without dereferencing, reallocating or freeing its `heap` pointer
 * (the library tags its buffers: arbitrary bytes pass the check with probability 2^-32). The
 * inline fast path of spoor_fold_add writes into `inline_ids` while `heap` is NULL and
 * `count` < SPOOR_FOLD_INLINE, as it would for a zero-initialised fold; spoor_fold_discard zeroes
 * a fold that fails the check and frees nothing.
 *
 * Add a contributing record to the fold. Returns SPOOR_OK, SPOOR_E_INVALID_ARGUMENT (NULL
 * fold, or a fold that was not initialised, see above) or SPOOR_E_NO_MEMORY (the parent is not
 * kept; the fold stays usable).
 */
static inline int spoor_fold_add(spoor_fold *SPOOR_NULLABLE fold, uint64_t id) {
    if (SPOOR_LIKELY(id == 0 && fold != 0)) return SPOOR_OK;
    if (SPOOR_LIKELY(fold != 0 && fold->heap == 0 && fold->count < SPOOR_FOLD_INLINE)) {
        fold->inline_ids[fold->count++] = id;
        return SPOOR_OK;
    }
    if (fold == 0) return SPOOR_E_INVALID_ARGUMENT;
    return spoor__fold_grow(fold, id);
}

/**
 * Move every parent of `src` into `dst` (a map-side combiner merging partial aggregates) and
 * reset `src`. Errors: SPOOR_E_INVALID_ARGUMENT (NULL, or dst == src), SPOOR_E_NO_MEMORY (dst
 * unchanged). Not thread-safe for the two folds.
 */
int spoor_fold_merge(spoor_fold *SPOOR_NULLABLE dst, spoor_fold *SPOOR_NULLABLE src);

/**
 * The aggregate is final: if the fold has tracked parents, mint the output id into *out_id and
 * report once with all of them (flagged as a fold; `info` as for spoor_checkpoint, may be NULL);
 * otherwise *out_id = 0 without entering the library. The fold is reset (its buffer released)
 * either way, unless the arguments are invalid.
 * Returns as spoor_checkpoint; parents past SPOOR_MAX_PARENTS are counted, not reported, and the
 * report is flagged truncated.
 */
static inline int spoor_fold_finish(spoor_fold *SPOOR_NULLABLE fold,
                                    const spoor_report_info *SPOOR_NULLABLE info,
                                    uint64_t *SPOOR_NULLABLE out_id) {
    if (SPOOR_LIKELY(fold != 0 && out_id != 0 && fold->count == 0 && fold->heap == 0)) {
        fold->truncated = 0;
        *out_id = 0;
        return SPOOR_OK;
    }
    return spoor__fold_finish_slow(&spoor__tls, fold, info, out_id);
}

/** Reset the fold without reporting (the aggregate was abandoned) and release its buffer.
 *  NULL is ignored. */
void spoor_fold_discard(spoor_fold *SPOOR_NULLABLE fold);

/**
 * Report an aggregate whose contributing record ids the caller accumulated itself (a language
 * binding's own array, a combiner's partial): as spoor_checkpoint, but the report is flagged as a
 * fold like spoor_fold_finish's. Zeros are left out; if every id is 0, *out_id = 0 and SPOOR_OK.
 * `parents` is read during the call only. Returns and errors as spoor_checkpoint. Thread-safe.
 */
int spoor_fold_report(const uint64_t *SPOOR_NULLABLE parents, size_t n_parents,
                      const spoor_report_info *SPOOR_NULLABLE info, uint64_t *SPOOR_NULLABLE out_id);

/* ============================================================================================
 * Context propagation across processes and languages
 * ========================================================================================== */

/** Context flag: the record is traced (its id is non-zero). Without it, the context says the
 *  upstream sampler decided not to trace the record, and the receiver should not sample it. */
#define SPOOR_CONTEXT_SAMPLED 0x01u
/** Characters of a context string, without the terminating NUL: "00-<16 hex id>-<2 hex flags>". */
#define SPOOR_CONTEXT_STRING_LEN 22u
/** Bytes of a binary context: version 0, flags, id big-endian. */
#define SPOOR_CONTEXT_BYTES_LEN 10u

/** Encode (id, flags) as a NUL-terminated string, e.g. "00-00f067aa0ba902b7-01". `capacity`
 *  must be at least SPOOR_CONTEXT_STRING_LEN + 1. Returns SPOOR_CONTEXT_STRING_LEN, or
 *  SPOOR_E_INVALID_ARGUMENT (NULL buf, flags > 255, a sampled flag with id 0 or an id without
 *  it), SPOOR_E_BUFFER_TOO_SMALL. Thread-safe, works without spoor_init. */
int spoor_context_encode(uint64_t id, uint32_t flags, char *SPOOR_NULLABLE buf, size_t capacity);

/** Decode a context string of exactly `len` characters (no NUL needed; hex in either case).
 *  Returns SPOOR_OK, SPOOR_E_INVALID_ARGUMENT (NULL pointers), SPOOR_E_PARSE (wrong length,
 *  version, separator, digit, or inconsistent flag). Thread-safe, works without spoor_init. */
int spoor_context_decode(const char *SPOOR_NULLABLE text, size_t len,
                         uint64_t *SPOOR_NULLABLE out_id, uint32_t *SPOOR_NULLABLE out_flags);

/** Encode (id, flags) as SPOOR_CONTEXT_BYTES_LEN bytes. Returns SPOOR_CONTEXT_BYTES_LEN or the
 *  errors of spoor_context_encode. */
int spoor_context_encode_bytes(uint64_t id, uint32_t flags, uint8_t *SPOOR_NULLABLE buf,
                               size_t capacity);

/** Decode SPOOR_CONTEXT_BYTES_LEN bytes. Returns as spoor_context_decode. */
int spoor_context_decode_bytes(const uint8_t *SPOOR_NULLABLE bytes, size_t len,
                               uint64_t *SPOOR_NULLABLE out_id, uint32_t *SPOOR_NULLABLE out_flags);

/* ============================================================================================
 * Keys
 * ========================================================================================== */

/**
 * FNV-1a 64 of `len` bytes (offset basis 0xcbf29ce484222325, prime 0x100000001b3): the key hash
 * of every report. It depends on the bytes alone, so the same key hashes the same in every run,
 * process, host and language, which is what lets heavy-key analysis and key-hash sampling work
 * across them. Every binding hashes a key through its canonical bytes:
 *   - text: its UTF-8 bytes (FNV-1a("a") = 0xaf63dc4c8601ec8c);
 *   - integers of any width and signedness, and booleans (0 or 1): the value as a 64-bit two's
 *     complement integer, 8 bytes little-endian (spoor_hash_u64), so Int8(-1), int64 -1 and a
 *     Java long -1 agree;
 *   - floating point: the IEEE-754 binary64 bits of the value as a double, 8 bytes little-endian;
 *   - raw bytes: themselves.
 * NULL with len 0 hashes nothing (the offset basis); NULL with a length returns 0. Thread-safe,
 * async-signal-safe, works without spoor_init.
 */
uint64_t spoor_hash_bytes(const void *SPOOR_NULLABLE data, size_t len);

/** The key hash of an integer: spoor_hash_bytes of its 8 little-endian bytes (see above). */
static inline uint64_t spoor_hash_u64(uint64_t value) {
    uint64_t hash = 0xcbf29ce484222325ULL;
    for (int i = 0; i < 8; i++) {
        hash = (hash ^ (value & 0xffu)) * 0x100000001b3ULL;
        value >>= 8;
    }
    return hash;
}

/** Whether key-hash sampling with `probability` traces `key_hash`: spoor__mix64(key_hash) <
 *  floor(probability * 2^64), where spoor__mix64 is the murmur3 finaliser of
 *  key_hash ^ 0x9e3779b97f4a7c15 (probability >= 1: always; <= 0 or NaN: never). The same answer
 *  in every process and language. Thread-safe, works without spoor_init. */
int spoor_key_sampled(uint64_t key_hash, double probability);

/* ============================================================================================
 * Partitioners: heavy keys placed, the rest hashed
 * ========================================================================================== */

/** A partitioner loaded from a partitioner file (`spoor skew -o FILE`, format "spoor-partitioner"
 *  version 1, described in docs/skew.md): heavy keys placed on chosen partitions, every other key
 *  hashed onto its plain hash partition or, for a hash-chosen part of the keys of partitions the
 *  heavy keys load, spilled onto the lighter ones. Keys are named by their key hash
 *  (spoor_hash_bytes of the key's canonical bytes), so every engine that loads the same file
 *  routes every key the same way. Opaque; immutable once loaded. */
typedef struct spoor_partitioner spoor_partitioner;

/** The most partitions a partitioner may have. */
#define SPOOR_MAX_PARTITIONS (1 << 20)

/**
 * Parses and validates the partitioner file in `json[0..len)` and stores a new partitioner in
 * *out (unchanged on failure). The caller owns it and releases it with spoor_partitioner_free.
 * The bytes are not retained. Unknown members are ignored; everything a loader reads is
 * checked (types, 16-hex-digit key hashes, each listed once, partitions in
 * 1..SPOOR_MAX_PARTITIONS, placements and salts in range, keep and spill of one number per
 * partition).
 * Errors: SPOOR_E_INVALID_ARGUMENT (json NULL with len > 0, or out NULL); SPOOR_E_PARSE (not a
 * valid partitioner file: spoor_error_detail() says what and where); SPOOR_E_NO_MEMORY.
 * Thread-safe; works without spoor_init; not async-signal-safe (it allocates).
 */
int spoor_partitioner_load(const void *SPOOR_NULLABLE json, size_t len,
                           spoor_partitioner *SPOOR_NULLABLE *SPOOR_NULLABLE out);

/** Releases a partitioner. NULL is ignored. No other call may use `partitioner` concurrently
 *  with or after this one (an engine that swaps partitioners while running frees the old one
 *  once no thread can still be routing through it). */
void spoor_partitioner_free(spoor_partitioner *SPOOR_NULLABLE partitioner);

/** The number of partitions (>= 1), or SPOOR_E_INVALID_ARGUMENT for NULL or a pointer that is
 *  not a live partitioner (a freed one is recognised in most cases, not all). */
int spoor_partitioner_partitions(const spoor_partitioner *SPOOR_NULLABLE partitioner);

/**
 * The partition in [0, partitions) of the key with hash `key_hash`, or SPOOR_E_INVALID_ARGUMENT
 * as spoor_partitioner_partitions. A placed key goes to its partition; any other key to
 * p = ((key_hash * 0x9e3779b97f4a7c15) mod 2^64 >> 17) mod partitions (SpoorDataflow's hash
 * partitioning), or, if the file moves part of p's keys, to the partition its spill draw picks.
 * Deterministic: the same file and key give the same partition in every process and language.
 * The per-record call of a shuffle: no lock, no allocation, no system call (a table probe and,
 * for spilled keys, a binary search over the partitions). Thread-safe, reentrant and
 * async-signal-safe.
 */
int spoor_partitioner_partition(const spoor_partitioner *SPOOR_NULLABLE partitioner, uint64_t key_hash);

/** How many partitions a join or a combinable aggregation should spread the records of the key
 *  with hash `key_hash` over (salting: the key's records take a salt in [0, salts), the other
 *  side's records with that key are copied once per salt): the file's salts for a placed key, 1
 *  for any other. SPOOR_E_INVALID_ARGUMENT as spoor_partitioner_partitions. Thread-safe,
 *  reentrant and async-signal-safe. */
int spoor_partitioner_salts(const spoor_partitioner *SPOOR_NULLABLE partitioner, uint64_t key_hash);

/** The number of keys the partitioner places (>= 0), or SPOOR_E_INVALID_ARGUMENT as
 *  spoor_partitioner_partitions. Thread-safe. */
int spoor_partitioner_keys(const spoor_partitioner *SPOOR_NULLABLE partitioner);

/* ============================================================================================
 * Statistics
 * ========================================================================================== */

/** Counters. Invariants once the collector has caught up (after spoor_flush):
 *  written == committed + dropped and drained == committed. */
typedef struct spoor_stats {
    uint64_t written;      /**< reports the library was asked to write */
    uint64_t committed;    /**< reports published into a ring (less those overwritten) */
    uint64_t dropped;      /**< reports lost: ring full, block timeout, no ring, or
                                overwritten by newer ones (SPOOR_FULL_OVERWRITE) */
    uint64_t sampled;      /**< entries the sampler selected */
    uint64_t drained;      /**< reports the collector took from the rings (including any in
                                batches the sink then failed to write) */
    uint64_t sink_errors;  /**< batches a sink failed to write, and ring ranges skipped because a
                                report in them was malformed (their reports are lost) */
    uint64_t batches;      /**< batches handed to the sink */
    uint64_t threads;      /**< rings owned by live threads (total only; 1 or 0 per thread) */
} spoor_stats;

/** Process totals since spoor_init. Errors: SPOOR_E_NOT_INITIALIZED, SPOOR_E_INVALID_ARGUMENT.
 *  Thread-safe; counters are read without stopping writers, so they are a recent snapshot. */
int spoor_get_stats(spoor_stats *SPOOR_NULLABLE out);

/** The calling thread's counters since it took its ring (zero if it never wrote). sink_errors
 *  and batches are its ring's totals since spoor_init, including earlier owners of the ring.
 *  Errors as spoor_get_stats. Thread-safe. */
int spoor_get_thread_stats(spoor_stats *SPOOR_NULLABLE out);

#ifdef __cplusplus
}
#endif

#endif /* SPOOR_H */
