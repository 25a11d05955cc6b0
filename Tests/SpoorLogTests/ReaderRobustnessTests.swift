import CSpoor
@testable import SpoorLog
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// One record frame of an undamaged segment, as the writer laid it out.
struct Frame: Hashable {
    var offset: Int
    var size: Int
    var type: UInt16
    var ring: UInt32
    var firstPosition: UInt64
    var count: Int
}

/// The record frames of undamaged segment bytes (trusting the lengths).
func frames(of bytes: [UInt8]) -> [Frame] {
    var result: [Frame] = []
    var offset = LogFormat.segmentHeaderSize
    bytes.withUnsafeBytes { raw in
        while offset + LogFormat.recordHeaderSize <= raw.count {
            let length = Int(loadLittleEndian(UInt32.self, from: raw, at: offset + 8))
            result.append(Frame(
                offset: offset, size: LogFormat.recordHeaderSize + length,
                type: loadLittleEndian(UInt16.self, from: raw, at: offset + 4),
                ring: loadLittleEndian(UInt32.self, from: raw, at: offset + 24),
                firstPosition: loadLittleEndian(UInt64.self, from: raw, at: offset + 16),
                count: Int(loadLittleEndian(UInt32.self, from: raw, at: offset + 12))))
            offset += LogFormat.recordHeaderSize + length
        }
    }
    return result
}

func readFileBytes(_ path: String) -> [UInt8] {
    let fd = open(path, O_RDONLY)
    defer { close(fd) }
    var info = stat()
    fstat(fd, &info)
    var bytes = [UInt8](repeating: 0, count: Int(info.st_size))
    let got = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
    return Array(bytes.prefix(max(got, 0)))
}

func writeFileBytes(_ path: String, _ bytes: [UInt8]) {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    defer { close(fd) }
    _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
}

func readLog(_ directory: String) throws -> (reports: [Report], issues: [LogIssue], close: CloseStatistics?) {
    var reports: [Report] = []
    var close: CloseStatistics?
    let issues = try LogReader(directory: directory).read { entry in
        switch entry {
        case .reports(_, _, _, let batch): reports += batch
        case .close(let statistics): close = statistics
        default: break
        }
    }
    return (reports, issues, close)
}

/// A real log written by `LogWriter`: two rings, batches of random size, small segments.
struct WrittenLog {
    let directory: String
    /// Segment paths in index order.
    let paths: [String]
    /// Every report in log order.
    let reports: [Report]
    /// The original bytes of each segment.
    let bytes: [[UInt8]]
    /// The record frames of each segment.
    let frames: [[Frame]]

    init(reports count: Int, segmentBytes: UInt64, seed: UInt64, maxBatch: Int = 120) throws {
        directory = temporaryDirectory()
        let identity = RunIdentity(runID: 0xabc0_0000 | seed, pid: 7, realtimeNanos: 1, monotonicNanos: 2)
        let writer = try LogWriter(directory: directory, identity: identity, segmentBytes: segmentBytes)
        try writer.writeOperators([OperatorRecord(id: 1, name: "map", callSite: "a.swift:1")])
        var rng = SplitMix(state: seed)
        var positions: [UInt32: UInt64] = [1: 10, 2: 1 << 40]
        var previousID: UInt64 = 0
        var written: [Report] = []
        while written.count < count {
            let ring = UInt32.random(in: 1...2, using: &rng)
            var batch: [Report] = []
            var slots: [UInt8] = []
            for _ in 0..<min(Int.random(in: 1...maxBatch, using: &rng), count - written.count) {
                var report = randomReport(&rng, position: positions[ring] ?? 0, previousID: &previousID)
                report.ring = ring
                let encoded = encodeSlots(report)
                positions[ring, default: 0] += UInt64(encoded.count / 64)
                slots += encoded
                batch.append(report)
            }
            let split = Int.random(in: 0...(slots.count / 64), using: &rng) * 64
            try slots.withUnsafeBytes { raw in
                try writer.writeReports(
                    ring: ring, firstPosition: batch[0].position, count: batch.count,
                    first: UnsafeRawBufferPointer(rebasing: raw[0..<split]),
                    second: UnsafeRawBufferPointer(rebasing: raw[split...]))
            }
            written += batch
        }
        try writer.writeClose(CloseStatistics(
            written: 1, committed: 1, dropped: 0, sampled: 0, drained: 1, sinkErrors: 0, batches: 1, threads: 0))
        try writer.close()
        reports = written
        paths = try LogReader(directory: directory).segmentPaths()
        bytes = paths.map(readFileBytes)
        frames = bytes.map { SpoorLogTests.frames(of: $0) }
    }

