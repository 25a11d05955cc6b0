#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
#if !SPOOR_SINGLE_MODULE
import SpoorSupport
#endif

/// A header of one segment file.
public struct SegmentHeader: Sendable, Hashable {
    /// The run this segment belongs to.
    public var identity: RunIdentity
    /// The segment's index within the run.
    public var index: UInt32
}

/// What a reader found in one log record.
public enum LogEntry: Sendable {
    /// A segment started.
    case segment(SegmentHeader)
    /// Operator names.
    case operators([OperatorRecord])
    /// A batch of reports drained from one ring, with its ring position range. Reports already
    /// delivered from an earlier record (the same run, ring and position) are left out.
    case reports(ring: UInt32, firstPosition: UInt64, endPosition: UInt64, [Report])
    /// The run shut down cleanly with these counters.
    case close(CloseStatistics)
    /// Reports lost on a ring since its previous loss record, and why.
    case loss(ring: UInt32, LossRecord)
}

/// Something wrong or unusual the reader found in a log. Issues are never fatal: the reader
/// goes on with the next record or segment, and nothing damaged is ever delivered.
public struct LogIssue: Sendable, Hashable, CustomStringConvertible {
    /// The kinds of issue.
    public enum Kind: String, Sendable, Hashable {
        /// Bytes that are not a valid record (corruption, a torn write) were skipped; the reader
        /// resynchronised on the next valid record after them (docs/log-format.md, "Reading").
        case damaged
        /// A segment ends without a seal record (and is not the run's last segment ending with a
        /// close record): its writer did not finish it, so its tail may be lost.
        case unsealed
        /// A seal record disagrees with what was read: records are missing (or extra), or the
        /// segment it names as the next one is not there.
        case incomplete
        /// Reports already delivered (same run, process, ring and position) were read again and skipped,
        /// or a segment file is the same file as one already read.
        case duplicate
        /// A segment file could not be opened or read, or is not a regular file.
        case unreadable
    }

    /// What kind of issue this is.
    public var kind: Kind
    /// The segment file.
    public var path: String
    /// Byte offset in the file where the issue starts (0 for a whole file; for unsealed, the end
    /// of the segment's last valid record).
    public var offset: Int
    /// Bytes concerned: skipped (damaged), in duplicate records (duplicate), or the segment's
    /// size (unsealed, incomplete).
    public var bytes: Int
    /// Records concerned: lost according to the seal (incomplete), read in the segment
    /// (unsealed), duplicate records (duplicate), or, for damaged, well-framed records whose
    /// payload did not decode (0 when the skipped bytes held no valid record frame).
    public var records: Int
    /// Reports not delivered again (duplicate); 0 otherwise.
    public var reports: Int
    /// What was wrong, in words.
    public var reason: String

    /// Creates an issue.
    public init(kind: Kind, path: String, offset: Int, bytes: Int = 0, records: Int = 0, reports: Int = 0, reason: String) {
        self.kind = kind
        self.path = path
        self.offset = offset
        self.bytes = bytes
        self.records = records
        self.reports = reports
        self.reason = reason
    }

    /// A one-line description: `PATH at byte N: kind: reason`.
    public var description: String { "\(path) at byte \(offset): \(kind.rawValue): \(reason)" }
}

/// The name this type had before the reader reported more than damage.
public typealias LogDamage = LogIssue

/// Reads the segments of a run directory in order, with bounded memory.
///
/// Every record's checksum is verified, and nothing that fails a check is delivered. A bad
/// record costs only itself: the reader skips to the next position where a whole record
/// validates and goes on. Segments are streamed through a fixed window (records are bounded by
/// `LogFormat.maxPayload`), so memory does not grow with segment size. Reports already delivered
/// (by run, ring and position) are not delivered twice. Everything found wrong is reported as a
/// `LogIssue`.
public struct LogReader: Sendable {
    /// The run directory.
    public let directory: String
    /// Segments numbered below this are left out.
    public let firstSegment: UInt32

