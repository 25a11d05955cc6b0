#if !SPOOR_SINGLE_MODULE
import SpoorSupport
#endif

/// What the reconstruction does with each assembled trace.
public enum AnalysisMode: Sendable {
    /// Assemble only (signatures are still computed).
    case assemble
    /// Learn every trace into a model (returned by `Reconstruction.finish`).
    case learn(FlowModel)
    /// Classify every trace against a finished model.
    case detect(FlowModel)
    /// Learn the first `traces` traces (online warm-up), then finish the model and classify the
    /// rest. With worker threads, each worker warms up on its own share.
    case warmUp(traces: Int, model: FlowModel)
}

/// One assembled trace and what the analysis said about it.
public struct TraceOutcome: Sendable {
    /// The assembled DAG.
    public var graph: TraceGraph
    /// Its signatures.
    public var signature: TraceSignature
    /// The detector's verdict, when classifying.
    public var verdict: FlowVerdict?
    /// The labels of the stream when the trace was assembled.
    public var labels: LabelTable
}

/// Assembles traces, computes signatures, learns or classifies (one partition's analysis).
struct TraceAnalyzer: Sendable {
    var mode: AnalysisMode
    var scratch = SignatureScratch()
    var seen = 0

    mutating func analyze(_ graph: TraceGraph, labels: LabelTable) -> TraceOutcome {
        let signature = scratch.signature(graph, labels: labels)
        seen += 1
        switch mode {
        case .assemble:
            return TraceOutcome(graph: graph, signature: signature, verdict: nil, labels: labels)
        case .learn(var model):
            mode = .assemble
            model.learn(graph, signature: signature, labels: labels)
            mode = .learn(model)
            return TraceOutcome(graph: graph, signature: signature, verdict: nil, labels: labels)
        case .detect(let model):
            return TraceOutcome(graph: graph, signature: signature,
                                verdict: model.classify(graph, signature: signature, labels: labels), labels: labels)
        case .warmUp(let traces, var model):
            mode = .assemble
            model.learn(graph, signature: signature, labels: labels)
            if seen >= traces {
                model.finish()
                mode = .detect(model)
            } else {
                mode = .warmUp(traces: traces, model: model)
            }
            return TraceOutcome(graph: graph, signature: signature, verdict: nil, labels: labels)
        }
    }

    /// The model learnt or used.
    var model: FlowModel? {
        switch mode {
        case .assemble: nil
        case .learn(let model), .detect(let model), .warmUp(_, let model): model
        }
    }
}

/// The analysis as a partition's sink: analyses each trace and hands the outcome on.
struct AnalysisSink: TraceGraphSink {
    var analyzer: TraceAnalyzer
    let labels: LabelTable
    let outcome: @Sendable (TraceOutcome) -> Void

    mutating func take(_ graph: TraceGraph) { outcome(analyzer.analyze(graph, labels: labels)) }

    /// Runs `body` with a sink that holds `analyzer` (moved in and back, never copied: a copy
    /// would make the model's storage shared and the next learning step copy it).
    static func with(
        _ analyzer: inout TraceAnalyzer, labels: LabelTable, outcome: @escaping @Sendable (TraceOutcome) -> Void,
        _ body: (inout AnalysisSink) -> Void
    ) {
        var sink = AnalysisSink(analyzer: TraceAnalyzer(mode: .assemble), labels: labels, outcome: outcome)
        swap(&sink.analyzer, &analyzer)
        body(&sink)
        swap(&sink.analyzer, &analyzer)
    }
}

/// The streaming reconstruction: items in, assembled and analysed traces out, partitioned by
/// trace across worker threads.
///
/// Items of one trace always go to the same partition (by a hash of the trace id), so each
/// partition assembles its traces alone, with no shared state but the label table, which travels
/// with each batch as an immutable snapshot. With `workers == 0` everything runs on the caller's
/// thread; otherwise `accept` appends to a batch and hands full batches to the workers' bounded
/// queues (a full queue makes the caller wait: backpressure, never loss), and `outcome` is called
/// on the worker threads.
public final class Reconstruction: @unchecked Sendable {
    /// The settings.
    public let configuration: ReconstructionConfiguration
    private let outcome: @Sendable (TraceOutcome) -> Void
    // workers == 0:
    private var partition: TracePartition
    private var analyzer: TraceAnalyzer
    // workers > 0:
    private var workers: [ReconstructionWorker] = []
    private var pending: [[TraceItem]] = []
    private var pendingNow: UInt64 = 0
    private static let batchSize = 4096

