import SpoorABI

/// The traced side of the lifts: report through the core (direct mode) or extend the lineage
/// graph (piggyback mode, chosen by `Spoor.mode` when the record entered). Non-generic, so the
/// generic lifts inline only their untracked branch.
@usableFromInline
enum Reporter {
    /// The outputs of one UDF application.
    @usableFromInline
    struct Derived {
        /// Direct mode: the first output id. Piggyback mode: the trace id (the entry id the outputs
        /// descend from); the outputs' own ids are minted when they exit.
        @usableFromInline let id: RecordID
        @usableFromInline let node: LineageNode?

        @usableFromInline
        func lineage(_ output: UInt32) -> LineageRef? {
            node.map { LineageRef($0, output: output) }
        }
    }

    @usableFromInline
    static func entryLineage(id: UInt64) -> LineageRef? {
        guard Spoor.mode == .piggyback else { return nil }
        return LineageRef(entry: id)
    }

    /// One traced parent.
    @usableFromInline
    static func derive(
        from parent: RecordID, _ lineage: LineageRef?, op: UInt32, fanout: UInt32, key: UInt64,
        start: UInt64, end: UInt64, attachment: Attachment
    ) -> Derived {
        if let lineage {
            let node = LineageNode(
                op: op, fanout: fanout, keyHash: key, start: start, end: end, attachment: attachment, input: lineage)
            return Derived(id: parent, node: node)
        }
        var out: UInt64 = 0
        if fanout <= 1 && attachment.isEmpty {
            _ = spoor_checkpoint1(parent.rawValue, op, key, start, end, &out)
        } else {
            attachment.withAttributes { attributes, count in
                var info = spoor_report_info(
                    op: op, fanout: fanout, keyHash: key, start: start, end: end, attributes: attributes, count: count)
                var parentID = parent.rawValue
                _ = spoor_checkpoint(&parentID, 1, &info, &out)
            }
        }
        return Derived(id: RecordID(out), node: nil)
    }

    /// One traced parent, one output, no attachment: the common lift.
    @usableFromInline
    static func derive(from parent: RecordID, _ lineage: LineageRef?, op: UInt32, key: UInt64, start: UInt64, end: UInt64) -> Derived {
        if let lineage {
            let node = LineageNode(op: op, fanout: 1, keyHash: key, start: start, end: end, attachment: [:], input: lineage)
            return Derived(id: parent, node: node)
        }
        var out: UInt64 = 0
        _ = spoor_checkpoint1(parent.rawValue, op, key, start, end, &out)
        return Derived(id: RecordID(out), node: nil)
    }

    /// A one-to-one application whose output goes straight into a fold: reported now (direct
    /// mode), or kept inline in the fold's lineage (piggyback mode: no node for it).
    @usableFromInline
    static func contribution(
        from parent: RecordID, _ lineage: LineageRef?, op: UInt32, key: UInt64, start: UInt64, end: UInt64
    ) -> FoldContribution {
        if let lineage {
            let input = LineageInput(applying: op, to: lineage, keyHash: key, start: start, end: end)
            return FoldContribution(.inline(input, traceID: parent))
        }
        var out: UInt64 = 0
        _ = spoor_checkpoint1(parent.rawValue, op, key, start, end, &out)
        return FoldContribution(out == 0 ? .untracked : .reported(RecordID(out)))
    }

    /// Several parents (combine, join, cogroup, a fold). Untracked parents are left out.
    @usableFromInline
    static func derive(
        from parents: [(RecordID, LineageRef?)], op: UInt32, key: UInt64, start: UInt64, end: UInt64, fold: Bool
    ) -> Derived {
        var ids: [UInt64] = []
        var edges: ContiguousArray<LineageInput> = []
        var traceID: UInt64 = 0
        for (id, lineage) in parents where id.rawValue != 0 {
            if let lineage {
                edges.append(LineageInput(lineage))
                if traceID == 0 { traceID = id.rawValue }
            } else {
                ids.append(id.rawValue)
            }
        }
        return derive(ids: ids, edges: edges, traceID: traceID, op: op, key: key, start: start, end: end, fold: fold)
    }

