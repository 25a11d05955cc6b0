import CSpoorSupport
import SpoorABI
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// An engine event observed on a record between two UDFs (the papers' poke).
public enum RecordEvent: Sendable, Hashable, CustomStringConvertible {
    /// The event's name, as `spoor_event_name` gives it (`shuffle_write`, ..., `custom:N`).
    public var description: String {
        if case .custom(let code) = self { return "custom:\(code)" }
        return String(cString: spoor_event_name(code))
    }

    case shuffleWrite, shuffleRead, serialize, deserialize, bufferEnter, bufferLeave, networkSend, networkReceive
    /// The record was removed by a filter.
    case filtered
    /// The record left the traced topology.
    case exit
    /// User code failed on the record.
    case error
    /// An engine-specific event, code >= 1000.
    case custom(UInt32)

    /// The `spoor_event` code (the constants of spoor.h).
    @inlinable
    public var code: UInt32 {
        switch self {
        case .shuffleWrite: SPOOR_EVENT_SHUFFLE_WRITE.rawValue
        case .shuffleRead: SPOOR_EVENT_SHUFFLE_READ.rawValue
        case .serialize: SPOOR_EVENT_SERIALIZE.rawValue
        case .deserialize: SPOOR_EVENT_DESERIALIZE.rawValue
        case .bufferEnter: SPOOR_EVENT_BUFFER_ENTER.rawValue
        case .bufferLeave: SPOOR_EVENT_BUFFER_LEAVE.rawValue
        case .networkSend: SPOOR_EVENT_NETWORK_SEND.rawValue
        case .networkReceive: SPOOR_EVENT_NETWORK_RECEIVE.rawValue
        case .filtered: SPOOR_EVENT_FILTERED.rawValue
        case .exit: SPOOR_EVENT_EXIT.rawValue
        case .error: SPOOR_EVENT_ERROR.rawValue
        case .custom(let code): code
        }
    }
}

/// A timestamped event on one record.
public struct TimedEvent: Sendable, Hashable {
    /// What happened.
    public var event: RecordEvent
    /// The operator that observed it (as in a direct `spoor_poke`).
    public var op: UInt32
    /// When (CLOCK_MONOTONIC nanoseconds).
    public var nanos: UInt64
}

/// A record's place in a piggybacked lineage graph: a lineage object and which further output of
/// its head the record is, or, for a record sampled at entry, just its id (the entry is reported
/// when sampled, so no object is needed for it). Records of a fan-out (flatMap) share their node
/// and differ in the output here, so no object is allocated per output.
@usableFromInline
struct LineageRef: Sendable {
    /// The lineage object, or nil for an entry record.
    @usableFromInline let object: PiggybackLineage?
    /// With an object: which further output of its head the record is. Without: the entry's id.
    @usableFromInline let payload: UInt64

    @inlinable
    init(_ object: PiggybackLineage, output: UInt32 = 0) {
        self.object = object
        payload = UInt64(output)
    }

    /// A record sampled at entry, reported there with `id`.
    @inlinable
    init(entry id: UInt64) {
        object = nil
        payload = id
    }

    /// The node that produced the record (for an entry record, a root node made now).
    var head: LineageNode { object?.head ?? LineageNode(entry: payload, op: 0, keyHash: 0, at: 0) }

    /// Which output of the head the record is.
    var output: UInt32 { object.map { $0.output &+ UInt32(truncatingIfNeeded: payload) } ?? 0 }

    /// The record's lineage as an object (allocates a view for a fan-out output, a root for an entry).
    var lineage: PiggybackLineage {
        guard let object else { return head }
        guard payload != 0 else { return object }
        let earlier: LineageView? = object.isView ? unsafeDowncast(object, to: LineageView.self) : nil
        return LineageView(node: object.head, output: output, earlier: earlier, first: nil, second: nil)
    }

    /// Reports the graph behind the record and returns the record's id, or 0 if the core refused.
    func report(depth: Int = 0) -> UInt64 {
        guard let object else { return payload }
        let id = object.report(depth: depth)
        return id == 0 ? 0 : id &+ payload
    }
}

/// `LineageRef` read without retaining its object (same layout), for the report traversal.
struct UnretainedLineageRef {
    let object: Unmanaged<PiggybackLineage>?
    let payload: UInt64

    func report(depth: Int) -> UInt64 {
        guard let object else { return payload }
        let id = object._withUnsafeGuaranteedRef { $0.report(depth: depth) }
        return id == 0 ? 0 : id &+ payload
    }
}

