/// What the reconstruction consumes: the nodes and edges of trace DAGs, in any order and
/// interleaved across traces, from any source (Spoor's own reports, X-Trace reports, TraceBench
/// CSV). Every source is translated into these items by its reader (`XTraceParser`,
/// `TraceBenchReader`, `SpoorReportTracer`), so that assembly, signatures and anomaly detection
/// are written once.
///
/// Identifiers are 64-bit values chosen by the source: `trace` names the trace (a task id), a
/// node's `key` names one event, and its `group` the thread of control it ran on. Events of one
/// group are nested by their time intervals (an event inside another's interval is its child),
/// which is how MTracer's TraceBench events of one thread relate; sources whose events each have
/// their own group (X-Trace, Spoor) give `group == key`.
public enum TraceItem: Sendable, Hashable {
    /// An event (a node of the DAG).
    case node(TraceNode)
    /// A causal edge of trace `trace`: from the event with key `from` to the events of group
    /// `to` (its top-level events, if the group has several). `from == 0` marks `to` as a root.
    case edge(trace: UInt64, from: UInt64, to: UInt64)
    /// The source knows that trace `trace` has ended: assemble it now instead of on expiry.
    case end(trace: UInt64)

    /// The trace the item belongs to.
    @inlinable public var trace: UInt64 {
        switch self {
        case .node(let node): node.trace
        case .edge(let trace, _, _): trace
        case .end(let trace): trace
        }
    }
}

/// One event of a trace.
public struct TraceNode: Sendable, Hashable {
    /// The trace it belongs to.
    public var trace: UInt64
    /// The event's identity within its trace (unique; a repeated key is the same event reported
    /// again, and only its first report is kept).
    public var key: UInt64
    /// What edges name the event by (`TraceItem.edge`'s `from`): `key` unless the source's
    /// edges cannot tell some events apart (TraceBench's edges name a thread and a start time,
    /// which two nested events can share; the edge then leaves the innermost of them).
    public var anchor: UInt64
    /// The thread of control (events of one group nest by time), `key` if the event stands alone.
    public var group: UInt64
    /// The event's label (operation or operator name) in the `LabelTable` of the stream.
    public var label: UInt32
    /// The clock domain (host) its times were taken on, in the `LabelTable`; durations are only
    /// compared, and times only subtracted, within one domain.
    public var host: UInt32
    /// Start and end of the event in nanoseconds on its host's clock; `start == 0` if only the
    /// end is known.
    public var start: UInt64
    /// End of the event (for an instant, its time).
    public var end: UInt64
    /// The branch ends here (an exit or error event): nothing will consume it.
    public var terminal: Bool

    /// Creates a node.
    public init(trace: UInt64, key: UInt64, anchor: UInt64? = nil, group: UInt64, label: UInt32, host: UInt32 = 0,
                start: UInt64, end: UInt64, terminal: Bool = false) {
        self.trace = trace
        self.key = key
        self.anchor = anchor ?? key
        self.group = group
        self.label = label
        self.host = host
        self.start = start
        self.end = end
        self.terminal = terminal
    }
}

/// Interned strings (labels and hosts) of a stream, with a stable 64-bit hash of each name: the
/// hash, not the index, goes into signatures, so that signatures (and a saved flow model) do not
/// depend on the order in which names were first seen.
public struct LabelTable: Sendable {
    /// The names, by index.
    public private(set) var names: [String] = []
    /// The hash of each name (`LabelTable.hash(of:)`), by index.
    public private(set) var hashes: [UInt64] = []
    private var index: [String: UInt32] = [:]

    /// An empty table.
    public init() {}

    /// The index of `name`, adding it if it is new.
    public mutating func intern(_ name: String) -> UInt32 {
        if let known = index[name] { return known }
        let id = UInt32(names.count)
        names.append(name)
        hashes.append(Self.hash(of: name))
        index[name] = id
        return id
    }

    /// The index of `name`, if it was interned.
    public func lookup(_ name: String) -> UInt32? { index[name] }

    /// The name of index `id` ("?" for an index the table never gave out).
    public func name(_ id: UInt32) -> String {
        Int(id) < names.count ? names[Int(id)] : "?"
    }

    /// The hash of index `id`.
    @inlinable public func hash(_ id: UInt32) -> UInt64 {
        Int(id) < hashes.count ? hashes[Int(id)] : 0
    }

    /// FNV-1a over the UTF-8 bytes, then a finalising mix: stable across processes and runs.
    public static func hash(of name: String) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in name.utf8 {
            h = (h ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
        }
        return SignatureHash.mix(h)
    }
}

extension TraceItem {
    /// `items` as a live source would deliver them: events interleaved across traces in the
    /// order of their times (end, or start for an event with no end), each edge right after the
    /// later of its two ends, and after each trace's last item an `.end` marking it finished (a
    /// source that knows when a trace is done, as a replay of a recorded dataset does). Items
    /// that already hold `.end` markers are returned unchanged. Ties keep the input order.
    public static func timeOrdered(_ items: [TraceItem]) -> [TraceItem] {
        if items.contains(where: { if case .end = $0 { true } else { false } }) { return items }
        struct Key: Hashable { var trace: UInt64, value: UInt64 }
        var eventTime: [Key: UInt64] = [:], groupTime: [Key: UInt64] = [:], traceEnd: [UInt64: UInt64] = [:]
        for item in items {
            guard case .node(let node) = item else { continue }
            let time = node.end != 0 ? node.end : node.start
            eventTime[Key(trace: node.trace, value: node.key)] = time
            eventTime[Key(trace: node.trace, value: node.anchor)] = max(eventTime[Key(trace: node.trace, value: node.anchor)] ?? 0, time)
            groupTime[Key(trace: node.trace, value: node.group)] = min(groupTime[Key(trace: node.trace, value: node.group)] ?? .max, time)
            traceEnd[node.trace] = max(traceEnd[node.trace] ?? 0, time)
        }
        // (time, order within an instant: events, then edges, then ends; input position).
        var scheduled: [(time: UInt64, rank: Int, position: Int, item: TraceItem)] = []
        scheduled.reserveCapacity(items.count + traceEnd.count)
        for (position, item) in items.enumerated() {
            switch item {
            case .node(let node):
                scheduled.append((node.end != 0 ? node.end : node.start, 0, position, item))
            case .edge(let trace, let from, let to):
                let last = traceEnd[trace] ?? 0
                let time = max(from == 0 ? 0 : eventTime[Key(trace: trace, value: from)] ?? last,
                               groupTime[Key(trace: trace, value: to)] ?? last)
                scheduled.append((time, 1, position, item))
                traceEnd[trace] = max(last, time)
            case .end:
                break
            }
        }
        for (trace, time) in traceEnd { scheduled.append((time, 2, items.count, .end(trace: trace))) }
        scheduled.sort { ($0.time, $0.rank, $0.position, $0.item.trace) < ($1.time, $1.rank, $1.position, $1.item.trace) }
        return scheduled.map(\.item)
    }
}
