import CSpoor
import Foundation
import SpoorLog
import Testing

#if canImport(Glibc)
import Glibc
#endif

func temporaryDirectory() -> String {
    var template = Array("/tmp/spoor-clitest-XXXXXX".utf8CString)
    return template.withUnsafeMutableBufferPointer { buffer in
        guard let base = buffer.baseAddress, mkdtemp(base) != nil else { return "/tmp" }
        return String(cString: base)
    }
}

/// Encodes `report` into ring slots as the producer does (spoorint_report_header + extension).
func encodeSlots(_ report: Report) -> [UInt8] {
    var attachment: [UInt8] = []
    for attribute in report.attachment {
        attachment.append(UInt8(attribute.key.count))
        attachment.append(UInt8(attribute.value.count & 0xff))
        attachment.append(UInt8(attribute.value.count >> 8))
        attachment += attribute.key + attribute.value
    }
    let count = ReportLayout.slotCount(parentCount: report.parents.count, attachmentLength: attachment.count)
    var bytes = [UInt8](repeating: 0, count: count * 64)
    func put<T: FixedWidthInteger>(_ value: T, _ offset: Int) {
        withUnsafeBytes(of: value.littleEndian) { raw in for (i, b) in raw.enumerated() { bytes[offset + i] = b } }
    }
    put(report.id, 0)
    put(report.parents.first ?? 0, 8)
    put(report.keyHash, 16)
    put(report.startNanos, 24)
    put(report.endNanos, 32)
    put(report.op, 40)
    put(report.partition ?? UInt32.max, 44)
    put(report.thread, 48)
    put(UInt32(report.parents.count), 52)
    put(UInt16(attachment.count), 56)
    bytes[58] = report.kind.rawValue
    bytes[59] = report.flags
    put(report.kind == .poke ? (report.event ?? 1) : report.fanout, 60)
    var offset = 64
    for parent in report.parents.dropFirst() {
        put(parent, offset)
        offset += 8
    }
    for (index, byte) in attachment.enumerated() { bytes[offset + index] = byte }
    return bytes
}

/// A report with the given fields and everything else absent.
func report(
    _ kind: ReportKind, id: UInt64, parents: [UInt64] = [], op: UInt32, keyHash: UInt64 = 0,
    start: UInt64 = 0, end: UInt64 = 0, thread: UInt32 = 7, partition: UInt32? = nil, event: UInt32? = nil,
    attachment: [(String, [UInt8])] = []
) -> Report {
    Report(
        kind: kind, id: id, fanout: 1, parents: parents, op: op, keyHash: keyHash, startNanos: start, endNanos: end,
        thread: thread, partition: partition, event: kind == .poke ? (event ?? 1) : nil, flags: 0,
        attachment: attachment.map { Attribute(key: Array($0.0.utf8), value: $0.1) }, ring: 0, position: 0)
}

/// Writes a run directory `root/name` with these operators and reports (one batch on ring 0),
/// closed with counters matching the reports if `closed`.
func writeRun(
    root: String, name: String, identity: RunIdentity, operators: [OperatorRecord], reports: [Report],
    closed: Bool = true, firstSegment: UInt32 = 0, firstPosition: UInt64 = 0
) throws {
    let writer = try LogWriter(
        directory: root + "/" + name, identity: identity, segmentBytes: 1 << 26, firstSegment: firstSegment)
    try writer.writeOperators(operators)
    var slots: [UInt8] = []
    for report in reports { slots += encodeSlots(report) }
    try slots.withUnsafeBytes { raw in
        try writer.writeReports(
            ring: 0, firstPosition: firstPosition, count: reports.count, first: raw, second: UnsafeRawBufferPointer(start: nil, count: 0))
    }
    if closed {
        let count = UInt64(reports.count)
        try writer.writeClose(CloseStatistics(
            written: count, committed: count, dropped: 0, sampled: 0, drained: count, sinkErrors: 0, batches: 1, threads: 0))
    }
    try writer.close()
}

struct CLIResult {
    var status: Int32
    var standardOutput: String
    var standardError: String

    /// Every line of standard output, parsed as a JSON object.
    func objects() throws -> [[String: Any]] {
        try standardOutput.split(separator: "\n").map { line in
            let value = try JSONSerialization.jsonObject(with: Data(line.utf8))
            return try #require(value as? [String: Any], "not a JSON object: \(line)")
        }
    }
}

struct ExecutableNotFound: Error { var near: String }

/// The `spoor-cli` executable of this build: the test bundle lives in the build products
/// directory next to the executables.
func cliExecutable() throws -> URL {
    let testBinary = URL(fileURLWithPath: Bundle.main.executableURL?.path ?? CommandLine.arguments.first ?? ".")
    var directory = testBinary.deletingLastPathComponent()
    for _ in 0..<4 {
        let candidate = directory.appendingPathComponent("spoor-cli")
        if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        directory = directory.deletingLastPathComponent()
    }
    throw ExecutableNotFound(near: testBinary.path)
}

/// Runs `spoor-cli` with `arguments` and returns its exit status and output.
func runCLI(_ arguments: [String]) throws -> CLIResult {
    let process = Process()
    process.executableURL = try cliExecutable()
    process.arguments = arguments
    let output = Pipe(), errors = Pipe()
    process.standardOutput = output
    process.standardError = errors
    try process.run()
    // Read standard output to its end while the process runs (a full pipe would block it);
    // standard error holds a few lines at most.
    let out = output.fileHandleForReading.readDataToEndOfFile()
    let err = errors.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return CLIResult(
        status: process.terminationStatus,
        standardOutput: String(decoding: out, as: UTF8.self),
        standardError: String(decoding: err, as: UTF8.self))
}
