import CSpoor
#if !SPOOR_SINGLE_MODULE
import SpoorLog
import SpoorSupport
#endif

extension LineageQuery {
    /// The query as a Graphviz DOT digraph (docs/lineage.md): one box per record (operator,
    /// id, key hash, UDF runtime; entries in green, records with an error event in red, the
    /// root bold, ids only seen as parents dashed) and one arrow per edge, parent to child,
    /// labelled with the operator that made the child and the latency.
    public func dot(operators: [IndexedOperator]) -> String {
        func name(_ op: Int?) -> String {
            guard let op, operators.indices.contains(op) else { return "?" }
            return operators[op].name ?? "op\(operators[op].id)"
        }
        var out = "digraph lineage {\n"
        out += "  rankdir=LR;\n"
        out += "  node [shape=box, style=\"rounded\", fontname=\"Helvetica\", fontsize=10];\n"
        out += "  edge [fontname=\"Helvetica\", fontsize=9];\n"
        out += "  label=\(dotQuoted("\(direction.rawValue) lineage of \(hex64(root))\(truncated ? " (truncated)" : "")"));\n"
        for record in records {
            var label = record.kind == nil ? "(not in the log)" : name(record.op)
            label += "\n" + hex64(record.id)
            if record.keyHash != 0 { label += "\nkey " + hex64(record.keyHash) }
            if record.kind == .checkpoint, let duration = record.durationNanos { label += "\nudf " + formatDuration(duration) }
            let failed = record.events.contains { $0.event == SPOOR_EVENT_ERROR.rawValue }
            if failed { label += "\nerror" }
            var attributes = ["label=\(dotQuoted(label))"]
            var styles = ["rounded"]
            if record.kind == nil { styles.append("dashed") }
            if record.kind == .entry { styles.append("filled"); attributes.append("fillcolor=\"#d9f2d9\"") }
            if failed { attributes.append("color=\"#c0392b\"") }
            if record.id == root { attributes.append("penwidth=2") }
            attributes.append("style=\(dotQuoted(styles.joined(separator: ",")))")
            out += "  \(dotQuoted(hex64(record.id))) [\(attributes.joined(separator: ", "))];\n"
        }
        for edge in edges {
            var label = name(edge.op)
            if let latency = edge.latencyNanos { label += "\n" + formatDuration(latency) }
            out += "  \(dotQuoted(hex64(edge.parent))) -> \(dotQuoted(hex64(edge.child))) [label=\(dotQuoted(label))];\n"
        }
        out += "}\n"
        return out
    }
}

/// A duration for people: ns, µs, ms or s with three significant digits ("61.2 µs").
public func formatDuration(_ nanos: UInt64) -> String {
    func scaled(_ value: Double, _ unit: String) -> String {
        let digits = value >= 100 ? 0 : value >= 10 ? 1 : 2
        var text = String(Int((value * pow10(digits)).rounded()))
        if digits > 0 {
            while text.count <= digits { text = "0" + text }
            text.insert(".", at: text.index(text.endIndex, offsetBy: -digits))
        }
        return text + " " + unit
    }
    func pow10(_ digits: Int) -> Double { digits == 0 ? 1 : digits == 1 ? 10 : 100 }
    switch nanos {
    case ..<1_000: return "\(nanos) ns"
    case ..<1_000_000: return scaled(Double(nanos) / 1e3, "µs")
    case ..<1_000_000_000: return scaled(Double(nanos) / 1e6, "ms")
    default: return scaled(Double(nanos) / 1e9, "s")
    }
}

/// A DOT string literal: `"` and `\` escaped, newlines as `\n` (centred lines).
public func dotQuoted(_ text: String) -> String {
    var out = "\""
    for character in text.unicodeScalars {
        switch character {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": break
        default: out.unicodeScalars.append(character)
        }
    }
    return out + "\""
}
