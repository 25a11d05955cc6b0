#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CSpoor
#if !SPOOR_SINGLE_MODULE
import SpoorSupport
#endif

/// Identity of a run, written into every segment header.
public struct RunIdentity: Sendable, Hashable {
    /// A random 64-bit id of the run.
    public var runID: UInt64
    /// The traced process.
    public var pid: UInt32
    /// CLOCK_REALTIME at the start of the run, in nanoseconds.
    public var realtimeNanos: UInt64
    /// CLOCK_MONOTONIC at the same instant (the clock of the reports).
    public var monotonicNanos: UInt64

    /// Creates a run identity.
    public init(runID: UInt64, pid: UInt32, realtimeNanos: UInt64, monotonicNanos: UInt64) {
        self.runID = runID
        self.pid = pid
        self.realtimeNanos = realtimeNanos
        self.monotonicNanos = monotonicNanos
    }
}

/// Appends records to the segment files of one run directory.
///
/// Each record goes out in one `writev` (header, then the payload pieces taken straight from
/// the caller's memory, such as ring slots in shared memory), so a reader sees whole records or
/// a truncated tail that fails its checksum. Segments roll at `segmentBytes`; every segment
/// starts with all operators known so far, so each one can be read on its own, and ends with a
/// seal record (written at the roll and by `close`), so a reader can tell a finished segment
/// from one cut short.
/// Not thread-safe: one collector owns a writer.
public final class LogWriter {
    /// The run directory.
    public let directory: String
    /// The run it writes.
    public let identity: RunIdentity
    /// Size at which segments roll.
    public let segmentBytes: UInt64
    private var segmentIndex: UInt32
    private var descriptor: Int32 = -1
    private var segmentSize: UInt64 = 0
    /// Records in the current segment (for its seal record).
    private var segmentRecords: UInt64 = 0
    private var knownOperators: [OperatorRecord] = []
    /// The current segment's header, or its list of known operators, is not written yet.
    private var startPending = false
    private var operatorsPending = false
    /// Encoding buffer for report records (a record closes once it passes `recordTarget` bytes,
    /// so it holds at most that plus one report).
    private let encodeBuffer: UnsafeMutableRawPointer
    private let encodeCapacity: Int
    static let recordTarget = 1 << 20

    /// Opens a writer on `directory`, creating it (and its parents) if needed, and starts
    /// segment `firstSegment`.
    public init(directory: String, identity: RunIdentity, segmentBytes: UInt64, firstSegment: UInt32 = 0) throws {
        self.directory = directory
        self.identity = identity
        self.segmentBytes = segmentBytes
        self.segmentIndex = firstSegment
        self.encodeCapacity = Self.recordTarget
            + CompactReports.maxEncodedSize(parentCount: Int(SPOOR_MAX_PARENTS), attachmentLength: Int(SPOOR_MAX_ATTACHMENT))
        self.encodeBuffer = UnsafeMutableRawPointer.allocate(byteCount: encodeCapacity, alignment: 64)
        try Self.makeDirectories(directory)
        try openSegment()
    }

    deinit {
        if descriptor >= 0 { _ = Glibc.close(descriptor) }
        encodeBuffer.deallocate()
    }

    /// Creates `path` and its missing parents with mode 0700.
    public static func makeDirectories(_ path: String) throws {
        var prefix = path.hasPrefix("/") ? "/" : ""
        for component in path.split(separator: "/", omittingEmptySubsequences: true) {
            prefix += component
            if mkdir(prefix, 0o700) != 0 && errno != EEXIST {
                throw LogError("cannot create directory \(prefix): \(String(cString: strerror(errno)))")
            }
            prefix += "/"
        }
        var info = stat()
        guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR else {
            throw LogError("\(path) is not a directory")
        }
    }

    /// Starts segment `segmentIndex`: creates its file and writes its header and the operators
    /// known so far. Whatever of that fails (a full disk, an I/O error) is done again before the
    /// next record, so a segment never holds a record without a header in front of it.
    private func openSegment() throws {
        startPending = true
        operatorsPending = true
        try ensureSegmentStart()
    }

