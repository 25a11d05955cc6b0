#if !SPOOR_SINGLE_MODULE
import SpoorSupport
#endif

/// A labelled edge type of a trace: parent label to child label (label hashes, `LabelTable`);
/// `parent == 0` for a root.
public struct EdgeType: Hashable, Sendable, Comparable {
    /// The parent's label hash, 0 for a root.
    public var parent: UInt64
    /// The child's label hash.
    public var child: UInt64

    /// Creates an edge type.
    public init(parent: UInt64, child: UInt64) {
        self.parent = parent
        self.child = child
    }

    /// Orders by parent, then child.
    public static func < (a: Self, b: Self) -> Bool { (a.parent, a.child) < (b.parent, b.child) }
}

/// The labels and labelled edge types of one trace: what an anomaly's explanation compares.
public struct FlowFeatures: Sendable, Hashable {
    /// Label hashes present.
    public var labels: Set<UInt64>
    /// Edge types present (roots as edges from 0).
    public var edges: Set<EdgeType>

    /// The features of `graph`.
    public init(_ graph: TraceGraph, labels table: LabelTable) {
        var labels = Set<UInt64>(minimumCapacity: graph.nodes.count)
        var edges = Set<EdgeType>(minimumCapacity: graph.children.count + graph.roots.count)
        for i in graph.nodes.indices {
            let label = table.hash(graph.nodes[i].label)
            labels.insert(label)
            for c in graph.children(of: i) {
                edges.insert(EdgeType(parent: label, child: table.hash(graph.nodes[Int(c)].label)))
            }
        }
        for r in graph.roots { edges.insert(EdgeType(parent: 0, child: table.hash(graph.nodes[Int(r)].label))) }
        self.labels = labels
        self.edges = edges
    }

    init(labels: Set<UInt64>, edges: Set<EdgeType>) {
        self.labels = labels
        self.edges = edges
    }

    /// Jaccard similarity of the edge types (labels break ties): 1 for identical features.
    public func similarity(to other: FlowFeatures) -> Double {
        // Counted, not built: the slow path compares a trace with every flow.
        let sharedEdges = Self.sharedCount(edges, other.edges), sharedLabels = Self.sharedCount(labels, other.labels)
        let union = edges.count + other.edges.count - sharedEdges + labels.count + other.labels.count - sharedLabels
        guard union > 0 else { return 1 }
        return Double(sharedEdges + sharedLabels) / Double(union)
    }

    /// The number of elements `a` and `b` share.
    private static func sharedCount<T: Hashable>(_ a: Set<T>, _ b: Set<T>) -> Int {
        let (small, large) = a.count <= b.count ? (a, b) : (b, a)
        var shared = 0
        for element in small where large.contains(element) { shared += 1 }
        return shared
    }
}

/// One step of a representative flow: the events of one sub-DAG shape, the edge into them and
/// their learnt latency.
public struct FlowStep: Sendable, Hashable {
    /// The step's label hash.
    public var label: UInt64
    /// The label hash of its (first) parent, 0 for a root.
    public var parentLabel: UInt64
    /// Its latency (`TraceGraph.latency(of:parentEnds:)`) in normal traces.
    public var latency = LatencyProfile()
    /// Latencies above this are a timing anomaly; `nil` while too few were learnt.
    public var threshold: UInt64?
}

/// A representative flow: every learnt trace with one collapsed signature (`TraceSignature`).
public struct RepresentativeFlow: Sendable, Hashable {
    /// The collapsed signature.
    public var signature: UInt64
    /// Traces learnt.
    public var count: Int
    /// Exact signatures seen, with their counts (the flow's variants: the same steps repeated a
    /// different number of times).
    public var variants: [UInt64: Int]
    /// The flow's labels and edge types.
    public var features: FlowFeatures
    /// End-to-end latency.
    public var endToEnd = LatencyProfile()
    /// End-to-end latencies above this are a timing anomaly (`nil`: too few learnt).
    public var endToEndThreshold: UInt64?
    /// Steps by node shape (`TraceSignature.nodeShapes`).
    public var steps: [UInt64: FlowStep]
    /// The first trace learnt into it.
    public var example: UInt64
    /// Events in the example trace.
    public var exampleEvents: Int
}

