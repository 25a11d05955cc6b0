/// Parses X-Trace text reports (the format of the Altair paper's Figure 11) into trace items,
/// line by line, so that a file and a TCP stream are read the same way.
///
///     X-Trace Report ver 1.0
///     X-Trace: 194C79295549A3866ECCC315DD47301EA7
///     Host: ww2-laptop
///     Agent: Namenode
///     Label: WW2-LAPTOP_NAMENODE_MKDIRS_START
///     Edge: E7EB8787515DA35E
///     Timestamp: 181854865781004
///
/// A report starts at an `X-Trace Report ver` line (or after a blank line) and holds `Key: value`
/// lines. `X-Trace` is the metadata in hex: one flags byte (its two low bits give the task id's
/// length, 4, 8, 12 or 20 bytes; bit 3 an 8-byte rather than 4-byte operation id; bit 2 options,
/// which are skipped), the task id, then the operation id. The report becomes a node of the task's
/// trace (the trace id is the task id's first 8 bytes) keyed by the operation id, labelled
/// `Label` (or `Agent` if there is no label), on host `Host`, at `Timestamp` (nanoseconds, or the
/// unit `timestampScale` converts from), and one edge per `Edge:` line from that parent
/// operation; a report with no edge is a root. Other keys are ignored. A report with a missing or
/// malformed `X-Trace` line, a malformed edge or timestamp, or an unknown line is reported with
/// its source and line number and skipped; parsing goes on at the next report.
public struct XTraceParser {
    /// The source named in errors.
    public let source: String
    /// Nanoseconds per unit of `Timestamp`.
    public let timestampScale: UInt64
    /// Reports parsed, and reports skipped as malformed.
    public private(set) var reports = 0, malformed = 0

    private var line = 0
    private var reportLine = 0
    private var inReport = false
    private var metadata: (trace: UInt64, op: UInt64)?
    private var label: Substring?
    private var agent: Substring?
    private var host: Substring?
    private var timestamp: UInt64?
    private var parents: [UInt64] = []
    private var error: String?

    /// A parser of the reports of `source`.
    public init(source: String, timestampScale: UInt64 = 1) {
        self.source = source
        self.timestampScale = max(timestampScale, 1)
    }

    /// Parses one line (without its newline).
    public mutating func feed(
        line text: Substring, labels: inout LabelTable,
        issue: (IngestError) -> Void, item: (TraceItem, LabelTable) -> Void
    ) {
        line += 1
        let trimmed = text.hasSuffix("\r") ? text.dropLast() : text
        if trimmed.allSatisfy({ $0 == " " || $0 == "\t" }) {
            finishReport(labels: &labels, issue: issue, item: item)
            return
        }
        if trimmed.hasPrefix("X-Trace Report ver") {
            finishReport(labels: &labels, issue: issue, item: item)
            begin()
            return
        }
        if !inReport { begin() }
        guard let colon = trimmed.firstIndex(of: ":") else {
            if error == nil { error = "line \(line): expected 'Key: value'" }
            return
        }
        let key = trimmed[..<colon]
        var value = trimmed[trimmed.index(after: colon)...]
        while value.first == " " || value.first == "\t" { value = value.dropFirst() }
        while value.last == " " || value.last == "\t" { value = value.dropLast() }
        switch key {
        case "X-Trace":
            if let parsed = Self.metadata(value) { metadata = parsed } else if error == nil {
                error = "line \(line): X-Trace metadata is hex: a flags byte, a task id of 4, 8, 12 or 20 bytes and an operation id of 4 or 8 bytes, not '\(value.prefix(60))'"
            }
        case "Label": label = value
        case "Agent": agent = value
        case "Host": host = value
        case "Timestamp":
            if let t = Parse.decimal(value) { timestamp = t.multipliedReportingOverflow(by: timestampScale).partialValue } else if error == nil {
                error = "line \(line): Timestamp is a decimal integer, not '\(value.prefix(40))'"
            }
        case "Edge":
            if let parent = Self.operationID(value) { parents.append(parent) } else if error == nil {
                error = "line \(line): an Edge is an operation id of 8 or 16 hex digits, not '\(value.prefix(40))'"
            }
        default:
            break
        }
    }

    /// Ends the input: the last report is emitted.
    public mutating func finish(labels: inout LabelTable, issue: (IngestError) -> Void, item: (TraceItem, LabelTable) -> Void) {
        finishReport(labels: &labels, issue: issue, item: item)
    }

    private mutating func begin() {
        inReport = true
        reportLine = line
        metadata = nil
        label = nil
        agent = nil
        host = nil
        timestamp = nil
        parents.removeAll(keepingCapacity: true)
        error = nil
    }

    private mutating func finishReport(labels: inout LabelTable, issue: (IngestError) -> Void, item: (TraceItem, LabelTable) -> Void) {
        guard inReport else { return }
        inReport = false
        if error == nil && metadata == nil { error = "the report has no X-Trace line" }
        if error == nil && label == nil && agent == nil { error = "the report has neither Label nor Agent" }
        if let error {
            malformed += 1
            issue(IngestError(source: source, line: reportLine, message: "malformed X-Trace report: \(error)"))
            return
        }
        reports += 1
        let (trace, op) = metadata!
        let name = labels.intern(String(label ?? agent!))
        let hostID = labels.intern(String(host ?? ""))
        let time = timestamp ?? 0
        item(.node(TraceNode(trace: trace, key: op, group: op, label: name, host: hostID, start: 0, end: time)), labels)
        if parents.isEmpty {
            item(.edge(trace: trace, from: 0, to: op), labels)
        } else {
            for parent in parents { item(.edge(trace: trace, from: parent, to: op), labels) }
        }
    }

    /// Parses X-Trace metadata: (trace id, operation id).
    public static func metadata<S: StringProtocol>(_ text: S) -> (trace: UInt64, op: UInt64)? {
        let bytes = Array(text.utf8)
        guard bytes.count >= 2, bytes.count % 2 == 0, bytes.count <= 512 else { return nil }
        var decoded: [UInt8] = []
        decoded.reserveCapacity(bytes.count / 2)
        var i = 0
        while i < bytes.count {
            guard let high = hexDigit(bytes[i]), let low = hexDigit(bytes[i + 1]) else { return nil }
            decoded.append(high << 4 | low)
            i += 2
        }
        let flags = decoded[0]
        let taskLength = [4, 8, 12, 20][Int(flags & 0x03)]
        let opLength = flags & 0x08 != 0 ? 8 : 4
        let hasOptions = flags & 0x04 != 0
        guard decoded.count == 1 + taskLength + opLength || (hasOptions && decoded.count > 1 + taskLength + opLength) else { return nil }
        let task = decoded[1 ..< 1 + taskLength]
        var trace: UInt64 = 0
        for byte in task.prefix(8) { trace = trace << 8 | UInt64(byte) }
        if taskLength == 4 { trace <<= 32 }
        var op: UInt64 = 0
        for byte in decoded[1 + taskLength ..< 1 + taskLength + opLength] { op = op << 8 | UInt64(byte) }
        guard trace != 0 else { return nil }
        return (trace, op)
    }

    /// An operation id: 8 or 16 hex digits.
    public static func operationID<S: StringProtocol>(_ text: S) -> UInt64? {
        let count = text.utf8.count
        guard count == 8 || count == 16 else { return nil }
        return UInt64(text, radix: 16)
    }

    private static func hexDigit(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