    /// A reconstruction. `outcome` receives every assembled trace (on a worker thread when there
    /// are workers; it must then be thread-safe).
    public init(configuration: ReconstructionConfiguration, analysis: AnalysisMode = .assemble,
                outcome: @escaping @Sendable (TraceOutcome) -> Void) throws {
        var perPartition = configuration
        let count = max(configuration.workers, 1)
        perPartition.maxOpenTraces = max(1, configuration.maxOpenTraces / count)
        self.configuration = configuration
        self.outcome = outcome
        self.partition = TracePartition(configuration: perPartition)
        self.analyzer = TraceAnalyzer(mode: analysis)
        if configuration.workers > 0 {
            for number in 0..<configuration.workers {
                let worker = ReconstructionWorker(
                    partition: TracePartition(configuration: perPartition), analyzer: TraceAnalyzer(mode: analysis), outcome: outcome)
                if let error = worker.start(name: "spoor-recon-\(number)") {
                    for started in workers { started.stop() }
                    throw error
                }
                workers.append(worker)
            }
            pending = Array(repeating: [], count: configuration.workers)
        }
    }

    /// Accepts one item that arrived at `now` (nanoseconds on any monotonic clock the caller
    /// keeps: the expiry window is measured on it), with the labels its node refers to.
    public func accept(_ item: TraceItem, labels: LabelTable, now: UInt64) {
        if workers.isEmpty {
            Self.acceptAll(CollectionOfOne(item), labels: labels, now: now, partition: &partition, analyzer: &analyzer,
                           outcome: outcome)
            return
        }
        let target = Int(SignatureHash.mix(item.trace) % UInt64(workers.count))
        pending[target].append(item)
        pendingNow = now
        if pending[target].count >= Self.batchSize {
            workers[target].enqueue(.items(pending[target], labels, now))
            pending[target] = []
            pending[target].reserveCapacity(Self.batchSize)
        }
    }

    /// Accepts `items`, all arrived at `now`, with the labels they refer to: `accept` for each,
    /// with the per-call work (the partition's access, the outcome closure) done once.
    public func accept<Items: Collection<TraceItem>>(contentsOf items: Items, labels: LabelTable, now: UInt64) {
        guard workers.isEmpty else {
            for item in items { accept(item, labels: labels, now: now) }
            return
        }
        Self.acceptAll(items, labels: labels, now: now, partition: &partition, analyzer: &analyzer, outcome: outcome)
    }

    /// The batch loop, on the partition and analyzer in place (one exclusive access each).
    private static func acceptAll<Items: Collection<TraceItem>>(
        _ items: Items, labels: LabelTable, now: UInt64, partition: inout TracePartition, analyzer: inout TraceAnalyzer,
        outcome: @escaping @Sendable (TraceOutcome) -> Void
    ) {
        AnalysisSink.with(&analyzer, labels: labels, outcome: outcome) { sink in
            for item in items { partition.accept(item, now: now, into: &sink) }
        }
    }

    /// Closes the traces that expired by `now` (and hands the workers what is batched).
    public func expire(labels: LabelTable, now: UInt64) {
        if workers.isEmpty {
            AnalysisSink.with(&analyzer, labels: labels, outcome: outcome) { partition.expire(now: now, into: &$0) }
            return
        }
        for (number, worker) in workers.enumerated() {
            if !pending[number].isEmpty {
                worker.enqueue(.items(pending[number], labels, pendingNow))
                pending[number] = []
            }
            worker.enqueue(.expire(labels, now))
        }
    }

