/// `nanoseconds` since the Unix epoch as an ISO-8601 UTC timestamp with nine fractional digits,
/// such as `2026-12-02T06:39:24.123456789Z`.
///
/// The conversion from the log's monotonic times to these nanoseconds is
/// `RunIdentity.realtimeNanos(atMonotonic:)`; this is only the formatting.
func utcTimestamp(nanoseconds: Int64) -> String {
    // Floor division, so that times before 1970 count back from the previous second and day.
    let (secondsQuotient, nanosRemainder) = nanoseconds.quotientAndRemainder(dividingBy: 1_000_000_000)
    let seconds = nanosRemainder < 0 ? secondsQuotient - 1 : secondsQuotient
    let nanos = nanosRemainder < 0 ? nanosRemainder + 1_000_000_000 : nanosRemainder
    let (daysQuotient, secondsRemainder) = seconds.quotientAndRemainder(dividingBy: 86_400)
    let days = secondsRemainder < 0 ? daysQuotient - 1 : daysQuotient
    let secondOfDay = secondsRemainder < 0 ? secondsRemainder + 86_400 : secondsRemainder
    let (year, month, day) = civilDate(daysSinceEpoch: days)
    return padded(year, 4) + "-" + padded(month, 2) + "-" + padded(day, 2)
        + "T" + padded(secondOfDay / 3600, 2) + ":" + padded(secondOfDay / 60 % 60, 2) + ":" + padded(secondOfDay % 60, 2)
        + "." + padded(nanos, 9) + "Z"
}

/// The proleptic Gregorian date of a day number (days since 1970-01-01), after H. Hinnant's
/// `civil_from_days`. Valid for every day an `Int64` of nanoseconds can reach (years 1677-2262).
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

private func padded(_ value: Int64, _ width: Int) -> String {
    let digits = String(value)
    return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
}
