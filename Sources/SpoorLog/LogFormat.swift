import CSpoor

/// Constants of the append-only binary log (docs/log-format.md).
///
/// A run directory holds segment files `segment-NNNNNN.spoorlog`. Each starts with a 64-byte
/// header and continues with records; every record is a 32-byte header followed by its payload,
/// and one CRC-32C covers the record header's first 28 bytes and the payload.
public enum LogFormat {
    /// The first eight bytes of every segment.
    public static let segmentMagic: [UInt8] = Array("SPOORLOG".utf8)
    /// The segment format version this code writes and reads.
    public static let version: UInt32 = 1
    /// Bytes of the segment header.
    public static let segmentHeaderSize = 64
    /// Bytes of a record header.
    public static let recordHeaderSize = 32
    /// The first word of every record ("SPRB" read as little-endian bytes).
    public static let recordMagic: UInt32 = 0x4252_5053
    /// Largest payload a reader accepts: 16 MiB. Writers write at most about 2 MiB (a report
    /// record closes past 1 MiB plus one report of at most 655 KiB; an operator record lists at
    /// most 4096 operators of 512 bytes), so this bounds the reader's memory, not the format.
    public static let maxPayload = 16 << 20

    /// File name of the segment with `index`.
    public static func segmentFileName(_ index: UInt32) -> String {
        var digits = String(index)
        while digits.count < 6 { digits = "0" + digits }
        return "segment-\(digits).spoorlog"
    }

    /// The segment index of a file name, if it is a segment file.
    public static func segmentIndex(ofFileName name: String) -> UInt32? {
        guard name.hasPrefix("segment-"), name.hasSuffix(".spoorlog") else { return nil }
        return UInt32(name.dropFirst(8).dropLast(9))
    }
}

/// The type of a log record.
public enum LogRecordType: UInt16, Sendable {
    /// Operator names: repeated `[u32 id][u16 name length][u16 call-site length][name][call site]`.
    case operators = 1
    /// Reports drained from one ring, in the compact encoding of `CompactReports`.
    case reports = 2
    /// Written at clean shutdown: the final counters, eight u64 in `spoor_stats` order.
    case close = 3
    /// The last record of every segment its writer finished (at a roll, or when the writer
    /// closed): `[u64 records before it][u64 its offset][u32 next segment index, 0xffffffff
    /// when the writer closed][u32 zero]`. A segment without one was cut short.
    case seal = 4
    /// Reports a ring lost since its previous loss record, and why: `[u32 reason][u32 thread]
    /// [u64 reports][u64 total][u64 monotonic ns]` (`LossRecord`). The collector writes one for a
    /// ring in the pass that sees its loss counter move, before that ring's batch.
    case loss = 5
}

/// Why reports were lost.
public enum LossReason: UInt32, Sendable, Hashable, CaseIterable {
    /// The ring was full (the producer did not wait, or its block timeout passed).
    case ringFull = 1
    /// The thread had no ring (its shared-memory pages could not be reserved).
    case noRing = 2
    /// The sink failed to write a batch the collector had drained (a full disk, an I/O error).
    case sinkError = 3
    /// The report was refused as larger than a quarter of a ring.
    case tooLarge = 4
    /// The report was committed, then written over by a newer one before the collector took it
    /// (the ring's overwrite policy, `SPOOR_FULL_OVERWRITE`).
    case overwritten = 5

    /// The name in `spoor stats` output.
    public var name: String {
        switch self {
        case .ringFull: "ring_full"
        case .noRing: "no_ring"
        case .sinkError: "sink_error"
        case .tooLarge: "too_large"
        case .overwritten: "overwritten"
        }
    }
}

/// One loss record (type 5): `reports` lost by `ring` since the previous loss record of the same
/// ring and reason (`total` since the run started), seen at `monotonicNanos`.
public struct LossRecord: Sendable, Hashable {
    /// Bytes of the payload.
    public static let payloadSize = 32
    /// The `ring` of a loss record about threads without a ring, or reports refused as too large.
    public static let noRing: UInt32 = 0xffff_ffff
    /// Why.
    public var reason: LossReason
    /// The ring's owner when the loss was seen (0 for a shared ring or none).
    public var thread: UInt32
    /// Reports lost since the previous record of this ring and reason.
    public var reports: UInt64
    /// Reports lost for this reason on this ring since the run started.
    public var total: UInt64
    /// When the collector saw it (CLOCK_MONOTONIC ns).
    public var monotonicNanos: UInt64

    /// A loss record.
    public init(reason: LossReason, thread: UInt32, reports: UInt64, total: UInt64, monotonicNanos: UInt64) {
        self.reason = reason
        self.thread = thread
        self.reports = reports
        self.total = total
        self.monotonicNanos = monotonicNanos
    }

