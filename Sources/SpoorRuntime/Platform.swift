#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CSpoor

/// CLOCK_MONOTONIC in nanoseconds: the clock of every report. Not inlined, so the hot paths
/// that may call it keep no `timespec` on their stack (and need no stack protector).
@inline(never)
func monotonicNanos() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(truncatingIfNeeded: now.tv_sec) &* 1_000_000_000 &+ UInt64(truncatingIfNeeded: now.tv_nsec)
}

/// CLOCK_REALTIME in nanoseconds.
func realtimeNanos() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    return UInt64(truncatingIfNeeded: now.tv_sec) &* 1_000_000_000 &+ UInt64(truncatingIfNeeded: now.tv_nsec)
}

/// 64 random bits from getrandom(2), or a clock-and-address mix if it fails.
func randomWord() -> UInt64 {
    var word: UInt64 = 0
    if spoorint_random_bytes(&word, 8) != 0 {
        word = monotonicNanos() ^ (UInt64(spoorint_gettid()) << 32) ^ realtimeNanos()
    }
    return word
}

/// splitmix64: a full-period 64-bit generator; good enough to seed and to draw id blocks.
@inline(__always)
func splitMix64(_ state: inout UInt64) -> UInt64 {
    state &+= 0x9e37_79b9_7f4a_7c15
    var z = state
    z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
    z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
    return z ^ (z >> 31)
}

/// The text of an errno value.
func errnoText(_ code: Int32) -> String {
    String(cString: strerror(code))
}

/// A pthread mutex that can be locked and unlocked in separate calls (fork handlers need that;
/// `Synchronization.Mutex` only offers scoped locking).
final class PosixMutex: @unchecked Sendable {
    let handle: UnsafeMutablePointer<pthread_mutex_t>

    init() {
        handle = .allocate(capacity: 1)
        handle.initialize(to: pthread_mutex_t())
        pthread_mutex_init(handle, nil)
    }

    deinit {
        pthread_mutex_destroy(handle)
        handle.deallocate()
    }

    func lock() { pthread_mutex_lock(handle) }
    func unlock() { pthread_mutex_unlock(handle) }

    func withLock<T>(_ body: () throws -> T) rethrows -> T {
        lock()
        defer { unlock() }
        return try body()
    }
}

/// A condition variable on CLOCK_MONOTONIC with its own mutex.
final class MonotonicCondition: @unchecked Sendable {
    let mutex = PosixMutex()
    private let condition: UnsafeMutablePointer<pthread_cond_t>

    init() {
        condition = .allocate(capacity: 1)
        condition.initialize(to: pthread_cond_t())
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(condition, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(condition)
        condition.deallocate()
    }

    /// Waits (with `mutex` held) until signalled or until the monotonic `deadline` passes.
    func wait(untilNanos deadline: UInt64) {
        var when = timespec(
            tv_sec: Int(truncatingIfNeeded: deadline / 1_000_000_000),
            tv_nsec: Int(truncatingIfNeeded: deadline % 1_000_000_000))
        _ = pthread_cond_timedwait(condition, mutex.handle, &when)
    }

    func broadcast() { pthread_cond_broadcast(condition) }
}