    @usableFromInline
    static func derive(
        ids: [UInt64], edges: ContiguousArray<LineageInput>, merged: [ContiguousArray<LineageInput>] = [], traceID: UInt64,
        op: UInt32, key: UInt64, start: UInt64, end: UInt64,
        fold: Bool
    ) -> Derived {
        if !edges.isEmpty || !merged.isEmpty {
            // Parents reported directly (a record continued from a context string) join as ids.
            var inputs = edges
            for id in ids { inputs.append(LineageInput(LineageRef(entry: id))) }
            let node = LineageNode(op: op, keyHash: key, start: start, end: end, fold: fold, inputs: inputs, merged: merged)
            return Derived(id: RecordID(traceID), node: node)
        }
        guard !ids.isEmpty else { return Derived(id: .untracked, node: nil) }
        var info = spoor_report_info(op: op, fanout: 0, keyHash: key, start: start, end: end)
        var out: UInt64 = 0
        if fold {
            ids.withUnsafeBufferPointer { buffer in
                if let base = buffer.baseAddress { _ = spoor_fold_report(base, buffer.count, &info, &out) }
            }
        } else {
            ids.withUnsafeBufferPointer { buffer in
                if let base = buffer.baseAddress { _ = spoor_checkpoint(base, buffer.count, &info, &out) }
            }
        }
        return Derived(id: RecordID(out), node: nil)
    }

    /// Reports an event (direct) or records it on the lineage (piggyback); returns the record's
    /// id and lineage from now on.
    @usableFromInline
    @discardableResult
    static func poke(
        _ id: RecordID, _ lineage: LineageRef?, op: UInt32, event: RecordEvent, then second: RecordEvent? = nil,
        at nanos: UInt64
    ) -> (id: RecordID, lineage: LineageRef?) {
        guard let lineage else {
            _ = spoor_poke(id.rawValue, op, event.code, nanos)
            if let second { _ = spoor_poke(id.rawValue, op, second.code, nanos) }
            return (id, nil)
        }
        if event == .filtered || event == .error || second == .filtered || second == .error {
            // Terminal: the record leaves the pipeline here, so its lineage is reported here; if
            // it is used on, it continues from its reported id.
            let final = lineage.report()
            if final != 0 {
                _ = spoor_poke(final, op, event.code, nanos)
                if let second { _ = spoor_poke(final, op, second.code, nanos) }
            }
            return (RecordID(final), nil)
        }
        let view = LineageView.adding(
            TimedEvent(event: event, op: op, nanos: nanos), second.map { TimedEvent(event: $0, op: op, nanos: nanos) },
            to: lineage)
        return (id, LineageRef(view))
    }

    /// The record leaves the topology.
    @usableFromInline
    static func exit(_ id: RecordID, _ lineage: LineageRef?, op: UInt32, at nanos: UInt64) -> RecordID {
        let final = lineage.map { $0.report() } ?? id.rawValue
        if final != 0 { _ = spoor_poke(final, op, RecordEvent.exit.code, nanos) }
        return RecordID(final)
    }
}

/// The lineage of an aggregate being folded (reduceByKey, a window, a combiner): add each
/// contributing record, merge partial folds, and report once with every contributing parent
/// when the aggregate is final. Untracked records cost a branch; nothing is reported if no
/// contributor was traced.
public struct TraceFold: Sendable {
    @usableFromInline var ids: [UInt64] = []
    @usableFromInline var edges: ContiguousArray<LineageInput> = []
    /// The contributor arrays of merged partial folds, shared rather than copied.
    @usableFromInline var mergedEdges: [ContiguousArray<LineageInput>] = []
    @usableFromInline var traceID: UInt64 = 0

    /// An empty fold.
    @inlinable
    public init() {}

    /// A fold of one contribution, sized for it alone (a partial that travels to be merged).
    @inlinable
    public init(_ contribution: consuming FoldContribution) {
        if _fastPath(!contribution.isTracked) { return }
        switch contribution.storage {
        case .untracked:
            return
        case .reported(let id):
            ids = [id.rawValue]
        case .inline(let input, let trace):
            edges = [input]
            traceID = trace.rawValue
        }
    }

    /// Whether any traced record contributed.
    @inlinable
    public var isTracked: Bool { !ids.isEmpty || !edges.isEmpty || !mergedEdges.isEmpty }

    /// Adds a contributing record.
    @inlinable
    public mutating func add<T>(_ record: Traced<T>) {
        if _fastPath(record.id.rawValue == 0) { return }
        addContribution(FoldContribution(record))
    }

    /// Adds a record made for this fold by `Traced.mapIntoFold`.
    @inlinable
    public mutating func add(_ contribution: consuming FoldContribution) {
        if _fastPath(!contribution.isTracked) { return }
        addContribution(contribution)
    }

