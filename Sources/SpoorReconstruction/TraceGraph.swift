/// An assembled trace: a DAG of events (many parents, not only trees).
///
/// Nodes are stored in arrays; edges as adjacency lists in compressed form (the children of node
/// `i` are `children[childStart[i] ..< childStart[i + 1]]`), so that a trace of n events costs a
/// handful of allocations, not n.
public struct TraceGraph: Sendable {
    /// The trace id.
    public var trace: UInt64
    /// The events, ordered by (host, start).
    public var nodes: [TraceNode]
    /// Where the children of each node start in `children`; `nodes.count + 1` entries.
    public var childStart: [Int32]
    /// Child node indices.
    public var children: [Int32]
    /// How many parents each node has.
    public var parentCount: [Int32]
    /// Nodes with no parent.
    public var roots: [Int32]
    /// Edges naming an event or group that never arrived, and edges that would close a cycle
    /// (dropped): a trace with any is fractured.
    public var unresolvedEdges: Int
    /// Why the trace was closed.
    public var closure: Closure

    /// Why a trace was assembled when it was.
    public enum Closure: String, Sendable, Hashable {
        /// Every branch reached a terminal event, or the source ended the trace.
        case complete
        /// Nothing arrived for it within the expiry window.
        case expired
        /// The open-trace cap was reached and this was the least recently active trace.
        case evicted
        /// The stream ended.
        case flushed
    }

    /// The children of node `i`.
    @inlinable public func children(of i: Int) -> ArraySlice<Int32> {
        children[Int(childStart[i]) ..< Int(childStart[i + 1])]
    }

    /// Whether an edge was missing an end or closed a cycle.
    public var isFractured: Bool { unresolvedEdges > 0 }

    /// The latency attributed to node `i`: its own duration where its start is known, else the
    /// time from its latest parent's end on the same host (for a Spoor checkpoint reported
    /// without UDF times: the time since its input was produced); 0 if neither is known.
    public func latency(of i: Int, parentEnds: [UInt64]) -> UInt64 {
        let node = nodes[i]
        if node.start != 0 && node.end >= node.start { return node.end - node.start }
        let parentEnd = parentEnds[i]
        return parentEnd != 0 && node.end >= parentEnd ? node.end - parentEnd : 0
    }

    /// For each node, the latest end among its parents on the same host (0 if none).
    public func latestParentEnds() -> [UInt64] {
        var result = [UInt64](repeating: 0, count: nodes.count)
        for i in nodes.indices {
            let end = nodes[i].end
            for c in children(of: i) where nodes[Int(c)].host == nodes[i].host {
                if end > result[Int(c)] { result[Int(c)] = end }
            }
        }
        return result
    }

    /// End-to-end latency: from the earliest start to the latest end among the events on the
    /// first root's host (hosts' clocks differ, so only one clock is used).
    public var endToEnd: UInt64 {
        guard let root = roots.first else { return 0 }
        let host = nodes[Int(root)].host
        var first = UInt64.max
        var last: UInt64 = 0
        for node in nodes where node.host == host {
            let begin = node.start != 0 ? node.start : node.end
            first = min(first, begin)
            last = max(last, node.end)
        }
        return last >= first ? last - first : 0
    }

    #if DEBUG || SPOOR_SINGLE_MODULE
    /// Checks the adjacency invariants (debug builds; tests call it).
    public func _checkInvariants() {
        precondition(childStart.count == nodes.count + 1, "childStart has one entry per node and one more")
        precondition(childStart.first == 0 && Int(childStart.last!) == children.count, "childStart spans children")
        var parents = [Int32](repeating: 0, count: nodes.count)
        for i in nodes.indices {
            precondition(childStart[i] <= childStart[i + 1], "childStart is monotonic")
            for c in children(of: i) {
                precondition(c >= 0 && Int(c) < nodes.count && Int(c) != i, "a child is another node")
                parents[Int(c)] += 1
            }
        }
        precondition(parents == parentCount, "parentCount counts the incoming edges")
        precondition(roots == nodes.indices.filter { parents[$0] == 0 }.map { Int32($0) }, "roots are the parentless nodes")
    }
    #endif
}

/// Builds a `TraceGraph` from the nodes and edges buffered for one trace.
///
/// 1. Nodes are deduplicated by key (a repeated report of one event keeps the first); an edge
///    leaves the node with its `from` anchor (the innermost, when several share it).
/// 2. Within a group, events are nested by interval: sorted by start (longer first on ties),
///    each event's parent is the innermost earlier event whose interval contains it.
/// 3. An edge `from -> group` links the event `from` to every top-level event of the group (for
///    a group of one event, to that event); an edge whose `from` or group never arrived is
///    counted in `unresolvedEdges`, and so is an edge that would close a cycle (it is dropped:
///    the result is always acyclic). Edges from `0` only mark roots; repeated edges count once.
/// 4. Roots are the nodes with no parent.
public struct TraceAssembler: Sendable {
    // Scratch kept across traces to avoid reallocating.
    private var keyIndex = IdTable()
    private var anchorIndex = IdTable()
    private var groupHeads = IdTable()
    private var edgePairs: [UInt64] = []

    /// A new assembler.
    public init() {}