/// What the detector says about one completed trace.
public struct FlowVerdict: Sendable {
    /// The classes of verdict.
    public enum Kind: String, Sendable, Hashable {
        /// A learnt flow, exactly as learnt, within its timing.
        case normal
        /// A learnt flow with a new count of some repeated step (a new exact signature), within
        /// its timing: normal, and counted as a variant.
        case variant
        /// A shape no learnt flow has: a step added, missing or differently shaped.
        case structural
        /// A learnt flow whose end-to-end or step latency is beyond the flow's learnt tail.
        case timing
    }

    /// A step slower than its flow's threshold.
    public struct SlowStep: Sendable, Hashable {
        /// The step's label hash.
        public var label: UInt64
        /// Its parent's label hash (0: a root).
        public var parentLabel: UInt64
        /// The latency observed.
        public var latency: UInt64
        /// The flow's threshold for the step.
        public var threshold: UInt64
        /// The flow's learnt 99th percentile for the step.
        public var p99: UInt64
    }

    /// The trace.
    public var trace: UInt64
    /// The verdict.
    public var kind: Kind
    /// The trace's signatures.
    public var signature: UInt64, exactSignature: UInt64
    /// The learnt flow it belongs to (normal, variant, timing) or the nearest one (structural).
    public var flow: UInt64?
    /// Structural: the similarity to the nearest flow (`FlowFeatures.similarity`).
    public var similarity: Double = 1
    /// Structural: labels present here and absent from the nearest flow, and the reverse.
    public var addedLabels: [UInt64] = [], missingLabels: [UInt64] = []
    /// Structural: edge types present here and absent from the nearest flow, and the reverse.
    public var addedEdges: [EdgeType] = [], missingEdges: [EdgeType] = []
    /// Timing: the steps beyond their thresholds, slowest first relative to the threshold.
    public var slowSteps: [SlowStep] = []
    /// The trace's end-to-end latency, and the flow's threshold if it was exceeded.
    public var endToEnd: UInt64 = 0, endToEndThreshold: UInt64?
    /// Events in the trace.
    public var events: Int
    /// The trace had edges to events that never arrived.
    public var fractured: Bool
    /// The Bloom filter said "present" but no flow has the signature.
    public var bloomFalsePositive = false
    /// No learnt trace had this exact signature: an exact-signature detector would flag it.
    public var newExactSignature = true

    /// Whether the verdict is an anomaly.
    public var isAnomaly: Bool { kind == .structural || kind == .timing }
}

/// Representative flows learnt from normal traffic, and the detector that classifies completed
/// traces against them (the Altair paper's slow path and fast path).
///
/// Learning (`learn`) groups traces by collapsed signature. `finish` then sorts the latency
/// samples, sets each step's and each flow's threshold to `slack` times the learnt
/// `tailQuantile` plus `floorNanos` (a step needs `minimumTimingSamples` observations to get
/// one), and fills the Bloom filter with the flows' signatures. `classify` answers from the
/// Bloom filter first: absent is a structural anomaly at once; present is confirmed in the flow
/// table, which holds the timing thresholds.
public struct FlowModel: Sendable {
    /// Flows by collapsed signature.
    public private(set) var flows: [UInt64: RepresentativeFlow] = [:]
    /// Names of the label hashes learnt.
    public private(set) var names: [UInt64: String] = [:]
    /// The multiple of the learnt tail above which a latency is anomalous.
    public var slack: Double
    /// The quantile of the learnt latencies taken as the tail.
    public var tailQuantile: Double
    /// Added to every threshold: latencies within this of the tail are never anomalous (timer
    /// and scheduling noise on short steps).
    public var floorNanos: UInt64
    /// Steps (and flows) learnt fewer times than this get no threshold.
    public var minimumTimingSamples: Int
    /// The fast path.
    public private(set) var bloom = BloomFilter(capacity: 1)
    /// The Bloom filter's target false-positive rate.
    public var bloomFalsePositiveRate: Double
    /// Traces learnt.
    public private(set) var learnt = 0

    /// An empty model with the detector's settings.
    public init(slack: Double = 2, tailQuantile: Double = 0.999, floorNanos: UInt64 = 1_000_000,
                minimumTimingSamples: Int = 5, bloomFalsePositiveRate: Double = 0.001) {
        self.slack = slack
        self.tailQuantile = tailQuantile
        self.floorNanos = floorNanos
        self.minimumTimingSamples = minimumTimingSamples
        self.bloomFalsePositiveRate = bloomFalsePositiveRate
    }

