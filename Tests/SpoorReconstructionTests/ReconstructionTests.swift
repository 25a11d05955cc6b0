import Testing
@testable import SpoorReconstruction
import SpoorSupport

/// The TraceBench folders committed under data/tracebench.
let traceBenchRoot: String = {
    var path = #filePath
    for _ in 0..<3 { path = String(path[..<path.lastIndex(of: "/")!]) }
    return path + "/data/tracebench"
}()

/// Builds items for a small DAG: a -> b, a -> c, (b, c) -> d (a join), d -> e, in trace `trace`.
func diamond(trace: UInt64, labels: inout LabelTable, base: UInt64 = 0) -> [TraceItem] {
    let names = ["source", "left", "right", "join", "sink"]
    var items: [TraceItem] = []
    for (i, name) in names.enumerated() {
        let key = base + UInt64(i + 1)
        items.append(.node(TraceNode(trace: trace, key: key, group: key, label: labels.intern(name),
                                     start: 0, end: 1_000 * UInt64(i + 1))))
    }
    let edges: [(UInt64, UInt64)] = [(0, 1), (1, 2), (1, 3), (2, 4), (3, 4), (4, 5)]
    for (from, to) in edges { items.append(.edge(trace: trace, from: from == 0 ? 0 : base + from, to: base + to)) }
    return items
}

func assembleAll(_ items: [TraceItem], configuration: ReconstructionConfiguration = .init()) -> (graphs: [TraceGraph], partition: TracePartition) {
    var partition = TracePartition(configuration: configuration)
    var graphs: [TraceGraph] = []
    for (n, item) in items.enumerated() {
        partition.accept(item, now: UInt64(n)) { graphs.append($0) }
        partition._checkInvariants()
    }
    partition.flush { graphs.append($0) }
    for graph in graphs { graph._checkInvariants() }
    return (graphs, partition)
}

/// A deterministic shuffle.
func shuffled<T>(_ values: [T], seed: UInt64) -> [T] {
    var result = values
    var state = seed
    for i in stride(from: result.count - 1, to: 0, by: -1) {
        state = SignatureHash.mix(state)
        result.swapAt(i, Int(state % UInt64(i + 1)))
    }
    return result
}

@Suite struct IdTableTests {
    @Test func randomInsertsRemovalsAndClearsAgreeWithADictionary() {
        var table = IdTable()
        var reference: [UInt64: Int32] = [:]
        var state: UInt64 = 42
        for step in 0..<60_000 {
            let roll = splitMix64(&state)
            // Few distinct keys (long probe runs, many removals in the middle of runs), and
            // keys that differ only in high or only in low bits.
            let key = roll % 3 == 0 ? (roll >> 8) % 300 : (roll % 3 == 1 ? ((roll >> 8) % 300) << 40 : (roll >> 8) % 5000)
            switch (roll >> 60) % 8 {
            case 0, 1, 2:
                table[key] = Int32(truncatingIfNeeded: step)
                reference[key] = Int32(truncatingIfNeeded: step)
            case 3, 4, 5:
                table[key] = nil
                reference[key] = nil
            case 6:
                #expect(table[key] == reference[key])
            default:
                if roll % 997 == 0 {
                    table.removeAll()
                    reference.removeAll()
                }
            }
            if step % 997 == 0 {
                table._checkInvariants()
                #expect(table.count == reference.count)
                for (key, value) in reference { #expect(table[key] == value) }
            }
        }
        table._checkInvariants()
        #expect(table.count == reference.count)
    }
}

@Suite struct AssemblyTests {
    @Test func outOfOrderAndInterleavedArrivalGivesTheSameDAG() {
        var labels = LabelTable()
        let inOrder = assembleAll(diamond(trace: 7, labels: &labels)).graphs
        #expect(inOrder.count == 1)
        let reference = TraceSignature(inOrder[0], labels: labels)
        #expect(inOrder[0].nodes.count == 5 && inOrder[0].children.count == 5 && inOrder[0].roots.count == 1)
        #expect(!inOrder[0].isFractured)
        // The join node has two parents.
        let join = inOrder[0].nodes.firstIndex { labels.name($0.label) == "join" }!
        #expect(inOrder[0].parentCount[join] == 2)
        for seed in 1...20 as ClosedRange<UInt64> {
            // Two traces of the same shape with other ids, interleaved and shuffled.
            let mixed = shuffled(diamond(trace: 7, labels: &labels) + diamond(trace: 8, labels: &labels, base: 100), seed: seed)
            let graphs = assembleAll(mixed).graphs
            #expect(graphs.count == 2)
            for graph in graphs {
                let signature = TraceSignature(graph, labels: labels)
                #expect(signature.exact == reference.exact && signature.collapsed == reference.collapsed)
                #expect(!graph.isFractured)
            }
        }
    }

