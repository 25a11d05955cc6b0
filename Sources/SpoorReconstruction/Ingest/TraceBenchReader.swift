#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Reads TraceBench CSV (`event.csv` and `edge.csv` of one folder: HDFS request traces recorded
/// by MTracer) into trace items.
///
/// - An event row `TaskID,TID,OpName,StartTime,EndTime,HostAddress,HostName,Agent,Description`
///   becomes a node of trace `TaskID` labelled `OpName`, anchored at hash(TID, StartTime) (one
///   thread, `TID`, reports many events, told apart by their start: what edges name), keyed by
///   the anchor, the label and the end (two nested events can start in the same nanosecond),
///   in group `TID`, on host
///   `HostAddress` (each host has its own clock). The description is the rest of the line.
/// - An edge row `TaskID,FatherTID,FatherStartTime,ChildTID` becomes an edge from the father's
///   event to the child thread's top-level events; a father of 0 marks a root.
/// - Each trace's failure label (for evaluating a detector, never given to it) is computed as
///   the data's README says: failed if an event's description does not start with `Success:`
///   and is not "a user task".
///
/// The two files are interleaved as they are read, in proportion to their lengths, the way a
/// streaming reconstruction receives events and edges of interleaved traces; a malformed row is
/// reported to `issue` with its file and line and skipped.
public struct TraceBenchReader {
    /// Traces seen, and those labelled failed.
    public private(set) var traces: Set<UInt64> = []
    /// Traces with an event whose description says it failed.
    public private(set) var failed: Set<UInt64> = []
    /// Rows read, and rows skipped as malformed.
    public private(set) var rows = 0, malformed = 0

    /// A reader.
    public init() {}

    /// The node key of event (tid, start).
    public static func eventKey(tid: UInt64, start: UInt64) -> UInt64 {
        SignatureHash.mix(tid ^ SignatureHash.mix(start ^ 0x7472_6163_6562_656e))
    }

    /// Reads the folder `directory`, calling `item` for each item in arrival order and `issue`
    /// for each malformed row. Throws if a file cannot be read.
    public mutating func read(
        directory: String, labels: inout LabelTable,
        issue: (IngestError) -> Void, item: (TraceItem, LabelTable) -> Void
    ) throws {
        let eventPath = directory + "/event.csv", edgePath = directory + "/edge.csv"
        let events = try TextFile.lines(eventPath)
        let edges = try TextFile.lines(edgePath)
        try read(events: events, eventSource: eventPath, edges: edges, edgeSource: edgePath,
                 labels: &labels, issue: issue, item: item)
    }

    /// Reads already loaded lines (the first line of each is its header).
    public mutating func read(
        events: [Substring], eventSource: String, edges: [Substring], edgeSource: String,
        labels: inout LabelTable, issue: (IngestError) -> Void, item: (TraceItem, LabelTable) -> Void
    ) throws {
        var e = 1, d = 1
        let eventCount = max(events.count - 1, 0), edgeCount = max(edges.count - 1, 0)
        if let header = events.first, !header.hasPrefix("TaskID,TID,OpName") {
            issue(IngestError(source: eventSource, line: 1, message: "not a TraceBench event.csv header"))
        }
        if let header = edges.first, !header.hasPrefix("TaskID,FatherTID") {
            issue(IngestError(source: edgeSource, line: 1, message: "not a TraceBench edge.csv header"))
        }
        while e <= eventCount || d <= edgeCount {
            // Take from whichever file is behind in proportion.
            let takeEvent = d > edgeCount || (e <= eventCount && (e - 1) * max(edgeCount, 1) <= (d - 1) * max(eventCount, 1))
            if takeEvent {
                event(events[e], source: eventSource, line: e + 1, labels: &labels, issue: issue, item: item)
                e += 1
            } else {
                edge(edges[d], source: edgeSource, line: d + 1, labels: &labels, issue: issue, item: item)
                d += 1
            }
        }
    }