    /// Learns one normal trace.
    public mutating func learn(_ graph: TraceGraph, signature: TraceSignature, labels: LabelTable) {
        learnt += 1
        for node in graph.nodes {
            let hash = labels.hash(node.label)
            if names[hash] == nil { names[hash] = labels.name(node.label) }
        }
        var flow = flows[signature.collapsed] ?? RepresentativeFlow(
            signature: signature.collapsed, count: 0, variants: [:], features: FlowFeatures(graph, labels: labels),
            steps: [:], example: graph.trace, exampleEvents: graph.nodes.count)
        flow.count += 1
        flow.variants[signature.exact, default: 0] += 1
        flow.endToEnd.record(graph.endToEnd)
        let parentEnds = graph.latestParentEnds()
        let firstParent = Self.firstParents(graph)
        for i in graph.nodes.indices {
            let shape = signature.nodeShapes[i]
            let parentLabel = firstParent[i] >= 0 ? labels.hash(graph.nodes[Int(firstParent[i])].label) : 0
            var step = flow.steps[shape] ?? FlowStep(label: labels.hash(graph.nodes[i].label), parentLabel: parentLabel)
            step.latency.record(graph.latency(of: i, parentEnds: parentEnds))
            flow.steps[shape] = step
        }
        flows[signature.collapsed] = flow
    }

    /// Adds a flow learnt elsewhere (a saved model), merging with one of the same signature.
    public mutating func add(_ flow: RepresentativeFlow, names more: [UInt64: String]) {
        names.merge(more) { old, _ in old }
        learnt += flow.count
        guard var known = flows[flow.signature] else {
            flows[flow.signature] = flow
            return
        }
        known.count += flow.count
        known.variants.merge(flow.variants, uniquingKeysWith: +)
        known.endToEnd.merge(flow.endToEnd)
        for (shape, step) in flow.steps {
            if var mine = known.steps[shape] {
                mine.latency.merge(step.latency)
                known.steps[shape] = mine
            } else {
                known.steps[shape] = step
            }
        }
        flows[flow.signature] = known
    }

    /// Computes thresholds and builds the Bloom filter; call after learning, before `classify`.
    public mutating func finish() {
        for key in Array(flows.keys) {
            var flow = flows[key]!
            flow.endToEnd.finish()
            flow.endToEndThreshold = threshold(flow.endToEnd)
            for shape in Array(flow.steps.keys) {
                flow.steps[shape]!.latency.finish()
                flow.steps[shape]!.threshold = threshold(flow.steps[shape]!.latency)
            }
            flows[key] = flow
        }
        var filter = BloomFilter(capacity: max(flows.count, 64), falsePositiveRate: bloomFalsePositiveRate)
        for signature in flows.keys { filter.insert(signature) }
        bloom = filter
    }

    private func threshold(_ profile: LatencyProfile) -> UInt64? {
        guard profile.count >= minimumTimingSamples else { return nil }
        let tail = Double(profile.quantile(tailQuantile))
        let scaled = tail * slack
        return scaled >= 1.8e19 ? UInt64.max : UInt64(scaled) &+ floorNanos
    }

    /// Classifies one completed trace.
    public func classify(_ graph: TraceGraph, signature: TraceSignature, labels: LabelTable) -> FlowVerdict {
        var verdict = FlowVerdict(trace: graph.trace, kind: .normal, signature: signature.collapsed,
                                  exactSignature: signature.exact, flow: nil, endToEnd: graph.endToEnd,
                                  events: graph.nodes.count, fractured: graph.isFractured)
        guard bloom.mayContain(signature.collapsed), let flow = flows[signature.collapsed] else {
            verdict.bloomFalsePositive = bloom.mayContain(signature.collapsed)
            explainStructure(graph, labels: labels, into: &verdict)
            return verdict
        }
        verdict.flow = flow.signature
        verdict.newExactSignature = flow.variants[signature.exact] == nil
        if verdict.newExactSignature { verdict.kind = .variant }
        if let limit = flow.endToEndThreshold, verdict.endToEnd > limit {
            verdict.endToEndThreshold = limit
            verdict.kind = .timing
        }
        let parentEnds = graph.latestParentEnds()
        for i in graph.nodes.indices {
            guard let step = flow.steps[signature.nodeShapes[i]], let limit = step.threshold else { continue }
            let latency = graph.latency(of: i, parentEnds: parentEnds)
            if latency > limit {
                verdict.slowSteps.append(.init(label: step.label, parentLabel: step.parentLabel, latency: latency,
                                               threshold: limit, p99: step.latency.quantile(0.99)))
            }
        }
        if !verdict.slowSteps.isEmpty {
            verdict.kind = .timing
            verdict.slowSteps.sort { Double($0.latency) / Double(max($0.threshold, 1)) > Double($1.latency) / Double(max($1.threshold, 1)) }
            if verdict.slowSteps.count > 8 { verdict.slowSteps.removeLast(verdict.slowSteps.count - 8) }
        }
        return verdict
    }

