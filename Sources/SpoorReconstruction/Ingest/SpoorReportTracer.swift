#if !SPOOR_SINGLE_MODULE
import SpoorLog
#endif

/// Turns Spoor's own reports into trace items. For Spoor a trace is the forward lineage of one
/// sampled entry record (its id is the trace id): an entry opens a trace, and a checkpoint's
/// output joins every trace of its parents, so a record reached from several entries (a fold, a
/// join) belongs to each of their traces (at most `maxTracesPerRecord`; more are counted in
/// `truncatedMemberships`). Pokes become event nodes (`event:NAME`) below the poked record.
///
/// Completion: a record is an exit when an exit, error or filtered event is reported on it; a
/// trace whose every leaf is an exit is ended at once (`TraceItem.end`); otherwise it completes
/// when the reconstruction's expiry passes with nothing new (a record nothing consumed within
/// the expiry is an exit).
///
/// Out of order: a report with a parent not seen yet waits for it, and is processed once all its
/// parents have arrived. If one never arrives (the wait outlasts two generations, or the stream
/// ends), the report joins the traces of the parents that did arrive, and its edge from the
/// missing one stays unresolved, which marks those traces fractured.
///
/// Memory is bounded by two generations of `expiryNanos` each (`rotate`): what a record's traces
/// are, and which reports wait for a parent, is forgotten two generations after it was last
/// used; a waiting report forgotten that way is emitted as a fractured trace of its own (its id
/// is the trace id), so it is counted, never dropped silently.
public struct SpoorReportTracer {
    struct RecordState {
        var traces: [UInt64]
        var consumed = false
        var terminal = false
    }

    /// Traces a record may belong to.
    public var maxTracesPerRecord = 64
    /// Memberships left out because a record was reached from more than `maxTracesPerRecord`.
    public private(set) var truncatedMemberships = 0
    /// Reports none of whose parents arrived (emitted as fractured traces of their own).
    public private(set) var orphans = 0
    /// Reports processed.
    public private(set) var reports = 0

    private var current: [UInt64: RecordState] = [:]
    private var previous: [UInt64: RecordState] = [:]
    private var waiting: [UInt64: [(Report, Int)]] = [:]
    private var previousWaiting: [UInt64: [(Report, Int)]] = [:]
    private var openLeaves: [UInt64: Int] = [:]
    private var labelsByOperator: [UInt64: UInt32] = [:]
    private var eventLabels: [UInt32: UInt32] = [:]

    /// A tracer.
    public init() {}

    /// Records the operators of run `run` (their names label the reports of that run).
    public mutating func define(_ operators: [OperatorRecord], run: Int, labels: inout LabelTable) {
        for op in operators {
            labelsByOperator[UInt64(run) << 32 | UInt64(op.id)] = labels.intern(op.name)
        }
    }

    private mutating func label(run: Int, op: UInt32, labels: inout LabelTable) -> UInt32 {
        let key = UInt64(run) << 32 | UInt64(op)
        if let known = labelsByOperator[key] { return known }
        let made = labels.intern("op\(op)")
        labelsByOperator[key] = made
        return made
    }

    private mutating func state(_ id: UInt64) -> RecordState? {
        if let known = current[id] { return known }
        if let old = previous.removeValue(forKey: id) {
            current[id] = old
            return old
        }
        return nil
    }

    /// Processes one report of run `run`.
    public mutating func add(_ report: Report, run: Int, labels: inout LabelTable, item: (TraceItem, LabelTable) -> Void) {
        var work: [(Report, Int)] = [(report, run)]
        while let (next, nextRun) = work.popLast() {
            process(next, run: nextRun, labels: &labels, item: item, ready: &work, force: false)
        }
    }

