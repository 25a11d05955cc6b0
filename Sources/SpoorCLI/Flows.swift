import ArgumentParser
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SpoorReconstruction
import SpoorSupport

/// The trace inputs a reconstruction command reads.
struct TraceInputOptions: ParsableArguments {
    @Option(name: .customLong("tracebench"), help: ArgumentHelp("A TraceBench folder (event.csv and edge.csv); repeat for several.", valueName: "dir"))
    var traceBench: [String] = []

    @Option(name: .customLong("xtrace"), help: ArgumentHelp("A file of X-Trace text reports; repeat for several.", valueName: "file"))
    var xTrace: [String] = []

    @Option(name: .customLong("spoor"), help: ArgumentHelp("A Spoor run directory or log root; repeat for several.", valueName: "dir"))
    var spoor: [String] = []

    @Option(name: .customLong("xtrace-listen"), help: ArgumentHelp("Receive X-Trace text reports over TCP on 127.0.0.1:PORT (0: any free port, named on standard error), until SIGINT or SIGTERM, or --xtrace-connections.", valueName: "port"))
    var xTraceListen: UInt16?

    @Option(name: .customLong("xtrace-connections"), help: "With --xtrace-listen: end after this many connections have closed.")
    var xTraceConnections: Int = 0

    @Option(help: "Seconds without a new event after which an open trace is assembled.")
    var expiry: Double = 5

    @Option(help: "Open traces at most; more close the least recently active.")
    var maxOpenTraces: Int = 100_000

    @Option(help: "Worker threads assembling and analysing traces (0: the reading thread).")
    var workers: Int = 0

    var inputs: [TraceInput] {
        traceBench.map(TraceInput.traceBench) + xTrace.map(TraceInput.xTrace) + spoor.map(TraceInput.spoorLog)
            + (xTraceListen.map { [TraceInput.xTraceListen(XTraceEndpoint(port: $0, connections: max(xTraceConnections, 0)))] } ?? [])
    }

    func validate() throws {
        guard !inputs.isEmpty else { throw ValidationError("name at least one input: --tracebench, --xtrace, --spoor or --xtrace-listen") }
        guard expiry > 0, maxOpenTraces > 0, (0...64).contains(workers) else {
            throw ValidationError("--expiry and --max-open-traces are positive, --workers 0 to 64")
        }
    }

    var configuration: ReconstructionConfiguration {
        var made = ReconstructionConfiguration()
        made.expiryNanos = UInt64(expiry * 1e9)
        made.maxOpenTraces = maxOpenTraces
        made.workers = workers
        return made
    }

    /// Streams every input through a reconstruction; returns its statistics, the model it
    /// learnt or used, the stream's labels, the inputs' failure labels and the malformed count.
    func run(analysis: AnalysisMode, inputs chosen: [TraceInput]? = nil, keep: (UInt64) -> Bool = { _ in true },
             outcome: @escaping @Sendable (TraceOutcome) -> Void) throws
        -> (statistics: ReconstructionStatistics, model: FlowModel?, labels: LabelTable, truth: [UInt64: Bool], malformed: Int)
    {
        let reconstruction = try Reconstruction(configuration: configuration, analysis: analysis, outcome: outcome)
        var labels = LabelTable()
        var truth: [UInt64: Bool] = [:]
        var malformed = 0
        var lastExpiry = monotonicNanos()
        let selected = chosen ?? inputs
        if selected.contains(where: { if case .xTraceListen = $0 { true } else { false } }) { StopSignal.install() }
        let control = LiveControl(
            stop: { StopSignal.isRequested },
            listening: { warn("listening for X-Trace reports on \($0)") },
            idle: { labels in reconstruction.expire(labels: labels, now: monotonicNanos()) })
        for input in selected {
            do {
                let found = try input.read(labels: &labels, issue: { error in
                    malformed += 1
                    if malformed <= 20 { warn(error.description) }
                }, control: control) { item, labels in
                    guard keep(item.trace) else { return }
                    let now = monotonicNanos()
                    reconstruction.accept(item, labels: labels, now: now)
                    if now &- lastExpiry > 100_000_000 {
                        reconstruction.expire(labels: labels, now: now)
                        lastExpiry = now
                    }
                }
                for (trace, failed) in found where keep(trace) { truth[trace] = failed || truth[trace] == true }
            } catch let error as IngestError {
                warn(error.description)
                throw ExitCode.failure
            }
        }
        if malformed > 20 { warn("\(malformed - 20) more malformed lines or reports") }
        let (statistics, model) = reconstruction.finish(labels: labels)
        return (statistics, model, labels, truth, malformed)
    }
}