    /// The slow path of a structural anomaly: the nearest flow and what differs from it.
    private func explainStructure(_ graph: TraceGraph, labels: LabelTable, into verdict: inout FlowVerdict) {
        verdict.kind = .structural
        let features = FlowFeatures(graph, labels: labels)
        var best: RepresentativeFlow?
        var bestScore = -1.0
        for flow in flows.values {
            let score = features.similarity(to: flow.features)
            if score > bestScore || (score == bestScore && flow.count > (best?.count ?? 0)) {
                best = flow
                bestScore = score
            }
        }
        guard let nearest = best else { return }
        verdict.flow = nearest.signature
        verdict.similarity = bestScore
        verdict.addedLabels = features.labels.subtracting(nearest.features.labels).sorted()
        verdict.missingLabels = nearest.features.labels.subtracting(features.labels).sorted()
        verdict.addedEdges = features.edges.subtracting(nearest.features.edges).sorted()
        verdict.missingEdges = nearest.features.edges.subtracting(features.edges).sorted()
    }

    /// For each node, one parent (the first in index order), -1 for a root.
    static func firstParents(_ graph: TraceGraph) -> [Int32] {
        var result = [Int32](repeating: -1, count: graph.nodes.count)
        for i in graph.nodes.indices {
            for c in graph.children(of: i) where result[Int(c)] < 0 { result[Int(c)] = Int32(i) }
        }
        return result
    }

    /// The name of a label hash: learnt, else from `labels` (the stream's table).
    public func name(of hash: UInt64, labels: LabelTable? = nil) -> String {
        if hash == 0 { return "(root)" }
        if let known = names[hash] { return known }
        if let labels, let id = labels.hashes.firstIndex(of: hash) { return labels.names[id] }
        return String(hash, radix: 16)
    }

    /// The explanation of a verdict in words, with names from this model and `labels`.
    public func explain(_ verdict: FlowVerdict, labels: LabelTable? = nil) -> String {
        verdict.explanation { name(of: $0, labels: labels) }
    }
}

extension FlowVerdict {
    /// The verdict in words; `name` names a label hash.
    public func explanation(name: (UInt64) -> String) -> String {
        func edge(_ e: EdgeType) -> String { "\(name(e.parent)) -> \(name(e.child))" }
        func ms(_ nanos: UInt64) -> String {
            let value = Double(nanos) / 1e6
            return value >= 100 ? "\(Int(value.rounded())) ms" : "\((value * 1000).rounded() / 1000) ms"
        }
        switch kind {
        case .normal: return "a learnt flow"
        case .variant: return "a learnt flow with a step repeated a new number of times"
        case .structural:
            guard let flow else { return "no flow was learnt" }
            var parts: [String] = []
            if !addedLabels.isEmpty { parts.append("new steps " + addedLabels.map(name).joined(separator: ", ")) }
            if !missingLabels.isEmpty { parts.append("missing steps " + missingLabels.map(name).joined(separator: ", ")) }
            if !addedEdges.isEmpty { parts.append("new edges " + addedEdges.prefix(6).map(edge).joined(separator: ", ") + (addedEdges.count > 6 ? " (+\(addedEdges.count - 6))" : "")) }
            if !missingEdges.isEmpty { parts.append("missing edges " + missingEdges.prefix(6).map(edge).joined(separator: ", ") + (missingEdges.count > 6 ? " (+\(missingEdges.count - 6))" : "")) }
            if parts.isEmpty { parts.append("the same steps and edges, arranged differently") }
            return "nearest flow \(hex64(flow)) (similarity \((similarity * 1000).rounded() / 1000)): " + parts.joined(separator: "; ")
        case .timing:
            var parts: [String] = []
            if let limit = endToEndThreshold { parts.append("end to end \(ms(endToEnd)) > \(ms(limit))") }
            for step in slowSteps.prefix(3) {
                parts.append("\(name(step.parentLabel)) -> \(name(step.label)) took \(ms(step.latency)) > \(ms(step.threshold)) (p99 \(ms(step.p99)))")
            }
            return "flow \(hex64(flow ?? 0)): " + parts.joined(separator: "; ")
        }
    }
}