    /// Opens a run directory, from segment `firstSegment` on (a consumer that takes a run's
    /// rings over after another one died reads only what that one wrote).
    public init(directory: String, firstSegment: UInt32 = 0) {
        self.directory = directory
        self.firstSegment = firstSegment
    }

    /// The run directories at `path`: `path` itself if it holds segments, otherwise its
    /// subdirectories that do, in name order (run names start with their UTC start time).
    public static func runDirectories(at path: String) throws -> [String] {
        try LogRoot.runs(at: path).map(\.directory)
    }

    package static func listDirectory(_ path: String) throws -> [String] {
        // opendir opens with O_NONBLOCK | O_DIRECTORY: a FIFO here fails instead of blocking.
        guard let dir = opendir(path) else {
            throw LogError("cannot open directory \(path): \(String(cString: strerror(errno)))")
        }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// The segment files in index order.
    public func segmentPaths() throws -> [String] {
        try Self.listDirectory(directory)
            .compactMap { name in LogFormat.segmentIndex(ofFileName: name).map { ($0, name) } }
            .filter { $0.0 >= firstSegment }
            .sorted { $0.0 < $1.0 }
            .map { directory + "/" + $0.1 }
    }

    /// Calls `body` for every entry of every segment, in order, and returns the issues found.
    /// Throws only if the directory cannot be listed or `body` throws.
    @discardableResult
    public func read(_ body: (LogEntry) throws -> Void) throws -> [LogIssue] {
        var issues: [LogIssue] = []
        try read(issues: { issues.append($0) }, body)
        return issues
    }

    /// Calls `body` for every entry of every segment, in order, and `issues` for every issue as
    /// it is found. Throws only if the directory cannot be listed or `body` throws.
    public func read(issues: (LogIssue) -> Void, _ body: (LogEntry) throws -> Void) throws {
        let paths = try segmentPaths()
        var state = ReadState()
        for (number, path) in paths.enumerated() {
            let nextIndex = number + 1 < paths.count ? Self.index(ofPath: paths[number + 1]) : nil
            let file: FileSource
            switch FileSource.open(path) {
            case .failure(let problem):
                issues(LogIssue(kind: .unreadable, path: path, offset: 0, reason: problem.description))
                continue
            case .success(let opened):
                file = opened
            }
            defer { file.close() }
            if let earlier = state.files[file.identity] {
                issues(LogIssue(
                    kind: .duplicate, path: path, offset: 0, bytes: file.size,
                    reason: "the same file as \(earlier) (a hard link or the same name twice); skipped"))
                continue
            }
            state.files[file.identity] = path
            var source = file
            try Self.readSegment(
                &source, path: path, isLast: nextIndex == nil, nextIndex: nextIndex,
                state: &state, issues: issues, body)
        }
    }

    static func index(ofPath path: String) -> UInt32? {
        path.split(separator: "/").last.flatMap { LogFormat.segmentIndex(ofFileName: String($0)) }
    }

    /// Reading state that spans the segments of one read: the files already read and, per run
    /// and ring, the ring positions already delivered.
    struct ReadState {
        var files: [FileIdentity: String] = [:]
        var delivered: [RingKey: PositionRanges] = [:]
        /// The largest window a segment needed (the reader's memory per segment).
        var largestWindow = 0
    }

    /// A ring of one writing process: a report is identified by its run, process, ring and
    /// position (a run may hold several processes, each with its own rings).
    struct RingKey: Hashable {
        var runID: UInt64
        var pid: UInt32
        var ring: UInt32
    }

    /// How a segment's records ended.
    enum SegmentEnd {
        /// No valid record at all after the header.
        case empty
        /// The last valid record is a seal; `next` is the following segment's index, nil if the
        /// writer closed the run.
        case sealed(next: UInt32?)
        /// The last valid record is a close record (a writer from before seal records).
        case closed
        /// The last valid record is of another type.
        case open
    }

    /// Reads one segment from `source` and reports its entries to `body` and its issues to
    /// `issues`. `isLast` and `nextIndex` describe the segment file after this one in the
    /// directory, for the seal checks; `windowBytes` is the window's initial size. Throws only
    /// what `body` throws.
    static func readSegment<Source: SegmentSource>(
        _ source: inout Source, path: String, isLast: Bool, nextIndex: UInt32?,
        state: inout ReadState, windowBytes: Int = Window.defaultCapacity,
        issues: (LogIssue) -> Void, _ body: (LogEntry) throws -> Void
    ) throws {
        let window = Window(capacity: windowBytes)
        defer { state.largestWindow = max(state.largestWindow, window.capacity) }
        var scanner = SegmentScanner(window: window, size: source.size)
        do {
            guard let header = try scanner.readHeader(&source) else {
                issues(LogIssue(kind: .damaged, path: path, offset: 0, bytes: source.size, reason: scanner.headerProblem))
                return
            }
            try body(.segment(header))
            var duplicateReports = 0
            var duplicateRecords = 0
            var duplicateBytes = 0
            var firstDuplicate: Int?
            var end = SegmentEnd.empty
            var records = 0
            while let record = try scanner.next(&source, issues: { issue in
                var issue = issue
                issue.path = path
                issues(issue)
            }) {
                let payload = record.payload
                records += 1
                end = .open
                func damaged(_ reason: String) {
                    issues(LogIssue(
                        kind: .damaged, path: path, offset: record.offset, bytes: record.size, records: 1,
                        reason: "\(reason); skipped the record (\(record.size) bytes)"))
                }
                switch record.type {
                case LogRecordType.operators.rawValue:
                    guard let operators = decodeOperators(payload, count: record.count) else {
                        damaged("malformed operator record")
                        continue
                    }
                    try body(.operators(operators))
                case LogRecordType.reports.rawValue:
                    guard let decoded = CompactReports.decode(
                        payload, count: record.count, ring: record.ring, firstPosition: record.firstPosition)
                    else {
                        damaged("malformed report record")
                        continue
                    }
                    var reports = decoded.reports
                    let endPosition = decoded.end
                    guard endPosition >= record.firstPosition else {
                        damaged("report positions wrap around 2^64")
                        continue
                    }
                    let key = RingKey(runID: header.identity.runID, pid: header.identity.pid, ring: record.ring)
                    var delivered = state.delivered[key] ?? PositionRanges()
                    if delivered.overlaps(record.firstPosition, endPosition) {
                        let before = reports.count
                        reports.removeAll { delivered.contains($0.position) }
                        duplicateReports += before - reports.count
                        duplicateRecords += 1
                        duplicateBytes += record.size
                        if firstDuplicate == nil { firstDuplicate = record.offset }
                    }
                    delivered.insert(record.firstPosition, endPosition)
                    state.delivered[key] = delivered
                    if !reports.isEmpty || record.count == 0 {
                        try body(.reports(
                            ring: record.ring, firstPosition: record.firstPosition, endPosition: endPosition, reports))
                    }
                case LogRecordType.close.rawValue:
                    var words: [UInt64] = []
                    var index = 0
                    while index + 8 <= payload.count && words.count < 8 {
                        words.append(loadLittleEndian(UInt64.self, from: payload, at: index))
                        index += 8
                    }
                    guard let statistics = CloseStatistics(words: words) else {
                        damaged("malformed close record")
                        continue
                    }
                    try body(.close(statistics))
                    end = .closed
                case LogRecordType.loss.rawValue:
                    guard let loss = LossRecord(payload: payload) else {
                        damaged("malformed loss record")
                        continue
                    }
                    try body(.loss(ring: record.ring, loss))
                case LogRecordType.seal.rawValue:
                    guard let seal = SealRecord(payload: payload) else {
                        damaged("malformed seal record")
                        continue
                    }
                    end = .sealed(next: seal.nextSegment)
                    let before = records - 1
                    if seal.records != UInt64(before) || seal.offset != UInt64(record.offset) {
                        let lost = Int(clamping: seal.records) - before
                        let what = lost >= 0
                            ? "\(lost) record\(lost == 1 ? "" : "s") lost"
                            : "\(-lost) record\(lost == -1 ? "" : "s") more than written"
                        issues(LogIssue(
                            kind: .incomplete, path: path, offset: record.offset, bytes: source.size, records: lost,
                            reason: "the seal record counts \(seal.records) records in \(seal.offset) bytes before it; read \(before) records in \(record.offset) bytes: \(what)"))
                    }
                default:
                    // A well-framed record of a type this reader does not know (a newer writer):
                    // skipped by its length.
                    issues(LogIssue(
                        kind: .damaged, path: path, offset: record.offset, bytes: record.size, records: 1,
                        reason: "unknown record type \(record.type); skipped the record (\(record.size) bytes)"))
                }
            }
            if let firstDuplicate {
                issues(LogIssue(
                    kind: .duplicate, path: path, offset: firstDuplicate, bytes: duplicateBytes, records: duplicateRecords,
                    reports: duplicateReports,
                    reason: "\(duplicateRecords) report records hold ring positions already read; \(duplicateReports) reports not delivered again"))
            }
            switch end {
            case .sealed(let next):
                if let next, next != nextIndex {
                    issues(LogIssue(
                        kind: .incomplete, path: path, offset: source.size, bytes: source.size,
                        reason: "the seal record names segment \(next) as the next one, but "
                            + (nextIndex.map { "the next segment file is \($0)" } ?? "there is no later segment")))
                }
            case .closed where isLast:
                break
            case .empty, .open, .closed:
                issues(LogIssue(
                    kind: .unsealed, path: path, offset: scanner.validEnd, bytes: source.size, records: records,
                    reason: "the segment ends unsealed after \(records) records: its writer did not finish it (a crash, the file was cut, or it is still being written), so records after byte \(scanner.validEnd) may be lost"))
            }
        } catch let failure as SourceFailure {
            issues(LogIssue(
                kind: .unreadable, path: path, offset: failure.offset,
                reason: "read failed: \(failure.message); the rest of the segment was skipped"))
        }
    }

    static func decodeOperators(_ payload: UnsafeRawBufferPointer, count: Int) -> [OperatorRecord]? {
        var result: [OperatorRecord] = []
        var offset = 0
        for _ in 0..<count {
            guard offset + 8 <= payload.count else { return nil }
            let id = loadLittleEndian(UInt32.self, from: payload, at: offset)
            let nameLength = Int(loadLittleEndian(UInt16.self, from: payload, at: offset + 4))
            let siteLength = Int(loadLittleEndian(UInt16.self, from: payload, at: offset + 6))
            offset += 8
            guard offset + nameLength + siteLength <= payload.count else { return nil }
            let name = String(decoding: payload[offset..<(offset + nameLength)], as: UTF8.self)
            offset += nameLength
            let site = String(decoding: payload[offset..<(offset + siteLength)], as: UTF8.self)
            offset += siteLength
            result.append(OperatorRecord(id: id, name: name, callSite: site))
        }
        return offset == payload.count ? result : nil
    }
}

/// The payload of a seal record (type 4): the last record of every segment a writer finished.
struct SealRecord: Equatable {
    /// Bytes of the payload this writer produces.
    static let size = 24
    /// `nextSegment` value of the seal written when the run's writer closed.
    static let final = UInt32.max