    /// The positions of the reports of every report frame.
    var reportsByFrame: [Frame: Set<UInt64>] {
        var result: [Frame: Set<UInt64>] = [:]
        var remaining = reports[...]
        for segmentFrames in frames {
            for frame in segmentFrames where frame.type == LogRecordType.reports.rawValue {
                let batch = remaining.prefix(frame.count)
                remaining = remaining.dropFirst(frame.count)
                result[frame] = Set(batch.map(\.position))
            }
        }
        return result
    }

    /// The reports in log order, without those of the frames in `lost`.
    func reports(without lost: [Frame]) -> [Report] {
        let byFrame = reportsByFrame
        var lostKeys = Set<PositionKey>()
        for frame in lost where frame.type == LogRecordType.reports.rawValue {
            for position in byFrame[frame] ?? [] { lostKeys.insert(PositionKey(ring: frame.ring, position: position)) }
        }
        return reports.filter { !lostKeys.contains(PositionKey(ring: $0.ring, position: $0.position)) }
    }

    /// Writes the original bytes back.
    func restore() {
        for (path, original) in zip(paths, bytes) { writeFileBytes(path, original) }
    }
}

struct PositionKey: Hashable {
    var ring: UInt32
    var position: UInt64
}

@Suite("Log reader robustness")
struct ReaderRobustnessTests {
    @Test("a damaged record costs only itself: the reader resynchronises on the next valid record")
    func resynchronisation() throws {
        let log = try WrittenLog(reports: 4_000, segmentBytes: 1 << 30, seed: 11)
        #expect(log.paths.count == 1)
        let reportFrames = log.frames[0].filter { $0.type == LogRecordType.reports.rawValue }
        let second = try #require(reportFrames.dropFirst().first)
        var damaged = log.bytes[0]
        damaged[second.offset + second.size / 2] ^= 0x10
        writeFileBytes(log.paths[0], damaged)
        let read = try readLog(log.directory)
        #expect(read.reports == log.reports(without: [second]))
        #expect(read.reports.count == log.reports.count - second.count)
        let damage = read.issues.filter { $0.kind == .damaged }
        #expect(damage.count == 1)
        #expect(damage.first?.offset == second.offset)
        #expect(damage.first?.bytes == second.size, "exactly the damaged record's bytes are skipped")
        let incomplete = read.issues.filter { $0.kind == .incomplete }
        #expect(incomplete.count == 1 && incomplete.first?.records == 1, "the seal says one record is lost")
        #expect(read.close != nil, "records after the damage are read, up to the close record")

        // Damage in a record header (its length) is skipped the same way.
        damaged = log.bytes[0]
        damaged[second.offset + 10] ^= 0x01
        writeFileBytes(log.paths[0], damaged)
        let header = try readLog(log.directory)
        #expect(header.reports == log.reports(without: [second]))
    }