/// An input of a node with several parents: a parent record's lineage and, optionally, the UDF
/// application that made the contributing record from it, kept inline. A record whose only use is
/// to be folded (a keyed record going into an aggregation) then needs no node of its own: its
/// application is reported from here, as direct reporting would have reported it.
@usableFromInline
struct LineageInput: Sendable {
    /// The parent record's lineage.
    @usableFromInline let parent: LineageRef
    /// The inline application's operator, or 0: the input is `parent` itself.
    @usableFromInline let op: UInt32
    /// The inline application's output key hash and timing.
    @usableFromInline let keyHash: UInt64, startNanos: UInt64, endNanos: UInt64

    /// The parent record itself.
    @inlinable
    init(_ parent: LineageRef) {
        self.parent = parent
        op = 0
        keyHash = 0
        startNanos = 0
        endNanos = 0
    }

    /// The output of a one-to-one application of `op` on `parent`.
    @inlinable
    init(applying op: UInt32, to parent: LineageRef, keyHash: UInt64, start: UInt64, end: UInt64) {
        self.parent = parent
        self.op = op
        self.keyHash = keyHash
        startNanos = start
        endNanos = end
    }
}

/// `LineageInput` read without retaining its parent's object (same layout), for the report
/// traversal.
struct UnretainedLineageInput {
    let parent: UnretainedLineageRef
    let op: UInt32
    let keyHash: UInt64, startNanos: UInt64, endNanos: UInt64

    /// Reports the parent's graph and then the inline application, if any; returns the input's id.
    func report(depth: Int) -> UInt64 {
        let parentID = parent.report(depth: depth)
        guard op != 0, parentID != 0 else { return parentID }
        var id: UInt64 = 0
        _ = spoor_checkpoint1(parentID, op, keyHash, startNanos, endNanos, &id)
        return id
    }
}

/// The lineage a piggybacked record carries: the node that produced it, which of the node's
/// outputs it is, and the events it saw since. A node is itself the lineage of its first output
/// (no extra object for the common one-output case); other outputs, and records that saw events,
/// carry a small view.
///
/// The graph is immutable until it is reported. Reporting (where a record leaves the pipeline)
/// writes every node once, parents first, and then cuts each reported node from its inputs: the
/// log now holds that part of the graph, so memory is given back while it is still in cache, and
/// a record held after its exit does not pin its ancestors.
public class PiggybackLineage: @unchecked Sendable {
    /// Which output of the head the record is.
    public let output: UInt32
    /// Whether this is a `LineageView` (checked instead of dynamic casts on the report path).
    let isView: Bool

    init(output: UInt32, isView: Bool) {
        self.output = output
        self.isView = isView
    }

    /// The node that produced the record.
    public var head: LineageNode {
        isView ? unsafeDowncast(self, to: LineageView.self).node : unsafeDowncast(self, to: LineageNode.self)
    }

    /// Events on the record since it was produced, oldest first.
    public var events: [TimedEvent] {
        guard isView else { return [] }
        var events: [TimedEvent] = []
        var view: LineageView? = unsafeDowncast(self, to: LineageView.self)
        while let current = view {
            for timed in current.ownEvents.reversed() { events.append(timed) }
            view = current.earlier
        }
        return events.reversed()
    }

    /// Reports the graph behind this record (each node once even when graphs share nodes or
    /// several threads report at once, parents before children) and the record's events, and
    /// returns the record's id, or 0 if the core refused. The log then holds the same reports
    /// direct reporting would have written.
    func report(depth: Int = 0) -> UInt64 {
        guard isView else { return LineageNode.report(unsafeDowncast(self, to: LineageNode.self), depth: depth) }
        let view = unsafeDowncast(self, to: LineageView.self)
        let first = LineageNode.report(view.node, depth: depth)
        guard first != 0 else { return 0 }
        let id = first &+ UInt64(output)
        view.reportEvents(id)
        return id
    }
}

/// Output `output` of a node, or a record that saw events since it was produced: up to two events
/// of its own and, behind them, the view it was poked from.
final class LineageView: PiggybackLineage, @unchecked Sendable {
    let node: LineageNode
    /// The view this one was poked from (its events are earlier), or nil.
    let earlier: LineageView?
    let first: TimedEvent?
    let second: TimedEvent?
    /// Whether this view's own events were reported (once, however many consumers it has).
    let eventsReported = Atomic<Bool>(false)

