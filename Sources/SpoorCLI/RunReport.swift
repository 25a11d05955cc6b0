#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import ArgumentParser
import SpoorLineage
import SpoorLog
import SpoorReconstruction
import SpoorSupport

/// `spoor report`: one self-contained HTML page for a run (docs/reconstruction.md, "The report").
struct RunReport: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Write a self-contained HTML page of a run: flows, anomalies with their DAGs, operators.",
        discussion: """
            Streams the inputs through the reconstruction and the detector (against --model, or \
            learning online from the first --warm-up traces), then writes one HTML file with \
            no external resource: the representative flows as pictures (steps and edges with \
            their p50/p99 latencies) with their trace counts and end-to-end latency \
            distributions; every anomaly with its explanation, linked to a picture of its DAG \
            (the first --max-pictures of them; the rest are listed); and the operators (labels) \
            with their runtimes. Pictures are drawn by Graphviz's dot (Debian: graphviz).
            """)

    @OptionGroup var input: TraceInputOptions

    @Option(help: "Classify against this model (spoor flows learn).")
    var model: String?

    @Option(help: "Without --model: learn online from the first N traces (they are not classified).")
    var warmUp: Int = 1000

    @Option(name: .shortAndLong, help: "The HTML file to write.")
    var output: String

    @Option(help: "Draw at most this many anomalous DAGs.")
    var maxPictures: Int = 50

    @Option(help: "List at most this many anomalies (all are counted).")
    var maxListed: Int = 10_000

    @Option(help: "The page's title.")
    var title: String = "Spoor run report"

    func validate() throws {
        guard warmUp > 0, maxPictures >= 0, maxListed >= maxPictures else {
            throw ValidationError("--warm-up is positive, --max-pictures not negative, --max-listed at least --max-pictures")
        }
    }

    func run() throws {
        try reportingFailures {
            let analysis: AnalysisMode
            if let model {
                analysis = .detect(try loadModel(model))
            } else {
                analysis = .warmUp(traces: warmUp, model: FlowModel())
            }
            let findings = ReportFindings(keepGraphs: maxPictures, keepListed: maxListed)
            let result = try input.run(analysis: analysis) { findings.take($0) }
            guard let model = result.model else {
                warn("no trace was assembled from the inputs")
                throw ExitCode.failure
            }
            var page = HTMLPage(title: title)
            let logs = input.spoor
            try page.write(findings: findings, model: model, statistics: result.statistics, malformed: result.malformed,
                           inputs: input.inputs.map(\.description), truth: result.truth,
                           operators: logs.isEmpty ? findings.labelRuntimes() : try Self.operatorRuntimes(logs),
                           operatorsFromLog: !logs.isEmpty)
            try writeFile(output, Array(page.text.utf8))
        }
    }
}

extension RunReport {
    /// The runtimes of the operators of Spoor logs, each report counted once (a record in several
    /// traces is one report): per operator name and call site, the UDF durations where measured.
    static func operatorRuntimes(_ paths: [String]) throws -> [OperatorRuntime] {
        var table: [String: OperatorRuntime] = [:]
        for path in paths {
            for run in try LogRoot.runs(at: path) {
                try readNamedReports(run) { report, name in
                    guard report.kind == .checkpoint || report.kind == .entry else { return }
                    var entry = table[name] ?? OperatorRuntime(name: name)
                    entry.events += 1
                    if report.kind == .checkpoint, report.startNanos != 0, report.endNanos >= report.startNanos {
                        let duration = report.endNanos - report.startNanos
                        entry.latency.record(duration)
                        entry.total &+= duration
                    }
                    table[name] = entry
                }
            }
        }
        return Array(table.values)
    }
}

/// An operator's (or a trace label's) runtimes in the report.
struct OperatorRuntime {
    var name: String
    var events = 0
    var latency = LatencyProfile()
    var total: UInt64 = 0
}

