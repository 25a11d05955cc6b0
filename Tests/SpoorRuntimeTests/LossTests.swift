import CSpoor
import Foundation
import SpoorLog
import SpoorRuntime
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The loss records of a run: (ring, reason) -> reports, and how many records said so.
func losses(in directory: String) throws -> (byReason: [LossReason: UInt64], records: Int, reports: Int, issues: [LogIssue]) {
    var byReason: [LossReason: UInt64] = [:]
    var records = 0
    var reports = 0
    let issues = try LogReader(directory: directory).read { entry in
        switch entry {
        case .loss(_, let loss):
            byReason[loss.reason, default: 0] += loss.reports
            records += 1
        case .reports(_, _, _, let batch):
            reports += batch.count
        default:
            break
        }
    }
    return (byReason, records, reports, issues)
}

extension RuntimeTests {
    /// A planted overload: a 64-slot ring the collector drains only on spoor_flush. The reports
    /// the producer saw dropped are exactly what the log's loss records say, written while the
    /// run went on (one record per flush that saw new losses), not only in the close record.
    @Test("loss records in the log match the producer's drops under a planted overload")
    func lossRecordsMatchDrops() throws {
        let directory = temporaryDirectory()
        #expect(initialize(logDirectory: directory) { config in
            config.ring_slots = 64
            config.flush_interval_ms = 60_000
            config.sampling = sampling(SPOOR_SAMPLE_ALL)
        } == SPOOR_OK)
        let op = registerOperator("overload")
        var dropped: UInt64 = 0
        for round in 0..<3 {
            for i in 0..<500 {
                var out: UInt64 = 0
                let status = spoor_checkpoint1(UInt64(round * 1000 + i + 1), op, 0, 1, 2, &out)
                if status == SPOOR_DROPPED { dropped += 1 } else { #expect(status == SPOOR_OK) }
            }
            #expect(spoor_flush(0) == SPOOR_OK)
        }
        let run = runDirectory()
        var stats = spoor_stats()
        #expect(spoor_get_stats(&stats) == SPOOR_OK)
        #expect(spoor_shutdown() == SPOOR_OK)
        let log = try losses(in: run)
        #expect(dropped == 3 * (500 - 64), "each round fills the 64 slots, then drops")
        #expect(stats.dropped == dropped)
        #expect(log.byReason[.ringFull] == dropped)
        #expect(log.records == 3, "one loss record per pass that saw new drops")
        #expect(UInt64(log.reports) + dropped == 1500)
    }

    /// A full disk: the log root is a 1 MiB tmpfs, filled so that the first segment can grow to
    /// its 64 KiB roll size and not one page more, so the disk fills exactly at the roll. The
    /// reports of the failed batches are counted (sink errors, loss records once the disk has
    /// room again), spoor_flush says SPOOR_E_IO, nothing crashes or hangs, and once the disk has
    /// room the collector goes on: every later report reaches a readable segment.
    @Test("ENOSPC, also exactly at a segment roll, is counted with the reports it cost; the collector goes on")
    func fullDisk() throws {
        guard geteuid() == 0 else {
            print("fullDisk: needs root to mount a tmpfs; not run")
            return
        }
        let mountPoint = temporaryDirectory()
        guard mount("tmpfs", mountPoint, "tmpfs", 0, "size=1m") == 0 else {
            Issue.record("mount tmpfs: \(String(cString: strerror(errno)))")
            return
        }
        defer { umount(mountPoint) }
        let pageSize = 4096
        let filler = mountPoint + "/filler"
        let fillerBytes = (256 - 16) * pageSize
        let fd = open(filler, O_WRONLY | O_CREAT, 0o600)
        try #require(fd >= 0)
        let chunk = [UInt8](repeating: 7, count: pageSize)
        for _ in 0..<(fillerBytes / pageSize) { _ = chunk.withUnsafeBytes { write(fd, $0.baseAddress, pageSize) } }
        close(fd)
        let root = mountPoint + "/log"
        #expect(initialize(logDirectory: root) { config in
            config.segment_bytes = 64 << 10
            config.ring_slots = 1 << 16
            config.flush_interval_ms = 60_000
            config.sampling = sampling(SPOOR_SAMPLE_ALL)
        } == SPOOR_OK)
        let op = registerOperator("disk")
        func burst(_ count: Int, from start: Int) {
            for i in 0..<count {
                var out: UInt64 = 0
                _ = spoor_checkpoint1(UInt64(start + i + 1), op, UInt64(i) &* 0x9e37_79b9, UInt64(i) * 100 + 1, UInt64(i) * 100 + 50, &out)
            }
        }
        // About 16.6 bytes a report: 20,000 reports need about 330 KB, far more than is free.
        var sawIOError = false
        for round in 0..<10 {
            burst(2_000, from: round * 2_000)
            let status = spoor_flush(0)
            if status == SPOOR_E_IO { sawIOError = true } else { #expect(status == SPOOR_OK) }
        }
        #expect(sawIOError, "spoor_flush reports the failed writes")
        var stats = spoor_stats()
        #expect(spoor_get_stats(&stats) == SPOOR_OK)
        #expect(stats.sink_errors > 0)
        // Room again: the collector goes on.
        #expect(unlink(filler) == 0)
        burst(1_000, from: 100_000)
        #expect(spoor_flush(0) == SPOOR_OK)
        let run = runDirectory()
        #expect(spoor_get_stats(&stats) == SPOOR_OK)
        #expect(spoor_shutdown() == SPOOR_OK)
        let log = try losses(in: run)
        let lostToSink = log.byReason[.sinkError] ?? 0
        #expect(lostToSink > 0, "the lost reports are counted in the log")
        #expect(UInt64(log.reports) + lostToSink == stats.drained, "every drained report is in the log or counted lost")
        #expect(stats.drained == 21_000 && stats.dropped == 0)
        #expect(!log.issues.contains { $0.kind == .damaged }, "no segment without a header: \(log.issues)")
        print("fullDisk: \(log.reports) reports logged, \(lostToSink) lost to the full disk in \(stats.sink_errors) failed batches")
    }
}