    @Test func signaturesSeeLabelsAndShapeNotIdsOrTimes() {
        var labels = LabelTable()
        let a = assembleAll(diamond(trace: 1, labels: &labels)).graphs[0]
        // Relabel one node: a different flow.
        var items = diamond(trace: 2, labels: &labels, base: 50)
        if case .node(var node) = items[1] { node.label = labels.intern("other"); items[1] = .node(node) }
        let b = assembleAll(items).graphs[0]
        #expect(TraceSignature(a, labels: labels).collapsed != TraceSignature(b, labels: labels).collapsed)
        // Drop the join's second parent: a different shape.
        let c = assembleAll(diamond(trace: 3, labels: &labels, base: 70).filter {
            if case .edge(_, 73, 74) = $0 { return false }
            return true
        }).graphs[0]
        #expect(TraceSignature(a, labels: labels).exact != TraceSignature(c, labels: labels).exact)
    }

    @Test func repeatedStepsChangeTheExactSignatureOnly() {
        var labels = LabelTable()
        func fanOut(_ trace: UInt64, _ copies: Int) -> TraceGraph {
            var items: [TraceItem] = [.node(TraceNode(trace: trace, key: 1, group: 1, label: labels.intern("write"), start: 0, end: 1)),
                                      .edge(trace: trace, from: 0, to: 1)]
            for k in 0..<copies {
                let key = UInt64(10 + k)
                items.append(.node(TraceNode(trace: trace, key: key, group: key, label: labels.intern("block"), start: 0, end: 2)))
                items.append(.edge(trace: trace, from: 1, to: key))
            }
            return assembleAll(items).graphs[0]
        }
        let three = TraceSignature(fanOut(1, 3), labels: labels), four = TraceSignature(fanOut(2, 4), labels: labels)
        #expect(three.collapsed == four.collapsed)
        #expect(three.exact != four.exact)
    }

    @Test func groupsNestByIntervalAndEdgesLeaveTheInnermostSharedAnchor() {
        var labels = LabelTable()
        // One thread (group 9): outer [0, 100] holds inner [0, 50] (same start) and [60, 90].
        let outer = TraceNode(trace: 1, key: 1, anchor: 500, group: 9, label: labels.intern("outer"), start: 1, end: 100)
        let inner = TraceNode(trace: 1, key: 2, anchor: 500, group: 9, label: labels.intern("inner"), start: 1, end: 50)
        let later = TraceNode(trace: 1, key: 3, anchor: 600, group: 9, label: labels.intern("later"), start: 60, end: 90)
        let remote = TraceNode(trace: 1, key: 4, group: 4, label: labels.intern("remote"), start: 5, end: 6)
        let graph = assembleAll([.node(later), .edge(trace: 1, from: 500, to: 4), .node(remote), .node(inner), .node(outer)]).graphs[0]
        func index(_ name: String) -> Int { graph.nodes.firstIndex { labels.name($0.label) == name }! }
        #expect(graph.roots.map(Int.init) == [index("outer")])
        #expect(Set(graph.children(of: index("outer")).map(Int.init)) == [index("inner"), index("later")])
        #expect(graph.children(of: index("inner")).map(Int.init) == [index("remote")])
    }

