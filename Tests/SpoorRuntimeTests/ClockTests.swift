import CSpoor
import Foundation
import SpoorLog
import SpoorRuntime
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// CLOCK_MONOTONIC from the system, bypassing Spoor.
private func systemMonotonic() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
}

extension RuntimeTests {
    /// The one clock: entries and lifts (which take spoor_now()) stay within 50 µs of
    /// CLOCK_MONOTONIC for a whole run (60 s by default; SPOOR_CLOCK_SECONDS shortens it, as the
    /// ThreadSanitizer pass does), and spoor_now() never goes backwards. Every sample is
    /// bracketed by two system-clock reads; the bound is on the distance outside the bracket.
    @Test("for a whole run, entry and lift timestamps stay within 50 µs of CLOCK_MONOTONIC")
    func clockTracksMonotonic() throws {
        let seconds = UInt64(ProcessInfo.processInfo.environment["SPOOR_CLOCK_SECONDS"] ?? "") ?? 60
        let tolerance: UInt64 = 50_000
        let directory = temporaryDirectory()
        #expect(initialize(logDirectory: directory) { config in
            config.sampling = sampling(SPOOR_SAMPLE_ALL)
        } == SPOOR_OK)
        let op = registerOperator("clock")
        let end = systemMonotonic() + seconds * 1_000_000_000
        var brackets: [(UInt64, UInt64)] = []
        var worst: UInt64 = 0
        var last: UInt64 = 0
        var backwards = 0
        var index: UInt64 = 0
        while systemMonotonic() < end {
            // A burst of reads (the hot case), then a pause (the collector re-calibrates meanwhile).
            for _ in 0..<100 {
                let before = systemMonotonic()
                let now = spoor_now()
                let after = systemMonotonic()
                if now < last { backwards += 1 }
                last = now
                let outside = now < before ? before - now : (now > after ? now - after : 0)
                worst = max(worst, outside)
            }
            let before = systemMonotonic()
            var id: UInt64 = 0
            #expect(spoor_entry(op, index, &id) == SPOOR_OK)
            let after = systemMonotonic()
            brackets.append((before, after))
            index += 1
            usleep(2_000)
        }
        #expect(backwards == 0, "spoor_now went backwards \(backwards) times")
        #expect(worst <= tolerance, "spoor_now was \(worst) ns outside CLOCK_MONOTONIC")
        let run = runDirectory()
        #expect(spoor_shutdown() == SPOOR_OK)
        let log = try readReports(run)
        #expect(log.reports.count == brackets.count)
        var entryWorst: UInt64 = 0
        for report in log.reports {
            let (before, after) = brackets[Int(report.keyHash)]
            #expect(report.startNanos == report.endNanos, "an entry is an instant")
            let time = report.endNanos
            let outside = time < before ? before - time : (time > after ? time - after : 0)
            entryWorst = max(entryWorst, outside)
        }
        #expect(entryWorst <= tolerance, "an entry's time was \(entryWorst) ns outside CLOCK_MONOTONIC")
        print("clock: \(seconds) s, \(brackets.count) entries; worst distance from CLOCK_MONOTONIC: spoor_now \(worst) ns, entries \(entryWorst) ns")
    }

    @Test("without spoor_init spoor_now is CLOCK_MONOTONIC; SPOOR_CLOCK takes auto or monotonic only")
    func clockFallsBack() {
        let before = systemMonotonic()
        let now = spoor_now()
        let after = systemMonotonic()
        #expect(now >= before && now <= after, "before spoor_init, spoor_now is CLOCK_MONOTONIC")
        var config = spoor_config()
        config.sink = SPOOR_SINK_NONE.rawValue
        setenv("SPOOR_CLOCK", "tsc-please", 1)
        defer { unsetenv("SPOOR_CLOCK") }
        #expect(spoor_init(&config) == SPOOR_E_INVALID_CONFIG)
        #expect(String(cString: spoor_error_detail()).contains("SPOOR_CLOCK"))
        setenv("SPOOR_CLOCK", "monotonic", 1)
        #expect(spoor_init(&config) == SPOOR_OK)
        let inside = spoor_now()
        #expect(inside >= after)
        #expect(spoor_shutdown() == SPOOR_OK)
    }
}