    init(node: LineageNode, output: UInt32, earlier: LineageView?, first: TimedEvent?, second: TimedEvent?) {
        self.node = node
        self.earlier = earlier
        self.first = first
        self.second = second
        super.init(output: output, isView: true)
    }

    var ownEvents: [TimedEvent] { [first, second].compactMap { $0 } }

    /// Pokes the events of this view and the views behind it, oldest first, each view's once.
    func reportEvents(_ id: UInt64) {
        guard let earlier else { return reportOwnEvents(id) }
        // A long chain of pokes is walked without recursion.
        var chain: [LineageView] = [self, earlier]
        while let next = chain[chain.count - 1].earlier { chain.append(next) }
        for view in chain.reversed() { view.reportOwnEvents(id) }
    }

    private func reportOwnEvents(_ id: UInt64) {
        guard first != nil, !eventsReported.exchange(true, ordering: .relaxed) else { return }
        if let first { _ = spoor_poke(id, first.op, first.event.code, first.nanos) }
        if let second { _ = spoor_poke(id, second.op, second.event.code, second.nanos) }
    }

    /// `lineage` with one or two more events.
    static func adding(_ first: TimedEvent, _ second: TimedEvent?, to lineage: LineageRef) -> LineageView {
        let earlier: LineageView? = lineage.object.flatMap { $0.isView ? unsafeDowncast($0, to: LineageView.self) : nil }
        return LineageView(node: lineage.head, output: lineage.output, earlier: earlier, first: first, second: second)
    }
}

/// One UDF application in a piggybacked lineage graph: a node whose inputs are the lineages of its
/// parents (nodes, or views carrying the events a parent saw on its way: metrics sit on edges);
/// the node carries the UDF's own timing.
public final class LineageNode: PiggybackLineage, @unchecked Sendable {
    /// Entry (a root, already reported with its id at entry) or a UDF application.
    public enum Kind: Sendable {
        /// A record sampled at entry.
        case entry
        /// A UDF application.
        case udf
    }

    // Declared first, so that the fields the report path touches first share a cache line.
    /// 0: not reported; 1: being reported; 2: reported but refused; otherwise the first id.
    let reported: Atomic<UInt64>
    /// The first input, kept inline (most nodes have one). Written only by the thread that owns
    /// the report (state 1), and by deinit.
    @exclusivity(unchecked) var firstInput: LineageRef?
    /// The node's kind.
    public let kind: Kind
    /// Whether the node folds many parents into one aggregate.
    public let isFold: Bool
    /// The operator id.
    public let op: UInt32
    /// Outputs of this application (consecutive ids once reported).
    public let fanout: UInt32
    /// Key hash of the outputs, or 0.
    public let keyHash: UInt64
    /// UDF start and end (CLOCK_MONOTONIC nanoseconds).
    public let startNanos: UInt64, endNanos: UInt64
    /// Metadata of the application.
    public let attachment: Attachment
    /// The other inputs (shared with the fold that gathered them: no copy).
    @exclusivity(unchecked) var otherInputs: ContiguousArray<LineageInput>
    /// More inputs, in the arrays of the partial folds that were merged (shared, not copied).
    @exclusivity(unchecked) var mergedInputs: [ContiguousArray<LineageInput>]

    /// The first id of the node's outputs once reported, or nil.
    public var reportedID: RecordID? {
        let state = reported.load(ordering: .acquiring)
        return state > 2 ? RecordID(state) : nil
    }

    private init(
        kind: Kind, op: UInt32, fanout: UInt32, keyHash: UInt64, start: UInt64, end: UInt64, fold: Bool,
        attachment: Attachment, firstInput: LineageRef?, otherInputs: ContiguousArray<LineageInput>,
        mergedInputs: [ContiguousArray<LineageInput>] = [], reported: UInt64
    ) {
        self.kind = kind
        isFold = fold
        self.op = op
        self.fanout = fanout
        self.keyHash = keyHash
        startNanos = start
        endNanos = end
        self.attachment = attachment
        self.firstInput = firstInput
        self.otherInputs = otherInputs
        self.mergedInputs = mergedInputs
        self.reported = Atomic(reported)
        super.init(output: 0, isView: false)
    }

    /// A root: the entry record, already reported with `id`.
    convenience init(entry id: UInt64, op: UInt32, keyHash: UInt64, at nanos: UInt64) {
        self.init(
            kind: .entry, op: op, fanout: 1, keyHash: keyHash, start: 0, end: nanos, fold: false, attachment: [:],
            firstInput: nil, otherInputs: [], reported: id)
    }

