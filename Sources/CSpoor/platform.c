/* System calls that Swift's Glibc module does not import (they need _GNU_SOURCE or are
 * variadic). Outside the hot path. */
#define _GNU_SOURCE
#include "spoor_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/fsuid.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sched.h>
#include <sys/syscall.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>
#if defined(__x86_64__)
#include <cpuid.h>
#endif

uint32_t spoorint_gettid(void) { return (uint32_t)syscall(SYS_gettid); }

int spoorint_setfsuid(uint32_t uid) { return setfsuid((uid_t)uid); }
int spoorint_setfsgid(uint32_t gid) { return setfsgid((gid_t)gid); }

int spoorint_random_bytes(void *buf, size_t len) {
    unsigned char *p = buf;
    while (len > 0) {
        ssize_t got = getrandom(p, len, 0);
        if (got < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += got;
        len -= (size_t)got;
    }
    return 0;
}

int spoorint_prefault(void *addr, size_t len) {
#ifdef MADV_POPULATE_WRITE
    if (madvise(addr, len, MADV_POPULATE_WRITE) == 0) return 0;
#endif
    volatile unsigned char *p = addr;
    for (size_t off = 0; off < len; off += 4096) p[off] = p[off];
    return 0;
}

int spoorint_populate_read(const void *addr, size_t len) {
#ifdef MADV_POPULATE_READ
    if (madvise((void *)addr, len, MADV_POPULATE_READ) == 0) return 0;
#endif
    /* Reads only: the pages may be written by their producer meanwhile. */
    const volatile unsigned char *p = addr;
    unsigned char sink = 0;
    for (size_t off = 0; off < len; off += 4096) sink ^= p[off];
    (void)sink;
    return 0;
}

void spoorint_set_thread_name(unsigned long thread, const char *name) {
    (void)pthread_setname_np((pthread_t)thread, name);
}

int spoorint_tsc_invariant(void) {
#if defined(__x86_64__)
    unsigned int eax, ebx, ecx, edx;
    if (__get_cpuid_max(0x80000000u, 0) < 0x80000007u) return 0;
    __cpuid(0x80000007u, eax, ebx, ecx, edx);
    return (edx >> 8) & 1u;
#else
    return 0;
#endif
}

uint64_t spoorint_monotonic_ns(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec;
}

int spoorint_getcpu(void) {
    int cpu = sched_getcpu();
    return cpu < 0 ? 0 : cpu;
}

#if defined(__has_attribute)
#if __has_attribute(no_sanitize)
#define SPOORINT_NO_TSAN __attribute__((no_sanitize("thread")))
#endif
#endif
#ifndef SPOORINT_NO_TSAN
#define SPOORINT_NO_TSAN
#endif

SPOORINT_NO_TSAN
void spoorint_copy_racing_words(void *destination, const void *source, size_t words) {
    uint64_t *to = destination;
    const uint64_t *from = source;
    for (size_t i = 0; i < words; i++) to[i] = __atomic_load_n(&from[i], __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
}
