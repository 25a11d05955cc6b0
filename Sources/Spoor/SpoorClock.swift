import CSpoor
import Synchronization

/// The clock of UDF timings: CLOCK_MONOTONIC nanoseconds, read through the TSC where the CPU has
/// an invariant one (about 11 ns a read here, against 28 ns for clock_gettime). `calibrate` maps
/// ticks to nanoseconds against CLOCK_MONOTONIC over 20 ms; `Spoor.start` calls it. Before
/// calibration (or without a TSC) `now()` is `spoor_now()`.
public enum SpoorClock {
    @usableFromInline static let baseTicks = Atomic<UInt64>(0)
    @usableFromInline static let baseNanos = Atomic<UInt64>(0)
    /// Nanoseconds per tick in 32.32 fixed point; 0 until calibrated. Published last (release).
    @usableFromInline static let scale = Atomic<UInt64>(0)
    static let calibrating = Mutex<Bool>(false)

    /// Measures the tick rate. Idempotent.
    public static func calibrate() {
        calibrating.withLock { done in
            guard !done, SPOORINT_TICKS_ARE_NANOSECONDS == 0 else { return }
            done = true
            let startNanos = spoor_now()
            let startTicks = spoorint_ticks()
            var nanos = startNanos
            while nanos &- startNanos < 20_000_000 { nanos = spoor_now() }
            let ticks = spoorint_ticks()
            guard ticks > startTicks else { return }
            let perTick = Double(nanos &- startNanos) / Double(ticks &- startTicks) * 0x1p32
            guard perTick.isFinite, perTick >= 1, perTick < 0x1p40 else { return }
            baseTicks.store(ticks, ordering: .relaxed)
            baseNanos.store(nanos, ordering: .relaxed)
            scale.store(UInt64(perTick), ordering: .releasing)
        }
    }

    /// Now, in CLOCK_MONOTONIC nanoseconds.
    @inlinable
    public static func now() -> UInt64 {
        let factor = scale.load(ordering: .acquiring)
        guard factor != 0 else { return spoor_now() }
        let elapsed = spoorint_ticks() &- baseTicks.load(ordering: .relaxed)
        let product = elapsed.multipliedFullWidth(by: factor)
        return baseNanos.load(ordering: .relaxed) &+ (product.high << 32 | product.low >> 32)
    }
}
