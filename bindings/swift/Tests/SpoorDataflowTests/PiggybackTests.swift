@testable import Spoor
import SpoorDataflow
import SpoorLineage
import SpoorLog
import Testing

extension SwiftAPITests {
    @Test("piggyback: nodes shared by several exits, and events seen by several consumers, are reported once")
    func piggybackSharedNodesReportOnce() throws {
        let reader = Operator("reader")
        let (ids, graph, _) = try traced(sampling: .all, mode: .piggyback) {
            let source = Operator("source")
            let words = Traced.enter("a b c", at: source).flatMap(Operator("split")) { $0.split(separator: " ").map(String.init) }
            let shuffled = words[0].poke(.bufferLeave, then: .shuffleRead, op: reader)
            // The poked record feeds two consumers; the split node is shared by all three words.
            let left = shuffled.map(Operator("left")) { $0 + "!" }
            let right = shuffled.map(Operator("right")) { $0 + "?" }
            let others = words[1].combine(words[2], Operator("pair")) { $0 + $1 }
            return [left.exit(), right.exit(), others.exit()].map(\.rawValue)
        }
        #expect(ids.allSatisfy { $0 != 0 })
        let splits = graph.records.values.filter { graph.operatorName(of: $0.id) == "split" }
        #expect(splits.count == 3, "one report for the split, minting its three outputs")
        let splitFirst = try #require(splits.map(\.id).min())
        #expect(graph.records[ids[0]]?.parents == [splitFirst])
        #expect(graph.records[ids[1]]?.parents == [splitFirst])
        #expect(graph.records[ids[2]]?.parents == [splitFirst + 1, splitFirst + 2])
        let reads = try #require(graph.records[splitFirst]?.events.filter { $0.event == RecordEvent.shuffleRead.code })
        #expect(reads.count == 1, "the two consumers of the poked record report its events once")
        #expect(reads.first?.op == reader.id, "an event carries the operator that observed it, as in direct mode")
        #expect(graph.records[splitFirst]?.events.contains { $0.event == RecordEvent.bufferLeave.code } == true)
    }

    @Test("piggyback: a record's lineage is cut from the graph once reported, and long chains free without recursion")
    func piggybackPrunesAndFreesChains() throws {
        let ((afterExit, unreportedHeld), _, _) = try traced(sampling: .all, mode: .piggyback) {
            let source = Operator("source")
            let step = Operator("step")
            var record = Traced.enter(0, at: source)
            for _ in 0..<1_000 { record = record.map(step) { $0 + 1 } }
            let head = try #require(record.lineage?.head)
            #expect(head.firstInput != nil)
            record.exit()
            let afterExit = head.firstInput == nil && head.reportedID != nil

            // A chain of 200,000 nodes never reported: dropping it must not recurse per node.
            var long = Traced.enter(0, at: source)
            for _ in 0..<200_000 { long = long.map(step) { $0 &+ 1 } }
            let unreportedHeld = long.lineage?.head.reportedID == nil
            long = Traced(untracked: 0)
            return (afterExit, unreportedHeld)
        }
        #expect(afterExit, "reporting cut the head from its inputs and gave it an id")
        #expect(unreportedHeld)
    }

    @Test("piggyback: the unretained view of a lineage reference has the reference's layout")
    func piggybackReferenceLayout() {
        #expect(MemoryLayout<UnretainedLineageRef>.size == MemoryLayout<LineageRef>.size)
        #expect(MemoryLayout<UnretainedLineageRef>.stride == MemoryLayout<LineageRef>.stride)
        #expect(MemoryLayout<UnretainedLineageRef>.alignment == MemoryLayout<LineageRef>.alignment)
        #expect(MemoryLayout<UnretainedLineageInput>.size == MemoryLayout<LineageInput>.size)
        #expect(MemoryLayout<UnretainedLineageInput>.stride == MemoryLayout<LineageInput>.stride)
        #expect(MemoryLayout<UnretainedLineageInput>.alignment == MemoryLayout<LineageInput>.alignment)
        #expect(MemoryLayout<UnretainedLineageInput>.offset(of: \.keyHash) == MemoryLayout<LineageInput>.offset(of: \.keyHash))
        #expect(MemoryLayout<UnretainedLineageInput>.offset(of: \.op) == MemoryLayout<LineageInput>.offset(of: \.op))
        let node = LineageNode(entry: 77, op: 1, keyHash: 0, at: 0)
        let references = ContiguousArray([LineageRef(entry: 42), LineageRef(node, output: 3)])
        let seen = references.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: UnretainedLineageRef.self) { unretained in
                unretained.map { ($0.object?.toOpaque(), $0.payload) }
            }
        }
        #expect(seen[0].0 == nil && seen[0].1 == 42)
        #expect(seen[1].0 == Unmanaged.passUnretained(node as PiggybackLineage).toOpaque() && seen[1].1 == 3)
        #expect(references[1].report() == 80, "an already-reported node's id plus the output")
    }
}

