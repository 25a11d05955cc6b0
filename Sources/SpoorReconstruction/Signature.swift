#if !SPOOR_SINGLE_MODULE
import SpoorSupport
#endif

/// Hash mixing for signatures: one home for the constants.
public enum SignatureHash {
    /// A bijective 64-bit mix: one step of SpoorSupport's splitmix64 from state `value`.
    @inline(__always) public static func mix(_ value: UInt64) -> UInt64 {
        var state = value
        return splitMix64(&state)
    }

    /// Combines a node's label hash with its (sorted) children's hashes; order-sensitive in the
    /// list, so callers sort first.
    @inline(__always) static func combine(_ seed: UInt64, _ values: ArraySlice<UInt64>) -> UInt64 {
        var h = mix(seed ^ 0x5350_4f4f_5253_4947)
        for value in values { h = mix(h ^ value) &+ 0x632b_e59b_d9b4_e019 }
        return mix(h ^ UInt64(values.count))
    }
}

/// The canonical structural signatures of a trace: label-based, insensitive to ids, timestamps,
/// the order events arrived in, and hosts.
///
/// Each node's hash is computed bottom-up from its label and its children's hashes, which is the
/// fixed point of Weisfeiler-Lehman relabelling on the DAG directed from parents to children
/// (after as many rounds as the DAG is deep): two nodes get the same hash exactly when the
/// graphs they reach unfold into the same labelled tree, up to hash collisions (64 bits).
///
/// Two variants:
/// - **exact**: children are a multiset, so a step repeated three times and four times differ;
/// - **collapsed**: children are a set (repeats of an identical sub-DAG count once), so that the
///   normal variants of a flow that only repeat a step (one more block written, one more retry of
///   the same shape) share one signature, while a step that is new, missing, or has a different
///   shape changes it. The flow model keys flows by the collapsed signature, and keeps the exact
///   ones seen as the flow's variants.
public struct TraceSignature: Sendable, Hashable {
    /// The exact signature of the whole trace (the multiset of its roots' exact hashes).
    public var exact: UInt64
    /// The collapsed signature (the set of its roots' collapsed hashes).
    public var collapsed: UInt64
    /// Each node's collapsed hash, by node index (the shape of the sub-DAG below it): the key
    /// that per-node latency distributions are learnt under.
    public var nodeShapes: [UInt64]

    /// Computes the signatures of `graph` using label hashes from `labels`.
    public init(_ graph: TraceGraph, labels: LabelTable) {
        var scratch = SignatureScratch()
        self = scratch.signature(graph, labels: labels)
    }

    init(exact: UInt64, collapsed: UInt64, nodeShapes: [UInt64]) {
        self.exact = exact
        self.collapsed = collapsed
        self.nodeShapes = nodeShapes
    }
}

/// Reusable buffers for computing signatures (one per worker).
public struct SignatureScratch: Sendable {
    private var pending: [Int32] = []
    private var values: [UInt64] = []
    private var remaining: [Int32] = []
    private var parentStart: [Int32] = []
    private var fill: [Int32] = []
    private var parents: [Int32] = []
    private var exact: [UInt64] = []

    /// Empty buffers.
    public init() {}

    /// The signatures of `graph`.
    public mutating func signature(_ graph: TraceGraph, labels: LabelTable) -> TraceSignature {
        let count = graph.nodes.count
        let childStart = graph.childStart, children = graph.children
        // A reverse topological order: Kahn's algorithm on the children counts, from the leaves.
        pending.removeAll(keepingCapacity: true)
        remaining.removeAll(keepingCapacity: true)
        parentStart.removeAll(keepingCapacity: true)
        for i in 0..<count { remaining.append(childStart[i + 1] - childStart[i]) }
        // parents of each node, to walk upward
        parentStart.append(contentsOf: repeatElement(0, count: count + 1))
        for c in children { parentStart[Int(c) + 1] += 1 }
        for i in 0..<count { parentStart[i + 1] += parentStart[i] }
        fill.removeAll(keepingCapacity: true)
        fill.append(contentsOf: parentStart)
        parents.removeAll(keepingCapacity: true)
        parents.append(contentsOf: repeatElement(0, count: children.count))
        for i in 0..<count {
            for k in Int(childStart[i]) ..< Int(childStart[i + 1]) {
                let c = Int(children[k])
                parents[Int(fill[c])] = Int32(i)
                fill[c] += 1
            }
        }
        for i in 0..<count where remaining[i] == 0 { pending.append(Int32(i)) }
        exact.removeAll(keepingCapacity: true)
        exact.append(contentsOf: repeatElement(0, count: count))
        var collapsed = [UInt64](repeating: 0, count: count)
        while let node = pending.popLast() {
            let n = Int(node)
            let label = labels.hash(graph.nodes[n].label)
            let first = Int(childStart[n]), last = Int(childStart[n + 1])
            values.removeAll(keepingCapacity: true)
            for k in first ..< last { values.append(exact[Int(children[k])]) }
            values.sort()
            exact[n] = SignatureHash.combine(label, values[...])
            values.removeAll(keepingCapacity: true)
            for k in first ..< last { values.append(collapsed[Int(children[k])]) }
            collapsed[n] = SignatureHash.combine(label ^ 0x436f_6c6c_6170_7365, Self.uniqueSorted(&values))
            for k in Int(parentStart[n]) ..< Int(parentStart[n + 1]) {
                let p = Int(parents[k])
                remaining[p] -= 1
                if remaining[p] == 0 { pending.append(Int32(p)) }
            }
        }
        values.removeAll(keepingCapacity: true)
        for r in graph.roots { values.append(exact[Int(r)]) }
        values.sort()
        let whole = SignatureHash.combine(0x5452_4143_4520_4558, values[...])
        values.removeAll(keepingCapacity: true)
        for r in graph.roots { values.append(collapsed[Int(r)]) }
        let shape = SignatureHash.combine(0x5452_4143_4520_434f, Self.uniqueSorted(&values))
        return TraceSignature(exact: whole, collapsed: shape, nodeShapes: collapsed)
    }

    private static func uniqueSorted(_ values: inout [UInt64]) -> ArraySlice<UInt64> {
        values.sort()
        var kept = 0
        for k in values.indices where kept == 0 || values[kept - 1] != values[k] {
            values[kept] = values[k]
            kept += 1
        }
        return values[..<kept]
    }
}
