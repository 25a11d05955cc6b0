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

/// The TraceBench folders committed under data/tracebench.
func traceBench() -> String {
    var path = #filePath
    for _ in 0..<3 { path = String(path[..<(path.lastIndex(of: "/") ?? path.endIndex)]) }
    return path + "/data/tracebench"
}

/// `report` in ring slots, as the producer lays it out.
func encodeSlots(_ report: Report) -> [UInt8] { ReportLayout.slots(of: report) }

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
