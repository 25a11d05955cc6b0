import ArgumentParser
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SpoorLog
import SpoorRuntime

/// The `spoor` command-line tool.
@main
struct SpoorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "spoor",
        abstract: "Read and recover Spoor lineage traces.",
        subcommands: [Dump.self, Stats.self, Recover.self])
}

/// Buffered standard output (print per line would dominate a large dump).
struct StandardOutput {
    private var buffer: [UInt8] = []

    mutating func writeLine(_ line: String) {
        buffer.append(contentsOf: line.utf8)
        buffer.append(0x0a)
        if buffer.count >= 1 << 16 { flush() }
    }

    mutating func flush() {
        writeFully(descriptor: 1, buffer)
        buffer.removeAll(keepingCapacity: true)
    }
}

func warn(_ message: String) {
    writeFully(descriptor: 2, Array("spoor: \(message)\n".utf8))
}

func writeFully(descriptor: Int32, _ bytes: [UInt8]) {
    bytes.withUnsafeBytes { raw in
        guard let base = raw.baseAddress else { return }
        var offset = 0
        while offset < raw.count {
            let written = write(descriptor, base + offset, raw.count - offset)
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else { return }
            offset += written
        }
    }
}

struct Dump: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print every report as one JSON object per line.",
        discussion: "DIR is a run directory, or a log root whose run directories are dumped in order.")

    @Argument(help: "A run directory or a log root.")
    var directory: String

    func run() throws {
        var output = StandardOutput()
        for run in try LogReader.runDirectories(at: directory) {
            var formatter = ReportJSONFormatter(operators: [:], runID: 0)
            // Issues go to stderr as they are found; a bad segment never stops the others.
            try LogReader(directory: run).read(issues: { output.flush(); warn("\($0)") }) { entry in
                switch entry {
                case .segment(let header):
                    formatter.runID = header.identity.runID
                case .operators(let operators):
                    for op in operators { formatter.operators[op.id] = op }
                case .reports(_, _, _, let reports):
                    for report in reports { output.writeLine(formatter.line(for: report)) }
                case .close:
                    break
                }
            }
            output.flush()
        }
        output.flush()
    }
}

struct Stats: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print counts per run as one JSON object per line.",
        discussion: "Reports by kind and by operator, threads, rings, batches, and the counters of the close record.")

    @Argument(help: "A run directory or a log root.")
    var directory: String

    func run() throws {
        var output = StandardOutput()
        for run in try LogReader.runDirectories(at: directory) {
            var runID: UInt64 = 0
            var operators: [UInt32: OperatorRecord] = [:]
            var kinds: [ReportKind: Int] = [:]
            var perOperator: [UInt32: (count: Int, durationNanos: UInt64)] = [:]
            var threads = Set<UInt32>()
            var rings = Set<UInt32>()
            var batches = 0
            var segments = 0
            var close: CloseStatistics?
            let issues = try LogReader(directory: run).read { entry in
                switch entry {
                case .segment(let header):
                    runID = header.identity.runID
                    segments += 1
                case .operators(let records):
                    for op in records { operators[op.id] = op }
                case .reports(let ring, _, _, let reports):
                    batches += 1
                    rings.insert(ring)
                    for report in reports {
                        kinds[report.kind, default: 0] += 1
                        threads.insert(report.thread)
                        var entry = perOperator[report.op] ?? (0, 0)
                        entry.count += 1
                        if report.startNanos > 0 && report.endNanos >= report.startNanos {
                            entry.durationNanos &+= report.endNanos - report.startNanos
                        }
                        perOperator[report.op] = entry
                    }
                case .close(let statistics):
                    close = statistics
                }
            }
            let total = kinds.values.reduce(0, +)
            var line = "{\"run\":\"\(hex64(runID))\",\"directory\":\(jsonString(run)),\"segments\":\(segments)"
            line += ",\"reports\":\(total),\"entries\":\(kinds[.entry] ?? 0),\"checkpoints\":\(kinds[.checkpoint] ?? 0)"
            line += ",\"pokes\":\(kinds[.poke] ?? 0),\"batches\":\(batches),\"threads\":\(threads.count),\"rings\":\(rings.count)"
            line += ",\"operators\":["
            for (index, id) in perOperator.keys.sorted().enumerated() {
                let entry = perOperator[id] ?? (0, 0)
                if index > 0 { line += "," }
                let name = operators[id].map { jsonString($0.name) } ?? "null"
                line += "{\"op\":\(id),\"name\":\(name),\"reports\":\(entry.count),\"total_duration_ns\":\(entry.durationNanos)}"
            }
            line += "]"
            if let close {
                line += ",\"closed\":true,\"written\":\(close.written),\"committed\":\(close.committed),\"dropped\":\(close.dropped)"
                line += ",\"sampled\":\(close.sampled),\"drained\":\(close.drained),\"sink_errors\":\(close.sinkErrors)"
                line += ",\"close_batches\":\(close.batches),\"close_threads\":\(close.threads)"
            } else {
                line += ",\"closed\":false"
            }
            let damaged = Set(issues.filter { $0.kind == .damaged || $0.kind == .unreadable }.map(\.path))
            line += ",\"damaged_segments\":\(damaged.count)}"
            output.writeLine(line)
            output.flush()
            for issue in issues { warn("\(issue)") }
        }
        output.flush()
    }
}

struct Recover: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Drain the shared-memory segment of a process that died into its log.",
        discussion: "Reports the dead process had committed to its rings but the collector had not yet written are appended to the run directory recorded in the segment (or --out), without duplicates; then the segment is unlinked.")

    @Argument(help: "The segment name, e.g. /spoor.1234.89abcdef (see /dev/shm).")
    var name: String

    @Option(help: "Write into this run directory instead of the one recorded in the segment.")
    var out: String?

    @Flag(help: "Drain even if the owning process still runs.")
    var force = false

    @Flag(help: "Leave the segment in /dev/shm afterwards.")
    var keep = false

    func run() throws {
        let summary = try SegmentRecovery.recover(name: name, outputDirectory: out, force: force, keepSegment: keep)
        print("{\"run_directory\":\(jsonString(summary.runDirectory)),\"recovered\":\(summary.reports),\"drained_by_collector\":\(summary.drainedByCollector),\"damaged_rings\":\(summary.damagedRings)}")
    }
}