    /// Records in the segment before the seal.
    var records: UInt64
    /// Byte offset of the seal record (the segment's size before it).
    var offset: UInt64
    /// The index of the segment that follows, nil if the writer closed.
    var nextSegment: UInt32?

    init(records: UInt64, offset: UInt64, nextSegment: UInt32?) {
        self.records = records
        self.offset = offset
        self.nextSegment = nextSegment
    }

    init?(payload: UnsafeRawBufferPointer) {
        guard payload.count >= Self.size else { return nil }
        records = loadLittleEndian(UInt64.self, from: payload, at: 0)
        offset = loadLittleEndian(UInt64.self, from: payload, at: 8)
        let next = loadLittleEndian(UInt32.self, from: payload, at: 16)
        nextSegment = next == Self.final ? nil : next
    }

    var bytes: [UInt8] {
        var payload = [UInt8](repeating: 0, count: Self.size)
        storeLittleEndian(records, into: &payload, at: 0)
        storeLittleEndian(offset, into: &payload, at: 8)
        storeLittleEndian(nextSegment ?? Self.final, into: &payload, at: 16)
        return payload
    }
}

/// A read of segment bytes failed (an I/O error, not a format problem).
struct SourceFailure: Error {
    var offset: Int
    var message: String
}

/// Where a segment's bytes come from: a file, or memory (tests and fuzzing).
protocol SegmentSource {
    /// The size in bytes (the reader reads no further).
    var size: Int { get }
    /// Reads up to `buffer.count` bytes at `offset` into `buffer`; returns the count read, 0 at
    /// the end.
    mutating func read(at offset: Int, into buffer: UnsafeMutableRawBufferPointer) throws(SourceFailure) -> Int
}

/// Identifies a file independently of its name (hard links, the same file listed twice).
struct FileIdentity: Hashable {
    var device: UInt64
    var inode: UInt64
}

/// A segment file opened for reading.
struct FileSource: SegmentSource {
    let descriptor: Int32
    let size: Int
    let identity: FileIdentity