    /// Finishes the start of the current segment if it is incomplete (see `openSegment`).
    private func ensureSegmentStart() throws {
        if descriptor < 0 {
            let path = directory + "/" + LogFormat.segmentFileName(segmentIndex)
            let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
            guard fd >= 0 else {
                throw LogError("cannot create \(path): \(String(cString: strerror(errno)))")
            }
            descriptor = fd
            segmentSize = 0
            segmentRecords = 0
        }
        if startPending {
            var header = [UInt8](repeating: 0, count: LogFormat.segmentHeaderSize)
            for (index, byte) in LogFormat.segmentMagic.enumerated() { header[index] = byte }
            storeLittleEndian(LogFormat.version, into: &header, at: 8)
            storeLittleEndian(UInt32(LogFormat.segmentHeaderSize), into: &header, at: 12)
            storeLittleEndian(identity.runID, into: &header, at: 16)
            storeLittleEndian(identity.pid, into: &header, at: 24)
            storeLittleEndian(segmentIndex, into: &header, at: 28)
            storeLittleEndian(identity.realtimeNanos, into: &header, at: 32)
            storeLittleEndian(identity.monotonicNanos, into: &header, at: 40)
            storeLittleEndian(UInt32(SPOORINT_SLOT_SIZE), into: &header, at: 48)
            let crc = header.withUnsafeBytes { crc32c(0, UnsafeRawBufferPointer(rebasing: $0[0..<60])) }
            storeLittleEndian(crc, into: &header, at: 60)
            // A failed write leaves the file empty (writeAll rewinds), to be started again.
            try header.withUnsafeBytes { (raw) in
                try writeAll([raw])
            }
            startPending = false
        }
        if operatorsPending {
            operatorsPending = false
            if !knownOperators.isEmpty {
                do {
                    try appendOperatorRecord(knownOperators)
                } catch {
                    operatorsPending = true
                    throw error
                }
            }
        }
    }

    private func rollIfNeeded(adding bytes: Int) throws {
        guard segmentSize > UInt64(LogFormat.segmentHeaderSize),
              segmentSize + UInt64(bytes) > segmentBytes
        else { return }
        // A seal that cannot be written leaves the segment unsealed, which readers report; the
        // roll goes on so that the records after it are not lost too.
        try? appendSeal(next: segmentIndex &+ 1)
        _ = Glibc.close(descriptor)
        descriptor = -1
        segmentIndex += 1
        try openSegment()
    }

    /// Appends the seal record: the records and bytes before it, and the next segment's index
    /// (`nil` when the writer closes the run).
    private func appendSeal(next: UInt32?) throws {
        let seal = SealRecord(records: segmentRecords, offset: segmentSize, nextSegment: next)
        try seal.bytes.withUnsafeBytes { (raw) in
            try appendRecord(type: .seal, count: 0, firstPosition: 0, ring: 0, pieces: [raw])
        }
    }

    /// Appends operator names (new ones only; the writer remembers them for later segments).
    public func writeOperators(_ operators: [OperatorRecord]) throws {
        guard !operators.isEmpty else { return }
        // Roll first: a new segment repeats the operators known before these, then gets these.
        try rollIfNeeded(adding: LogFormat.recordHeaderSize + operators.count * 512)
        knownOperators.append(contentsOf: operators)
        try appendOperatorRecord(operators)
    }

    private func appendOperatorRecord(_ operators: [OperatorRecord]) throws {
        var payload: [UInt8] = []
        for op in operators {
            let name = Array(op.name.utf8.prefix(Int(SPOOR_MAX_NAME_LEN)))
            let site = Array(op.callSite.utf8.suffix(Int(SPOOR_MAX_NAME_LEN)))
            var entry = [UInt8](repeating: 0, count: 8)
            storeLittleEndian(op.id, into: &entry, at: 0)
            storeLittleEndian(UInt16(name.count), into: &entry, at: 4)
            storeLittleEndian(UInt16(site.count), into: &entry, at: 6)
            payload += entry
            payload += name
            payload += site
        }
        try payload.withUnsafeBytes { (raw) in
            try appendRecord(type: .operators, count: UInt32(operators.count), firstPosition: 0, ring: 0, pieces: [raw])
        }
    }

