import CSpoor
import SpoorSupport

/// The one clock of every report (`spoor_now`): CLOCK_MONOTONIC nanoseconds, read from the TSC
/// through a calibrated mapping where the CPU's TSC is invariant, else from clock_gettime.
///
/// The mapping `ns = base_ns + (ticks - base_ticks) * mult / 2^32` lives in C
/// (`spoorint_clock_state`, a sequence lock) so that every reader is lock-free. It has one
/// writer at a time: `start` (under the lifecycle lock, before the collector runs), then the
/// collector thread (`maintain`, every `period`), then `stop` (after the collector has exited).
///
/// Re-calibration keeps the mapping continuous: at each anchor it measures the TSC rate over the
/// last period and the mapping's error against CLOCK_MONOTONIC at that instant, keeps the mapped
/// time where it is and sets the rate so that the error is gone by the next anchor (a slew,
/// bounded to ±0.1%). Time therefore never steps backwards, and follows CLOCK_MONOTONIC under
/// NTP slewing to within the error one period accumulates; only an error above `stepLimit` (a
/// suspended VM, a TSC that is not what CPUID says) is stepped out at once.
enum Clock {
    /// How often the collector re-calibrates.
    static let period: UInt64 = 100_000_000
    /// Errors above this are corrected by a step rather than a slew.
    static let stepLimit: Int64 = 1_000_000
    /// Nanoseconds over which `start` measures the first rate.
    static let initialWindow: UInt64 = 2_000_000

    /// An anchor: a TSC reading and the CLOCK_MONOTONIC time of the same instant.
    struct Anchor {
        var ticks: UInt64
        var nanos: UInt64
    }

    /// State of the current writer (see the type's comment for who that is).
    nonisolated(unsafe) static var previous = Anchor(ticks: 0, nanos: 0)
    nonisolated(unsafe) static var lastMaintained: UInt64 = 0

    /// Whether the TSC can serve: x86-64, invariant, and not turned off by SPOOR_CLOCK=monotonic.
    static func tscUsable(_ choice: ClockChoice) -> Bool {
        SPOORINT_HAVE_TSC != 0 && choice != .monotonic && spoorint_tsc_invariant() != 0
    }

    /// Now, as reports carry it.
    @inline(__always)
    static func now() -> UInt64 {
        let mapped = spoorint_clock_map(spoorint_ticks())
        return mapped != 0 ? mapped : monotonicNanos()
    }

    /// The tightest of a few (monotonic, TSC, monotonic) readings: the TSC value and the middle
    /// of the monotonic pair around it.
    static func anchor() -> Anchor {
        var best = Anchor(ticks: 0, nanos: 0)
        var bestWidth = UInt64.max
        for _ in 0..<5 {
            let before = spoorint_monotonic_ns()
            let ticks = spoorint_ticks()
            let after = spoorint_monotonic_ns()
            let width = after &- before
            if width < bestWidth {
                bestWidth = width
                best = Anchor(ticks: ticks, nanos: before &+ width / 2)
            }
        }
        return best
    }

    /// Nanoseconds per tick in 32.32 fixed point between two anchors, or nil if implausible
    /// (below 1/64 ns or above 64 ns per tick: not a TSC at a sane frequency).
    static func rate(from first: Anchor, to second: Anchor) -> UInt64? {
        guard second.ticks > first.ticks, second.nanos > first.nanos else { return nil }
        let perTick = Double(second.nanos &- first.nanos) / Double(second.ticks &- first.ticks)
        guard perTick.isFinite, perTick > 1.0 / 64, perTick < 64 else { return nil }
        return UInt64(perTick * 0x1p32)
    }

    /// Calibrates the first mapping (about 2 ms), or leaves the system clock in place.
    static func start(_ choice: ClockChoice) {
        guard tscUsable(choice) else {
            spoorint_clock_publish(0, 0, 0)
            return
        }
        let first = anchor()
        var second = anchor()
        while second.nanos &- first.nanos < initialWindow { second = anchor() }
        guard let mult = rate(from: first, to: second) else {
            spoorint_clock_publish(0, 0, 0)
            return
        }
        spoorint_clock_publish(second.ticks, second.nanos, mult)
        previous = second
        lastMaintained = second.nanos
    }

    /// Re-calibrates if a period has passed since the last anchor (collector thread only).
    static func maintain() {
        guard spoorint_clock_mult() != 0 else { return }
        let current = anchor()
        guard current.nanos &- lastMaintained >= period else { return }
        lastMaintained = current.nanos
        defer { previous = current }
        guard let measured = rate(from: previous, to: current) else {
            spoorint_clock_publish(current.ticks, current.nanos, spoorint_clock_mult())
            return
        }
        let mapped = spoorint_clock_map(current.ticks)
        let error = Int64(bitPattern: mapped &- current.nanos)
        guard error.magnitude <= stepLimit.magnitude else {
            spoorint_clock_publish(current.ticks, current.nanos, measured)
            return
        }
        // Remove the error over the next period: rate × (period − error) / period, clamped.
        let correction = max(-0.001, min(0.001, Double(error) / Double(period)))
        let mult = UInt64(Double(measured) * (1 - correction))
        spoorint_clock_publish(current.ticks, mapped, mult)
    }

    /// Back to the system clock (after the collector has stopped).
    static func stop() {
        spoorint_clock_publish(0, 0, 0)
    }
}
