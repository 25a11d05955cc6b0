import CSpoor
import Foundation
import SpoorLog
import SpoorRuntime
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The report a test thread writes as its `sequence`-th: 1 to 4 parents (so 1 or 2 slots), every
/// field derived from the thread and the sequence, so that a report mixed from two is seen.
private func writeNumbered(thread: Int, sequence: UInt64, op: UInt32) -> Int32 {
    let first = UInt64(thread + 1) << 40 | sequence
    let parents = (0..<(1 + sequence % 4)).map { first &+ $0 << 32 }
    var info = spoor_report_info()
    info.op = op
    info.key_hash = first &* 0x9e37_79b9_7f4a_7c15
    info.start_ns = sequence &* 3 &+ 1
    info.end_ns = sequence &* 3 &+ 2
    var out: UInt64 = 0
    return parents.withUnsafeBufferPointer { spoor_checkpoint($0.baseAddress, $0.count, &info, &out) }
}

/// The (thread, sequence) a report written by `writeNumbered` says it is, if it is whole.
private func numbered(_ report: Report) -> (thread: Int, sequence: UInt64)? {
    guard let first = report.parents.first else { return nil }
    let sequence = first & 0xffff_ffff
    let expected = (0..<(1 + sequence % 4)).map { first &+ $0 << 32 }
    guard report.parents == expected, report.keyHash == first &* 0x9e37_79b9_7f4a_7c15,
          report.startNanos == sequence &* 3 &+ 1, report.endNanos == sequence &* 3 &+ 2
    else { return nil }
    return (Int(first >> 40) - 1, sequence)
}

