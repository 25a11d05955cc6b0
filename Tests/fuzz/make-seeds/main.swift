// Writes the seed corpora of the log fuzz targets (scripts/fuzz --seeds): small real segments
// written by LogWriter (and damaged, unsealed and duplicated variants) for `logreader`, and the
// report record payloads found in them for `compactreports`.
#if canImport(Glibc)
import Glibc
#endif

let root = CommandLine.arguments.count > 1 ? CommandLine.arguments[1] : "Tests/fuzz"

func save(_ bytes: [UInt8], _ path: String) {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    precondition(fd >= 0, "cannot create \(path)")
    _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    close(fd)
}

func load(_ path: String) -> [UInt8] {
    let fd = open(path, O_RDONLY)
    precondition(fd >= 0, "cannot open \(path)")
    defer { close(fd) }
    var result: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let got = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if got <= 0 { break }
        result += chunk[0..<got]
    }
    return result
}

var seed: UInt64 = 0x5eed
func random() -> UInt64 {
    seed &+= 0x9e37_79b9_7f4a_7c15
    var z = seed
    z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
    z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
    return z ^ (z >> 31)
}

/// A few reports of every kind and shape, at consecutive positions of `ring` from `position`.
func reports(ring: UInt32, position: inout UInt64, count: Int) -> [Report] {
    var result: [Report] = []
    var id: UInt64 = 0x00f0_67aa_0ba9_0000 &+ UInt64(ring) << 32
    for index in 0..<count {
        let kind: ReportKind = [.entry, .checkpoint, .checkpoint, .poke][index % 4]
        let parents: [UInt64] = kind == .checkpoint ? (0..<(1 + index % 3)).map { id &- UInt64($0 + 1) } : []
        let attachment = index % 5 == 0 ? [Attribute(key: Array("k".utf8), value: Array("value \(index)".utf8))] : []
        id &+= 1
        let start = 1_000 + UInt64(index) * 300
        let report = Report(
            kind: kind, id: id, fanout: kind == .checkpoint && index % 7 == 0 ? 3 : 1, parents: parents,
            op: UInt32(index % 3), keyHash: index % 2 == 0 ? 0 : random(), startNanos: kind == .checkpoint ? start : 0,
            endNanos: start + 200, thread: 4242 + UInt32(index % 2), partition: index % 3 == 0 ? nil : UInt32(index % 4),
            event: kind == .poke ? UInt32(1 + index % 11) : nil, flags: index % 6 == 1 ? 1 : 0,
            attachment: attachment, ring: ring, position: position)
        position += UInt64(fuzzSlots(report).count / ReportLayout.slotSize)
        result.append(report)
    }
    return result
}

func writeLog(_ directory: String, batches: Int, close closeRun: Bool) throws -> [String] {
    let identity = RunIdentity(runID: 0x1234_5678_9abc_def0, pid: 99, realtimeNanos: 1_700_000_000_000_000_000, monotonicNanos: 5)
    let writer = try LogWriter(directory: directory, identity: identity, segmentBytes: 64 << 10)
    try writer.writeOperators([
        OperatorRecord(id: 0, name: "source", callSite: "main.swift:1"),
        OperatorRecord(id: 1, name: "map", callSite: "main.swift:2"),
        OperatorRecord(id: 2, name: "reduce", callSite: ""),
    ])
    var positions: [UInt32: UInt64] = [0: 0, 1: 1_000]
    for batch in 0..<batches {
        let ring = UInt32(batch % 2)
        var position = positions[ring] ?? 0
        let batchReports = reports(ring: ring, position: &position, count: 3 + batch % 5)
        let slots = batchReports.flatMap(fuzzSlots)
        let split = (slots.count / 64 / 2) * 64
        try slots.withUnsafeBytes { raw in
            try writer.writeReports(
                ring: ring, firstPosition: positions[ring] ?? 0, count: batchReports.count,
                first: UnsafeRawBufferPointer(rebasing: raw[0..<split]),
                second: UnsafeRawBufferPointer(rebasing: raw[split...]))
        }
        positions[ring] = position
    }
    if closeRun {
        try writer.writeClose(CloseStatistics(written: 40, committed: 40, dropped: 0, sampled: 10, drained: 40, sinkErrors: 0, batches: UInt64(batches), threads: 0))
        try writer.close()
    }
    return try LogReader(directory: directory).segmentPaths()
}

