#if !SPOOR_SINGLE_MODULE
import SpoorSupport
#endif

/// Writes an assembled trace as X-Trace text reports (the inverse of `XTraceParser`): one report
/// per event, its operation id the event's key, `Label` and `Host` from the label table,
/// `Timestamp` the event's end, and one `Edge:` line per parent in the DAG. Parsing the text and
/// assembling it gives the same DAG (labels and edges), so the same signatures; event start
/// times are not part of the format and are lost. What `spoor replay --send` sends a collector.
public enum XTraceWriter {
    /// Appends the reports of `graph` to `out`, under trace id `trace` (0 is not a valid X-Trace
    /// task id: such a trace is skipped), and returns how many reports it wrote.
    @discardableResult
    public static func append(_ graph: TraceGraph, trace: UInt64, labels: LabelTable, to out: inout [UInt8]) -> Int {
        guard trace != 0 else { return 0 }
        var parents = [[Int32]](repeating: [], count: graph.nodes.count)
        for i in graph.nodes.indices {
            for c in graph.children(of: i) { parents[Int(c)].append(Int32(i)) }
        }
        let task = hex(trace)
        var written = 0
        for (i, node) in graph.nodes.enumerated() where node.key != 0 {
            out += Array("X-Trace Report ver 1.0\nX-Trace: 09".utf8)
            out += task
            out += hex(node.key)
            out += Array("\nHost: \(oneLine(labels.name(node.host)))\nLabel: \(oneLine(labels.name(node.label)))\nTimestamp: \(node.end)\n".utf8)
            for parent in parents[i] where graph.nodes[Int(parent)].key != 0 {
                out += Array("Edge: ".utf8)
                out += hex(graph.nodes[Int(parent)].key)
                out.append(0x0a)
            }
            out.append(0x0a)
            written += 1
        }
        return written
    }

    /// A name as one line of a report (a line break would end the field).
    private static func oneLine(_ name: String) -> String {
        name.contains(where: \.isNewline) ? String(name.map { $0.isNewline ? " " : $0 }) : name
    }

    private static let digits = Array("0123456789ABCDEF".utf8)

    private static func hex(_ value: UInt64) -> [UInt8] {
        (0..<16).map { digits[Int((value >> UInt64(60 - 4 * $0)) & 0xf)] }
    }
}
