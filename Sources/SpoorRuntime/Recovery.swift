#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CSpoor
import SpoorSupport
import SpoorLog

/// What `SegmentRecovery.recover` did.
public struct RecoverySummary: Sendable {
    /// The run directory the reports went to.
    public var runDirectory: String
    /// Reports drained from the segment.
    public var reports: Int
    /// Reports the owner's collector had drained into the log over the run, before it died.
    public var drainedByCollector: Int
    /// Rings holding a malformed report (the rest of such a ring is skipped).
    public var damagedRings: [Int]
}

/// Drains the shared-memory segment of a process that died (SIGKILL, a crash) into its log.
///
/// Everything the dead process committed to its rings is between each ring's tail and head.
/// The collector advances a tail only after the sink wrote the batch, so a batch may be both in
/// the log and still before the tail; recovery reads the log first and starts each ring after
/// the last position already logged, so no report is delivered twice. Reports are validated
/// against the head (never past it), so a report the producer had not published is never read.
public enum SegmentRecovery {
    /// A failure to recover, in words.
    public struct Failure: Error, CustomStringConvertible {
        /// What went wrong.
        public var description: String
    }

    /// Recovers segment `name`. Refuses a segment whose owner is alive unless `force`.
    /// Writes into `outputDirectory`, or the run directory recorded in the segment. Unlinks the
    /// segment afterwards unless `keepSegment`.
    public static func recover(
        name: String, outputDirectory: String?, force: Bool, keepSegment: Bool
    ) throws -> RecoverySummary {
        let segment: SharedSegment
        do {
            segment = try SharedSegment.attach(name: name)
        } catch {
            throw Failure(description: error.message)
        }
        defer { segment.unmap() }
        let header = segment.header
        let stateWord = (UnsafeMutableRawPointer(header) + 104).assumingMemoryBound(to: UInt64.self)
        let state = spoorint_load_acquire(stateWord)
        guard state == UInt64(SPOORINT_SEGMENT_RUNNING) else {
            throw Failure(description: "\(name) was already \(state == UInt64(SPOORINT_SEGMENT_CLOSED) ? "closed cleanly" : "recovered")")
        }
        let owner = pid_t(bitPattern: header.pointee.owner_pid)
        if !force && (kill(owner, 0) == 0 || errno == EPERM) {
            throw Failure(description: "process \(owner) that owns \(name) is still running (use --force to drain it anyway)")
        }
        let directory = outputDirectory ?? segment.runDirectory
        guard !directory.isEmpty else { throw Failure(description: "\(name) records no run directory; pass --out") }

        var loggedEnd: [UInt32: UInt64] = [:]
        var nextSegment: UInt32 = 0
        let reader = LogReader(directory: directory)
        if let paths = try? reader.segmentPaths(), !paths.isEmpty {
            for path in paths {
                if let name = path.split(separator: "/").last, let index = LogFormat.segmentIndex(ofFileName: String(name)) {
                    nextSegment = max(nextSegment, index + 1)
                }
            }
            // Only this run's records count: --out may name a directory holding other runs.
            let runID = header.pointee.run_id
            var inThisRun = false
            try reader.read { entry in
                switch entry {
                case .segment(let segmentHeader):
                    inThisRun = segmentHeader.identity.runID == runID
                case .reports(let ring, _, let end, _) where inThisRun:
                    loggedEnd[ring] = max(loggedEnd[ring] ?? 0, end)
                default:
                    break
                }
            }
        }
        let identity = RunIdentity(
            runID: header.pointee.run_id, pid: header.pointee.owner_pid,
            realtimeNanos: header.pointee.created_realtime_ns, monotonicNanos: header.pointee.created_monotonic_ns)
        let writer = try LogWriter(directory: directory, identity: identity, segmentBytes: 64 << 20, firstSegment: nextSegment)
        let sink = LogSink(writer: writer)
        let operatorCountWord = (UnsafeMutableRawPointer(header) + 72).assumingMemoryBound(to: UInt64.self)
        let operatorCount = Int(min(spoorint_load_acquire(operatorCountWord), UInt64(SPOOR_MAX_OPERATORS)))
        try sink.writeOperators((0..<operatorCount).map { RingConsumer.operatorRecord(segment, $0) })

        var summary = RecoverySummary(runDirectory: directory, reports: 0, drainedByCollector: 0, damagedRings: [])
        var stats = spoor_stats()
        for index in 0..<segment.ringCount {
            let ring = segment.ring(index)
            let tailWord = RingField.word(ring, RingField.tail)
            let head = spoorint_load_acquire(RingField.word(ring, RingField.head))
            let tail = spoorint_load_relaxed(tailWord)
            var start = tail
            if let end = loggedEnd[UInt32(index)], end &- tail <= head &- tail {
                start = end
            }
            if start != head {
                let outcome = RingConsumer.drain(segment: segment, ring: index, from: start, to: head, into: sink)
                if let error = outcome.sinkError { throw Failure(description: error) }
                if outcome.damaged { summary.damagedRings.append(index) }
                summary.reports += outcome.reports
                spoorint_bump(RingField.word(ring, RingField.drained), UInt64(outcome.reports))
                spoorint_store_release(tailWord, outcome.end)
            }
            stats.committed &+= spoorint_load_relaxed(RingField.word(ring, RingField.committed))
            stats.dropped &+= spoorint_load_relaxed(RingField.word(ring, RingField.dropped))
            stats.sampled &+= spoorint_load_relaxed(RingField.word(ring, RingField.sampled))
            stats.drained &+= spoorint_load_relaxed(RingField.word(ring, RingField.drained))
            stats.batches &+= spoorint_load_relaxed(RingField.word(ring, RingField.batches))
            stats.sink_errors &+= spoorint_load_relaxed(RingField.word(ring, RingField.sinkErrors))
        }
        summary.drainedByCollector = Int(truncatingIfNeeded: stats.drained) - summary.reports
        // Reports the dead process dropped for want of a ring were counted in its own memory
        // only; the close record written here cannot include them.
        try sink.close(CloseStatistics(
            written: stats.committed &+ stats.dropped, committed: stats.committed, dropped: stats.dropped,
            sampled: stats.sampled, drained: stats.drained, sinkErrors: stats.sink_errors, batches: stats.batches,
            threads: 0))
        spoorint_store_release(stateWord, UInt64(SPOORINT_SEGMENT_RECOVERED))
        if !keepSegment { _ = shm_unlink(name) }
        return summary
    }
}
