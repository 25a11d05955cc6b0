#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import ArgumentParser
import SpoorLineage
import SpoorLog
import SpoorRuntime
import SpoorSupport

/// Where the index of a selection of runs lives, by default: in the directory given, a hidden
/// file per selection (`LogRoot` skips dot files, and a run directory holds only segments).
func defaultIndexPath(_ log: LogSelection) -> String {
    let directory = log.directory.hasSuffix("/") ? String(log.directory.dropLast()) : log.directory
    guard !log.runs.isEmpty else { return directory + "/.spoor-lineage.index" }
    var state: UInt64 = 0x9e37_79b9_7f4a_7c15
    for byte in log.runs.sorted().joined(separator: "\n").utf8 { state = (state ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
    return directory + "/.spoor-lineage-\(hex64(state)).index"
}

/// Opens the lineage index of the selected runs, building it first if it is missing or the log
/// has changed since (says so on standard error with the time it took). A directory that cannot
/// hold the index (read-only) gets it in the temporary directory, removed afterwards.
func openIndex(_ log: LogSelection, path explicit: String?) throws -> (LineageIndex, cleanup: String?) {
    let runs = try log.selectedRuns()
    var path = explicit ?? defaultIndexPath(log)
    var cleanup: String?
    if explicit == nil && access(log.directory, W_OK) != 0 {
        path = temporaryRoot() + "/spoor-lineage-\(getpid()).index"
        cleanup = path
    }
    let started = monotonicNanos()
    let (index, built) = try LineageIndex.open(at: path, for: runs)
    if let built {
        for issue in built.issues { warn("\(issue)") }
        let seconds = Double(monotonicNanos() - started) / 1e9
        warn("indexed \(built.reports) reports (\(built.nodes) records, \(built.edges) edges, \(built.events) events) in \(formatted(seconds)) s into \(path)")
    }
    return (index, cleanup)
}

private func formatted(_ value: Double) -> String {
    let hundredths = Int((value * 100).rounded())
    let fraction = hundredths % 100
    return "\(hundredths / 100).\(fraction < 10 ? "0" : "")\(fraction)"
}

struct Index: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Build the lineage index of a log (spoor lineage builds it when needed).",
        discussion: """
            Reads every report of the selected runs once and writes the index that spoor \
            lineage searches: records sorted by id, parent references sorted by parent id, \
            events by id (docs/lineage.md). By default it is DIR/.spoor-lineage.index; spoor \
            lineage rebuilds it whenever the log's segment files have changed. Prints one JSON \
            object: index (its path), reports, records, edges, events, bytes, seconds.
            """)

    @OptionGroup var log: LogSelection

    @Option(help: ArgumentHelp("Write the index here.", valueName: "file"))
    var index: String?

    func run() throws {
        try reportingFailures {
            let runs = try log.selectedRuns()
            let path = index ?? defaultIndexPath(log)
            let started = monotonicNanos()
            let sources = try IndexSource.of(runs: runs)
            let builder = LineageIndexBuilder()
            try builder.read(runs: runs)
            let summary = try builder.write(to: path, sources: sources)
            let seconds = Double(monotonicNanos() - started) / 1e9
            for issue in summary.issues { warn("\(issue)") }
            var output = StandardOutput()
            output.json.beginObject()
            output.json.string("index", path)
            output.json.number("reports", summary.reports)
            output.json.number("records", summary.nodes)
            output.json.number("edges", summary.edges)
            output.json.number("events", summary.events)
            output.json.number("bytes", summary.bytes)
            output.json.key("seconds")
            output.json.bytes += Array(formatted(seconds).utf8)
            output.json.endObject()
            output.endLine()
            output.flush()
        }
    }
}