    struct OpenFailure: Error, CustomStringConvertible {
        var description: String
    }

    /// Opens `path` without blocking (a FIFO or device named like a segment must not hang the
    /// reader) and accepts only regular files.
    static func open(_ path: String) -> Result<FileSource, OpenFailure> {
        let fd: Int32
        do {
            fd = try syscall("open") { Glibc.open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC) }
        } catch {
            return .failure(OpenFailure(description: "cannot open: \(errnoText(error.errno)); skipped"))
        }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            let message = String(cString: strerror(errno))
            _ = Glibc.close(fd)
            return .failure(OpenFailure(description: "cannot stat: \(message); skipped"))
        }
        guard info.st_mode & S_IFMT == S_IFREG else {
            _ = Glibc.close(fd)
            let what: String
            switch info.st_mode & S_IFMT {
            case S_IFIFO: what = "a FIFO"
            case S_IFDIR: what = "a directory"
            case S_IFCHR: what = "a character device"
            case S_IFBLK: what = "a block device"
            case S_IFSOCK: what = "a socket"
            default: what = "not a regular file"
            }
            return .failure(OpenFailure(description: "\(what), not a regular file; skipped"))
        }
        return .success(FileSource(
            descriptor: fd, size: Int(info.st_size),
            identity: FileIdentity(device: UInt64(info.st_dev), inode: UInt64(info.st_ino))))
    }

    func read(at offset: Int, into buffer: UnsafeMutableRawBufferPointer) throws(SourceFailure) -> Int {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return 0 }
        do {
            return try syscall("pread") { pread(descriptor, base, buffer.count, off_t(offset)) }
        } catch {
            throw SourceFailure(offset: offset, message: errnoText(error.errno))
        }
    }

    func close() {
        _ = Glibc.close(descriptor)
    }
}

