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

/// The open traces of one partition, assembled when they complete, expire, are evicted at the
/// cap or are flushed.
///
/// Memory bound: at most `maxOpenTraces` traces are open, each holding the items that arrived for
/// it (at most `maxItemsPerTrace`), and each trace stays open at most `expiryNanos` after its last
/// item; a list of the most recently assembled trace ids of the same length as the cap tells a
/// late item (counted in `reopened`) from a new trace. Open traces are kept in a doubly linked
/// list in order of last activity, so expiry and eviction take the least recently active first
/// in constant time per trace.
public struct TracePartition: Sendable {
    struct Open: Sendable {
        var trace: UInt64 = 0
        var nodes: [TraceNode] = []
        var edges: [(from: UInt64, to: UInt64)] = []
        var lastActivity: UInt64 = 0
        var previous: Int32 = -1
        var next: Int32 = -1
    }

    /// The settings (the cap already divided between partitions).
    public let configuration: ReconstructionConfiguration
    private var slots: [Open] = []
    private var index = IdTable()
    private var free: [Int32] = []
    /// Most recently active, least recently active.
    private var newest: Int32 = -1, oldest: Int32 = -1
    private var assembler = TraceAssembler()
    private var recentlyClosed: Set<UInt64> = []
    private var closedOrder: [UInt64] = []
    private var closedNext = 0
    /// The counters.
    public private(set) var statistics = ReconstructionStatistics()

    /// A partition with the given settings.
    public init(configuration: ReconstructionConfiguration) {
        self.configuration = configuration
    }

    /// Accepts one item that arrived at `now`; calls `emit` with every trace it closes.
    public mutating func accept(_ item: TraceItem, now: UInt64, emit: (TraceGraph) -> Void) {
        statistics.items += 1
        let trace = item.trace
        var slot = index[trace] ?? -1
        if case .end = item {
            if slot >= 0 { close(slot, .complete, emit: emit) }
            return
        }
        if slot < 0 {
            if statistics.open >= configuration.maxOpenTraces, oldest >= 0 { close(oldest, .evicted, emit: emit) }
            if recentlyClosed.contains(trace) { statistics.reopened += 1 }
            slot = allocate(trace)
        } else {
            unlink(slot)
        }
        // Activity times only grow along the list, even if callers' clocks step back.
        slots[Int(slot)].lastActivity = newest >= 0 ? max(now, slots[Int(newest)].lastActivity) : now
        pushNewest(slot)
        switch item {
        case .node(let node):
            statistics.nodes += 1
            slots[Int(slot)].nodes.append(node)
        case .edge(_, let from, let to):
            statistics.edges += 1
            slots[Int(slot)].edges.append((from, to))
        case .end:
            break
        }
        if slots[Int(slot)].nodes.count + slots[Int(slot)].edges.count >= configuration.maxItemsPerTrace {
            close(slot, .evicted, emit: emit)
        }
    }

    /// Closes every trace whose last item is older than the expiry window at `now`.
    public mutating func expire(now: UInt64, emit: (TraceGraph) -> Void) {
        while oldest >= 0, now &- slots[Int(oldest)].lastActivity > configuration.expiryNanos,
              now >= slots[Int(oldest)].lastActivity {
            close(oldest, .expired, emit: emit)
        }
    }

    /// Closes every open trace (the stream ended).
    public mutating func flush(emit: (TraceGraph) -> Void) {
        while oldest >= 0 { close(oldest, .flushed, emit: emit) }
    }

    private mutating func allocate(_ trace: UInt64) -> Int32 {
        let slot: Int32
        if let reused = free.popLast() {
            slot = reused
        } else {
            slot = Int32(slots.count)
            slots.append(Open())
        }
        slots[Int(slot)].trace = trace
        index[trace] = slot
        statistics.open += 1
        statistics.peakOpen = max(statistics.peakOpen, statistics.open)
        return slot
    }

    private mutating func close(_ slot: Int32, _ closure: TraceGraph.Closure, emit: (TraceGraph) -> Void) {
        unlink(slot)
        let trace = slots[Int(slot)].trace
        var nodes = slots[Int(slot)].nodes
        var edges = slots[Int(slot)].edges
        slots[Int(slot)].nodes = []
        slots[Int(slot)].edges = []
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
        guard !nodes.isEmpty else { return }
        let graph = assembler.assemble(trace: trace, nodes: &nodes, edges: &edges, closure: closure)
        if graph.isFractured { statistics.fractured += 1 }
        emit(graph)
    }

    private mutating func remember(_ trace: UInt64) {
        let capacity = max(configuration.maxOpenTraces, 1)
        if closedOrder.count < capacity {
            closedOrder.append(trace)
        } else {
            recentlyClosed.remove(closedOrder[closedNext])
            closedOrder[closedNext] = trace
            closedNext = (closedNext + 1) % capacity
        }
        recentlyClosed.insert(trace)
    }

    private mutating func unlink(_ slot: Int32) {
        let previous = slots[Int(slot)].previous, next = slots[Int(slot)].next
        if previous >= 0 { slots[Int(previous)].next = next } else if newest == slot { newest = next }
        if next >= 0 { slots[Int(next)].previous = previous } else if oldest == slot { oldest = previous }
        slots[Int(slot)].previous = -1
        slots[Int(slot)].next = -1
    }

    private mutating func pushNewest(_ slot: Int32) {
        slots[Int(slot)].next = -1
        slots[Int(slot)].previous = -1
        if newest >= 0 {
            slots[Int(slot)].next = newest
            slots[Int(newest)].previous = slot
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
            precondition(slots[Int(cursor)].previous == previous, "the activity list links both ways")
            precondition(index[slots[Int(cursor)].trace] == cursor, "the index names each open trace's slot")
            if previous >= 0 { precondition(slots[Int(previous)].lastActivity >= slots[Int(cursor)].lastActivity, "the list is in order of activity") }
            previous = cursor
            cursor = slots[Int(cursor)].next
            seen += 1
        }
        precondition(previous == oldest, "the list ends at the oldest")
        precondition(seen == statistics.open && seen == index.count, "every open trace is listed once")
        precondition(seen <= configuration.maxOpenTraces, "the cap holds")
    }
    #endif
}
