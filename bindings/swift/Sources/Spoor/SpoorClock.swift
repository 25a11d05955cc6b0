import SpoorABI

/// The clock of UDF timings: `spoor_now()`, the one clock of every report (CLOCK_MONOTONIC
/// nanoseconds; libspoor.so reads it from the TSC where the CPU's is invariant, calibrated and
/// re-calibrated against CLOCK_MONOTONIC, else from clock_gettime).
public enum SpoorClock {
    /// Does nothing: libspoor.so calibrates its clock itself in `spoor_init` and re-calibrates it
    /// while it runs. Kept so that code written for the earlier API compiles.
    @available(*, deprecated, message: "libspoor.so calibrates its clock itself")
    public static func calibrate() {}

    /// Now, in CLOCK_MONOTONIC nanoseconds.
    @inlinable
    public static func now() -> UInt64 {
        spoor_now()
    }
}