/// Segment bytes in memory.
struct MemorySource: SegmentSource {
    let bytes: UnsafeRawBufferPointer
    var size: Int { bytes.count }

    init(_ bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    func read(at offset: Int, into buffer: UnsafeMutableRawBufferPointer) throws(SourceFailure) -> Int {
        guard offset >= 0, offset < bytes.count, let target = buffer.baseAddress, let source = bytes.baseAddress else {
            return 0
        }
        let count = min(buffer.count, bytes.count - offset)
        target.copyMemory(from: source + offset, byteCount: count)
        return count
    }
}

/// A sliding window over a segment's bytes: at least `LogReader.windowBytes`, grown only to
/// hold one whole record (at most `recordHeaderSize + maxPayload`).
final class Window {
    /// Owned by this object: allocated here, freed in `deinit` or when replaced by a larger one.
    private var storage: UnsafeMutableRawBufferPointer
    /// File offset of `storage[0]`.
    private var start = 0
    /// Valid bytes in `storage`.
    private var count = 0

    init(capacity: Int = Window.defaultCapacity) {
        storage = UnsafeMutableRawBufferPointer.allocate(byteCount: capacity, alignment: 16)
    }

    deinit {
        storage.deallocate()
    }

    /// Bytes the window holds.
    var capacity: Int { storage.count }