    /// Appends one batch of reports drained from `ring`: `count` whole reports occupying the
    /// slots of `first` followed by `second` (the part after the ring wrapped; may be empty),
    /// starting at ring position `firstPosition`. The reports are validated by the caller (the
    /// collector walks them against the published head). They are written in the compact
    /// encoding, in records of about `recordTarget` bytes.
    public func writeReports(
        ring: UInt32, firstPosition: UInt64, count: Int,
        first: UnsafeRawBufferPointer, second: UnsafeRawBufferPointer
    ) throws {
        let spans = SlotSpans(first: first, second: second)
        let totalSlots = spans.slotCount
        var slot = 0
        var recordStart = firstPosition
        var encoder = CompactReports.Encoder()
        var used = 0
        var inRecord = 0
        while slot < totalSlots {
            let header = spans.slot(slot)
            let parents = Int(header.load(fromByteOffset: SPOORINT_REPORT_N_PARENTS, as: UInt32.self))
            let attach = Int(header.load(fromByteOffset: SPOORINT_REPORT_ATTACH_LEN, as: UInt16.self))
            if used + CompactReports.maxEncodedSize(parentCount: parents, attachmentLength: attach) > encodeCapacity
                || used >= Self.recordTarget {
                try flushReports(ring: ring, firstPosition: recordStart, count: inRecord, bytes: used)
                recordStart = firstPosition &+ UInt64(slot)
                encoder = CompactReports.Encoder()
                used = 0
                inRecord = 0
            }
            slot += encoder.encode(spans, header: slot, into: encodeBuffer, offset: &used)
            inRecord += 1
        }
        if inRecord > 0 { try flushReports(ring: ring, firstPosition: recordStart, count: inRecord, bytes: used) }
        _ = count
    }

    private func flushReports(ring: UInt32, firstPosition: UInt64, count: Int, bytes: Int) throws {
        try rollIfNeeded(adding: LogFormat.recordHeaderSize + bytes)
        try appendRecord(
            type: .reports, count: UInt32(truncatingIfNeeded: count), firstPosition: firstPosition, ring: ring,
            pieces: [UnsafeRawBufferPointer(start: encodeBuffer, count: bytes)])
    }

    /// Appends the close record with the final counters.
    /// Writes a loss record for `ring` (docs/log-format.md, "Loss records").
    public func writeLoss(ring: UInt32, _ loss: LossRecord) throws {
        let payload = loss.payload
        try rollIfNeeded(adding: LogFormat.recordHeaderSize + payload.count)
        try payload.withUnsafeBytes { raw in
            try appendRecord(type: .loss, count: 1, firstPosition: 0, ring: ring, pieces: [raw])
        }
    }

    public func writeClose(_ statistics: CloseStatistics) throws {
        var payload = [UInt8](repeating: 0, count: 64)
        for (index, word) in statistics.words.enumerated() {
            storeLittleEndian(word, into: &payload, at: index * 8)
        }
        try payload.withUnsafeBytes { (raw) in
            try appendRecord(type: .close, count: 8, firstPosition: 0, ring: 0, pieces: [raw])
        }
    }

    private func appendRecord(
        type: LogRecordType, count: UInt32, firstPosition: UInt64, ring: UInt32,
        pieces: [UnsafeRawBufferPointer]
    ) throws {
        try ensureSegmentStart()
        let header = Self.recordHeader(type: type, count: count, firstPosition: firstPosition, ring: ring, pieces: pieces)
        try header.withUnsafeBytes { (raw) in
            try writeAll([raw] + pieces)
        }
        segmentRecords += 1
    }

    /// The header of a record whose payload is `pieces` (docs/log-format.md, "Records").
    static func recordHeader(
        type: LogRecordType, count: UInt32, firstPosition: UInt64, ring: UInt32, pieces: [UnsafeRawBufferPointer]
    ) -> [UInt8] {
        let payloadLength = pieces.reduce(0) { $0 + $1.count }
        var header = [UInt8](repeating: 0, count: LogFormat.recordHeaderSize)
        storeLittleEndian(LogFormat.recordMagic, into: &header, at: 0)
        storeLittleEndian(type.rawValue, into: &header, at: 4)
        storeLittleEndian(UInt32(payloadLength), into: &header, at: 8)
        storeLittleEndian(count, into: &header, at: 12)
        storeLittleEndian(firstPosition, into: &header, at: 16)
        storeLittleEndian(ring, into: &header, at: 24)
        var crc = header.withUnsafeBytes { crc32c(0, UnsafeRawBufferPointer(rebasing: $0[0..<28])) }
        for piece in pieces where piece.count > 0 { crc = crc32c(crc, piece) }
        storeLittleEndian(crc, into: &header, at: 28)
        return header
    }