    private mutating func process(_ report: Report, run: Int, labels: inout LabelTable, item: (TraceItem, LabelTable) -> Void,
                                  ready: inout [(Report, Int)], force: Bool) {
        switch report.kind {
        case .entry:
            reports += 1
            let id = report.id
            let label = label(run: run, op: report.op, labels: &labels)
            current[id] = RecordState(traces: [id])
            openLeaves[id, default: 0] += 1
            item(.node(TraceNode(trace: id, key: id, group: id, label: label, start: report.startNanos, end: report.endNanos)), labels)
            item(.edge(trace: id, from: 0, to: id), labels)
            release(id, into: &ready)
        case .checkpoint:
            // Wait until every parent is known (or, forced, the wait is over).
            if !force, let missing = report.parents.first(where: { state($0) == nil }) {
                waiting[missing, default: []].append((report, run))
                return
            }
            var traces: [UInt64] = []
            var known: [UInt64] = []
            for parent in report.parents {
                guard let parentState = state(parent) else { continue }
                known.append(parent)
                for t in parentState.traces where !traces.contains(t) {
                    if traces.count < maxTracesPerRecord { traces.append(t) } else { truncatedMemberships += 1 }
                }
            }
            guard !known.isEmpty else {
                if let first = report.parents.first { emitOrphan(report, missing: first, run: run, labels: &labels, item: item) }
                return
            }
            reports += 1
            for parent in known {
                guard var parentState = state(parent), !parentState.consumed else { continue }
                parentState.consumed = true
                current[parent] = parentState
                if !parentState.terminal {
                    for t in parentState.traces { openLeaves[t, default: 1] -= 1 }
                }
            }
            let label = label(run: run, op: report.op, labels: &labels)
            let fanout = UInt64(max(report.fanout, 1))
            for offset in 0..<fanout {
                let id = report.id &+ offset
                current[id] = RecordState(traces: traces)
                for t in traces {
                    item(.node(TraceNode(trace: t, key: id, group: id, label: label, start: report.startNanos, end: report.endNanos)), labels)
                    // Edges from parents in this trace, and from parents that never arrived (which
                    // leave the trace fractured); a parent of another trace only is not an edge here.
                    for parent in report.parents where current[parent].map({ $0.traces.contains(t) }) ?? true {
                        item(.edge(trace: t, from: parent, to: id), labels)
                    }
                }
            }
            for t in traces { openLeaves[t, default: 0] += Int(fanout) }
            for offset in 0..<fanout { release(report.id &+ offset, into: &ready) }
        case .poke:
            guard var recordState = state(report.id) else {
                if force {
                    emitOrphan(report, missing: report.id, run: run, labels: &labels, item: item)
                } else {
                    waiting[report.id, default: []].append((report, run))
                }
                return
            }
            reports += 1
            let code = report.event ?? 0
            let label = eventLabel(code, labels: &labels)
            let key = SignatureHash.mix(report.id ^ SignatureHash.mix(UInt64(code) << 48 ^ report.endNanos))
            let terminal = code == 9 || code == 10 || code == 11
            for t in recordState.traces {
                item(.node(TraceNode(trace: t, key: key, group: key, label: label, start: 0, end: report.endNanos, terminal: terminal)), labels)
                item(.edge(trace: t, from: report.id, to: key), labels)
            }
            if terminal && !recordState.consumed && !recordState.terminal {
                recordState.terminal = true
                current[report.id] = recordState
                for t in recordState.traces {
                    let left = openLeaves[t, default: 1] - 1
                    if left <= 0 {
                        openLeaves[t] = nil
                        item(.end(trace: t), labels)
                    } else {
                        openLeaves[t] = left
                    }
                }
            }
        }
    }

    private mutating func eventLabel(_ code: UInt32, labels: inout LabelTable) -> UInt32 {
        if let known = eventLabels[code] { return known }
        let made = labels.intern("event:" + PokeEvent.name(of: code))
        eventLabels[code] = made
        return made
    }

    private mutating func release(_ id: UInt64, into ready: inout [(Report, Int)]) {
        if let parked = waiting.removeValue(forKey: id) { ready += parked }
        if let parked = previousWaiting.removeValue(forKey: id) { ready += parked }
    }

    /// Starts a new generation: what was not used during the last two is forgotten. Call once
    /// per expiry window. Reports still waiting for a parent from two generations ago are emitted
    /// as fractured traces of their own.
    public mutating func rotate(labels: inout LabelTable, item: (TraceItem, LabelTable) -> Void) {
        let expired = previousWaiting
        previousWaiting = waiting
        waiting = [:]
        settle(expired, labels: &labels, item: item)
        previous = current
        current = [:]
        if openLeaves.count > 4 * max(previous.count, 1024) { openLeaves = [:] }
    }

    /// Processes everything still waiting with the parents that did arrive; reports none of
    /// whose parents arrived become fractured traces of their own (the stream ended).
    public mutating func finish(labels: inout LabelTable, item: (TraceItem, LabelTable) -> Void) {
        while !waiting.isEmpty || !previousWaiting.isEmpty {
            let all = previousWaiting.merging(waiting, uniquingKeysWith: +)
            previousWaiting = [:]
            waiting = [:]
            settle(all, labels: &labels, item: item)
        }
    }

    /// Processes waiting reports without waiting any longer (what they release is processed
    /// normally).
    private mutating func settle(_ parked: [UInt64: [(Report, Int)]], labels: inout LabelTable, item: (TraceItem, LabelTable) -> Void) {
        for (_, reports) in parked.sorted(by: { $0.key < $1.key }) {
            for (report, run) in reports {
                var ready: [(Report, Int)] = []
                process(report, run: run, labels: &labels, item: item, ready: &ready, force: true)
                while let (next, nextRun) = ready.popLast() {
                    process(next, run: nextRun, labels: &labels, item: item, ready: &ready, force: false)
                }
            }
        }
    }

    private mutating func emitOrphan(_ report: Report, missing: UInt64, run: Int, labels: inout LabelTable, item: (TraceItem, LabelTable) -> Void) {
        orphans += 1
        let trace = report.id
        let label = report.kind == .poke ? eventLabel(report.event ?? 0, labels: &labels) : self.label(run: run, op: report.op, labels: &labels)
        let key = report.kind == .poke ? SignatureHash.mix(report.id ^ 0x6f72_7068_616e) : report.id
        item(.node(TraceNode(trace: trace, key: key, group: key, label: label, start: report.startNanos, end: report.endNanos)), labels)
        item(.edge(trace: trace, from: missing, to: key), labels)
    }
}