    /// Bytes read per refill (and the smallest window).
    static let defaultCapacity = 4 << 20

    /// The bytes `offset..<offset + length` of `source`, or nil if it ends before them. Valid
    /// until the next call.
    func bytes<Source: SegmentSource>(
        _ source: inout Source, at offset: Int, length: Int
    ) throws(SourceFailure) -> UnsafeRawBufferPointer? {
        guard offset >= 0, length >= 0, offset <= source.size, length <= source.size - offset else { return nil }
        if offset >= start && offset + length <= start + count {
            return UnsafeRawBufferPointer(rebasing: storage[(offset - start)..<(offset - start + length)])
        }
        if length > storage.count {
            let larger = UnsafeMutableRawBufferPointer.allocate(byteCount: length, alignment: 16)
            storage.deallocate()
            storage = larger
            start = 0
            count = 0
        }
        // Keep the bytes from `offset` already in the window, then fill the rest.
        if offset >= start && offset < start + count, let base = storage.baseAddress {
            let kept = start + count - offset
            base.copyMemory(from: base + (offset - start), byteCount: kept)
            count = kept
        } else {
            count = 0
        }
        start = offset
        let wanted = min(storage.count, source.size - offset)
        while count < wanted {
            let got: Int
            do {
                got = try source.read(
                    at: start + count, into: UnsafeMutableRawBufferPointer(rebasing: storage[count..<wanted]))
            } catch {
                // Read ahead failed: serve what was asked if it is here; the failure surfaces
                // when the bytes at the failing offset are asked for.
                if count >= length { break }
                throw error
            }
            if got == 0 { break }
            count += got
        }
        guard length <= count else { return nil }
        return UnsafeRawBufferPointer(rebasing: storage[0..<length])
    }
}

/// One record whose frame (header and CRC) validated.
struct FramedRecord {
    var offset: Int
    var type: UInt16
    var count: Int
    var firstPosition: UInt64
    var ring: UInt32
    /// The payload, valid until the scanner reads again.
    var payload: UnsafeRawBufferPointer
    /// Header plus payload.
    var size: Int { LogFormat.recordHeaderSize + payload.count }
}

/// Walks the record frames of one segment, resynchronising after damage.
struct SegmentScanner {
    let window: Window
    let size: Int
    /// Offset of the next record to read.
    var offset = LogFormat.segmentHeaderSize
    /// The end of the last valid record (where a cut segment may have lost its tail).
    var validEnd = LogFormat.segmentHeaderSize
    /// Why the header was rejected.
    var headerProblem = ""

    init(window: Window, size: Int) {
        self.window = window
        self.size = size
    }