    @Test("a dead writer's torn, unsealed last segment is cut and sealed by recovery, and reads whole")
    func sealAbandoned() throws {
        let log = try WrittenLog(reports: 3_000, segmentBytes: 64 << 10, seed: 21)
        let last = log.paths.count - 1
        // The writer died inside a report record's write: its last segment ends torn, unsealed.
        let victim = try #require(log.frames[last].last { $0.type == LogRecordType.reports.rawValue })
        writeFileBytes(log.paths[last], Array(log.bytes[last].prefix(victim.offset + victim.size / 2)))
        let before = try readLog(log.directory)
        #expect(before.issues.map(\.kind) == [.damaged, .unsealed])
        let open = try #require(before.issues.last)
        #expect(open.offset == victim.offset, "an unsealed issue gives the end of the last valid record")
        try LogWriter.sealAbandoned(open, next: UInt32(log.paths.count))
        var info = stat()
        #expect(stat(log.paths[last], &info) == 0 && Int(info.st_size) == victim.offset + LogFormat.recordHeaderSize + 24,
                "cut at the torn record, then the seal")
        // The seal names the next segment, which the recovery writes (here: a writer that closes).
        let identity = RunIdentity(runID: 0xabc0_0000 | 21, pid: 7, realtimeNanos: 1, monotonicNanos: 2)
        let next = try LogWriter(directory: log.directory, identity: identity, segmentBytes: 64 << 10, firstSegment: UInt32(log.paths.count))
        try next.writeClose(CloseStatistics(spoor_stats()))
        try next.close()
        let after = try readLog(log.directory)
        #expect(after.issues.isEmpty, "\(after.issues)")
        #expect(after.reports == log.reports(without: [victim]))
        // Only an unsealed issue is taken; a sealed segment is left alone.
        #expect(throws: LogError.self) {
            try LogWriter.sealAbandoned(LogIssue(kind: .damaged, path: log.paths[last], offset: 0, reason: ""), next: 0)
        }
    }

    @Test("a segment cut at a record boundary is reported as unsealed")
    func unsealed() throws {
        let log = try WrittenLog(reports: 3_000, segmentBytes: 64 << 10, seed: 12)
        #expect(log.paths.count >= 3)
        #expect(try readLog(log.directory).issues.isEmpty, "a log its writer closed has no issue")
        // The middle segment, cut after its fifth record.
        let middle = log.paths.count / 2
        let cut = log.frames[middle][5].offset
        writeFileBytes(log.paths[middle], Array(log.bytes[middle].prefix(cut)))
        let read = try readLog(log.directory)
        #expect(read.issues.map(\.kind) == [.unsealed])
        #expect(read.issues.first?.path == log.paths[middle])
        #expect(read.issues.first?.records == 5)
        #expect(read.reports == log.reports(without: Array(log.frames[middle].dropFirst(5))))
        log.restore()

        // The last segment cut before its close record: the same.
        let last = log.paths.count - 1
        let lastReports = try #require(log.frames[last].last { $0.type == LogRecordType.reports.rawValue })
        writeFileBytes(log.paths[last], Array(log.bytes[last].prefix(lastReports.offset)))
        let tail = try readLog(log.directory)
        #expect(tail.issues.map(\.kind) == [.unsealed])
        #expect(tail.close == nil)

        // A log from before seal records ends with its close record: read without an issue.
        let seal = try #require(log.frames[last].last)
        #expect(seal.type == LogRecordType.seal.rawValue)
        for index in 0..<log.paths.count {
            let withoutSeal = log.frames[index].last.map { Array(log.bytes[index].prefix($0.offset)) } ?? log.bytes[index]
            writeFileBytes(log.paths[index], withoutSeal)
        }
        let old = try readLog(log.directory)
        #expect(old.reports == log.reports && old.close != nil)
        #expect(old.issues.map(\.kind) == Array(repeating: .unsealed, count: log.paths.count - 1),
                "without seals only the run's last segment can be known complete")
        log.restore()

        // A missing segment is named by the seal of the one before it.
        unlink(log.paths[middle])
        let gap = try readLog(log.directory)
        #expect(gap.issues.map(\.kind) == [.incomplete])
        #expect(gap.issues.first?.path == log.paths[middle - 1])
    }

    @Test("a FIFO, a directory or a dangling link named like a segment is skipped with a message")
    func nonRegularSegments() throws {
        let log = try WrittenLog(reports: 2_000, segmentBytes: 64 << 10, seed: 13)
        let fifo = log.directory + "/" + LogFormat.segmentFileName(900)
        let directory = log.directory + "/" + LogFormat.segmentFileName(901)
        let dangling = log.directory + "/" + LogFormat.segmentFileName(902)
        #expect(mkfifo(fifo, 0o600) == 0)
        #expect(mkdir(directory, 0o700) == 0)
        #expect(symlink(log.directory + "/nowhere", dangling) == 0)
        // A writer holding the FIFO open would not help an old reader: open(O_RDONLY) of a FIFO
        // with no writer blocks forever, read() of one with a silent writer too.
        let read = try readLog(log.directory)
        #expect(read.reports == log.reports, "every report of the readable segments is delivered")
        #expect(read.issues.map(\.kind) == [.unreadable, .unreadable, .unreadable])
        #expect(read.issues.map(\.path) == [fifo, directory, dangling])
        #expect(read.issues.first?.reason.contains("FIFO") == true)
        // Unreadable segments before the readable ones do not stop them either.
        let early = try WrittenLog(reports: 500, segmentBytes: 1 << 30, seed: 14)
        let renamed = early.directory + "/" + LogFormat.segmentFileName(5)
        #expect(rename(early.paths[0], renamed) == 0)
        #expect(mkfifo(early.directory + "/" + LogFormat.segmentFileName(0), 0o600) == 0)
        #expect(symlink("/nonexistent", early.directory + "/" + LogFormat.segmentFileName(1)) == 0)
        let after = try readLog(early.directory)
        #expect(after.reports == early.reports)
        #expect(after.issues.map(\.kind) == [.unreadable, .unreadable])
    }

    @Test("duplicated records and segments, and one segment under two names, are delivered once and reported")
    func duplicates() throws {
        let log = try WrittenLog(reports: 2_000, segmentBytes: 64 << 10, seed: 15)
        let count = log.reports.count
        // A copy of the first segment under a later index.
        let copy = log.directory + "/" + LogFormat.segmentFileName(800)
        writeFileBytes(copy, log.bytes[0])
        let copied = try readLog(log.directory)
        #expect(copied.reports == log.reports)
        let duplicate = copied.issues.filter { $0.kind == .duplicate }
        let firstSegmentReports = log.frames[0].filter { $0.type == LogRecordType.reports.rawValue }.reduce(0) { $0 + $1.count }
        #expect(duplicate.count == 1 && duplicate.first?.path == copy)
        #expect(duplicate.first?.reports == firstSegmentReports)
        unlink(copy)
        // A hard link.
        let link = log.directory + "/" + LogFormat.segmentFileName(801)
        #expect(Glibc.link(log.paths[1], link) == 0)
        let linked = try readLog(log.directory)
        #expect(linked.reports.count == count)
        #expect(linked.issues.contains { $0.kind == .duplicate && $0.path == link && $0.reason.contains("same file") })
        unlink(link)
        // One record twice in a segment.
        let frame = try #require(log.frames[1].first { $0.type == LogRecordType.reports.rawValue })
        var doubled = log.bytes[1]
        doubled.insert(contentsOf: log.bytes[1][frame.offset..<(frame.offset + frame.size)], at: frame.offset + frame.size)
        writeFileBytes(log.paths[1], doubled)
        let twice = try readLog(log.directory)
        #expect(twice.reports == log.reports)
        #expect(twice.issues.contains { $0.kind == .duplicate && $0.reports == frame.count && $0.records == 1 })
        #expect(!twice.issues.contains { $0.kind == .damaged })
    }

    @Test("two processes of one run with the same ring positions are not duplicates of each other")
    func processesOfOneRun() throws {
        let directory = temporaryDirectory()
        var expected: [Report] = []
        for (index, pid) in [UInt32(100), 200].enumerated() {
            let identity = RunIdentity(runID: 0x5a5a, pid: pid, realtimeNanos: 1, monotonicNanos: 2)
            let writer = try LogWriter(directory: directory, identity: identity, segmentBytes: 1 << 30, firstSegment: UInt32(index))
            var rng = SplitMix(state: UInt64(pid))
            var previousID: UInt64 = 0
            var slots: [UInt8] = []
            var batch: [Report] = []
            var position: UInt64 = 0
            for _ in 0..<50 {
                let report = randomReport(&rng, position: position, previousID: &previousID)
                let encoded = encodeSlots(report)
                position += UInt64(encoded.count / 64)
                slots += encoded
                batch.append(report)
            }
            try slots.withUnsafeBytes { raw in
                try writer.writeReports(
                    ring: 3, firstPosition: 0, count: batch.count, first: raw,
                    second: UnsafeRawBufferPointer(start: nil, count: 0))
            }
            try writer.close()
            expected += batch
        }
        let read = try readLog(directory)
        #expect(read.reports == expected)
        #expect(!read.issues.contains { $0.kind == .duplicate })
    }

    @Test("the position ranges merge and answer overlaps exactly")
    func positionRanges() {
        var ranges = PositionRanges()
        var model = Set<UInt64>()
        var rng = SplitMix(state: 3)
        for _ in 0..<2_000 {
            let lower = UInt64.random(in: 0..<400, using: &rng)
            let upper = lower + UInt64.random(in: 0..<12, using: &rng)
            let overlaps = (lower..<upper).contains { model.contains($0) }
            #expect(ranges.overlaps(lower, upper) == overlaps)
            ranges.insert(lower, upper)
            for position in lower..<upper { model.insert(position) }
        }
        for position in 0..<UInt64(420) { #expect(ranges.contains(position) == model.contains(position)) }
        #expect(zip(ranges.ranges, ranges.ranges.dropFirst()).allSatisfy { $0.upper < $1.lower }, "disjoint, sorted, merged")
    }

    @Test("a segment is streamed through a bounded window, not read whole")
    func boundedMemory() throws {
        let log = try WrittenLog(reports: 20_000, segmentBytes: 1 << 30, seed: 16, maxBatch: 40)
        let size = log.bytes[0].count
        let windowBytes = 16 << 10
        let largestRecord = log.frames[0].map(\.size).max() ?? 0
        #expect(size > 20 * windowBytes && largestRecord < windowBytes, "the test needs a segment many windows long")
        var state = LogReader.ReadState()
        var reports: [Report] = []
        var issues: [LogIssue] = []
        guard case .success(var source) = FileSource.open(log.paths[0]) else {
            Issue.record("cannot open the segment")
            return
        }
        defer { source.close() }
        try LogReader.readSegment(
            &source, path: log.paths[0], isLast: true, nextIndex: nil, state: &state, windowBytes: windowBytes,
            issues: { issues.append($0) }
        ) { entry in
            if case .reports(_, _, _, let batch) = entry { reports += batch }
        }
        #expect(reports == log.reports)
        #expect(issues.isEmpty)
        #expect(state.largestWindow == windowBytes, "\(size) bytes read through a \(windowBytes)-byte window")
        // A record too large for the window grows it to that record only.
        var small = LogReader.ReadState()
        var bigSource = source
        try LogReader.readSegment(
            &bigSource, path: log.paths[0], isLast: true, nextIndex: nil, state: &small, windowBytes: 256,
            issues: { _ in }, { _ in })
        #expect(small.largestWindow == largestRecord)
    }

    /// Segment bytes whose reads fail (EIO) from `failAt` on.
    struct FailingSource: SegmentSource {
        let bytes: UnsafeRawBufferPointer
        let failAt: Int
        var size: Int { bytes.count }
        func read(at offset: Int, into buffer: UnsafeMutableRawBufferPointer) throws(SourceFailure) -> Int {
            guard offset < failAt else { throw SourceFailure(offset: offset, message: "Input/output error") }
            return try MemorySource(UnsafeRawBufferPointer(rebasing: bytes[0..<failAt])).read(at: offset, into: buffer)
        }
    }

    @Test("an I/O error ends that segment with a message; what was read before it is delivered")
    func readError() throws {
        let log = try WrittenLog(reports: 1_000, segmentBytes: 1 << 30, seed: 18)
        let cut = log.frames[0][log.frames[0].count / 2]
        var state = LogReader.ReadState()
        var issues: [LogIssue] = []
        var reports: [Report] = []
        try log.bytes[0].withUnsafeBytes { raw in
            var source = FailingSource(bytes: raw, failAt: cut.offset)
            try LogReader.readSegment(
                &source, path: "eio", isLast: true, nextIndex: nil, state: &state, windowBytes: 256,
                issues: { issues.append($0) }, { entry in if case .reports(_, _, _, let batch) = entry { reports += batch } })
        }
        #expect(reports == log.reports(without: Array(log.frames[0][(log.frames[0].count / 2)...])))
        #expect(issues.map(\.kind) == [.unreadable])
        #expect(issues.first?.offset == cut.offset)
    }

    @Test("a record header claiming a huge payload is rejected without reading it")
    func hugeLength() throws {
        let log = try WrittenLog(reports: 300, segmentBytes: 1 << 30, seed: 17)
        let frame = try #require(log.frames[0].first { $0.type == LogRecordType.reports.rawValue })
        var bytes = log.bytes[0]
        for (index, byte) in [0xff, 0xff, 0xff, 0x7f].enumerated() { bytes[frame.offset + 8 + index] = UInt8(byte) }
        writeFileBytes(log.paths[0], bytes)
        var state = LogReader.ReadState()
        var issues: [LogIssue] = []
        var reports = 0
        try bytes.withUnsafeBytes { raw in
            var source = MemorySource(raw)
            try LogReader.readSegment(
                &source, path: "memory", isLast: true, nextIndex: nil, state: &state, windowBytes: 4096,
                issues: { issues.append($0) }, { entry in if case .reports(_, _, _, let batch) = entry { reports += batch.count } })
        }
        #expect(reports == log.reports.count - frame.count)
        #expect(issues.first { $0.kind == .damaged }?.bytes == frame.size)
        #expect(state.largestWindow < 1 << 20, "the claimed 2 GiB payload was never allocated")
    }

    /// Bit flips, truncation at every record boundary, duplicated and reordered batches over a
    /// real log: every undamaged batch is read, exactly once, and nothing damaged is delivered.
    @Test("mutations of a real log lose only the damaged batches")
    func mutations() throws {
        let log = try WrittenLog(reports: 3_000, segmentBytes: 64 << 10, seed: 21)
        #expect(log.paths.count >= 3)
        let original = try readLog(log.directory)
        #expect(original.reports == log.reports && original.issues.isEmpty)
        var rng = SplitMix(state: 99)

        // Bit flips anywhere: the record holding the flip (or the whole segment, for a flip in
        // its header) is lost, nothing else.
        for _ in 0..<150 {
            let segment = Int.random(in: 0..<log.paths.count, using: &rng)
            let offset = Int.random(in: 0..<log.bytes[segment].count, using: &rng)
            var bytes = log.bytes[segment]
            bytes[offset] ^= UInt8(1) << UInt8.random(in: 0..<8, using: &rng)
            writeFileBytes(log.paths[segment], bytes)
            let lost = offset < LogFormat.segmentHeaderSize
                ? log.frames[segment]
                : log.frames[segment].filter { $0.offset <= offset && offset < $0.offset + $0.size }
            let read = try readLog(log.directory)
            #expect(read.reports == log.reports(without: lost), "flip at \(offset) of segment \(segment)")
            #expect(read.issues.contains { $0.kind == .damaged && $0.path == log.paths[segment] })
            writeFileBytes(log.paths[segment], log.bytes[segment])
        }

        // Truncation at every record boundary of every segment: the records before the cut are
        // read and the segment is reported unsealed (unless only the seal after the run's close
        // record was cut off).
        for segment in log.paths.indices {
            for (index, frame) in log.frames[segment].enumerated() {
                writeFileBytes(log.paths[segment], Array(log.bytes[segment].prefix(frame.offset)))
                let read = try readLog(log.directory)
                let lost = Array(log.frames[segment][index...])
                #expect(read.reports == log.reports(without: lost), "cut at \(frame.offset) of segment \(segment)")
                let closedRun = segment == log.paths.count - 1 && index > 0
                    && log.frames[segment][index - 1].type == LogRecordType.close.rawValue
                #expect(read.issues.map(\.kind) == (closedRun ? [] : [.unsealed]), "cut at \(frame.offset) of segment \(segment)")
                #expect(!read.issues.contains { $0.kind == .damaged })
            }
            writeFileBytes(log.paths[segment], log.bytes[segment])
        }

        // Duplicated batches: each report is delivered once; the copy is reported.
        for segment in log.paths.indices {
            for frame in log.frames[segment] where frame.type == LogRecordType.reports.rawValue && Bool.random(using: &rng) {
                var bytes = log.bytes[segment]
                let copy = bytes[frame.offset..<(frame.offset + frame.size)]
                // At a record boundary after the original, before the seal (the last record).
                let boundaries = log.frames[segment].map(\.offset).filter { $0 > frame.offset }
                bytes.insert(contentsOf: copy, at: boundaries.randomElement(using: &rng) ?? bytes.count)
                writeFileBytes(log.paths[segment], bytes)
                let read = try readLog(log.directory)
                #expect(read.reports == log.reports)
                #expect(read.issues.contains { $0.kind == .duplicate && $0.reports == frame.count })
                #expect(!read.issues.contains { $0.kind == .damaged || $0.kind == .unsealed })
            }
            writeFileBytes(log.paths[segment], log.bytes[segment])
        }

        // Reordered batches: swapping two records of a segment loses nothing and duplicates nothing.
        for segment in log.paths.indices {
            let reportFrames = log.frames[segment].filter { $0.type == LogRecordType.reports.rawValue }
            guard reportFrames.count >= 2 else { continue }
            for _ in 0..<5 {
                let a = Int.random(in: 0..<(reportFrames.count - 1), using: &rng)
                let b = Int.random(in: (a + 1)..<reportFrames.count, using: &rng)
                let first = reportFrames[a]
                let second = reportFrames[b]
                let original = log.bytes[segment]
                var bytes = Array(original[0..<first.offset])
                bytes += original[second.offset..<(second.offset + second.size)]
                bytes += original[(first.offset + first.size)..<second.offset]
                bytes += original[first.offset..<(first.offset + first.size)]
                bytes += original[(second.offset + second.size)...]
                writeFileBytes(log.paths[segment], bytes)
                let read = try readLog(log.directory)
                let order = { (r: Report) in PositionKey(ring: r.ring, position: r.position) }
                #expect(read.reports.count == log.reports.count)
                #expect(Set(read.reports.map(order)) == Set(log.reports.map(order)))
                #expect(read.reports.sorted { ($0.ring, $0.position) < ($1.ring, $1.position) }
                    == log.reports.sorted { ($0.ring, $0.position) < ($1.ring, $1.position) })
                #expect(read.issues.isEmpty)
            }
            writeFileBytes(log.paths[segment], log.bytes[segment])
        }
        #expect(try readLog(log.directory).issues.isEmpty)
    }
}