    /// A UDF application on one record.
    convenience init(
        op: UInt32, fanout: UInt32, keyHash: UInt64, start: UInt64, end: UInt64, attachment: Attachment,
        input: LineageRef
    ) {
        self.init(
            kind: .udf, op: op, fanout: fanout, keyHash: keyHash, start: start, end: end, fold: false,
            attachment: attachment, firstInput: input, otherInputs: [], reported: 0)
    }

    /// A UDF application on several records. The input arrays are kept as given (no copy: a
    /// fold's can hold every contributor of a window).
    convenience init(
        op: UInt32, keyHash: UInt64, start: UInt64, end: UInt64, fold: Bool, inputs: ContiguousArray<LineageInput>,
        merged: [ContiguousArray<LineageInput>] = []
    ) {
        self.init(
            kind: .udf, op: op, fanout: 1, keyHash: keyHash, start: start, end: end, fold: fold, attachment: [:],
            firstInput: nil, otherInputs: inputs, mergedInputs: merged, reported: 0)
    }

    deinit {
        // Pairs with the releasing store of the thread that reported the node and cut its inputs.
        _ = reported.load(ordering: .acquiring)
        guard firstInput != nil || !otherInputs.isEmpty || !mergedInputs.isEmpty else { return }
        // An unreported graph is freed without recursion (a long chain of lifts or combines would
        // otherwise take one stack frame per node): what this node alone holds is taken apart
        // here, one object at a time, so that no deinit below this one has anything left to free.
        var work: [PiggybackLineage] = []
        Self.takeInputs(of: self, into: &work)
        while var next = work.popLast() {
            guard isKnownUniquelyReferenced(&next) else { continue }
            if next.isView {
                let view = unsafeDowncast(next, to: LineageView.self)
                work.append(view.node)
                if let earlier = view.earlier { work.append(earlier) }
            } else {
                Self.takeInputs(of: unsafeDowncast(next, to: LineageNode.self), into: &work)
            }
        }
    }

    /// Moves the objects `node`'s inputs refer to into `work` (the node is being freed).
    private static func takeInputs(of node: LineageNode, into work: inout [PiggybackLineage]) {
        _ = node.reported.load(ordering: .acquiring)
        if let object = node.firstInput.take()?.object { work.append(object) }
        let others = node.otherInputs
        node.otherInputs = []
        for input in others { if let object = input.parent.object { work.append(object) } }
        let merged = node.mergedInputs
        node.mergedInputs = []
        for inputs in merged {
            for input in inputs { if let object = input.parent.object { work.append(object) } }
        }
    }

    /// How deep a report recurses; a deeper graph (a long chain of combines) is reported from
    /// there on without recursion.
    static let recursionBudget = 64

    /// Reports `node` (its inputs first) once; returns its first output id, or 0. `depth` is the
    /// recursion depth of the report so far.
    static func report(_ node: LineageNode, depth: Int = 0) -> UInt64 {
        var state = node.reported.load(ordering: .acquiring)
        if _fastPath(state > 2) { return state }
        var spins = 0
        while state <= 1 {
            if state == 0 {
                let exchange = node.reported.compareExchange(expected: 0, desired: 1, ordering: .acquiringAndReleasing)
                if exchange.exchanged {
                    return depth < recursionBudget ? node.reportInputsAndSelf(depth: depth) : reportWithoutRecursion(node)
                }
                state = exchange.original
            } else {
                // Another thread is reporting it: wait for its id.
                spins = backOff(spins)
                state = node.reported.load(ordering: .acquiring)
            }
        }
        return state == 2 ? 0 : state  // 2: reported, but the core refused (not running)
    }

    /// One wait for a node another thread is reporting: a CPU pause at first, then yielding the
    /// CPU (with more threads than cores, the reporter may be waiting for one).
    private static func backOff(_ spins: Int) -> Int {
        if spins < 64 {
            spoor_swift_pause()
        } else {
            sched_yield()
        }
        return spins &+ 1
    }

    /// Reports `root`, which the caller claimed, and the unreported graph below it with an
    /// explicit stack: each node is reported once all its inputs are.
    private static func reportWithoutRecursion(_ root: LineageNode) -> UInt64 {
        var stack: [(node: LineageNode, position: Int)] = [(root, 0)]
        while let top = stack.last {
            if let (input, next) = top.node.claimUnreportedInput(from: top.position) {
                stack[stack.count - 1].position = next
                stack.append((input, 0))
            } else {
                stack.removeLast()
                // Every input is reported by now: this reports the node itself and goes no deeper.
                _ = top.node.reportInputsAndSelf(depth: recursionBudget)
            }
        }
        let state = root.reported.load(ordering: .acquiring)
        return state > 2 ? state : 0
    }

