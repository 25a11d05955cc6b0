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
}

/// The default sink: the append-only binary log of docs/log-format.md.
final class LogSink: ReportSink {
    let writer: LogWriter

    init(writer: LogWriter) {
        self.writer = writer
    }

    func writeOperators(_ operators: [OperatorRecord]) throws {
        try writer.writeOperators(operators)
    }

    func writeBatch(ring: UInt32, firstPosition: UInt64, count: Int, first: UnsafeRawBufferPointer, second: UnsafeRawBufferPointer) throws {
        try writer.writeReports(ring: ring, firstPosition: firstPosition, count: count, first: first, second: second)
    }

    func writeLoss(ring: UInt32, _ loss: LossRecord) throws {
        try writer.writeLoss(ring: ring, loss)
    }

    func close(_ statistics: CloseStatistics) throws {
        try writer.writeClose(statistics)
        try writer.close(sync: true)
    }
}

/// Drains and discards (SPOOR_SINK_NONE): for measuring the cost of tracing alone.
final class DiscardSink: ReportSink {
    func writeOperators(_ operators: [OperatorRecord]) throws {}
    func writeBatch(ring: UInt32, firstPosition: UInt64, count: Int, first: UnsafeRawBufferPointer, second: UnsafeRawBufferPointer) throws {}
    func writeLoss(ring: UInt32, _ loss: LossRecord) throws {}
    func close(_ statistics: CloseStatistics) throws {}
}
