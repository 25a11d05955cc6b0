import SpoorSupport
/// Renders reports as JSON lines: one object per report, every field named.
///
/// Ids and key hashes are 16-digit lowercase hex strings (64-bit values do not survive a JSON
/// number in most readers); times are integers in nanoseconds.
public struct ReportJSONFormatter: Sendable {
    /// Operator names by id, for the `operator` and `call_site` fields.
    public var operators: [UInt32: OperatorRecord]
    /// The run id, printed in every line.
    public var runID: UInt64

    /// Creates a formatter.
    public init(operators: [UInt32: OperatorRecord], runID: UInt64) {
        self.operators = operators
        self.runID = runID
    }

    /// The JSON object of one report, without a trailing newline.
    public func line(for report: Report) -> String {
        var out = "{\"run\":\"\(hex64(runID))\",\"kind\":\"\(report.kind.name)\",\"id\":\"\(hex64(report.id))\""
        out += ",\"fanout\":\(report.fanout),\"parents\":["
        for (index, parent) in report.parents.enumerated() {
            if index > 0 { out += "," }
            out += "\"\(hex64(parent))\""
        }
        out += "],\"op\":\(report.op)"
        if let op = operators[report.op] {
            out += ",\"operator\":\(jsonString(op.name)),\"call_site\":\(jsonString(op.callSite))"
        } else {
            out += ",\"operator\":null,\"call_site\":null"
        }
        out += ",\"key_hash\":\"\(hex64(report.keyHash))\",\"start_ns\":\(report.startNanos),\"end_ns\":\(report.endNanos)"
        let duration = report.startNanos > 0 && report.endNanos >= report.startNanos ? report.endNanos - report.startNanos : 0
        out += ",\"duration_ns\":\(duration),\"thread\":\(report.thread)"
        out += ",\"partition\":" + (report.partition.map { String($0) } ?? "null")
        out += ",\"event\":" + (report.event.map { jsonString(PokeEvent.name(of: $0)) } ?? "null")
        out += ",\"fold\":\(report.isFold),\"truncated\":\(report.isTruncated),\"attachment\":{"
        for (index, attribute) in report.attachment.enumerated() {
            if index > 0 { out += "," }
            out += jsonString(String(decoding: attribute.key, as: UTF8.self)) + ":" + jsonValue(attribute.value)
        }
        out += "},\"ring\":\(report.ring),\"pos\":\(report.position)}"
        return out
    }
}

/// A JSON string literal of `text`.
public func jsonString(_ text: String) -> String {
    var out = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        case _ where scalar.value < 0x20:
            let digits = String(scalar.value, radix: 16)
            out += "\\u" + String(repeating: "0", count: 4 - digits.count) + digits
        default: out.unicodeScalars.append(scalar)
        }
    }
    return out + "\""
}

/// A value's bytes as a JSON string if they are valid UTF-8, else as {"hex": "..."}.
func jsonValue(_ bytes: [UInt8]) -> String {
    if let text = String(validating: bytes, as: UTF8.self) { return jsonString(text) }
    var hex = ""
    for byte in bytes {
        let digits = String(byte, radix: 16)
        hex += digits.count == 1 ? "0" + digits : digits
    }
    return "{\"hex\":\"\(hex)\"}"
}