    /// The node of the first input at or after `position` (counting the first input, then the
    /// others, then the merged ones) that nobody has reported, claimed for the caller, with the
    /// position after it; inputs another thread is reporting are waited for. Only the thread that
    /// claimed this node calls it.
    private func claimUnreportedInput(from position: Int) -> (LineageNode, Int)? {
        func claim(_ object: PiggybackLineage?) -> LineageNode? {
            guard let object else { return nil }
            let node = object.head
            var state = node.reported.load(ordering: .acquiring)
            var spins = 0
            while state <= 1 {
                if state == 0 {
                    let exchange = node.reported.compareExchange(expected: 0, desired: 1, ordering: .acquiringAndReleasing)
                    if exchange.exchanged { return node }
                    state = exchange.original
                } else {
                    spins = Self.backOff(spins)
                    state = node.reported.load(ordering: .acquiring)
                }
            }
            return nil
        }
        var start = 0
        if let first = firstInput {
            if position == 0, let node = claim(first.object) { return (node, 1) }
            start = 1
        }
        for inputs in CollectionOfOne(otherInputs) + mergedInputs {
            if position < start + inputs.count {
                for index in max(position - start, 0)..<inputs.count {
                    if let node = claim(inputs[index].parent.object) { return (node, start + index + 1) }
                }
            }
            start += inputs.count
        }
        return nil
    }

    /// The report itself, by the thread that moved the state from 0 to 1.
    private func reportInputsAndSelf(depth: Int) -> UInt64 {
        // The inputs are reported now: cut them from the graph (freed here if this was their last
        // holder, while still in cache).
        let first = firstInput.take()
        let others = otherInputs
        otherInputs = []
        let merged = mergedInputs
        mergedInputs = []
        var count = (first == nil ? 0 : 1) + others.count
        for inputs in merged { count += inputs.count }
        var id: UInt64 = 0
        withUnsafeTemporaryAllocation(of: UInt64.self, capacity: max(count, 1)) { parents in
            var index = 0
            if let first {
                parents[0] = first.report(depth: depth &+ 1)
                index = 1
            }
            index = Self.report(others, into: parents, at: index, depth: depth &+ 1)
            for inputs in merged { index = Self.report(inputs, into: parents, at: index, depth: depth &+ 1) }
            attachment.withAttributes { attributes, attributeCount in
                var info = spoor_report_info(
                    op: op, fanout: fanout, keyHash: keyHash, start: startNanos, end: endNanos, attributes: attributes,
                    count: attributeCount)
                guard let base = parents.baseAddress, count > 0 else { return }
                // Every input was reported above; as in direct mode, the report itself names at
                // most SPOOR_MAX_PARENTS of them.
                let named = min(count, Int(SPOOR_MAX_PARENTS))
                if isFold {
                    _ = spoor_fold_report(base, named, &info, &id)
                } else {
                    _ = spoor_checkpoint(base, named, &info, &id)
                }
            }
        }
        // Ids have a non-zero 48-bit block prefix, so 0, 1 and 2 are free to mark states.
        reported.store(id > 2 ? id : 2, ordering: .releasing)
        return id > 2 ? id : 0
    }

    /// Reports each of `inputs` into `parents` from `index` on; returns the index after them.
    private static func report(
        _ inputs: ContiguousArray<LineageInput>, into parents: UnsafeMutableBufferPointer<UInt64>, at index: Int,
        depth: Int
    ) -> Int {
        var index = index
        inputs.withUnsafeBufferPointer { buffer in
            // Read as unmanaged references: `inputs` keeps them alive, and no retain/release pair
            // per input is paid for.
            buffer.withMemoryRebound(to: UnretainedLineageInput.self) { unretained in
                // The inputs of a fold were built on other threads, long ago: fetch ahead.
                let ahead = 8
                for position in unretained.indices.prefix(ahead) {
                    if let object = unretained[position].parent.object { spoor_swift_prefetch(object.toOpaque()) }
                }
                for position in unretained.indices where index < parents.count {
                    if position &+ ahead < unretained.count, let object = unretained[position &+ ahead].parent.object {
                        let address = object.toOpaque()
                        spoor_swift_prefetch(address)
                        spoor_swift_prefetch(address + 64)
                    }
                    parents[index] = unretained[position].report(depth: depth)
                    index += 1
                }
            }
        }
        return index
    }
}
