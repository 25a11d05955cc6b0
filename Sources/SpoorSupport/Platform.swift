#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CSpoor

// The core's one home for clocks, randomness, errno handling, locks and threads. Everything is
// `package`: visible to the core's modules (runtime, log, CLI), never part of a public API.

/// CLOCK_MONOTONIC in nanoseconds, read with clock_gettime (the vDSO). Not inlined, so the hot
/// paths that may call it keep no `timespec` on their stack (and need no stack protector).
@inline(never)
package func monotonicNanos() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(truncatingIfNeeded: now.tv_sec) &* 1_000_000_000 &+ UInt64(truncatingIfNeeded: now.tv_nsec)
}

/// CLOCK_REALTIME in nanoseconds.
package func realtimeNanos() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    return UInt64(truncatingIfNeeded: now.tv_sec) &* 1_000_000_000 &+ UInt64(truncatingIfNeeded: now.tv_nsec)
}

/// 64 random bits from getrandom(2), or a clock-and-address mix if it fails.
package func randomWord() -> UInt64 {
    var word: UInt64 = 0
    if spoorint_random_bytes(&word, 8) != 0 {
        word = monotonicNanos() ^ (UInt64(spoorint_gettid()) << 32) ^ realtimeNanos()
    }
    return word
}

/// splitmix64: a full-period 64-bit generator; good enough to seed and to draw id blocks.
@inline(__always)
package func splitMix64(_ state: inout UInt64) -> UInt64 {
    state &+= 0x9e37_79b9_7f4a_7c15
    var z = state
    z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
    z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
    return z ^ (z >> 31)
}

/// A 64-bit value as 16 lowercase hex digits.
package func hex64(_ value: UInt64) -> String {
    let digits = String(value, radix: 16)
    return String(repeating: "0", count: 16 - digits.count) + digits
}

// MARK: - System calls

/// The text of an errno value.
package func errnoText(_ code: Int32) -> String {
    String(cString: strerror(code))
}

/// A failed system call: its name (and the object it was about) and errno.
package struct SystemCallError: Error, CustomStringConvertible, Sendable {
    /// What was called, e.g. "write(/tmp/x/segment-000000.spoorlog)".
    package var call: String
    /// errno after the call.
    package var errno: Int32

    package init(call: String, errno: Int32) {
        self.call = call
        self.errno = errno
    }

    package var description: String { "\(call) failed: \(errnoText(errno))" }
}

/// The one wrapper for system calls that report failure as -1 with errno (as swift-nio's
/// `syscall(blocking:where:_:)`): retries on EINTR, throws the call's name with errno otherwise,
/// returns the result.
@discardableResult
@inline(__always)
package func syscall<T: FixedWidthInteger>(
    _ name: @autoclosure () -> String, _ body: () -> T
) throws(SystemCallError) -> T {
    while true {
        let result = body()
        if result != -1 { return result }
        let code = errno
        if code == EINTR { continue }
        throw SystemCallError(call: name(), errno: code)
    }
}

// MARK: - Locks

/// A pthread mutex that can be locked and unlocked in separate calls (fork handlers need that;
/// `Synchronization.Mutex` only offers scoped locking), and that ThreadSanitizer intercepts.
///
/// `@unchecked Sendable`: the mutex itself is the synchronisation; its storage is allocated once
/// and never moves, as pthread requires.
package final class PosixMutex: @unchecked Sendable {
    let handle: UnsafeMutablePointer<pthread_mutex_t>

    package init() {
        handle = .allocate(capacity: 1)
        handle.initialize(to: pthread_mutex_t())
        pthread_mutex_init(handle, nil)
    }

    deinit {
        pthread_mutex_destroy(handle)
        handle.deallocate()
    }

    package func lock() { pthread_mutex_lock(handle) }
    package func unlock() { pthread_mutex_unlock(handle) }

    package func withLock<T>(_ body: () throws -> T) rethrows -> T {
        lock()
        defer { unlock() }
        return try body()
    }
}

/// A condition variable on CLOCK_MONOTONIC with its own mutex.
///
/// `@unchecked Sendable`: used only with `mutex` held, as pthread requires.
package final class MonotonicCondition: @unchecked Sendable {
    package let mutex = PosixMutex()
    private let condition: UnsafeMutablePointer<pthread_cond_t>

    package init() {
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
    package func wait(untilNanos deadline: UInt64) {
        var when = timespec(
            tv_sec: Int(truncatingIfNeeded: deadline / 1_000_000_000),
            tv_nsec: Int(truncatingIfNeeded: deadline % 1_000_000_000))
        _ = pthread_cond_timedwait(condition, mutex.handle, &when)
    }

    package func broadcast() { pthread_cond_broadcast(condition) }
}

// MARK: - Threads

/// An OS thread running `body`, named `name` (at most 15 bytes are kept).
///
/// `@unchecked Sendable`: `handle` is written once, by `start`, before any other thread can see
/// the object, and read only by `join`.
package final class OSThread: @unchecked Sendable {
    private var handle = pthread_t()
    private final class Body {
        let run: () -> Void
        init(_ run: @escaping () -> Void) { self.run = run }
    }

    private init() {}

    /// Starts the thread; nil (and the pthread_create error in `error`) if it could not start.
    package static func start(name: String, _ body: @escaping () -> Void) -> Result<OSThread, SystemCallError> {
        let thread = OSThread()
        let context = Unmanaged.passRetained(Body(body)).toOpaque()
        let result = pthread_create(&thread.handle, nil, { context in
            guard let context else { return nil }
            Unmanaged<Body>.fromOpaque(context).takeRetainedValue().run()
            return nil
        }, context)
        guard result == 0 else {
            Unmanaged<Body>.fromOpaque(context).release()
            return .failure(SystemCallError(call: "pthread_create(\(name))", errno: result))
        }
        spoorint_set_thread_name(thread.handle, name)
        return .success(thread)
    }

    /// Waits for the thread to end.
    package func join() {
        pthread_join(handle, nil)
    }
}