    /// Closes every open trace, stops the workers, and returns the counters and the model (the
    /// merged learnt models of every worker when learning).
    public func finish(labels: LabelTable) -> (statistics: ReconstructionStatistics, model: FlowModel?) {
        if workers.isEmpty {
            AnalysisSink.with(&analyzer, labels: labels, outcome: outcome) { partition.flush(into: &$0) }
            return (partition.statistics, analyzer.model)
        }
        var total = ReconstructionStatistics()
        var merged: FlowModel?
        for (number, worker) in workers.enumerated() {
            if !pending[number].isEmpty { worker.enqueue(.items(pending[number], labels, pendingNow)) }
            pending[number] = []
            worker.enqueue(.flush(labels))
            worker.stop()
            total = total + worker.partition.statistics
            if let model = worker.analyzer.model {
                if var into = merged {
                    for flow in model.flows.values { into.add(flow, names: model.names) }
                    merged = into
                } else {
                    merged = model
                }
            }
        }
        workers = []
        return (total, merged)
    }

    /// The counters so far (of the calling thread's partition; with workers, as of the last
    /// batch each has finished).
    public var statistics: ReconstructionStatistics {
        workers.isEmpty ? partition.statistics : workers.reduce(ReconstructionStatistics()) { $0 + $1.snapshot() }
    }
}

/// One worker thread: a partition and its analysis, fed through a bounded queue.
final class ReconstructionWorker: @unchecked Sendable {
    enum Work {
        case items([TraceItem], LabelTable, UInt64)
        case expire(LabelTable, UInt64)
        case flush(LabelTable)
    }

    private let condition = MonotonicCondition()
    // Guarded by condition.mutex:
    private var queue: [Work] = []
    private var stopping = false
    private var published = ReconstructionStatistics()
    // Worker thread only (read by the owner after `stop`):
    var partition: TracePartition
    var analyzer: TraceAnalyzer
    private let outcome: @Sendable (TraceOutcome) -> Void
    private var thread: OSThread?
    private static let queueLimit = 8

    init(partition: TracePartition, analyzer: TraceAnalyzer, outcome: @escaping @Sendable (TraceOutcome) -> Void) {
        self.partition = partition
        self.analyzer = analyzer
        self.outcome = outcome
    }

    func start(name: String) -> SystemCallError? {
        switch OSThread.start(name: name, { self.run() }) {
        case .success(let started):
            thread = started
            return nil
        case .failure(let error):
            return error
        }
    }

    func enqueue(_ work: Work) {
        condition.mutex.lock()
        while queue.count >= Self.queueLimit {
            condition.wait(untilNanos: monotonicNanos() &+ 100_000_000)
        }
        queue.append(work)
        condition.broadcast()
        condition.mutex.unlock()
    }

    func stop() {
        condition.mutex.lock()
        stopping = true
        condition.broadcast()
        condition.mutex.unlock()
        thread?.join()
        thread = nil
    }

    func snapshot() -> ReconstructionStatistics {
        condition.mutex.lock()
        defer { condition.mutex.unlock() }
        return published
    }

    private func run() {
        while true {
            condition.mutex.lock()
            while queue.isEmpty && !stopping {
                condition.wait(untilNanos: monotonicNanos() &+ 100_000_000)
            }
            if queue.isEmpty && stopping {
                condition.mutex.unlock()
                return
            }
            let work = queue.removeFirst()
            condition.broadcast()
            condition.mutex.unlock()
            let outcome = self.outcome
            switch work {
            case .items(let items, let labels, let now):
                AnalysisSink.with(&analyzer, labels: labels, outcome: outcome) { sink in
                    for item in items { partition.accept(item, now: now, into: &sink) }
                }
            case .expire(let labels, let now):
                AnalysisSink.with(&analyzer, labels: labels, outcome: outcome) { partition.expire(now: now, into: &$0) }
            case .flush(let labels):
                AnalysisSink.with(&analyzer, labels: labels, outcome: outcome) { partition.flush(into: &$0) }
            }
            condition.mutex.lock()
            published = partition.statistics
            condition.mutex.unlock()
        }
    }
}