/// The record frames of an undamaged segment: (offset, size, type).
func frames(_ bytes: [UInt8]) -> [(offset: Int, size: Int, type: UInt16)] {
    var result: [(Int, Int, UInt16)] = []
    var offset = LogFormat.segmentHeaderSize
    bytes.withUnsafeBytes { raw in
        while offset + LogFormat.recordHeaderSize <= raw.count {
            let length = Int(loadLittleEndian(UInt32.self, from: raw, at: offset + 8))
            result.append((offset, LogFormat.recordHeaderSize + length, loadLittleEndian(UInt16.self, from: raw, at: offset + 4)))
            offset += LogFormat.recordHeaderSize + length
        }
    }
    return result
}

var template = Array("/tmp/spoor-seeds-XXXXXX".utf8CString)
let scratch = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
mkdir(root + "/logreader", 0o755)
mkdir(root + "/compactreports", 0o755)

var segments: [[UInt8]] = []
for (index, (batches, closeRun)) in [(6, true), (2, true), (9, false)].enumerated() {
    for path in try writeLog(scratch + "/run\(index)", batches: batches, close: closeRun) { segments.append(load(path)) }
}
var seeds: [(String, [UInt8])] = []
for (index, segment) in segments.enumerated() { seeds.append(("segment-\(index)", segment)) }
let base = segments[0]
let recordFrames = frames(base)
// A bit flip in the second record, a cut at a record boundary, a duplicated record, an old-style
// segment without its seal, an empty segment.
var flipped = base
flipped[recordFrames[1].offset + recordFrames[1].size / 2] ^= 0x20
seeds.append(("flipped", flipped))
seeds.append(("cut", Array(base.prefix(recordFrames[3].offset))))
var doubled = base
doubled.insert(contentsOf: base[recordFrames[2].offset..<(recordFrames[2].offset + recordFrames[2].size)], at: recordFrames[2].offset + recordFrames[2].size)
seeds.append(("duplicated", doubled))
seeds.append(("unsealed-old", Array(base.prefix(recordFrames[recordFrames.count - 1].offset))))
seeds.append(("header-only", Array(base.prefix(LogFormat.segmentHeaderSize))))
// The same segments with the harness's "recompute the checksums" flag (reserved byte 52 odd), so
// that mutations of them reach the record decoders.
for (name, bytes) in seeds where bytes.count > 52 {
    var flagged = bytes
    flagged[52] |= 1
    seeds.append((name + "-fixcrc", flagged))
}
for (name, bytes) in seeds { save(bytes, root + "/logreader/" + name) }

var compact = 0
for segment in segments {
    segment.withUnsafeBytes { raw in
        for frame in frames(segment) where frame.type == LogRecordType.reports.rawValue {
            var input = [UInt8](repeating: 0, count: 14)
            let count = UInt16(loadLittleEndian(UInt32.self, from: raw, at: frame.offset + 12))
            storeLittleEndian(count, into: &input, at: 0)
            storeLittleEndian(loadLittleEndian(UInt32.self, from: raw, at: frame.offset + 24), into: &input, at: 2)
            storeLittleEndian(loadLittleEndian(UInt64.self, from: raw, at: frame.offset + 16), into: &input, at: 6)
            input += raw[(frame.offset + LogFormat.recordHeaderSize)..<(frame.offset + frame.size)]
            save(input, root + "/compactreports/record-\(compact)")
            compact += 1
        }
    }
}
print("wrote \(seeds.count) logreader seeds and \(compact) compactreports seeds under \(root)")
