#if !SPOOR_SINGLE_MODULE
import SpoorLog
#endif

/// An input of trace items: a TraceBench folder, an X-Trace report file, or a Spoor log (a run
/// directory or a log root).
public enum TraceInput: Sendable, Hashable, CustomStringConvertible {
    /// A TraceBench folder (`event.csv`, `edge.csv`).
    case traceBench(String)
    /// A file of X-Trace text reports.
    case xTrace(String)
    /// A Spoor run directory or log root.
    case spoorLog(String)
    /// X-Trace text reports received over TCP on 127.0.0.1 (`XTraceListener`).
    case xTraceListen(XTraceEndpoint)

    /// `kind:path`.
    public var description: String {
        switch self {
        case .traceBench(let path): "tracebench:\(path)"
        case .xTrace(let path): "xtrace:\(path)"
        case .spoorLog(let path): "spoor:\(path)"
        case .xTraceListen(let endpoint): "xtrace-tcp:127.0.0.1:\(endpoint.port)"
        }
    }

    /// Reads the input, calling `item` for each item in arrival order and `issue` for each
    /// malformed part; returns the failure labels the input carries (TraceBench: trace id to
    /// failed), empty if it has none. Throws if the input cannot be read at all. A live input
    /// (`xTraceListen`) runs until its connection count or `control.stop`.
    @discardableResult
    public func read(
        labels: inout LabelTable, issue: (IngestError) -> Void, control: LiveControl = LiveControl(),
        item: (TraceItem, LabelTable) -> Void
    ) throws -> [UInt64: Bool] {
        switch self {
        case .xTraceListen(let endpoint):
            try XTraceListener(endpoint: endpoint).run(labels: &labels, control: control, issue: issue, item: item)
            return [:]
        case .traceBench(let directory):
            var reader = TraceBenchReader()
            try reader.read(directory: directory, labels: &labels, issue: issue, item: item)
            var truth: [UInt64: Bool] = [:]
            for trace in reader.traces { truth[trace] = reader.failed.contains(trace) }
            return truth
        case .xTrace(let path):
            var parser = XTraceParser(source: path)
            for line in try TextFile.lines(path) {
                parser.feed(line: line, labels: &labels, issue: issue, item: item)
            }
            parser.finish(labels: &labels, issue: issue, item: item)
            return [:]
        case .spoorLog(let path):
            var tracer = SpoorReportTracer()
            var runNumber = 0
            do {
                for run in try LogRoot.runs(at: path, selecting: []) {
                    var current = -1
                    try LogReader(directory: run.directory).read(issues: { issue(IngestError(source: run.directory, line: 0, message: "\($0)")) }) { entry in
                        switch entry {
                        case .segment:
                            runNumber += 1
                            current = runNumber
                        case .operators(let list):
                            tracer.define(list, run: current, labels: &labels)
                        case .reports(_, _, _, let reports):
                            for report in reports {
                                tracer.add(report, run: current, labels: &labels, item: item)
                            }
                        default:
                            break
                        }
                    }
                }
            } catch let error as LogError {
                throw IngestError(source: path, line: 0, message: error.description)
            }
            tracer.finish(labels: &labels, item: item)
            return [:]
        }
    }
}
