extension RunIdentity {
    /// The `CLOCK_REALTIME` time, in nanoseconds since the Unix epoch (negative before 1970),
    /// of the `CLOCK_MONOTONIC` time `monotonic` of this run, computed from the segment's clock
    /// pair as `monotonic - monotonicNanos + realtimeNanos`.
    ///
    /// Returns nil if `monotonic` is 0 (a time that was not measured), if the segment has no
    /// realtime reading (`realtimeNanos` is 0), or if a value does not fit the arithmetic
    /// (crafted or damaged headers: the result must fit an `Int64`).
    public func realtimeNanos(atMonotonic monotonic: UInt64) -> Int64? {
        guard monotonic != 0, realtimeNanos != 0,
              let base = Int64(exactly: realtimeNanos),
              let origin = Int64(exactly: monotonicNanos),
              let time = Int64(exactly: monotonic)
        else { return nil }
        // Both operands are non-negative, so the difference cannot overflow.
        let (wall, overflow) = base.addingReportingOverflow(time - origin)
        return overflow ? nil : wall
    }
}