    @Test func cyclesAndMissingEndsAreCountedAsFractured() {
        var labels = LabelTable()
        let l = labels.intern("x")
        let items: [TraceItem] = [
            .node(TraceNode(trace: 1, key: 1, group: 1, label: l, start: 0, end: 1)),
            .node(TraceNode(trace: 1, key: 2, group: 2, label: l, start: 0, end: 1)),
            .edge(trace: 1, from: 1, to: 2), .edge(trace: 1, from: 2, to: 1),   // a cycle
            .edge(trace: 1, from: 77, to: 2),                                      // 77 never arrives
            .edge(trace: 1, from: 1, to: 2),                                       // repeated: counts once
        ]
        let (graphs, partition) = assembleAll(items)
        #expect(graphs[0].unresolvedEdges == 2)
        #expect(graphs[0].children.count == 1)
        #expect(partition.statistics.fractured == 1)
    }

    @Test func expiryClosesIdleTracesAndTheCapEvictsTheLeastRecent() {
        var labels = LabelTable()
        var configuration = ReconstructionConfiguration()
        configuration.expiryNanos = 100
        configuration.maxOpenTraces = 2
        var partition = TracePartition(configuration: configuration)
        var closed: [(UInt64, TraceGraph.Closure)] = []
        let record: (TraceGraph) -> Void = { closed.append(($0.trace, $0.closure)) }
        for item in diamond(trace: 1, labels: &labels) { partition.accept(item, now: 0, emit: record) }
        for item in diamond(trace: 2, labels: &labels, base: 10) { partition.accept(item, now: 50, emit: record) }
        partition._checkInvariants()
        #expect(closed.isEmpty)
        // A third trace at the cap evicts trace 1 (least recently active).
        for item in diamond(trace: 3, labels: &labels, base: 20) { partition.accept(item, now: 60, emit: record) }
        partition._checkInvariants()
        #expect(closed.map(\.0) == [1] && closed[0].1 == .evicted)
        // At 155, trace 2 (last item at 50) has been idle for 105 > 100; trace 3 has not.
        partition.expire(now: 155, emit: record)
        #expect(closed.map(\.0) == [1, 2] && closed[1].1 == .expired)
        #expect(partition.statistics.open == 1 && partition.statistics.peakOpen == 2)
        // A late item of trace 1 opens a new, partial trace and is counted.
        partition.accept(.edge(trace: 1, from: 3, to: 4), now: 160, emit: record)
        #expect(partition.statistics.reopened == 1)
        partition.flush(emit: record)
        #expect(partition.statistics.open == 0)
        // The late trace had only an edge: nothing to assemble, but it was counted as flushed.
        #expect(partition.statistics.flushed == 2 && closed.map(\.0) == [1, 2, 3])
    }

    @Test func workersPartitionByTraceAndFindTheSameTraces() throws {
        var labels = LabelTable()
        var items: [TraceItem] = []
        for trace in 1...500 as ClosedRange<UInt64> { items += diamond(trace: trace, labels: &labels, base: trace * 10) }
        items = shuffled(items, seed: 42)
        final class Box: @unchecked Sendable {
            let lock = PosixMutex()
            var signatures: [UInt64: UInt64] = [:]
        }
        var results: [[UInt64: UInt64]] = []
        // One item a call, on the caller's thread and on two workers; and in batches of 100.
        for (workers, batched) in [(0, false), (2, false), (0, true), (2, true)] {
            var configuration = ReconstructionConfiguration()
            configuration.workers = workers
            let box = Box()
            let reconstruction = try Reconstruction(configuration: configuration) { outcome in
                box.lock.withLock { box.signatures[outcome.graph.trace] = outcome.signature.exact }
            }
            if batched {
                for start in stride(from: 0, to: items.count, by: 100) {
                    reconstruction.accept(contentsOf: items[start..<min(start + 100, items.count)], labels: labels, now: 1)
                }
            } else {
                for item in items { reconstruction.accept(item, labels: labels, now: 1) }
            }
            let (statistics, _) = reconstruction.finish(labels: labels)
            #expect(statistics.assembled == 500 && statistics.fractured == 0)
            results.append(box.signatures)
        }
        #expect(results.allSatisfy { $0 == results[0] } && results[0].count == 500)
        #expect(Set(results[0].values).count == 1)
    }
}