extension SwiftAPITests {
    @Test("mapIntoFold reports what map would, and its contribution folds like the record", arguments: [TracingMode.direct, .piggyback])
    func mapIntoFold(mode: TracingMode) throws {
        let ((foldID, keyHash), graph, _) = try traced(sampling: .all, mode: mode) { () throws -> (UInt64, UInt64) in
            let source = Operator("source")
            let keying = Operator("keying")
            let words = Traced.enter("x y", at: source).flatMap(Operator("split")) { $0.split(separator: " ").map(String.init) }
            var fold = TraceFold()
            var total = 0
            for word in words {
                let (pair, contribution) = word.mapIntoFold(keying, keyOf: { $0.0.traceKeyHash }) { ($0, 1) }
                total += pair.1
                fold.add(contribution)
            }
            fold.add(Traced<Int>(untracked: 5))
            fold.add(FoldContribution.untracked)
            let result = fold.finish(total, op: Operator("sum"))
            #expect(result.value == 2)
            return (result.exit().rawValue, "x".traceKeyHash)
        }
        let sum = try #require(graph.records[foldID])
        #expect(sum.isFold && sum.parents.count == 2)
        let keyed = sum.parents.compactMap { graph.records[$0] }
        #expect(keyed.count == 2 && keyed.allSatisfy { graph.operatorName(of: $0.id) == "keying" })
        #expect(keyed.contains { $0.keyHash == keyHash })
        #expect(keyed.allSatisfy { $0.endNanos >= $0.startNanos && $0.startNanos > 0 })
        let splits = Set(keyed.flatMap(\.parents))
        #expect(splits.count == 2 && splits.allSatisfy { graph.operatorName(of: $0) == "split" })
        #expect(graph.entries(of: foldID).count == 1)
    }
}

extension SwiftAPITests {
    @Test("piggyback: a 100,000-deep chain of combines is reported at exit and freed unreported, without recursion")
    func piggybackDeepCombineChains() throws {
        let depth = 100_000
        let (finalID, graph, _) = try traced(sampling: .all, mode: .piggyback) { () throws -> UInt64 in
            let source = Operator("source")
            let add = Operator("add")
            var total = Traced.enter(0, at: source)
            for value in 1...depth { total = total.combine(Traced.enter(value, at: source), add) { $0 + $1 } }
            #expect(total.value == depth * (depth + 1) / 2)
            let finalID = total.exit().rawValue

            var dropped = Traced.enter(0, at: source)
            for value in 1...depth { dropped = dropped.combine(Traced.enter(value, at: source), add) { $0 + $1 } }
            dropped = Traced(untracked: 0)  // freed unreported: must not recurse per node
            return finalID
        }
        let adds = graph.records.values.filter { graph.operatorName(of: $0.id) == "add" }
        #expect(adds.count == depth, "every combine of the reported chain, and none of the dropped one")
        #expect(graph.records[finalID]?.parents.count == 2)
        #expect(adds.allSatisfy { $0.parents.count == 2 })
    }

    @Test("piggyback: a fold over more than 65,536 records reports them all and names the first 65,536")
    func piggybackFoldOverParentLimit() throws {
        let count = 70_000
        let (foldID, graph, _) = try traced(sampling: .all, mode: .piggyback) { () throws -> UInt64 in
            let source = Operator("source")
            let keying = Operator("keying")
            var fold = TraceFold()
            for value in 0..<count {
                fold.add(Traced.enter(value, at: source).mapIntoFold(keying, keyOf: { _ in 1 }) { $0 }.contribution)
            }
            return fold.finish(count, op: Operator("count")).exit().rawValue
        }
        #expect(graph.records[foldID]?.parents.count == Int(65_536))
        #expect(graph.records.values.filter { graph.operatorName(of: $0.id) == "keying" }.count == count)
    }

    @Test("piggyback: parents continued from a context string join a combine; a terminal poke continues from the reported id")
    func piggybackMixedParentsAndTerminalPoke() throws {
        let ((continuedID, combinedID, afterDropID, droppedID), graph, _) = try traced(sampling: .all, mode: .piggyback) {
            () throws -> (UInt64, UInt64, UInt64, UInt64) in
            let source = Operator("source")
            let remote = Traced.enter("remote", at: source).map(Operator("upstream")) { $0 }
            let continued = Traced("continued", continuing: remote.context)
            #expect(Traced("again", continuing: remote.context).id == continued.id, "reported once")
            #expect(continued.isTracked && continued.lineage == nil)
            let local = Traced.enter("local", at: source).map(Operator("local")) { $0 }
            let combined = local.combine(continued, Operator("both")) { $0 + $1 }.exit()

            let dropped = Traced.enter("x", at: source).map(Operator("step")) { $0 }.poke(.filtered)
            let after = dropped.map(Operator("after")) { $0 }
            return (continued.id.rawValue, combined.rawValue, after.id.rawValue, dropped.id.rawValue)
        }
        let both = try #require(graph.records[combinedID])
        #expect(both.parents.count == 2)
        #expect(both.parents.contains(continuedID), "the continued record's id is a parent")
        #expect(graph.operatorName(of: continuedID) == "upstream", "the context names the record, reported when handed off")
        #expect(graph.operatorName(of: droppedID) == "step", "the filtered record continues from its reported id")
        #expect(graph.records[afterDropID]?.parents == [droppedID])
        #expect(graph.records[droppedID]?.events.contains { $0.event == RecordEvent.filtered.code } == true)
    }
}
