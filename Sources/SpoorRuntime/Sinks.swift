import SpoorLog

/// Where the collector hands drained batches. Called from the collector thread only.
protocol ReportSink: AnyObject {
    /// New operators, always before any batch that refers to them.
    func writeOperators(_ operators: [OperatorRecord]) throws
    /// `count` whole reports drained from `ring`: the slots of `first` then `second` (the part
    /// after the ring wrapped), starting at ring position `firstPosition`. The memory is valid
    /// only during the call.
    func writeBatch(ring: UInt32, firstPosition: UInt64, count: Int, first: UnsafeRawBufferPointer, second: UnsafeRawBufferPointer) throws
    /// Reports `ring` lost since its previous loss record, and why; before the ring's next batch.
    func writeLoss(ring: UInt32, _ loss: LossRecord) throws
    /// The run is over: write the final counters and release resources.
    func close(_ statistics: CloseStatistics) throws
    /// Hands the log over to another consumer (docs/shm-layout.md, "The consumer lease"):
    /// finishes what it writes so that the next consumer can go on after it, and returns the
    /// index of the log segment that consumer starts at; nil if this sink cannot hand over (a
    /// sink that keeps reports in this process), in which case the rings stay with it.
    func handOff() throws -> UInt32?
    /// Takes the log back after another consumer, writing from log segment `segment` on.
    func resume(atSegment segment: UInt32) throws
}

extension ReportSink {
    func handOff() throws -> UInt32? { nil }
    func resume(atSegment segment: UInt32) throws {}
}

/// The default sink: the append-only binary log of docs/log-format.md.
///
/// While another consumer holds the rings (`handOff`), the sink has no writer; it opens a new
/// one, at the segment after the other consumer's last, when it takes them back (`resume`).
final class LogSink: ReportSink {
    private(set) var writer: LogWriter?
    private let directory: String
    private let identity: RunIdentity
    private let segmentBytes: UInt64

    init(writer: LogWriter) {
        self.writer = writer
        self.directory = writer.directory
        self.identity = writer.identity
        self.segmentBytes = writer.segmentBytes
    }

    private func current() throws -> LogWriter {
        guard let writer else { throw LogError("the log of \(directory) is with another consumer") }
        return writer
    }

    func writeOperators(_ operators: [OperatorRecord]) throws {
        try current().writeOperators(operators)
    }

    func writeBatch(ring: UInt32, firstPosition: UInt64, count: Int, first: UnsafeRawBufferPointer, second: UnsafeRawBufferPointer) throws {
        try current().writeReports(ring: ring, firstPosition: firstPosition, count: count, first: first, second: second)
    }

    func writeLoss(ring: UInt32, _ loss: LossRecord) throws {
        try current().writeLoss(ring: ring, loss)
    }

    func close(_ statistics: CloseStatistics) throws {
        guard let writer else { return }
        try writer.writeClose(statistics)
        try writer.close(sync: true)
        self.writer = nil
    }

    func handOff() throws -> UInt32? {
        guard let writer else { throw LogError("the log of \(directory) is already with another consumer") }
        self.writer = nil
        return try writer.handOff()
    }

    func resume(atSegment segment: UInt32) throws {
        writer = try LogWriter(directory: directory, identity: identity, segmentBytes: segmentBytes, firstSegment: segment)
    }
}

/// Drains and discards (SPOOR_SINK_NONE): for measuring the cost of tracing alone.
final class DiscardSink: ReportSink {
    func writeOperators(_ operators: [OperatorRecord]) throws {}
    func writeBatch(ring: UInt32, firstPosition: UInt64, count: Int, first: UnsafeRawBufferPointer, second: UnsafeRawBufferPointer) throws {}
    func writeLoss(ring: UInt32, _ loss: LossRecord) throws {}
    func close(_ statistics: CloseStatistics) throws {}
}