    /// Reads and checks the segment header; nil (with `headerProblem` set) if it is bad.
    mutating func readHeader<Source: SegmentSource>(_ source: inout Source) throws(SourceFailure) -> SegmentHeader? {
        guard let raw = try window.bytes(&source, at: 0, length: LogFormat.segmentHeaderSize) else {
            headerProblem = "segment header truncated; skipped the segment"
            return nil
        }
        guard raw.prefix(8).elementsEqual(LogFormat.segmentMagic) else {
            headerProblem = "not a spoor log segment; skipped the segment"
            return nil
        }
        let version = loadLittleEndian(UInt32.self, from: raw, at: 8)
        guard version == LogFormat.version else {
            headerProblem = "unsupported format version \(version); skipped the segment"
            return nil
        }
        let headerCRC = loadLittleEndian(UInt32.self, from: raw, at: 60)
        guard crc32c(0, UnsafeRawBufferPointer(rebasing: raw[0..<60])) == headerCRC else {
            headerProblem = "segment header checksum mismatch; skipped the segment"
            return nil
        }
        return SegmentHeader(
            identity: RunIdentity(
                runID: loadLittleEndian(UInt64.self, from: raw, at: 16),
                pid: loadLittleEndian(UInt32.self, from: raw, at: 24),
                realtimeNanos: loadLittleEndian(UInt64.self, from: raw, at: 32),
                monotonicNanos: loadLittleEndian(UInt64.self, from: raw, at: 40)),
            index: loadLittleEndian(UInt32.self, from: raw, at: 28))
    }

    /// The outcome of checking the frame at one offset.
    enum Check {
        case valid(FramedRecord)
        case invalid(reason: String)
    }

    /// Checks the record frame at `at`: a whole header with the magic, a payload length within
    /// `maxPayload` and the file, and a matching CRC.
    func check<Source: SegmentSource>(_ source: inout Source, at: Int) throws(SourceFailure) -> Check {
        guard let header = try window.bytes(&source, at: at, length: LogFormat.recordHeaderSize) else {
            return .invalid(reason: "record header truncated")
        }
        guard loadLittleEndian(UInt32.self, from: header, at: 0) == LogFormat.recordMagic else {
            return .invalid(reason: "bad record magic")
        }
        let type = loadLittleEndian(UInt16.self, from: header, at: 4)
        let length = Int(loadLittleEndian(UInt32.self, from: header, at: 8))
        let count = Int(loadLittleEndian(UInt32.self, from: header, at: 12))
        let firstPosition = loadLittleEndian(UInt64.self, from: header, at: 16)
        let ring = loadLittleEndian(UInt32.self, from: header, at: 24)
        let storedCRC = loadLittleEndian(UInt32.self, from: header, at: 28)
        guard length <= LogFormat.maxPayload else {
            return .invalid(reason: "payload length \(length) above the limit \(LogFormat.maxPayload)")
        }
        let next = at + LogFormat.recordHeaderSize + length
        guard next <= size, let whole = try window.bytes(&source, at: at, length: LogFormat.recordHeaderSize + length) else {
            return .invalid(reason: "record payload truncated")
        }
        let payload = UnsafeRawBufferPointer(rebasing: whole[LogFormat.recordHeaderSize...])
        let crc = crc32c(crc32c(0, UnsafeRawBufferPointer(rebasing: whole[0..<28])), payload)
        guard crc == storedCRC else { return .invalid(reason: "record checksum mismatch") }
        return .valid(FramedRecord(
            offset: at, type: type, count: count, firstPosition: firstPosition, ring: ring, payload: payload))
    }

    /// The next valid record frame, or nil at the end of the segment. Bytes skipped on the way
    /// are reported to `issues` (one issue per damaged stretch, the path left empty).
    mutating func next<Source: SegmentSource>(
        _ source: inout Source, issues: (LogIssue) -> Void
    ) throws(SourceFailure) -> FramedRecord? {
        guard offset < size else { return nil }
        switch try check(&source, at: offset) {
        case .valid(let record):
            offset += record.size
            validEnd = offset
            return record
        case .invalid(let reason):
            let damageStart = offset
            // Scan from the next byte rather than trust the damaged header's length: a flipped
            // length bit can point at a later record boundary and skip the records between.
            let resume = try scan(&source, from: damageStart + 1)
            let skipped = (resume?.offset ?? size) - damageStart
            let whereTo = resume.map { "resumed at byte \($0.offset)" } ?? "to the end of the segment"
            issues(LogIssue(
                kind: .damaged, path: "", offset: damageStart, bytes: skipped,
                reason: "\(reason); skipped \(skipped) bytes, \(whereTo)"))
            guard let record = resume else {
                offset = size
                return nil
            }
            // `record` came from the last `check`, so its payload still points into the window.
            offset = record.offset + record.size
            validEnd = offset
            return record
        }
    }