struct Flows: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Learn representative flows from normal traces, and flag anomalies against them.",
        discussion: """
            learn reads normal traces and saves their representative flows as a model file; \
            detect streams traces through the reconstruction and classifies each as it \
            completes: normal, a variant of a learnt flow (a step repeated a new number of \
            times), a structural anomaly (a shape no flow has, with the nearest flow and what \
            differs) or a timing anomaly (a learnt flow beyond its latency tail, with the edge). \
            docs/reconstruction.md describes the signatures and the detector.
            """,
        subcommands: [Learn.self, Detect.self, Evaluate.self])

    struct Evaluate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Learn from normal traces, classify held-back normal and failed ones; print precision and recall.",
            discussion: """
                Learns from the --tracebench inputs (normal traffic) except every trace whose \
                hashed id falls in the held-back share (1 in --holdout), then classifies, as a \
                stream, the held-back traces, every trace of the --test inputs (failed runs, or \
                normal runs of other workloads), and prints the summary of spoor flows detect \
                with precision and recall against the inputs' failure labels.
                """)

        @OptionGroup var input: TraceInputOptions

        @Option(name: .customLong("test"), help: ArgumentHelp("A TraceBench folder to classify only; repeat for several.", valueName: "dir"))
        var test: [String] = []

        @Option(help: "Hold back 1 in N traces of the learnt inputs for testing (0: none).")
        var holdout: Int = 3

        @Flag(help: "Print a line for every classified trace, not only anomalies.")
        var all = false

        func run() throws {
            let share = UInt64(max(holdout, 0))
            func heldBack(_ trace: UInt64) -> Bool { share > 0 && SignatureHash.mix(trace ^ 0x686f_6c64) % share == 0 }
            let learnt = try input.run(analysis: .learn(FlowModel()), keep: { !heldBack($0) }) { _ in }
            guard var model = learnt.model, !model.flows.isEmpty else {
                warn("no trace was assembled from the inputs")
                throw ExitCode.failure
            }
            model.finish()
            let sink = VerdictSink(printAll: all)
            var statistics = ReconstructionStatistics()
            var truth: [UInt64: Bool] = [:]
            var malformed = 0
            if share > 0 {
                let held = try input.run(analysis: .detect(model), keep: heldBack) { sink.take($0) }
                statistics = statistics + held.statistics
                truth.merge(held.truth) { $0 || $1 }
                malformed += held.malformed
            }
            if !test.isEmpty {
                let tested = try input.run(analysis: .detect(model), inputs: test.map(TraceInput.traceBench)) { sink.take($0) }
                statistics = statistics + tested.statistics
                truth.merge(tested.truth) { $0 || $1 }
                malformed += tested.malformed
            }
            sink.finish(statistics: statistics, model: model, truth: truth, malformed: malformed)
        }
    }

    struct Learn: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Learn representative flows; write the model file and print one JSON line per flow.")

        @OptionGroup var input: TraceInputOptions

        @Option(name: .shortAndLong, help: "The model file to write.")
        var output: String

        @Option(help: "Timing threshold: this multiple of the learnt tail ...")
        var slack: Double = 2

        @Option(help: "... plus this many milliseconds.")
        var floorMs: Double = 1

        @Option(help: "The quantile of learnt latencies taken as the tail.")
        var tailQuantile: Double = 0.999

        func run() throws {
            let model = FlowModel(slack: slack, tailQuantile: tailQuantile, floorNanos: UInt64(max(floorMs, 0) * 1e6))
            let result = try input.run(analysis: .learn(model)) { _ in }
            guard var learnt = result.model, !learnt.flows.isEmpty else {
                warn("no trace was assembled from the inputs")
                throw ExitCode.failure
            }
            learnt.finish()
            let bytes = try FlowModelFile.encode(learnt)
            try writeFile(output, bytes)
            var out = StandardOutput()
            for flow in learnt.flows.values.sorted(by: { $0.count > $1.count }) {
                out.json.beginObject()
                out.json.hex("flow", flow.signature)
                out.json.number("traces", flow.count)
                out.json.number("variants", flow.variants.count)
                out.json.number("steps", flow.steps.count)
                out.json.number("example_events", flow.exampleEvents)
                out.json.hex("example_trace", flow.example)
                out.json.number("end_to_end_p50_ns", flow.endToEnd.quantile(0.5))
                out.json.number("end_to_end_p99_ns", flow.endToEnd.quantile(0.99))
                out.json.number("end_to_end_threshold_ns", flow.endToEndThreshold)
                out.json.string("labels", flow.features.labels.map { learnt.name(of: $0) }.sorted().joined(separator: ", "))
                out.json.endObject()
                out.endLine()
            }
            out.json.beginObject()
            out.json.string("model", output)
            out.json.number("flows", learnt.flows.count)
            out.json.number("traces_learnt", learnt.learnt)
            out.json.number("fractured", result.statistics.fractured)
            out.json.number("malformed", result.malformed)
            out.json.number("bloom_bits", learnt.bloom.bitCount)
            out.json.number("bloom_probes", learnt.bloom.probes)
            out.json.key("bloom_expected_false_positive_rate")
            out.json.bytes.append(contentsOf: "\(learnt.bloom.expectedFalsePositiveRate)".utf8)
            out.json.endObject()
            out.endLine()
            out.flush()
        }
    }

    struct Detect: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Classify traces against a model as they complete; one JSON line per anomaly, then a summary.",
            discussion: """
                Each anomaly line: trace, kind (structural or timing), flow (the flow it belongs \
                to, or the nearest), events, fractured, explanation, and for structural anomalies \
                the similarity and the labels and edges added and missing; for timing anomalies \
                the slow steps. The summary counts every class; when the inputs carry failure \
                labels (TraceBench), it adds precision and recall of the structural detector, the \
                timing detector and both together.
                """)

        @OptionGroup var input: TraceInputOptions

        @Option(help: "The model file (spoor flows learn).")
        var model: String?

        @Flag(help: "Print a line for every trace, not only anomalies.")
        var all = false

        @Option(help: "Learn online instead: the first N traces are the warm-up (no --model needed).")
        var warmUp: Int?

        func validate() throws {
            guard (warmUp == nil) != (model == nil) else { throw ValidationError("give either --model FILE or --warm-up N") }
        }

        func run() throws {
            let analysis: AnalysisMode
            if let warmUp {
                analysis = .warmUp(traces: max(warmUp, 1), model: FlowModel())
            } else {
                analysis = .detect(try loadModel(model ?? ""))
            }
            let sink = VerdictSink(printAll: all)
            let result = try input.run(analysis: analysis) { outcome in sink.take(outcome) }
            sink.finish(statistics: result.statistics, model: result.model, truth: result.truth, malformed: result.malformed)
        }
    }
}