extension RuntimeTests {
    /// A flight recorder: a 64-slot ring the collector drains only on spoor_flush, under the
    /// overwrite policy. No checkpoint is refused; each flush delivers exactly the newest
    /// reports that fit in the ring, in order; the rest are counted as dropped (and in the log
    /// as overwritten losses), so written == committed + dropped and drained == committed.
    @Test("the overwrite policy keeps the newest reports and counts the overwritten ones")
    func overwriteKeepsNewest() throws {
        let directory = temporaryDirectory()
        #expect(initialize(logDirectory: directory) { config in
            config.ring_slots = 64
            config.flush_interval_ms = 60_000
            config.full_policy = SPOOR_FULL_OVERWRITE.rawValue
            config.sampling = sampling(SPOOR_SAMPLE_ALL)
        } == SPOOR_OK)
        let op = registerOperator("recorder")
        var expectedKept: [UInt64] = []
        var written: UInt64 = 0
        for round in 0..<3 {
            let sequences = written..<(written + UInt64(300 + round * 100))
            for sequence in sequences {
                #expect(writeNumbered(thread: 0, sequence: sequence, op: op) == SPOOR_OK)
            }
            written = sequences.upperBound
            // The newest reports whose slots fit in 64 (a report of n parents takes 1 slot for
            // n <= 1 and 2 for 2...4: the header holds one parent, a second slot the rest).
            var used: UInt64 = 0
            var kept: [UInt64] = []
            for sequence in sequences.reversed() {
                let size: UInt64 = sequence % 4 == 0 ? 1 : 2
                if used + size > 64 { break }
                used += size
                kept.append(sequence)
            }
            expectedKept += kept.reversed()
            #expect(spoor_flush(0) == SPOOR_OK)
        }
        let run = runDirectory()
        var stats = spoor_stats()
        #expect(spoor_get_stats(&stats) == SPOOR_OK)
        #expect(spoor_shutdown() == SPOOR_OK)
        let (reports, _, damage) = try readReports(run)
        #expect(damage.isEmpty)
        let delivered = reports.compactMap(numbered)
        #expect(delivered.count == reports.count, "no report is torn")
        #expect(delivered.map(\.sequence) == expectedKept)
        #expect(stats.written == written)
        #expect(stats.drained == UInt64(expectedKept.count))
        #expect(stats.committed == stats.drained)
        #expect(stats.dropped == written - UInt64(expectedKept.count))
        let log = try losses(in: run)
        #expect(log.byReason[.overwritten] == stats.dropped)
        #expect(log.byReason[.ringFull] == nil)
    }

    /// The overwrite policy against a collector draining every millisecond: four producers on
    /// 256-slot rings overwrite while the collector copies and claims. Every report delivered is
    /// whole (each field matches its sequence number), each thread's reports arrive in order
    /// with none twice, and each thread's delivered + dropped is what it wrote.
    @Test("overwriting producers racing the collector: nothing torn, nothing twice, exact accounting")
    func overwriteRacesCollector() throws {
        let directory = temporaryDirectory()
        let perThread = UInt64(ProcessInfo.processInfo.environment["SPOOR_OVERWRITE_REPORTS"].flatMap { UInt64($0) } ?? 200_000)
        #expect(initialize(logDirectory: directory) { config in
            config.ring_slots = 256
            config.flush_interval_ms = 1
            config.full_policy = SPOOR_FULL_OVERWRITE.rawValue
            config.sampling = sampling(SPOOR_SAMPLE_ALL)
        } == SPOOR_OK)
        let op = registerOperator("race")
        final class Counts: @unchecked Sendable {
            var dropped = [UInt64](repeating: 0, count: 4)
            var committed = [UInt64](repeating: 0, count: 4)
            var failures = [Int](repeating: 0, count: 4)
        }
        let counts = Counts()
        onThreads(4) { thread in
            for sequence in 0..<perThread where writeNumbered(thread: thread, sequence: sequence, op: op) != SPOOR_OK {
                counts.failures[thread] += 1
            }
            #expect(spoor_flush(0) == SPOOR_OK)
            var stats = spoor_stats()
            #expect(spoor_get_thread_stats(&stats) == SPOOR_OK)
            counts.dropped[thread] = stats.dropped
            counts.committed[thread] = stats.committed
            #expect(stats.written == perThread)
        }
        let run = runDirectory()
        var stats = spoor_stats()
        #expect(spoor_flush(0) == SPOOR_OK)
        #expect(spoor_get_stats(&stats) == SPOOR_OK)
        #expect(spoor_shutdown() == SPOOR_OK)
        #expect(counts.failures == [0, 0, 0, 0], "an overwriting producer never refuses a report")
        let (reports, _, damage) = try readReports(run)
        #expect(damage.isEmpty)
        var last = [Int64](repeating: -1, count: 4)
        var delivered = [UInt64](repeating: 0, count: 4)
        var torn = 0
        var disordered = 0
        for report in reports {
            guard let (thread, sequence) = numbered(report), (0..<4).contains(thread) else {
                torn += 1
                continue
            }
            if Int64(sequence) <= last[thread] { disordered += 1 }
            last[thread] = Int64(sequence)
            delivered[thread] += 1
        }
        #expect(torn == 0)
        #expect(disordered == 0)
        for thread in 0..<4 {
            #expect(delivered[thread] + counts.dropped[thread] == perThread, "thread \(thread)")
            #expect(delivered[thread] == counts.committed[thread], "thread \(thread)")
            #expect(last[thread] == Int64(perThread - 1), "thread \(thread): the newest report is kept")
        }
        #expect(stats.written == stats.committed + stats.dropped)
        #expect(stats.drained == stats.committed)
        let log = try losses(in: run)
        #expect(log.byReason[.overwritten, default: 0] == stats.dropped)
        print("overwrite race: 4 x \(perThread) reports, \(stats.drained) delivered, \(stats.dropped) overwritten")
    }

    /// SPOOR_DROPPED says why: spoor_error_detail() names the policy that dropped the report.
    @Test("a dropped report's detail names its cause")
    func dropNamesCause() throws {
        for (policy, words) in [(SPOOR_FULL_DROP, "SPOOR_FULL_DROP"), (SPOOR_FULL_BLOCK, "block_timeout_ms")] {
            #expect(initialize(logDirectory: temporaryDirectory()) { config in
                config.ring_slots = 64
                config.flush_interval_ms = 60_000
                config.full_policy = policy.rawValue
                config.block_timeout_ms = 1
                config.sampling = sampling(SPOOR_SAMPLE_ALL)
            } == SPOOR_OK)
            let op = registerOperator("full")
            var status = SPOOR_OK
            var i: UInt64 = 0
            while status == SPOOR_OK && i < 1000 {
                var out: UInt64 = 0
                status = spoor_checkpoint1(i + 1, op, 0, 1, 2, &out)
                i += 1
            }
            #expect(status == SPOOR_DROPPED)
            let detail = String(cString: spoor_error_detail())
            #expect(detail.contains(words), "\(detail)")
            #expect(String(cString: spoor_strerror(SPOOR_DROPPED)).contains("spoor_error_detail"))
            #expect(spoor_shutdown() == SPOOR_OK)
        }
    }
}