    /// Assembles one trace. `nodes` and `edges` are consumed (reordered).
    public mutating func assemble(
        trace: UInt64, nodes rawNodes: inout [TraceNode], edges: inout [(from: UInt64, to: UInt64)],
        closure: TraceGraph.Closure
    ) -> TraceGraph {
        // Order by (group, start, longer first) for nesting; final order is by (host, start).
        rawNodes.sort { a, b in
            if a.group != b.group { return a.group < b.group }
            if a.start != b.start { return a.start < b.start }
            if a.end != b.end { return a.end > b.end }
            return a.key < b.key
        }
        keyIndex.removeAll()
        anchorIndex.removeAll()
        var nodes: [TraceNode] = []
        nodes.reserveCapacity(rawNodes.count)
        for node in rawNodes where keyIndex[node.key] == nil {
            keyIndex[node.key] = Int32(nodes.count)
            // Of events sharing an anchor, edges leave the innermost (sorted outermost first).
            anchorIndex[node.anchor] = Int32(nodes.count)
            nodes.append(node)
        }
        let count = nodes.count
        // Parent lists as (parent, child) pairs packed into one word each, sorted afterwards.
        edgePairs.removeAll(keepingCapacity: true)
        // Nesting within groups; groupHeads maps a group to the index of its first node, and the
        // group's top-level nodes are recorded in `topLevel`.
        groupHeads.removeAll()
        var topLevel = [Bool](repeating: false, count: count)
        var stack: [Int32] = []
        var i = 0
        while i < count {
            let group = nodes[i].group
            groupHeads[group] = Int32(i)
            stack.removeAll(keepingCapacity: true)
            var j = i
            while j < count && nodes[j].group == group {
                let node = nodes[j]
                while let top = stack.last {
                    let t = nodes[Int(top)]
                    if t.host == node.host && t.start <= node.start && node.end <= t.end && t.start != 0 && node.start != 0 { break }
                    stack.removeLast()
                }
                if let top = stack.last {
                    edgePairs.append(UInt64(UInt32(top)) << 32 | UInt64(UInt32(j)))
                } else {
                    topLevel[j] = true
                }
                stack.append(Int32(j))
                j += 1
            }
            i = j
        }
        var unresolved = 0
        for edge in edges where edge.from != 0 {
            guard let parent = anchorIndex[edge.from], let head = groupHeads[edge.to] else { unresolved += 1; continue }
            // Within a group, nesting alone relates events.
            if nodes[Int(parent)].group == edge.to { continue }
            var c = Int(head)
            while c < count && nodes[c].group == edge.to {
                if topLevel[c] && Int32(c) != parent {
                    edgePairs.append(UInt64(UInt32(parent)) << 32 | UInt64(UInt32(c)))
                }
                c += 1
            }
        }
        edgePairs.sort()
        // Dedupe, then drop edges that close cycles (a depth-first search in parent order).
        var children: [Int32] = []
        children.reserveCapacity(edgePairs.count)
        var childStart = [Int32](repeating: 0, count: count + 1)
        var previous = UInt64.max
        for pair in edgePairs where pair != previous {
            previous = pair
            childStart[Int(pair >> 32) + 1] += 1
            children.append(Int32(truncatingIfNeeded: pair & 0xffff_ffff))
        }
        for k in 0..<count { childStart[k + 1] += childStart[k] }
        unresolved += Self.breakCycles(count: count, childStart: childStart, children: &children)
        // Reorder nodes by (host, start) and remap.
        var order = Array(0..<count)
        order.sort { a, b in
            let x = nodes[a], y = nodes[b]
            if x.host != y.host { return x.host < y.host }
            if x.start != y.start { return x.start < y.start }
            return a < b
        }
        var position = [Int32](repeating: 0, count: count)
        for (newIndex, old) in order.enumerated() { position[old] = Int32(newIndex) }
        var finalNodes: [TraceNode] = []
        finalNodes.reserveCapacity(count)
        var finalStart = [Int32](repeating: 0, count: count + 1)
        var finalChildren: [Int32] = []
        finalChildren.reserveCapacity(children.count)
        var parentCount = [Int32](repeating: 0, count: count)
        for (newIndex, old) in order.enumerated() {
            finalNodes.append(nodes[old])
            for c in children[Int(childStart[old]) ..< Int(childStart[old + 1])] where c >= 0 {
                let mapped = position[Int(c)]
                finalChildren.append(mapped)
                parentCount[Int(mapped)] += 1
            }
            finalStart[newIndex + 1] = Int32(finalChildren.count)
        }
        var roots: [Int32] = []
        for k in 0..<count where parentCount[k] == 0 { roots.append(Int32(k)) }
        return TraceGraph(trace: trace, nodes: finalNodes, childStart: finalStart, children: finalChildren,
                          parentCount: parentCount, roots: roots, unresolvedEdges: unresolved, closure: closure)
    }

    /// Marks (as -1) every edge that closes a cycle, found by an iterative depth-first search;
    /// returns how many were marked.
    private static func breakCycles(count: Int, childStart: [Int32], children: inout [Int32]) -> Int {
        // 0 unvisited, 1 on the stack, 2 done
        var state = [UInt8](repeating: 0, count: count)
        var stack: [(node: Int32, next: Int32)] = []
        var broken = 0
        for start in 0..<count where state[start] == 0 {
            stack.append((Int32(start), childStart[start]))
            state[start] = 1
            while !stack.isEmpty {
                let top = stack.count - 1
                let node = Int(stack[top].node)
                let next = Int(stack[top].next)
                if next == Int(childStart[node + 1]) {
                    state[node] = 2
                    stack.removeLast()
                    continue
                }
                stack[top].next += 1
                let child = children[next]
                guard child >= 0 else { continue }
                switch state[Int(child)] {
                case 0:
                    state[Int(child)] = 1
                    stack.append((child, childStart[Int(child)]))
                case 1:
                    children[next] = -1
                    broken += 1
                default:
                    break
                }
            }
        }
        return broken
    }
}
