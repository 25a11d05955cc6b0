/* Process-wide and thread-local state that the public header's inline fast paths read. Swift
 * has no thread-local variables of C linkage, so they are defined here in C. */
#include "spoor_internal.h"

__thread spoor__thread spoor__tls;
/* Starts at 1 so that a fresh thread (epoch 0) always takes the slow path first. */
uint64_t spoor__sampler_epoch = 1;

uint64_t spoor__generation = 0;
spoorint_clock spoorint_clock_state = {0, 0, 0, 0};
uint64_t spoorint_rate_window = 0;
uint64_t spoorint_no_ring_dropped = 0;
uint64_t spoorint_no_ring_sampled = 0;
uint64_t spoorint_too_large = 0;
uint64_t spoorint_block_timeout_ns = 1000000000;

static __thread char error_detail[SPOORINT_DETAIL_CAPACITY];
/* A static description set instead of the buffer (the drop path: a pointer store, no copy). */
static __thread const char *error_static;

spoor__thread *spoorint_thread_state(void) { return &spoor__tls; }

char *spoorint_error_detail_buffer(void) {
    error_static = 0;
    return error_detail;
}

void spoorint_set_error_static(const char *detail) { error_static = detail; }

const char *spoorint_error_detail(void) { return error_static ? error_static : error_detail; }