    /// Finishes the segment a dead writer left open (`spoor recover`, the dead-process sweep):
    /// cuts it after its last valid record (a torn tail whose reports the recovery takes from
    /// shared memory again) and appends the seal the writer would have written, naming `next`,
    /// the segment the recovery writes. `unsealed` is the reader's issue for the segment (its
    /// offset is the end of the last valid record, its records the records read).
    /// - Throws: `LogError` if the file cannot be opened, cut or written.
    public static func sealAbandoned(_ unsealed: LogIssue, next: UInt32) throws {
        guard unsealed.kind == .unsealed else { throw LogError("sealAbandoned takes an unsealed issue, not \(unsealed.kind)") }
        let seal = SealRecord(records: UInt64(unsealed.records), offset: UInt64(unsealed.offset), nextSegment: next).bytes
        var record = seal.withUnsafeBytes { raw in
            recordHeader(type: .seal, count: 0, firstPosition: 0, ring: 0, pieces: [raw])
        }
        record += seal
        let path = unsealed.path
        do {
            let fd = try syscall("open(\(path))") { open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW) }
            defer { _ = Glibc.close(fd) }
            try syscall("ftruncate(\(path))") { ftruncate(fd, off_t(unsealed.offset)) }
            var written = 0
            while written < record.count {
                let result = try record.withUnsafeBytes { raw in
                    // `record` is never empty (a header and a seal), so it has a base address.
                    guard let base = raw.baseAddress else { return 0 }
                    return try syscall("pwrite(\(path))") { pwrite(fd, base + written, raw.count - written, off_t(unsealed.offset + written)) }
                }
                guard result > 0 else { throw SystemCallError(call: "pwrite(\(path))", errno: ENOSPC) }
                written += result
            }
        } catch {
            throw LogError("cannot seal the abandoned segment: \(error)")
        }
    }

    private func writeAll(_ pieces: [UnsafeRawBufferPointer]) throws {
        var vectors = pieces.filter { $0.count > 0 }.map {
            iovec(iov_base: UnsafeMutableRawPointer(mutating: $0.baseAddress), iov_len: $0.count)
        }
        var remaining = vectors.reduce(0) { $0 + $1.iov_len }
        let recordStart = segmentSize
        var start = 0
        while remaining > 0 {
            let written: Int
            do {
                written = try syscall("writev") {
                    vectors[start...].withUnsafeBufferPointer { buffer in
                        writev(descriptor, buffer.baseAddress, Int32(buffer.count))
                    }
                }
            } catch {
                let failure = LogError("write to \(directory) failed: \(errnoText(error.errno))")
                // Rewind a partial record so the segment stays readable for the records after it.
                _ = ftruncate(descriptor, off_t(recordStart))
                _ = lseek(descriptor, off_t(recordStart), SEEK_SET)
                throw failure
            }
            remaining -= written
            var consumed = written
            while consumed > 0 && start < vectors.count {
                if consumed >= vectors[start].iov_len {
                    consumed -= vectors[start].iov_len
                    start += 1
                } else {
                    vectors[start].iov_base = vectors[start].iov_base.map { $0 + consumed }
                    vectors[start].iov_len -= consumed
                    consumed = 0
                }
            }
        }
        segmentSize = recordStart + UInt64(vectors.isEmpty ? 0 : pieces.reduce(0) { $0 + $1.count })
    }

    /// Pushes written data to stable storage (`fdatasync`).
    public func sync() throws {
        if descriptor >= 0 && fdatasync(descriptor) != 0 {
            throw LogError("fdatasync in \(directory) failed: \(String(cString: strerror(errno)))")
        }
    }

    /// Seals the current segment naming the next one, closes it, and returns that next index:
    /// another writer of the same run (a collector process that takes the rings over) goes on
    /// there. Nothing may be written with this writer afterwards. If the seal cannot be written
    /// the segment is left unsealed (readers report it) and the next index is still returned.
    public func handOff() throws -> UInt32 {
        let next = segmentIndex &+ 1
        if descriptor >= 0 {
            try? appendSeal(next: next)
            _ = Glibc.close(descriptor)
            descriptor = -1
        }
        startPending = false
        operatorsPending = false
        return next
    }

    /// Seals and closes the current segment; with `sync`, pushes it to stable storage first
    /// (`fdatasync`). The seal marks the run's end: nothing may be written afterwards.
    public func close(sync: Bool = false) throws {
        // A segment whose start is still pending (its file could not be created) is started
        // now, so that the run's last records and its seal are not lost if the disk has room.
        guard descriptor >= 0 || startPending else { return }
        do {
            try appendSeal(next: nil)
            if sync { try self.sync() }
        } catch {
            if descriptor >= 0 { _ = Glibc.close(descriptor) }
            descriptor = -1
            startPending = false
            operatorsPending = false
            throw error
        }
        let result = Glibc.close(descriptor)
        descriptor = -1
        startPending = false
        operatorsPending = false
        if result != 0 {
            throw LogError("close in \(directory) failed: \(String(cString: strerror(errno)))")
        }
    }
}