/// What the report keeps of the outcomes (from worker threads): counts per verdict and flow, the
/// anomalies (the first `keepGraphs` with their DAG), and every label's latencies.
final class ReportFindings: @unchecked Sendable {
    struct Anomaly {
        var verdict: FlowVerdict
        var explanation: String
        var graph: TraceGraph?
        var labels: LabelTable?
    }

    private let lock = PosixMutex()
    private let keepGraphs: Int, keepListed: Int
    private(set) var counts: [FlowVerdict.Kind: Int] = [:]
    /// Every anomalous trace (listed or not), for precision and recall against failure labels.
    private(set) var flagged = Set<UInt64>()
    private(set) var tracesPerFlow: [UInt64: Int] = [:]
    private(set) var anomalies: [Anomaly] = []
    private(set) var unclassified = 0
    /// Per label name: its events' latencies.
    private var labels: [String: OperatorRuntime] = [:]

    init(keepGraphs: Int, keepListed: Int) {
        self.keepGraphs = keepGraphs
        self.keepListed = keepListed
    }

    /// The labels of the traces with their events' latencies.
    func labelRuntimes() -> [OperatorRuntime] { lock.withLock { Array(labels.values) } }

    func take(_ outcome: TraceOutcome) {
        lock.withLock {
            let graph = outcome.graph
            let parentEnds = graph.latestParentEnds()
            for i in graph.nodes.indices {
                let name = outcome.labels.name(graph.nodes[i].label)
                let latency = graph.latency(of: i, parentEnds: parentEnds)
                var entry = labels[name] ?? OperatorRuntime(name: name)
                entry.events += 1
                entry.latency.record(latency)
                entry.total &+= latency
                labels[name] = entry
            }
            guard let verdict = outcome.verdict else {
                unclassified += 1
                return
            }
            counts[verdict.kind, default: 0] += 1
            if let flow = verdict.flow, !verdict.isAnomaly { tracesPerFlow[flow, default: 0] += 1 }
            guard verdict.isAnomaly else { return }
            flagged.insert(verdict.trace)
            guard anomalies.count < keepListed else { return }
            let labels = outcome.labels
            let explanation = verdict.explanation { hash in
                if hash == 0 { return "(root)" }
                if let id = labels.hashes.firstIndex(of: hash) { return labels.names[id] }
                return String(hash, radix: 16)
            }
            let keep = anomalies.count < keepGraphs
            anomalies.append(Anomaly(verdict: verdict, explanation: explanation, graph: keep ? graph : nil, labels: keep ? labels : nil))
        }
    }
}

/// The report's HTML, built as text: inline CSS and SVG only, so the file opens anywhere offline.
struct HTMLPage {
    private(set) var text = ""
    let title: String

    init(title: String) { self.title = title }

