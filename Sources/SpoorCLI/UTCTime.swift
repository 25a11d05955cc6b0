extension JSONWriter {
    /// Appends `nanoseconds` since the Unix epoch as an ISO-8601 UTC timestamp with nine
    /// fractional digits, such as `2026-12-02T06:39:24.123456789Z` (no quotes).
    ///
    /// The conversion from the log's monotonic times to these nanoseconds is
    /// `RunIdentity.realtimeNanos(atMonotonic:)` in SpoorLog; this is only the formatting.
    mutating func appendUTC(_ nanoseconds: Int64) {
        // Floor division, so that times before 1970 count back from the previous second and day.
        let (secondsQuotient, nanosRemainder) = nanoseconds.quotientAndRemainder(dividingBy: 1_000_000_000)
        let seconds = nanosRemainder < 0 ? secondsQuotient - 1 : secondsQuotient
        let nanos = nanosRemainder < 0 ? nanosRemainder + 1_000_000_000 : nanosRemainder
        let (daysQuotient, secondsRemainder) = seconds.quotientAndRemainder(dividingBy: 86_400)
        let days = secondsRemainder < 0 ? daysQuotient - 1 : daysQuotient
        let secondOfDay = secondsRemainder < 0 ? secondsRemainder + 86_400 : secondsRemainder
        let (year, month, day) = civilDate(daysSinceEpoch: days)
        // Every part is non-negative: an Int64 of nanoseconds spans the years 1677 to 2262.
        func part(_ value: Int64, _ width: Int, _ after: Unicode.Scalar) {
            appendDecimal(UInt64(clamping: value), width: width)
            bytes.append(UInt8(ascii: after))
        }
        part(year, 4, "-")
        part(month, 2, "-")
        part(day, 2, "T")
        part(secondOfDay / 3600, 2, ":")
        part(secondOfDay / 60 % 60, 2, ":")
        part(secondOfDay % 60, 2, ".")
        part(nanos, 9, "Z")
    }
}

/// The proleptic Gregorian date of a day number (days since 1970-01-01), after H. Hinnant's
/// `civil_from_days`. Valid for every day an `Int64` of nanoseconds can reach.
func civilDate(daysSinceEpoch: Int64) -> (year: Int64, month: Int64, day: Int64) {
    let z = daysSinceEpoch + 719_468
    let era = (z >= 0 ? z : z - 146_096) / 146_097
    let dayOfEra = z - era * 146_097
    let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
    let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
    let monthIndex = (5 * dayOfYear + 2) / 153
    let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
    let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
    let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
    return (year, month, day)
}
