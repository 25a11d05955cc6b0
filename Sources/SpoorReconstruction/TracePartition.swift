/// Settings of the streaming reconstruction.
public struct ReconstructionConfiguration: Sendable, Hashable {
    /// A trace with no new item for this long (on the clock the caller passes) is assembled as
    /// it is (`TraceGraph.Closure.expired`).
    public var expiryNanos: UInt64 = 5_000_000_000
    /// At most this many traces are open at once (per partition: the cap is divided between
    /// worker threads); opening one more first closes the least recently active
    /// (`TraceGraph.Closure.evicted`).
    public var maxOpenTraces: Int = 100_000
    /// A trace that reaches this many items is assembled at once (`evicted`): one runaway trace
    /// cannot take all the memory.
    public var maxItemsPerTrace: Int = 1_000_000
    /// Worker threads; 0 assembles and analyses on the calling thread.
    public var workers: Int = 0

    /// The defaults.
    public init() {}
}

/// Counters of a reconstruction.
public struct ReconstructionStatistics: Sendable, Hashable {
    /// Items accepted, and of them nodes and edges.
    public var items = 0, nodes = 0, edges = 0
    /// Traces assembled, by closure.
    public var complete = 0, expired = 0, evicted = 0, flushed = 0
    /// Assembled traces with unresolved edges (an event or group that never arrived).
    public var fractured = 0
    /// Items for a trace that had already been assembled (they open a new, partial trace).
    public var reopened = 0
    /// Traces open now, and the most open at once.
    public var open = 0, peakOpen = 0

    /// All zero.
    public init() {}

    /// Traces assembled.
    public var assembled: Int { complete + expired + evicted + flushed }

    /// Adds another partition's counters (`peakOpen` adds too: partitions peak independently,
    /// so the sum bounds the peak of the whole).
    public static func + (a: Self, b: Self) -> Self {
        var s = a
        s.items += b.items; s.nodes += b.nodes; s.edges += b.edges
        s.complete += b.complete; s.expired += b.expired; s.evicted += b.evicted; s.flushed += b.flushed
        s.fractured += b.fractured; s.reopened += b.reopened; s.open += b.open; s.peakOpen += b.peakOpen
        return s
    }
}

/// Where a partition hands each trace it closes: the analysis, or a caller's closure. A generic
/// sink passed `inout` is specialised into the partition's loop, so that what it holds (the
/// label table, the model) is not retained and released around every item, as a closure's
/// captures are.
public protocol TraceGraphSink {
    /// Takes one assembled trace.
    mutating func take(_ graph: TraceGraph)
}

/// A sink that calls a closure.
struct ClosureGraphSink: TraceGraphSink {
    let body: (TraceGraph) -> Void
    func take(_ graph: TraceGraph) { body(graph) }
}

/// The open traces of one partition, assembled when they complete, expire, are evicted at the
/// cap or are flushed.
///
/// Memory bound: at most `maxOpenTraces` traces are open, each holding the items that arrived for
/// it (at most `maxItemsPerTrace`), and each trace stays open at most `expiryNanos` after its last
/// item; a list of the most recently assembled trace ids of the same length as the cap tells a
/// late item (counted in `reopened`) from a new trace. A slot keeps the buffers of the trace it
/// last held if they held at most `retainedCapacity` items (so at most
/// `peakOpen × 256` items, 14 KiB a slot, of spare capacity). Open traces are kept in a doubly linked
/// list in order of last activity, so expiry and eviction take the least recently active first
/// in constant time per trace.
public struct TracePartition: Sendable {
    // The open traces' slots, as parallel arrays: the activity list and the index touch only the
    // plain arrays, so that moving a trace to the head of the list retains nothing.
    private var traceOf: [UInt64] = []
    private var lastActivity: [UInt64] = []
    private var previous: [Int32] = []
    private var next: [Int32] = []
    private var nodes: [[TraceNode]] = []
    private var edges: [[(from: UInt64, to: UInt64)]] = []

    /// The settings (the cap already divided between partitions).
    public let configuration: ReconstructionConfiguration
    private var index = IdTable()
    private var free: [Int32] = []
    /// Most recently active, least recently active.
    private var newest: Int32 = -1, oldest: Int32 = -1
    private var assembler = TraceAssembler()
    private var recentlyClosed = IdTable()
    private var closedOrder: [UInt64] = []
    private var closedNext = 0
    /// The counters.
    public private(set) var statistics = ReconstructionStatistics()
    /// A closed trace's buffers up to this many items stay with its slot for reuse.
    static let retainedCapacity = 256

    /// A partition with the given settings.
    public init(configuration: ReconstructionConfiguration) {
        self.configuration = configuration
    }

    /// Accepts one item that arrived at `now`; calls `emit` with every trace it closes.
    public mutating func accept(_ item: TraceItem, now: UInt64, emit: (TraceGraph) -> Void) {
        withoutActuallyEscaping(emit) { body in
            var sink = ClosureGraphSink(body: body)
            accept(item, now: now, into: &sink)
        }
    }

    /// Closes every trace whose last item is older than the expiry window at `now`.
    public mutating func expire(now: UInt64, emit: (TraceGraph) -> Void) {
        withoutActuallyEscaping(emit) { body in
            var sink = ClosureGraphSink(body: body)
            expire(now: now, into: &sink)
        }
    }

    /// Closes every open trace (the stream ended).
    public mutating func flush(emit: (TraceGraph) -> Void) {
        withoutActuallyEscaping(emit) { body in
            var sink = ClosureGraphSink(body: body)
            flush(into: &sink)
        }
    }