    static func escape(_ value: String) -> String {
        var out = ""
        for character in value.unicodeScalars {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            default: out.unicodeScalars.append(character)
            }
        }
        return out
    }

    mutating func write(
        findings: ReportFindings, model: FlowModel, statistics: ReconstructionStatistics, malformed: Int,
        inputs: [String], truth: [UInt64: Bool], operators: [OperatorRuntime], operatorsFromLog: Bool
    ) throws {
        let e = Self.escape
        text += """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>\(e(title))</title>
            <style>
            body{font-family:Helvetica,Arial,sans-serif;margin:2em;color:#222;max-width:1400px}
            h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}
            table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ddd;padding:.25em .6em;text-align:left;vertical-align:top}
            th{background:#f4f4f4}td.n{text-align:right;font-variant-numeric:tabular-nums}
            .flow,.anomaly{border:1px solid #ddd;border-radius:6px;padding:1em;margin:1em 0}
            .structural{color:#b03a2e;font-weight:bold}.timing{color:#b9770e;font-weight:bold}
            .picture{overflow:auto;max-height:700px}code{background:#f4f4f4;padding:0 .2em}
            </style></head><body>
            <h1>\(e(title))</h1>

            """
        text += "<p>Inputs: " + inputs.map { "<code>\(e($0))</code>" }.joined(separator: ", ") + "</p>\n"
        let counts = findings.counts
        text += "<h2 id=\"summary\">Summary</h2>\n<table>\n"
        let rows: [(String, Int)] = [
            ("traces assembled", statistics.assembled), ("events", statistics.nodes), ("edges", statistics.edges),
            ("warm-up (learnt, not classified)", findings.unclassified), ("normal", counts[.normal, default: 0]),
            ("variants of a learnt flow", counts[.variant, default: 0]),
            ("structural anomalies", counts[.structural, default: 0]), ("timing anomalies", counts[.timing, default: 0]),
            ("fractured", statistics.fractured), ("expired", statistics.expired), ("evicted at the open-trace cap", statistics.evicted),
            ("malformed input lines", malformed), ("representative flows", model.flows.count),
        ]
        for (name, value) in rows { text += "<tr><th>\(name)</th><td class=\"n\">\(value)</td></tr>\n" }
        text += "<tr><th>Bloom filter</th><td>\(model.bloom.bitCount) bits, \(model.bloom.probes) probes, expected false-positive rate \(model.bloom.expectedFalsePositiveRate)</td></tr>\n"
        if !truth.isEmpty {
            var tp = 0
            for trace in findings.flagged where truth[trace] == true { tp += 1 }
            let fp = findings.flagged.count - tp
            let fn = truth.values.filter { $0 }.count - tp
            let precision = tp + fp == 0 ? "n/a" : "\(Double(tp) / Double(tp + fp))"
            let recall = tp + fn == 0 ? "n/a" : "\(Double(tp) / Double(tp + fn))"
            text += "<tr><th>against the inputs' failure labels</th><td>precision \(precision), recall \(recall) (\(tp) true positives, \(fp) false, \(fn) missed)</td></tr>\n"
        }
        text += "</table>\n"

        // Flows.
        text += "<h2 id=\"flows\">Representative flows</h2>\n"
        let flows = model.flows.values.sorted { ($0.count, $0.signature) > ($1.count, $1.signature) }
        for flow in flows {
            var endToEnd = flow.endToEnd
            endToEnd.finish()
            text += "<div class=\"flow\" id=\"flow-\(hex64(flow.signature))\"><h3>Flow <code>\(hex64(flow.signature))</code></h3>\n"
            text += "<p>\(flow.count) traces learnt, \(findings.tracesPerFlow[flow.signature, default: 0]) classified into it; \(flow.variants.count) exact variant\(flow.variants.count == 1 ? "" : "s"); \(flow.steps.count) steps; example trace <code>\(hex64(flow.example))</code> (\(flow.exampleEvents) events).</p>\n"
            text += "<p>End to end: p50 \(formatDuration(endToEnd.quantile(0.5))), p99 \(formatDuration(endToEnd.quantile(0.99))), max \(formatDuration(endToEnd.maximum))"
            if let threshold = flow.endToEndThreshold { text += ", timing threshold \(formatDuration(threshold))" }
            text += "</p>\n"
            text += Self.histogram(endToEnd.sample, threshold: flow.endToEndThreshold)
            text += "<div class=\"picture\">" + (try Graphviz.svg(Self.flowDOT(flow, model: model))) + "</div></div>\n"
        }

        // Anomalies.
        text += "<h2 id=\"anomalies\">Anomalies</h2>\n"
        if findings.flagged.isEmpty {
            text += "<p>None.</p>\n"
        } else {
            text += "<table><tr><th>trace</th><th>kind</th><th>flow</th><th>events</th><th>explanation</th></tr>\n"
            for anomaly in findings.anomalies {
                let verdict = anomaly.verdict
                let trace = hex64(verdict.trace)
                let link = anomaly.graph == nil ? "<code>\(trace)</code>" : "<a href=\"#trace-\(trace)\"><code>\(trace)</code></a>"
                let flow = verdict.flow.map { "<a href=\"#flow-\(hex64($0))\"><code>\(hex64($0))</code></a>" } ?? ""
                text += "<tr><td>\(link)</td><td class=\"\(verdict.kind.rawValue)\">\(verdict.kind.rawValue)</td><td>\(flow)</td><td class=\"n\">\(verdict.events)</td><td>\(e(anomaly.explanation))</td></tr>\n"
            }
            text += "</table>\n"
            let unlisted = findings.flagged.count - findings.anomalies.count
            if unlisted > 0 { text += "<p>\(unlisted) more anomalies are counted above and not listed (--max-listed).</p>\n" }
            for anomaly in findings.anomalies {
                guard let graph = anomaly.graph, let labels = anomaly.labels else { continue }
                let trace = hex64(anomaly.verdict.trace)
                text += "<div class=\"anomaly\" id=\"trace-\(trace)\"><h3>Trace <code>\(trace)</code>: <span class=\"\(anomaly.verdict.kind.rawValue)\">\(anomaly.verdict.kind.rawValue)</span></h3>\n"
                text += "<p>\(e(anomaly.explanation))</p>\n"
                text += "<div class=\"picture\">" + (try Graphviz.svg(Self.traceDOT(graph, labels: labels, verdict: anomaly.verdict))) + "</div></div>\n"
            }
        }

        // Operators.
        text += "<h2 id=\"operators\">Operators</h2>\n<table><tr><th>\(operatorsFromLog ? "operator (call site)" : "label")</th><th>\(operatorsFromLog ? "reports" : "events")</th><th>p50</th><th>p99</th><th>max</th><th>total</th><th>share</th></tr>\n"
        let total = operators.reduce(UInt64(0)) { $0 &+ $1.total }
        for entry in operators.sorted(by: { ($0.total, $0.name) > ($1.total, $1.name) }) {
            var latency = entry.latency
            latency.finish()
            let measured = latency.count > 0
            func cell(_ value: UInt64) -> String { measured ? formatDuration(value) : "" }
            let share = total == 0 ? 0 : Double(entry.total) / Double(total) * 100
            text += "<tr><td>\(e(entry.name))</td><td class=\"n\">\(entry.events)</td><td class=\"n\">\(cell(latency.quantile(0.5)))</td><td class=\"n\">\(cell(latency.quantile(0.99)))</td><td class=\"n\">\(cell(latency.maximum))</td><td class=\"n\">\(cell(entry.total))</td><td class=\"n\">\((share * 10).rounded() / 10)%</td></tr>\n"
        }
        text += operatorsFromLog
            ? "</table>\n<p>Runtimes of the operators' functions (UDF start to end) from the log, each report once; blank where the reports carry no start time. Quantiles from a uniform sample of 256 per operator.</p>\n"
            : "</table>\n<p>Latency of an event: its own duration where its start is known, else the time since its latest parent ended on the same host. Quantiles from a uniform sample of 256 per label.</p>\n"
        text += "</body></html>\n"
    }

    /// A flow's steps (labels) and edge types, each edge labelled with the learnt p50 and p99 of
    /// the steps it leads into.
    static func flowDOT(_ flow: RepresentativeFlow, model: FlowModel) -> String {
        var latency: [EdgeType: LatencyProfile] = [:]
        for step in flow.steps.values {
            latency[EdgeType(parent: step.parentLabel, child: step.label), default: LatencyProfile()].merge(step.latency)
        }
        var out = "digraph flow {\n  rankdir=LR;\n  node [shape=box, style=rounded, fontname=\"Helvetica\", fontsize=10];\n  edge [fontname=\"Helvetica\", fontsize=9];\n"
        out += "  \"root\" [shape=point];\n"
        for label in flow.features.labels.sorted() {
            out += "  \"\(hex64(label))\" [label=\(dotQuoted(model.name(of: label)))];\n"
        }
        for edge in flow.features.edges.sorted() {
            var label = ""
            if var profile = latency[edge], profile.count > 0 {
                profile.finish()
                label = "p50 \(formatDuration(profile.quantile(0.5)))\np99 \(formatDuration(profile.quantile(0.99)))"
            }
            let from = edge.parent == 0 ? "root" : hex64(edge.parent)
            out += "  \"\(from)\" -> \"\(hex64(edge.child))\" [label=\(dotQuoted(label))];\n"
        }
        return out + "}\n"
    }

    /// An anomalous trace's DAG: events labelled with their step and latency; steps the nearest
    /// flow does not have, and slow steps, in red.
    static func traceDOT(_ graph: TraceGraph, labels: LabelTable, verdict: FlowVerdict) -> String {
        let added = Set(verdict.addedLabels)
        let slow = Set(verdict.slowSteps.map(\.label))
        let parentEnds = graph.latestParentEnds()
        var out = "digraph trace {\n  rankdir=LR;\n  node [shape=box, style=rounded, fontname=\"Helvetica\", fontsize=10];\n  edge [fontname=\"Helvetica\", fontsize=9];\n"
        for i in graph.nodes.indices {
            let node = graph.nodes[i]
            let hash = labels.hash(node.label)
            var attributes = "label=\(dotQuoted(labels.name(node.label) + "\n" + formatDuration(graph.latency(of: i, parentEnds: parentEnds))))"
            if added.contains(hash) || slow.contains(hash) { attributes += ", color=\"#c0392b\", fontcolor=\"#c0392b\", penwidth=2" }
            out += "  n\(i) [\(attributes)];\n"
        }
        for i in graph.nodes.indices {
            for child in graph.children(of: i) { out += "  n\(i) -> n\(child);\n" }
        }
        return out + "}\n"
    }

    /// A histogram of `sample` on a logarithmic time axis, as inline SVG, with the threshold.
    static func histogram(_ sample: [UInt64], threshold: UInt64?) -> String {
        guard let largest = (sample + [threshold ?? 0]).max(), largest > 0, !sample.isEmpty else { return "" }
        let width = 480.0, height = 80.0, bins = 40
        let low = log10(Double(max(sample.min() ?? 1, 1))), high = max(log10(Double(largest)) + 0.01, low + 1)
        func x(_ value: UInt64) -> Double { (log10(Double(max(value, 1))) - low) / (high - low) * width }
        var counts = [Int](repeating: 0, count: bins)
        for value in sample { counts[min(bins - 1, max(0, Int(x(value) / width * Double(bins))))] += 1 }
        let peak = Double(counts.max() ?? 1)
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width) + 80)\" height=\"\(Int(height) + 20)\" role=\"img\"><title>end-to-end latency distribution</title>"
        let barWidth = width / Double(bins)
        for (bin, count) in counts.enumerated() where count > 0 {
            let barHeight = Double(count) / peak * height
            svg += "<rect x=\"\(format(Double(bin) * barWidth))\" y=\"\(format(height - barHeight))\" width=\"\(format(barWidth - 1))\" height=\"\(format(barHeight))\" fill=\"#5b8db8\"/>"
        }
        if let threshold {
            let position = format(min(x(threshold), width))
            svg += "<line x1=\"\(position)\" y1=\"0\" x2=\"\(position)\" y2=\"\(Int(height))\" stroke=\"#c0392b\" stroke-width=\"2\"/>"
        }
        svg += "<text x=\"0\" y=\"\(Int(height) + 15)\" font-size=\"11\">\(formatDuration(sample.min() ?? 0))</text>"
        svg += "<text x=\"\(Int(width) - 60)\" y=\"\(Int(height) + 15)\" font-size=\"11\">\(formatDuration(largest))</text>"
        return svg + "</svg>\n"
    }

    private static func format(_ value: Double) -> String { String(Double(Int(value * 10)) / 10) }
}
