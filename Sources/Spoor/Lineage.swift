import CSpoor
import Synchronization

/// An engine event observed on a record between two UDFs (the papers' poke).
public enum RecordEvent: Sendable, Hashable {
    case shuffleWrite, shuffleRead, serialize, deserialize, bufferEnter, bufferLeave, networkSend, networkReceive
    /// The record was removed by a filter.
    case filtered
    /// The record left the traced topology.
    case exit
    /// User code failed on the record.
    case error
    /// An engine-specific event, code >= 1000.
    case custom(UInt32)

    /// The `spoor_event` code.
    @inlinable
    public var code: UInt32 {
        switch self {
        case .shuffleWrite: 1
        case .shuffleRead: 2
        case .serialize: 3
        case .deserialize: 4
        case .bufferEnter: 5
        case .bufferLeave: 6
        case .networkSend: 7
        case .networkReceive: 8
        case .filtered: 9
        case .exit: 10
        case .error: 11
        case .custom(let code): code
        }
    }
}

/// A timestamped event on one record.
public struct TimedEvent: Sendable, Hashable {
    /// What happened.
    public var event: RecordEvent
    /// When (CLOCK_MONOTONIC nanoseconds).
    public var nanos: UInt64
}

/// The lineage a piggybacked record carries: the node that produced it, which of the node's
/// outputs it is, and the events it saw since. A node is itself the lineage of its first output
/// (no extra object for the common one-output case); other outputs, and records that saw events,
/// carry a small view.
public class PiggybackLineage: @unchecked Sendable {
    /// The node that produced the record.
    public var head: LineageNode { preconditionFailure("abstract") }
    /// Which output of the head the record is.
    public var output: UInt32 { 0 }
    /// Events on the record since it was produced.
    public var events: [TimedEvent] { [] }

    init() {}

    /// The edge from this record into the node that consumes it.
    var edge: LineageEdge { LineageEdge(node: head, output: output, events: events) }

    /// Nodes in the graph (each once).
    public var nodeCount: Int {
        var seen = Set<ObjectIdentifier>()
        var stack = [head]
        while let node = stack.popLast() {
            guard seen.insert(ObjectIdentifier(node)).inserted else { continue }
            node.forEachInput { stack.append($0.node) }
        }
        return seen.count
    }

    /// Reports the whole graph through the core, each node once even when graphs share nodes or
    /// several threads report at once, parents before children, and returns the record's id.
    /// The log then holds the same reports direct reporting would have written.
    func report() -> UInt64 {
        let node = head
        let first = LineageNode.report(node)
        guard first != 0 else { return 0 }
        let id = first &+ UInt64(output)
        for timed in events { _ = spoor_poke(id, node.op, timed.event.code, timed.nanos) }
        return id
    }
}

/// Output `output` of a node, or a record that saw events since it was produced.
final class LineageView: PiggybackLineage, @unchecked Sendable {
    let node: LineageNode
    let index: UInt32
    let seen: [TimedEvent]

    init(node: LineageNode, output: UInt32, events: [TimedEvent]) {
        self.node = node
        self.index = output
        self.seen = events
    }

    override var head: LineageNode { node }
    override var output: UInt32 { index }
    override var events: [TimedEvent] { seen }
}

/// One UDF application in a piggybacked lineage graph: an immutable node whose inputs are edges
/// to the nodes that produced its parents. Edges carry the events the parent record saw on its
/// way (shuffle, queues), so metrics sit on edges; the node carries the UDF's own timing.
public final class LineageNode: PiggybackLineage, @unchecked Sendable {
    /// Entry (a root, already reported with its id at entry) or a UDF application.
    public enum Kind: Sendable { case entry, udf }

    /// The node's kind.
    public let kind: Kind
    /// The operator id.
    public let op: UInt32
    /// Outputs of this application (consecutive ids once reported).
    public let fanout: UInt32
    /// Key hash of the outputs, or 0.
    public let keyHash: UInt64
    /// UDF start and end (CLOCK_MONOTONIC nanoseconds).
    public let startNanos: UInt64, endNanos: UInt64
    /// Whether the node folds many parents into one aggregate.
    public let isFold: Bool
    /// Metadata of the application.
    public let attachment: Attachment
    /// The first input, kept inline (most nodes have one).
    let firstInput: LineageEdge?
    /// The other inputs.
    let otherInputs: [LineageEdge]
    /// 0: not reported; 1: being reported; 2: reported but refused; otherwise the first id.
    let reported: Atomic<UInt64>