    /// Bytes searched for the record magic per window access.
    static let scanStretch = 64 << 10

    /// The first offset at or after `from` where a whole record frame validates.
    func scan<Source: SegmentSource>(_ source: inout Source, from: Int) throws(SourceFailure) -> FramedRecord? {
        var at = from
        let first = UInt8(truncatingIfNeeded: LogFormat.recordMagic)
        while at + LogFormat.recordHeaderSize <= size {
            // A short stretch: a failed candidate then moves the window little (see `Window`).
            let length = min(Self.scanStretch, size - at)
            guard let bytes = try window.bytes(&source, at: at, length: length), let base = bytes.baseAddress else {
                return nil
            }
            // memchr for the magic's first byte, then compare the whole word.
            var candidate: Int?
            var searchFrom = 0
            while searchFrom + 4 <= bytes.count {
                guard let hit = memchr(base + searchFrom, Int32(first), bytes.count - searchFrom - 3) else { break }
                let index = base.distance(to: UnsafeRawPointer(hit))
                if loadLittleEndian(UInt32.self, from: bytes, at: index) == LogFormat.recordMagic {
                    candidate = index
                    break
                }
                searchFrom = index + 1
            }
            guard let index = candidate else {
                // No magic starts in this stretch; the last 3 bytes may begin one.
                at += max(bytes.count - 3, 1)
                continue
            }
            if case .valid(let record) = try check(&source, at: at + index) { return record }
            at += index + 1
        }
        return nil
    }
}

/// Disjoint, sorted half-open ranges of ring positions, merged when they touch: a run's ring
/// drained in order is one range, so memory grows with the gaps, not with the reports.
struct PositionRanges {
    private(set) var ranges: [(lower: UInt64, upper: UInt64)] = []

    /// The index of the first range whose upper bound is above `position`.
    private func firstEnding(after position: UInt64) -> Int {
        var low = 0
        var high = ranges.count
        while low < high {
            let middle = (low + high) / 2
            if ranges[middle].upper > position { high = middle } else { low = middle + 1 }
        }
        return low
    }

    /// Whether `position` is in a range.
    func contains(_ position: UInt64) -> Bool {
        let index = firstEnding(after: position)
        return index < ranges.count && ranges[index].lower <= position
    }

    /// Whether any position of `lower..<upper` is in a range.
    func overlaps(_ lower: UInt64, _ upper: UInt64) -> Bool {
        guard lower < upper else { return false }
        let index = firstEnding(after: lower)
        return index < ranges.count && ranges[index].lower < upper
    }

    /// Adds `lower..<upper`.
    mutating func insert(_ lower: UInt64, _ upper: UInt64) {
        guard lower < upper else { return }
        if let last = ranges.last, last.upper == lower {
            ranges[ranges.count - 1].upper = upper
            return
        }
        // Ranges that overlap or touch the new one: from the first ending at or after `lower`
        // to the last starting at or before `upper`.
        let first = lower == 0 ? 0 : firstEnding(after: lower - 1)
        var end = first
        var merged = (lower: lower, upper: upper)
        while end < ranges.count && ranges[end].lower <= upper {
            merged.lower = min(merged.lower, ranges[end].lower)
            merged.upper = max(merged.upper, ranges[end].upper)
            end += 1
        }
        ranges.replaceSubrange(first..<end, with: [merged])
    }
}
