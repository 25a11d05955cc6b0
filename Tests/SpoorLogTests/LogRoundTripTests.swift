import CSpoor
import SpoorLog
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A deterministic generator for property-style tests.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}

func temporaryDirectory() -> String {
    var template = Array("/tmp/spoor-logtest-XXXXXX".utf8CString)
    return template.withUnsafeMutableBufferPointer { buffer in
        guard let base = buffer.baseAddress, mkdtemp(base) != nil else { return "/tmp" }
        return String(cString: base)
    }
}

/// `report` in ring slots, as the producer lays it out.
func encodeSlots(_ report: Report) -> [UInt8] { ReportLayout.slots(of: report) }

func randomReport(_ rng: inout SplitMix, position: UInt64, previousID: inout UInt64) -> Report {
    let kind: ReportKind = [.entry, .checkpoint, .checkpoint, .checkpoint, .poke].randomElement(using: &rng) ?? .checkpoint
    let parentCount = kind == .checkpoint ? Int.random(in: 1...(Bool.random(using: &rng) ? 2 : 40), using: &rng) : 0
    let parents = (0..<parentCount).map { _ in rng.next() | 1 }
    var attachment: [Attribute] = []
    if Int.random(in: 0..<3, using: &rng) == 0 {
        for _ in 0..<Int.random(in: 1...3, using: &rng) {
            attachment.append(Attribute(
                key: (0..<Int.random(in: 1...12, using: &rng)).map { _ in UInt8.random(in: 97...122, using: &rng) },
                value: (0..<Int.random(in: 0...90, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }))
        }
    }
    previousID = Bool.random(using: &rng) ? previousID &+ 1 : rng.next()
    let start = UInt64.random(in: 0...(1 << 40), using: &rng)
    let fanout: UInt32 = kind == .checkpoint && Int.random(in: 0..<5, using: &rng) == 0 ? UInt32.random(in: 2...70_000, using: &rng) : 1
    return Report(
        kind: kind, id: previousID, fanout: fanout, parents: parents, op: UInt32.random(in: 0...5, using: &rng),
        keyHash: Bool.random(using: &rng) ? 0 : rng.next(), startNanos: start,
        endNanos: Bool.random(using: &rng) ? start &+ UInt64.random(in: 0...100_000, using: &rng) : UInt64.random(in: 0...(1 << 40), using: &rng),
        thread: UInt32.random(in: 1...3, using: &rng), partition: Bool.random(using: &rng) ? nil : UInt32.random(in: 0...7, using: &rng),
        event: kind == .poke ? UInt32.random(in: 1...2000, using: &rng) : nil,
        flags: kind == .checkpoint && Bool.random(using: &rng) ? UInt8(SPOORINT_FLAG_FOLD) : 0,
        attachment: attachment, ring: 3, position: position)
}

func readAll(_ directory: String) throws -> (reports: [Report], operators: [OperatorRecord], close: CloseStatistics?, damage: [LogDamage]) {
    var reports: [Report] = []
    var operators: [OperatorRecord] = []
    var close: CloseStatistics?
    let damage = try LogReader(directory: directory).read { entry in
        switch entry {
        case .reports(_, _, _, let batch): reports += batch
        case .operators(let records): operators += records
        case .close(let statistics): close = statistics
        case .segment, .loss: break
        }
    }
    return (reports, operators, close, damage)
}

@Suite("Log format")
struct LogRoundTripTests {
    let identity = RunIdentity(runID: 0xfeed, pid: 42, realtimeNanos: 1, monotonicNanos: 2)

    /// Writes `reports` as one ring batch split at `wrapAtSlot` (the part after it goes first in
    /// memory, as after a ring wrap).
    func writeBatch(_ reports: [Report], to writer: LogWriter, wrapAtSlot: Int?) throws {
        var slots: [UInt8] = []
        for report in reports { slots += encodeSlots(report) }
        let split = min((wrapAtSlot ?? slots.count / 64) * 64, slots.count)
        try slots.withUnsafeBytes { raw in
            try writer.writeReports(
                ring: 3, firstPosition: reports.first?.position ?? 0, count: reports.count,
                first: UnsafeRawBufferPointer(rebasing: raw[0..<split]),
                second: UnsafeRawBufferPointer(rebasing: raw[split...]))
        }
    }

    func makeReports(count: Int, seed: UInt64) -> [Report] {
        var rng = SplitMix(state: seed)
        var position: UInt64 = 1_000
        var previousID: UInt64 = 0
        var reports: [Report] = []
        for _ in 0..<count {
            let report = randomReport(&rng, position: position, previousID: &previousID)
            reports.append(report)
            position += UInt64(encodeSlots(report).count / 64)
        }
        return reports
    }

    @Test("random reports survive the compact encoding, across ring wraps and segment rolls", arguments: [1, 2, 3, 4])
    func roundTrip(seed: UInt64) throws {
        let directory = temporaryDirectory()
        let reports = makeReports(count: 3_000, seed: seed)
        let writer = try LogWriter(directory: directory, identity: identity, segmentBytes: 64 << 10)
        try writer.writeOperators([OperatorRecord(id: 1, name: "map", callSite: "a.swift:1")])
        var rng = SplitMix(state: seed)
        var index = 0
        while index < reports.count {
            let batch = Array(reports[index..<min(index + Int.random(in: 1...400, using: &rng), reports.count)])
            let slots = batch.reduce(0) { $0 + encodeSlots($1).count / 64 }
            try writeBatch(batch, to: writer, wrapAtSlot: Int.random(in: 0...slots, using: &rng))
            index += batch.count
        }
        let stats = CloseStatistics(written: 9, committed: 8, dropped: 1, sampled: 3, drained: 8, sinkErrors: 0, batches: 2, threads: 0)
        try writer.writeClose(stats)
        try writer.close()
        let read = try readAll(directory)
        #expect(read.damage.isEmpty)
        #expect(read.reports == reports)
        #expect(read.close == stats)
        #expect(try LogReader(directory: directory).segmentPaths().count > 1, "64 KiB segments must roll")
        #expect(read.operators.allSatisfy { $0 == OperatorRecord(id: 1, name: "map", callSite: "a.swift:1") }, "every segment repeats the operators")
    }

    @Test("a corrupted or truncated record is reported, never delivered")
    func corruption() throws {
        let directory = temporaryDirectory()
        let reports = makeReports(count: 2_000, seed: 9)
        let writer = try LogWriter(directory: directory, identity: identity, segmentBytes: 1 << 30)
        for chunk in stride(from: 0, to: reports.count, by: 100) {
            try writeBatch(Array(reports[chunk..<(chunk + 100)]), to: writer, wrapAtSlot: nil)
        }
        try writer.close()
        let path = try LogReader(directory: directory).segmentPaths()[0]
        let fd = open(path, O_RDWR)
        var info = stat()
        fstat(fd, &info)
        let size = Int(info.st_size)
        // Flip one byte in the middle of the file.
        var byte: UInt8 = 0
        pread(fd, &byte, 1, off_t(size / 2))
        byte ^= 0x5a
        pwrite(fd, &byte, 1, off_t(size / 2))
        // The reader skips the damaged record and resynchronises on the next one: one batch lost.
        let corrupted = try readAll(directory)
        #expect(corrupted.damage.filter { $0.kind == .damaged }.count == 1)
        #expect(corrupted.reports.count == reports.count - 100)
        let lost = corrupted.reports.indices.first { corrupted.reports[$0] != reports[$0] } ?? 0
        #expect(corrupted.reports == Array(reports[..<lost] + reports[(lost + 100)...]))
        // Truncate the tail inside the last record.
        byte ^= 0x5a
        pwrite(fd, &byte, 1, off_t(size / 2))
        ftruncate(fd, off_t(size - (LogFormat.recordHeaderSize + 24) - 7))  // the seal, then 7 bytes of the last batch
        close(fd)
        let truncated = try readAll(directory)
        #expect(truncated.damage.map(\.kind) == [.damaged, .unsealed])
        #expect(truncated.reports == Array(reports.prefix(1_900)))
    }

    @Test("a report claiming more parents than its bytes hold is rejected by the slot walker")
    func slotValidation() {
        var slots = [UInt8](repeating: 0, count: 128)
        slots[58] = ReportKind.checkpoint.rawValue
        slots[52] = 20  // 20 parents need 1 + ceil(19 * 8 / 64) = 4 slots; only 2 are available
        let count = slots.withUnsafeBytes { raw in
            ReportLayout.validatedSlotCount(header: raw.baseAddress!, availableSlots: 2)
        }
        #expect(count == nil)
        slots[58] = 7  // not a kind
        slots[52] = 0
        let bad = slots.withUnsafeBytes { raw in ReportLayout.validatedSlotCount(header: raw.baseAddress!, availableSlots: 2) }
        #expect(bad == nil)
    }
}