    /// The edges to the parents' producers.
    public var inputs: [LineageEdge] { (firstInput.map { [$0] } ?? []) + otherInputs }

    override public var head: LineageNode { self }

    @inline(__always)
    func forEachInput(_ body: (LineageEdge) -> Void) {
        if let firstInput { body(firstInput) }
        for edge in otherInputs { body(edge) }
    }

    private init(
        kind: Kind, op: UInt32, fanout: UInt32, keyHash: UInt64, start: UInt64, end: UInt64, fold: Bool,
        attachment: Attachment, firstInput: LineageEdge?, otherInputs: [LineageEdge], reported: UInt64
    ) {
        self.kind = kind
        self.op = op
        self.fanout = fanout
        self.keyHash = keyHash
        startNanos = start
        endNanos = end
        isFold = fold
        self.attachment = attachment
        self.firstInput = firstInput
        self.otherInputs = otherInputs
        self.reported = Atomic(reported)
    }

    /// A root: the entry record, already reported with `id`.
    convenience init(entry id: UInt64, op: UInt32, keyHash: UInt64, at nanos: UInt64) {
        self.init(
            kind: .entry, op: op, fanout: 1, keyHash: keyHash, start: 0, end: nanos, fold: false, attachment: [:],
            firstInput: nil, otherInputs: [], reported: id)
    }

    /// A UDF application on one record.
    convenience init(op: UInt32, fanout: UInt32, keyHash: UInt64, start: UInt64, end: UInt64, fold: Bool, attachment: Attachment, input: LineageEdge) {
        self.init(
            kind: .udf, op: op, fanout: fanout, keyHash: keyHash, start: start, end: end, fold: fold,
            attachment: attachment, firstInput: input, otherInputs: [], reported: 0)
    }

    /// A UDF application on several records. The edge array is kept as given (no copy: a fold's
    /// can hold every contributor of a window).
    convenience init(op: UInt32, fanout: UInt32, keyHash: UInt64, start: UInt64, end: UInt64, fold: Bool, attachment: Attachment, inputs: [LineageEdge]) {
        self.init(
            kind: .udf, op: op, fanout: fanout, keyHash: keyHash, start: start, end: end, fold: fold,
            attachment: attachment, firstInput: nil, otherInputs: inputs, reported: 0)
    }

    /// Reports `node` (its inputs first) once; returns its first output id, or 0.
    static func report(_ node: LineageNode) -> UInt64 {
        while true {
            let state = node.reported.load(ordering: .acquiring)
            if state == 2 { return 0 }  // reported, but the core refused (not running)
            if state > 2 { return state }
            if state == 1 { continue }  // another thread is reporting it: wait for its id
            if node.reported.compareExchange(expected: 0, desired: 1, ordering: .acquiringAndReleasing).exchanged { break }
        }
        let count = (node.firstInput == nil ? 0 : 1) + node.otherInputs.count
        var id: UInt64 = 0
        withUnsafeTemporaryAllocation(of: UInt64.self, capacity: max(count, 1)) { parents in
            var index = 0
            node.forEachInput { edge in
                let first = report(edge.node)
                let parent = first == 0 ? 0 : first &+ UInt64(edge.output)
                for timed in edge.events where parent != 0 { _ = spoor_poke(parent, edge.node.op, timed.event.code, timed.nanos) }
                parents[index] = parent
                index += 1
            }
            node.attachment.withAttributes { attributes, attributeCount in
                var info = spoor_report_info()
                info.op = node.op
                info.fanout = node.fanout
                info.key_hash = node.keyHash
                info.start_ns = node.startNanos
                info.end_ns = node.endNanos
                info.attrs = attributes
                info.n_attrs = attributeCount
                guard let base = parents.baseAddress, count > 0 else { return }
                if node.isFold {
                    _ = spoor_fold_report(base, count, &info, &id)
                } else {
                    _ = spoor_checkpoint(base, count, &info, &id)
                }
            }
        }
        // Ids have a non-zero 48-bit block prefix, so 0, 1 and 2 are free to mark states.
        node.reported.store(id > 2 ? id : 2, ordering: .releasing)
        return id > 2 ? id : 0
    }
}

/// An edge of a lineage graph: output `output` of `node`, and what that record saw afterwards.
public struct LineageEdge: Sendable {
    /// The producing node.
    public let node: LineageNode
    /// Which of its outputs.
    public let output: UInt32
    /// Events on the record between its production and its consumption.
    public let events: [TimedEvent]
}
