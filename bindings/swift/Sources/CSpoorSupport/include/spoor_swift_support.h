/*
 * spoor_swift_support.h - CPU hints the Swift binding needs and Swift cannot spell. Nothing here
 * touches the Spoor runtime: the binding reaches libspoor.so only through include/spoor.h.
 */
#ifndef SPOOR_SWIFT_SUPPORT_H
#define SPOOR_SWIFT_SUPPORT_H

/* Asks the CPU to start loading the cache line at `address` for reading. Never faults, whatever
 * the address (piggyback reporting walks graphs built on other threads, long out of cache). */
static inline void spoor_swift_prefetch(const void *address) { __builtin_prefetch(address, 0, 3); }

/* A hint that the caller is spinning on a value another thread will change. */
static inline void spoor_swift_pause(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

#endif