    /// Takes the contribution over (its lineage moves into the fold: no retain/release pair).
    @usableFromInline
    mutating func addContribution(_ contribution: consuming FoldContribution) {
        switch contribution.storage {
        case .untracked:
            return
        case .reported(let id):
            guard ids.count < Int(SPOOR_MAX_PARENTS) else { return }
            // Aggregates usually gather several contributors: grow once, not at 1, 2, 4, 8.
            if ids.isEmpty { ids.reserveCapacity(8) }
            ids.append(id.rawValue)
        case .inline(let input, let trace):
            if edges.isEmpty { edges.reserveCapacity(8) }
            edges.append(input)
            if traceID == 0 { traceID = trace.rawValue }
        }
    }

    /// Adds every contributor of a partial fold (a map-side combiner's partial aggregate).
    @inlinable
    public mutating func merge(_ other: TraceFold) {
        if _fastPath(!other.isTracked) { return }
        mergeTraced(other)
    }

    @usableFromInline
    mutating func mergeTraced(_ other: TraceFold) {
        ids += other.ids.prefix(max(Int(SPOOR_MAX_PARENTS) - ids.count, 0))
        // Share the partials' arrays: copying would retain every contributor's lineage, which on
        // this side of a shuffle is out of cache.
        if !other.edges.isEmpty { mergedEdges.append(other.edges) }
        mergedEdges += other.mergedEdges
        if traceID == 0 { traceID = other.traceID }
    }

    /// The aggregate is final: reports it once (flagged as a fold) with all contributors, and
    /// returns it as a record (untracked if no contributor was traced).
    @inlinable
    public func finish<T>(_ value: T, op: Operator, key: UInt64 = 0, start: UInt64 = 0, end: UInt64 = 0) -> Traced<T> {
        if _fastPath(!isTracked) { return Traced(untracked: value) }
        let derived = Reporter.derive(
            ids: ids, edges: edges, merged: mergedEdges, traceID: traceID, op: op.id, key: key, start: start,
            end: end == 0 ? SpoorClock.now() : end, fold: true)
        return Traced(value: value, id: derived.id, lineage: derived.lineage(0))
    }
}

/// What a record contributes to a fold when it is made only to be folded (`Traced.mapIntoFold`):
/// in direct mode the reported id of the record, in piggyback mode the application that makes it,
/// kept inline in the fold's lineage instead of in a node of its own.
///
/// A contribution is for one fold. In piggyback mode, adding it to two folds (or merging one fold
/// into two, or finishing one twice) reports its application once per fold that reaches the log,
/// under different ids; a record that several consumers use should be made with `map` instead.
public struct FoldContribution: Sendable {
    @usableFromInline
    enum Storage: Sendable {
        case untracked
        /// Direct mode: the record, reported with this id.
        case reported(RecordID)
        /// Piggyback mode: the application that makes the record, on a parent of this trace.
        case inline(LineageInput, traceID: RecordID)
    }

    @usableFromInline var storage: Storage

    @inlinable
    init(_ storage: Storage) { self.storage = storage }

    /// What a record contributes to a fold as a whole: its reported id (direct mode), or its
    /// lineage (piggyback mode).
    @inlinable
    public init<T>(_ record: Traced<T>) {
        if _fastPath(record.id.rawValue == 0) {
            self.init(.untracked)
        } else {
            self.init(id: record.id, trail: record.trail)
        }
    }

    @usableFromInline
    init(id: RecordID, trail: LineageRef?) {
        if let trail {
            storage = .inline(LineageInput(trail), traceID: id)
        } else {
            storage = id.rawValue == 0 ? .untracked : .reported(id)
        }
    }

    /// No contribution: the record is untracked.
    public static var untracked: FoldContribution { FoldContribution(.untracked) }

    /// Whether a traced record contributes.
    @inlinable
    public var isTracked: Bool {
        if case .untracked = storage { return false }
        return true
    }
}

extension spoor_report_info {
    /// The description of one report, for `spoor_checkpoint` and `spoor_fold_report`.
    init(
        op: UInt32, fanout: UInt32, keyHash: UInt64, start: UInt64, end: UInt64,
        attributes: UnsafePointer<spoor_attr>? = nil, count: Int = 0
    ) {
        self.init()
        self.op = op
        self.fanout = fanout
        key_hash = keyHash
        start_ns = start
        end_ns = end
        attrs = attributes
        n_attrs = count
    }
}