struct Lineage: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "All ancestors of a record up to the entry points, or all its descendants.",
        discussion: """
            ID is a record id as spoor dump prints it (16 hex digits, 0x optional) or a record \
            context (00-<16 hex digits>-01). Searches the lineage index of DIR, building it \
            first if it is missing or the log has changed (a log the collector is still \
            writing is read as far as it has been drained). Output:

              json  one object: root, direction, truncated (the walk stopped at --limit),
                    entries (the entry points reached), records (the root first, then
                    breadth first: id, kind, operator, call_site, run, pid, key_hash,
                    start_ns, end_ns, duration_ns, partition, fanout, fold, parents,
                    events), edges (parent, child, operator, latency_ns: child end -
                    parent end, key_hash of the child)
              dot   a Graphviz digraph, latencies on the edges
              svg   that digraph drawn by Graphviz's dot (Debian package graphviz)

            A record only seen as a parent (its report is in an unselected run, or was lost) \
            has kind null. See docs/lineage.md.
            """)

    @Argument(help: "The record id.")
    var id: String

    @OptionGroup var log: LogSelection

    @Flag(exclusivity: .exclusive, help: "Walk to the ancestors (the default) or to the descendants.")
    var direction: LineageQuery.Direction = .backward

    @Option(help: "Output format: json, dot or svg.")
    var format: OutputFormat = .json

    @Option(help: "Stop after this many records (the output says truncated).")
    var limit: Int = 1_000_000

    @Option(help: ArgumentHelp("Use (or build) the index at this path.", valueName: "file"))
    var index: String?

    enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
        case json, dot, svg
    }

    func validate() throws {
        guard Self.parseID(id) != nil else {
            throw ValidationError("'\(id)' is not a record id: give 16 hex digits (as spoor dump prints) or a context 00-<16 hex digits>-01")
        }
        guard limit > 0 else { throw ValidationError("--limit must be at least 1") }
    }

    static func parseID(_ text: String) -> UInt64? {
        if let context = text.withCString({ ContextCodec.decode($0, length: text.utf8.count) }) {
            return context.id == 0 ? nil : context.id
        }
        var digits = Substring(text)
        if digits.hasPrefix("0x") || digits.hasPrefix("0X") { digits = digits.dropFirst(2) }
        guard !digits.isEmpty, digits.count <= 16, let value = UInt64(digits, radix: 16), value != 0 else { return nil }
        return value
    }

    func run() throws {
        try reportingFailures {
            let (index, cleanup) = try openIndex(log, path: self.index)
            defer { if let cleanup { unlink(cleanup) } }
            let root = Self.parseID(id) ?? 0
            let query = index.query(root, direction, limit: limit)
            if query.records.first?.kind == nil && query.records.count == 1 && query.records[0].events.isEmpty {
                warn("no record \(hex64(root)) in \(log.directory)")
                throw ExitCode.failure
            }
            switch format {
            case .json:
                var output = StandardOutput()
                write(query, index: index, to: &output.json)
                output.endLine()
                output.flush()
            case .dot:
                writeFully(descriptor: 1, Array(query.dot(operators: index.operators).utf8))
            case .svg:
                writeFully(descriptor: 1, Array(try Graphviz.svg(query.dot(operators: index.operators)).utf8))
            }
        }
    }

    private func write(_ query: LineageQuery, index: LineageIndex, to json: inout JSONWriter) {
        func operatorName(_ op: Int?) -> String? { index.operatorRecord(op)?.name }
        json.beginObject()
        json.hex("root", query.root)
        json.string("direction", query.direction.rawValue)
        json.bool("truncated", query.truncated)
        json.key("entries")
        json.beginArray()
        for entry in query.entries { json.hex(entry) }
        json.endArray()
        json.key("records")
        json.beginArray()
        for record in query.records {
            let op = index.operatorRecord(record.op)
            let run = op.flatMap { index.runs.indices.contains($0.run) ? index.runs[$0.run] : nil }
            json.beginObject()
            json.hex("id", record.id)
            json.string("kind", record.kind?.name)
            json.string("operator", op?.name)
            json.string("call_site", op.flatMap { $0.callSite.isEmpty ? nil : $0.callSite })
            json.string("run", run.map { String($0.directory.split(separator: "/").last ?? "") })
            json.number("pid", run?.pid)
            json.hex("key_hash", record.keyHash == 0 ? nil : record.keyHash)
            json.number("start_ns", record.startNanos == 0 ? nil : record.startNanos)
            json.number("end_ns", record.kind == nil ? nil : record.endNanos)
            json.number("duration_ns", record.durationNanos)
            json.number("partition", record.partition)
            json.number("fanout", record.fanout)
            json.bool("fold", record.isFold)
            json.key("parents")
            json.beginArray()
            for parent in record.parents { json.hex(parent) }
            json.endArray()
            json.key("events")
            json.beginArray()
            for event in record.events {
                json.beginObject()
                json.string("event", PokeEvent.name(of: event.event))
                json.string("operator", operatorName(event.op))
                json.number("ns", event.nanos)
                json.endObject()
            }
            json.endArray()
            json.endObject()
        }
        json.endArray()
        json.key("edges")
        json.beginArray()
        for edge in query.edges {
            json.beginObject()
            json.hex("parent", edge.parent)
            json.hex("child", edge.child)
            json.string("operator", operatorName(edge.op))
            json.number("latency_ns", edge.latencyNanos)
            json.hex("key_hash", edge.keyHash == 0 ? nil : edge.keyHash)
            json.endObject()
        }
        json.endArray()
        json.endObject()
    }
}

extension LineageQuery.Direction: EnumerableFlag {}