/// Collects verdicts (from worker threads) and prints them.
final class VerdictSink: @unchecked Sendable {
    private let lock = PosixMutex()
    private let printAll: Bool
    private var out = StandardOutput()
    private var counts: [FlowVerdict.Kind: Int] = [:]
    private var flagged: [UInt64: FlowVerdict.Kind] = [:]
    private var unclassified = 0
    private var bloomFalsePositives = 0
    private var newExact = 0
    private var latestModel: FlowModel?

    init(printAll: Bool) { self.printAll = printAll }

    func take(_ outcome: TraceOutcome) {
        lock.lock()
        defer { lock.unlock() }
        guard let verdict = outcome.verdict else {
            unclassified += 1
            return
        }
        counts[verdict.kind, default: 0] += 1
        flagged[verdict.trace] = verdict.kind
        if verdict.bloomFalsePositive { bloomFalsePositives += 1 }
        if verdict.newExactSignature { newExact += 1 }
        guard verdict.isAnomaly || printAll else { return }
        write(verdict, labels: outcome.labels)
    }

    private func write(_ verdict: FlowVerdict, labels: LabelTable) {
        func name(_ hash: UInt64) -> String {
            if hash == 0 { return "(root)" }
            if let id = labels.hashes.firstIndex(of: hash) { return labels.names[id] }
            return String(hash, radix: 16)
        }
        out.json.beginObject()
        out.json.hex("trace", verdict.trace)
        out.json.string("kind", verdict.kind.rawValue)
        out.json.hex("flow", verdict.flow)
        out.json.hex("signature", verdict.signature)
        out.json.number("events", verdict.events)
        out.json.bool("fractured", verdict.fractured)
        out.json.key("similarity")
        out.json.bytes.append(contentsOf: "\((verdict.similarity * 1000).rounded() / 1000)".utf8)
        out.json.key("added_labels")
        out.json.beginArray()
        for label in verdict.addedLabels { out.json.string(name(label)) }
        out.json.endArray()
        out.json.key("missing_labels")
        out.json.beginArray()
        for label in verdict.missingLabels { out.json.string(name(label)) }
        out.json.endArray()
        out.json.key("added_edges")
        out.json.beginArray()
        for edge in verdict.addedEdges { out.json.string("\(name(edge.parent)) -> \(name(edge.child))") }
        out.json.endArray()
        out.json.key("missing_edges")
        out.json.beginArray()
        for edge in verdict.missingEdges { out.json.string("\(name(edge.parent)) -> \(name(edge.child))") }
        out.json.endArray()
        out.json.key("slow_steps")
        out.json.beginArray()
        for step in verdict.slowSteps {
            out.json.beginObject()
            out.json.string("edge", "\(name(step.parentLabel)) -> \(name(step.label))")
            out.json.number("latency_ns", step.latency)
            out.json.number("threshold_ns", step.threshold)
            out.json.number("p99_ns", step.p99)
            out.json.endObject()
        }
        out.json.endArray()
        out.json.number("end_to_end_ns", verdict.endToEnd)
        out.json.number("end_to_end_threshold_ns", verdict.endToEndThreshold)
        out.json.string("explanation", verdict.explanation(name: name))
        out.json.endObject()
        out.endLine()
    }