    /// Accepts one item that arrived at `now`; hands `sink` every trace it closes.
    public mutating func accept<Sink: TraceGraphSink>(_ item: TraceItem, now: UInt64, into sink: inout Sink) {
        statistics.items += 1
        let trace = item.trace
        var slot = index[trace] ?? -1
        if case .end = item {
            if slot >= 0 { close(slot, .complete, into: &sink) }
            return
        }
        if slot < 0 {
            if statistics.open >= configuration.maxOpenTraces, oldest >= 0 { close(oldest, .evicted, into: &sink) }
            if recentlyClosed[trace] != nil { statistics.reopened += 1 }
            slot = allocate(trace)
        } else {
            unlink(slot)
        }
        let s = Int(slot)
        // Activity times only grow along the list, even if callers' clocks step back.
        lastActivity[s] = newest >= 0 ? max(now, lastActivity[Int(newest)]) : now
        pushNewest(slot)
        switch item {
        case .node(let node):
            statistics.nodes += 1
            nodes[s].append(node)
        case .edge(_, let from, let to):
            statistics.edges += 1
            edges[s].append((from, to))
        case .end:
            break
        }
        if nodes[s].count + edges[s].count >= configuration.maxItemsPerTrace {
            close(slot, .evicted, into: &sink)
        }
    }

    /// Closes every trace whose last item is older than the expiry window at `now`; hands `sink`
    /// each.
    public mutating func expire<Sink: TraceGraphSink>(now: UInt64, into sink: inout Sink) {
        while oldest >= 0, now &- lastActivity[Int(oldest)] > configuration.expiryNanos,
              now >= lastActivity[Int(oldest)] {
            close(oldest, .expired, into: &sink)
        }
    }

    /// Closes every open trace (the stream ended); hands `sink` each.
    public mutating func flush<Sink: TraceGraphSink>(into sink: inout Sink) {
        while oldest >= 0 { close(oldest, .flushed, into: &sink) }
    }

    private mutating func allocate(_ trace: UInt64) -> Int32 {
        let slot: Int32
        if let reused = free.popLast() {
            slot = reused
            traceOf[Int(slot)] = trace
        } else {
            slot = Int32(traceOf.count)
            traceOf.append(trace)
            lastActivity.append(0)
            previous.append(-1)
            next.append(-1)
            nodes.append([])
            edges.append([])
        }
        index[trace] = slot
        statistics.open += 1
        statistics.peakOpen = max(statistics.peakOpen, statistics.open)
        return slot
    }

    private mutating func close<Sink: TraceGraphSink>(_ slot: Int32, _ closure: TraceGraph.Closure, into sink: inout Sink) {
        unlink(slot)
        let s = Int(slot)
        let trace = traceOf[s]
        index[trace] = nil
        free.append(slot)
        statistics.open -= 1
        remember(trace)
        switch closure {
        case .complete: statistics.complete += 1
        case .expired: statistics.expired += 1
        case .evicted: statistics.evicted += 1
        case .flushed: statistics.flushed += 1
        }
        guard !nodes[s].isEmpty else {
            edges[s].removeAll(keepingCapacity: true)
            return
        }
        // The slot's buffers are lent to the assembler and kept, emptied, for the slot's next
        // trace unless they grew beyond `retainedCapacity` items.
        var traceNodes = nodes[s], traceEdges = edges[s]
        nodes[s] = []
        edges[s] = []
        let graph = assembler.assemble(trace: trace, nodes: &traceNodes, edges: &traceEdges, closure: closure)
        traceNodes.removeAll(keepingCapacity: traceNodes.capacity <= Self.retainedCapacity)
        traceEdges.removeAll(keepingCapacity: traceEdges.capacity <= Self.retainedCapacity)
        nodes[s] = traceNodes
        edges[s] = traceEdges
        if graph.isFractured { statistics.fractured += 1 }
        sink.take(graph)
    }

    private mutating func remember(_ trace: UInt64) {
        let capacity = max(configuration.maxOpenTraces, 1)
        if closedOrder.count < capacity {
            closedOrder.append(trace)
        } else {
            recentlyClosed[closedOrder[closedNext]] = nil
            closedOrder[closedNext] = trace
            closedNext = (closedNext + 1) % capacity
        }
        recentlyClosed[trace] = 0
    }

    private mutating func unlink(_ slot: Int32) {
        let s = Int(slot)
        let before = previous[s], after = next[s]
        if before >= 0 { next[Int(before)] = after } else if newest == slot { newest = after }
        if after >= 0 { previous[Int(after)] = before } else if oldest == slot { oldest = before }
        previous[s] = -1
        next[s] = -1
    }

    private mutating func pushNewest(_ slot: Int32) {
        let s = Int(slot)
        next[s] = -1
        previous[s] = -1
        if newest >= 0 {
            next[s] = newest
            previous[Int(newest)] = slot
        }
        newest = slot
        if oldest < 0 { oldest = slot }
    }

    #if DEBUG || SPOOR_SINGLE_MODULE
    /// Checks the list and index invariants (debug builds; tests call it).
    public func _checkInvariants() {
        index._checkInvariants()
        var seen = 0
        var cursor = newest
        var previous: Int32 = -1
        while cursor >= 0 {
            precondition(self.previous[Int(cursor)] == previous, "the activity list links both ways")
            precondition(index[traceOf[Int(cursor)]] == cursor, "the index names each open trace's slot")
            if previous >= 0 { precondition(lastActivity[Int(previous)] >= lastActivity[Int(cursor)], "the list is in order of activity") }
            previous = cursor
            cursor = next[Int(cursor)]
            seen += 1
        }
        precondition(previous == oldest, "the list ends at the oldest")
        precondition(seen == statistics.open && seen == index.count, "every open trace is listed once")
        precondition(seen <= configuration.maxOpenTraces, "the cap holds")
    }
    #endif
}
