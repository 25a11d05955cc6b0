#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
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
    /// A batch of reports drained from one ring, with its ring position range.
    case reports(ring: UInt32, firstPosition: UInt64, endPosition: UInt64, [Report])
    /// The run shut down cleanly with these counters.
    case close(CloseStatistics)
}

/// Damage found while reading: the reader stops at the first bad record of a segment.
public struct LogDamage: Sendable, Hashable, CustomStringConvertible {
    /// The segment file.
    public var path: String
    /// Byte offset of the bad record.
    public var offset: Int
    /// What was wrong.
    public var reason: String

    /// A one-line description.
    public var description: String { "\(path) at byte \(offset): \(reason)" }
}

/// Reads the segments of a run directory in order.
///
/// Every record's checksum is verified; a record that fails (a torn tail after a crash, or
/// corruption) ends that segment and is reported as damage, never delivered.
public struct LogReader: Sendable {
    /// The run directory.
    public let directory: String

    /// Opens a run directory.
    public init(directory: String) {
        self.directory = directory
    }

    /// The run directories at `path`: `path` itself if it holds segments, otherwise its
    /// subdirectories that do, in name order (run names start with their UTC start time).
    public static func runDirectories(at path: String) throws -> [String] {
        try LogRoot.runs(at: path).map(\.directory)
    }

    static func listDirectory(_ path: String) throws -> [String] {
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
            .sorted { $0.0 < $1.0 }
            .map { directory + "/" + $0.1 }
    }

    /// Calls `body` for every entry of every segment, in order, and returns the damage found.
    @discardableResult
    public func read(_ body: (LogEntry) throws -> Void) throws -> [LogDamage] {
        var damage: [LogDamage] = []
        for path in try segmentPaths() {
            let bytes = try Self.readFile(path)
            try bytes.withUnsafeBytes { raw in
                if let problem = try Self.readSegment(raw, body) {
                    damage.append(LogDamage(path: path, offset: problem.offset, reason: problem.reason))
                }
            }
        }
        return damage
    }

    static func readFile(_ path: String) throws -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw LogError("cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { _ = close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw LogError("cannot stat \(path)") }
        var bytes = [UInt8](repeating: 0, count: Int(info.st_size))
        var offset = 0
        while offset < bytes.count {
            let got = bytes.withUnsafeMutableBytes { raw -> Int in
                guard let base = raw.baseAddress else { return 0 }
                return Glibc.read(fd, base + offset, raw.count - offset)
            }
            if got < 0 && errno == EINTR { continue }
            guard got > 0 else { break }
            offset += got
        }
        bytes.removeLast(bytes.count - offset)
        return bytes
    }

    static func readSegment(
        _ raw: UnsafeRawBufferPointer, _ body: (LogEntry) throws -> Void
    ) throws -> (offset: Int, reason: String)? {
        guard raw.count >= LogFormat.segmentHeaderSize else { return (0, "segment header truncated") }
        guard Array(raw[0..<8]) == LogFormat.segmentMagic else { return (0, "not a spoor log segment") }
        let version = loadLittleEndian(UInt32.self, from: raw, at: 8)
        guard version == LogFormat.version else { return (0, "unsupported format version \(version)") }
        let headerCRC = loadLittleEndian(UInt32.self, from: raw, at: 60)
        guard crc32c(0, UnsafeRawBufferPointer(rebasing: raw[0..<60])) == headerCRC else {
            return (0, "segment header checksum mismatch")
        }
        let header = SegmentHeader(
            identity: RunIdentity(
                runID: loadLittleEndian(UInt64.self, from: raw, at: 16),
                pid: loadLittleEndian(UInt32.self, from: raw, at: 24),
                realtimeNanos: loadLittleEndian(UInt64.self, from: raw, at: 32),
                monotonicNanos: loadLittleEndian(UInt64.self, from: raw, at: 40)),
            index: loadLittleEndian(UInt32.self, from: raw, at: 28))
        try body(.segment(header))
        var offset = LogFormat.segmentHeaderSize
        while offset < raw.count {
            guard offset + LogFormat.recordHeaderSize <= raw.count else { return (offset, "record header truncated") }
            guard loadLittleEndian(UInt32.self, from: raw, at: offset) == LogFormat.recordMagic else {
                return (offset, "bad record magic")
            }
            let typeRaw = loadLittleEndian(UInt16.self, from: raw, at: offset + 4)
            let length = Int(loadLittleEndian(UInt32.self, from: raw, at: offset + 8))
            let count = Int(loadLittleEndian(UInt32.self, from: raw, at: offset + 12))
            let firstPosition = loadLittleEndian(UInt64.self, from: raw, at: offset + 16)
            let ring = loadLittleEndian(UInt32.self, from: raw, at: offset + 24)
            let storedCRC = loadLittleEndian(UInt32.self, from: raw, at: offset + 28)
            let payloadStart = offset + LogFormat.recordHeaderSize
            guard length <= LogFormat.maxPayload, payloadStart + length <= raw.count else {
                return (offset, "record payload truncated")
            }
            var crc = crc32c(0, UnsafeRawBufferPointer(rebasing: raw[offset..<(offset + 28)]))
            let payload = UnsafeRawBufferPointer(rebasing: raw[payloadStart..<(payloadStart + length)])
            crc = crc32c(crc, payload)
            guard crc == storedCRC else { return (offset, "record checksum mismatch") }
            guard let type = LogRecordType(rawValue: typeRaw) else { return (offset, "unknown record type \(typeRaw)") }
            switch type {
            case .operators:
                guard let operators = decodeOperators(payload, count: count) else {
                    return (offset, "malformed operator record")
                }
                try body(.operators(operators))
            case .reports:
                guard let (reports, end) = CompactReports.decode(payload, count: count, ring: ring, firstPosition: firstPosition) else {
                    return (offset, "malformed report record")
                }
                try body(.reports(ring: ring, firstPosition: firstPosition, endPosition: end, reports))
            case .close:
                var words: [UInt64] = []
                var index = 0
                while index + 8 <= length {
                    words.append(loadLittleEndian(UInt64.self, from: payload, at: index))
                    index += 8
                }
                guard let statistics = CloseStatistics(words: words) else { return (offset, "malformed close record") }
                try body(.close(statistics))
            }
            offset = payloadStart + length
        }
        return nil
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