    /// Writes out the lines still buffered (a caller that prints no summary).
    func flush() {
        lock.withLock { out.flush() }
    }

    func finish(statistics: ReconstructionStatistics, model: FlowModel?, truth: [UInt64: Bool], malformed: Int) {
        lock.lock()
        defer { lock.unlock() }
        out.json.beginObject()
        out.json.key("summary")
        out.json.beginObject()
        out.json.number("traces", statistics.assembled)
        for kind in [FlowVerdict.Kind.normal, .variant, .structural, .timing] {
            out.json.key(kind.staticName)
            out.json.number(counts[kind, default: 0])
        }
        out.json.number("warm_up", unclassified)
        out.json.number("fractured", statistics.fractured)
        out.json.number("expired", statistics.expired)
        out.json.number("evicted", statistics.evicted)
        out.json.number("reopened", statistics.reopened)
        out.json.number("peak_open", statistics.peakOpen)
        out.json.number("events", statistics.nodes)
        out.json.number("edges", statistics.edges)
        out.json.number("malformed", malformed)
        out.json.number("bloom_false_positives", bloomFalsePositives)
        out.json.number("new_exact_signatures", newExact)
        out.json.endObject()
        if !truth.isEmpty {
            out.json.key("evaluation")
            out.json.beginObject()
            for (name, kinds) in [("structural", [FlowVerdict.Kind.structural]), ("timing", [.timing]), ("combined", [.structural, .timing])] as [(StaticString, [FlowVerdict.Kind])] {
                var tp = 0, fp = 0, fn = 0, tn = 0
                for (trace, kind) in flagged {
                    let failed = truth[trace] ?? false
                    let positive = kinds.contains(kind)
                    switch (positive, failed) {
                    case (true, true): tp += 1
                    case (true, false): fp += 1
                    case (false, true): fn += 1
                    case (false, false): tn += 1
                    }
                }
                out.json.key(name)
                out.json.beginObject()
                out.json.number("true_positives", tp)
                out.json.number("false_positives", fp)
                out.json.number("false_negatives", fn)
                out.json.number("true_negatives", tn)
                out.json.key("precision")
                out.json.bytes.append(contentsOf: (tp + fp == 0 ? "null" : "\(Double(tp) / Double(tp + fp))").utf8)
                out.json.key("recall")
                out.json.bytes.append(contentsOf: (tp + fn == 0 ? "null" : "\(Double(tp) / Double(tp + fn))").utf8)
                out.json.endObject()
            }
            out.json.endObject()
        }
        out.json.endObject()
        out.endLine()
        out.flush()
    }
}

extension FlowVerdict.Kind {
    var staticName: StaticString {
        switch self {
        case .normal: "normal"
        case .variant: "variant"
        case .structural: "structural"
        case .timing: "timing"
        }
    }
}

/// The model file at `path` (spoor flows learn); a message on standard error and exit status 1
/// if it cannot be read or is not a model.
func loadModel(_ path: String) throws -> FlowModel {
    do {
        return try FlowModelFile.decode(try TextFile.bytes(path), source: path)
    } catch let error as IngestError {
        warn(error.description)
        throw ExitCode.failure
    }
}

func writeFile(_ path: String, _ bytes: [UInt8]) throws {
    let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard descriptor >= 0 else {
        warn("cannot create \(path): \(errnoText(errno))")
        throw ExitCode.failure
    }
    defer { close(descriptor) }
    writeFully(descriptor: descriptor, bytes)
}