    /// Parses one event row.
    public mutating func event(
        _ line: Substring, source: String, line number: Int, labels: inout LabelTable,
        issue: (IngestError) -> Void, item: (TraceItem, LabelTable) -> Void
    ) {
        guard !line.isEmpty else { return }
        rows += 1
        guard let f = Parse.csvFields(line, limit: 9), f.count == 9 else {
            malformed += 1
            return issue(IngestError(source: source, line: number, message: "an event row has 9 fields: TaskID,TID,OpName,StartTime,EndTime,HostAddress,HostName,Agent,Description"))
        }
        guard let trace = Parse.hex64(f[0]), let tid = Parse.hex64(f[1]) else {
            malformed += 1
            return issue(IngestError(source: source, line: number, message: "TaskID and TID are 1 to 16 hex digits, not '\(f[0].prefix(40))' and '\(f[1].prefix(40))'"))
        }
        guard let start = Parse.decimal(f[3]), let end = Parse.decimal(f[4]) else {
            malformed += 1
            return issue(IngestError(source: source, line: number, message: "StartTime and EndTime are decimal nanoseconds, not '\(f[3].prefix(40))' and '\(f[4].prefix(40))'"))
        }
        guard !f[2].isEmpty else {
            malformed += 1
            return issue(IngestError(source: source, line: number, message: "OpName is empty"))
        }
        traces.insert(trace)
        let description = f[8]
        if !description.hasPrefix("Success:") && description.lowercased() != "a user task" { failed.insert(trace) }
        let label = labels.intern(String(f[2]))
        let host = labels.intern(String(f[5]))
        let anchor = Self.eventKey(tid: tid, start: start)
        let key = SignatureHash.mix(anchor ^ labels.hash(label) ^ SignatureHash.mix(end))
        item(.node(TraceNode(trace: trace, key: key, anchor: anchor, group: tid, label: label,
                             host: host, start: start, end: max(start, end))), labels)
    }

    /// Parses one edge row.
    public mutating func edge(
        _ line: Substring, source: String, line number: Int, labels: inout LabelTable,
        issue: (IngestError) -> Void, item: (TraceItem, LabelTable) -> Void
    ) {
        guard !line.isEmpty else { return }
        rows += 1
        guard let f = Parse.csvFields(line, limit: 5), f.count == 4 else {
            malformed += 1
            return issue(IngestError(source: source, line: number, message: "an edge row has 4 fields: TaskID,FatherTID,FatherStartTime,ChildTID"))
        }
        guard let trace = Parse.hex64(f[0]), let father = Parse.hex64(f[1]), let start = Parse.decimal(f[2]),
              let child = Parse.hex64(f[3]) else {
            malformed += 1
            return issue(IngestError(source: source, line: number, message: "TaskID, FatherTID and ChildTID are hex, FatherStartTime decimal"))
        }
        traces.insert(trace)
        item(.edge(trace: trace, from: father == 0 ? 0 : Self.eventKey(tid: father, start: start), to: child), labels)
    }
}

/// Whole text files as lines.
public enum TextFile {
    /// The bytes of the file at `path`.
    public static func bytes(_ path: String) throws -> [UInt8] {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw IngestError(source: path, line: 0, message: "cannot open: \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }
        var result: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw IngestError(source: path, line: 0, message: "cannot read: \(String(cString: strerror(errno)))")
            }
            if count == 0 { break }
            result.append(contentsOf: buffer[0..<count])
        }
        return result
    }

    /// The lines of the file at `path` (without their `\n` or `\r\n`).
    public static func lines(_ path: String) throws -> [Substring] {
        split(String(decoding: try bytes(path), as: UTF8.self))
    }

    /// `text` split into lines.
    public static func split(_ text: String) -> [Substring] {
        // ("\r\n" is one Character in Swift, so it is a separator of its own.)
        text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" })
    }
}