    /// The payload bytes.
    public var payload: [UInt8] {
        var bytes = [UInt8](repeating: 0, count: Self.payloadSize)
        storeLittleEndian(reason.rawValue, into: &bytes, at: 0)
        storeLittleEndian(thread, into: &bytes, at: 4)
        storeLittleEndian(reports, into: &bytes, at: 8)
        storeLittleEndian(total, into: &bytes, at: 16)
        storeLittleEndian(monotonicNanos, into: &bytes, at: 24)
        return bytes
    }

    /// Decodes a payload; nil if it is short or names an unknown reason.
    public init?(payload: UnsafeRawBufferPointer) {
        guard payload.count >= Self.payloadSize,
              let reason = LossReason(rawValue: loadLittleEndian(UInt32.self, from: payload, at: 0))
        else { return nil }
        self.reason = reason
        thread = loadLittleEndian(UInt32.self, from: payload, at: 4)
        reports = loadLittleEndian(UInt64.self, from: payload, at: 8)
        total = loadLittleEndian(UInt64.self, from: payload, at: 16)
        monotonicNanos = loadLittleEndian(UInt64.self, from: payload, at: 24)
    }
}

/// An interned operator.
public struct OperatorRecord: Sendable, Hashable {
    /// The id reports carry.
    public var id: UInt32
    /// The operator name.
    public var name: String
    /// Where it was registered (file:line), possibly empty.
    public var callSite: String

    /// Creates an operator record.
    public init(id: UInt32, name: String, callSite: String) {
        self.id = id
        self.name = name
        self.callSite = callSite
    }
}

/// The counters a close record carries, in `spoor_stats` order.
public struct CloseStatistics: Sendable, Hashable {
    /// Reports the library was asked to write.
    public var written: UInt64
    /// Reports published into a ring.
    public var committed: UInt64
    /// Reports lost to full rings.
    public var dropped: UInt64
    /// Entries sampled.
    public var sampled: UInt64
    /// Reports drained from rings.
    public var drained: UInt64
    /// Batches the sink failed to write.
    public var sinkErrors: UInt64
    /// Batches handed to the sink.
    public var batches: UInt64
    /// Rings owned at shutdown.
    public var threads: UInt64

    /// Creates close statistics.
    public init(
        written: UInt64, committed: UInt64, dropped: UInt64, sampled: UInt64, drained: UInt64,
        sinkErrors: UInt64, batches: UInt64, threads: UInt64
    ) {
        self.written = written
        self.committed = committed
        self.dropped = dropped
        self.sampled = sampled
        self.drained = drained
        self.sinkErrors = sinkErrors
        self.batches = batches
        self.threads = threads
    }

    var words: [UInt64] { [written, committed, dropped, sampled, drained, sinkErrors, batches, threads] }

    init?(words: [UInt64]) {
        guard words.count >= 8 else { return nil }
        self.init(
            written: words[0], committed: words[1], dropped: words[2], sampled: words[3],
            drained: words[4], sinkErrors: words[5], batches: words[6], threads: words[7])
    }
}

extension CloseStatistics {
    /// The counters of `spoor_stats` (the C struct is the one definition of the statistics;
    /// this is their form in the log's close record).
    public init(_ stats: spoor_stats) {
        self.init(
            written: stats.written, committed: stats.committed, dropped: stats.dropped, sampled: stats.sampled,
            drained: stats.drained, sinkErrors: stats.sink_errors, batches: stats.batches, threads: stats.threads)
    }
}

/// Errors of the log writer and reader.
public struct LogError: Error, Sendable, CustomStringConvertible {
    /// What failed, with the path and errno text where there is one.
    public var description: String

    /// Creates an error.
    public init(_ description: String) {
        self.description = description
    }
}

/// CRC-32C (Castagnoli) of a buffer, continuing from `crc`.
@inlinable
public func crc32c(_ crc: UInt32 = 0, _ buffer: UnsafeRawBufferPointer) -> UInt32 {
    spoorint_crc32c(crc, buffer.baseAddress, buffer.count)
}

@inline(__always)
func storeLittleEndian<T: FixedWidthInteger>(_ value: T, into bytes: inout [UInt8], at offset: Int) {
    var v = value.littleEndian
    withUnsafeBytes(of: &v) { raw in
        for index in 0..<raw.count { bytes[offset + index] = raw[index] }
    }
}

@inline(__always)
func loadLittleEndian<T: FixedWidthInteger>(_: T.Type, from bytes: UnsafeRawBufferPointer, at offset: Int) -> T {
    T(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: T.self))
}
