import Foundation
import SpoorLog
import SpoorSkew
import SpoorPartitioning
import SpoorSupport
import Testing

/// A deterministic stream: `heavy` planted keys with the given shares, the rest of `total`
/// records spread over `tailKeys` light keys, shuffled.
func plantedStream(heavy: [(key: UInt64, share: Double)], tailKeys: Int, total: Int, seed: UInt64) -> [UInt64] {
    var state = seed
    var keys: [UInt64] = []
    keys.reserveCapacity(total)
    for (key, share) in heavy { keys.append(contentsOf: repeatElement(key, count: Int(share * Double(total)))) }
    while keys.count < total { keys.append(1_000_000 + splitMix64(&state) % UInt64(tailKeys)) }
    for i in stride(from: keys.count - 1, to: 0, by: -1) {
        keys.swapAt(i, Int(splitMix64(&state) % UInt64(i + 1)))
    }
    return keys
}

@Suite struct HeavyHitterTests {
    let planted: [(key: UInt64, share: Double)] = [(11, 0.12), (22, 0.08), (33, 0.05), (44, 0.03), (55, 0.02)]

    @Test func findsExactlyThePlantedKeysWithinTheStatedBound() {
        let stream = plantedStream(heavy: planted, tailKeys: 50_000, total: 400_000, seed: 7)
        var truth: [UInt64: Int] = [:]
        for key in stream { truth[key, default: 0] += 1 }
        var sketch = HeavyHitters(capacity: 256)
        for key in stream { sketch.add(key) }
        sketch._checkInvariants()
        let total = sketch.total()
        #expect(total == Double(stream.count))
        let bound = sketch.errorBound()
        #expect(bound <= total / 256, "the error bound is at most W / capacity")
        // Every counter brackets its key's true count; no uncounted key exceeds the bound.
        let counters = sketch.counters()
        for c in counters {
            let exact = Double(truth[c.key] ?? 0)
            #expect(c.estimate - c.error <= exact && exact <= c.estimate, "key \(c.key): \(exact) in [\(c.estimate - c.error), \(c.estimate)]")
            #expect(c.error <= bound)
        }
        let counted = Set(counters.map(\.key))
        for (key, count) in truth where !counted.contains(key) { #expect(Double(count) <= bound) }
        // The keys with a share of at least 1%: exactly the planted ones, each within the bound.
        let heavy = counters.filter { $0.estimate / total >= 0.01 }
        #expect(Set(heavy.map(\.key)) == Set(planted.map(\.key)))
        for c in heavy {
            let share = Double(truth[c.key]!) / total
            #expect(abs(c.estimate / total - share) <= bound / total)
            #expect(c.estimate - c.error >= 0.01 * total, "certainly heavy: the lower bound clears the threshold")
        }
    }

    @Test func decayForgetsOldKeysAtTheHalfLife() {
        var sketch = HeavyHitters(capacity: 16, halfLifeNanos: 1_000)
        for _ in 0..<100 { sketch.add(1, at: 0) }
        for _ in 0..<100 { sketch.add(2, at: 1_000) }
        // At t = 1000 key 1's records weigh half as much as key 2's.
        let one = sketch.counter(for: 1)!.estimate, two = sketch.counter(for: 2)!.estimate
        #expect(abs(one - 50) < 1e-9 && abs(two - 100) < 1e-9)
        #expect(abs(sketch.total() - 150) < 1e-9)
        #expect(abs(sketch.total(at: 2_000) - 75) < 1e-9)
        // Far in the future the landmark moves and the values stay finite and in proportion.
        sketch.add(3, at: 1_000_000)
        sketch._checkInvariants()
        #expect(sketch.counter(for: 3)!.estimate == 1)
        #expect(sketch.total().isFinite)
        #expect(sketch.counters().first?.key == 3)
    }

    @Test func weightedUpdatesAndReplacement() {
        var sketch = HeavyHitters(capacity: 2)
        sketch.add(1, weight: 5)
        sketch.add(2, weight: 3)
        sketch.add(3, weight: 1)   // replaces key 2 (the smallest): estimate 4, error 3
        sketch._checkInvariants()
        #expect(sketch.counter(for: 2) == nil)
        #expect(sketch.counter(for: 3) == .init(key: 3, estimate: 4, error: 3))
        #expect(sketch.errorBound() == 4)
        sketch.add(9, weight: 0)
        sketch.add(9, weight: -1)
        sketch.add(9, weight: .nan)
        #expect(sketch.updates == 3, "non-positive and non-finite weights are ignored")
    }
}

@Suite struct PartitionPlanTests {
    /// The true load of each partition under `place`, as shares.
    func trueLoads(_ stream: [UInt64], partitions: Int, _ place: (UInt64) -> Int) -> [Double] {
        var loads = [Double](repeating: 0, count: partitions)
        for key in stream { loads[place(key)] += 1 }
        return loads.map { $0 / Double(stream.count) }
    }

    @Test func hybridPlacementBalancesPlantedHeavyKeys() {
        let planted: [(key: UInt64, share: Double)] = [(11, 0.05), (22, 0.05), (33, 0.04), (44, 0.04), (55, 0.03), (66, 0.03)]
        let stream = plantedStream(heavy: planted, tailKeys: 100_000, total: 500_000, seed: 3)
        var sketch = HeavyHitters(capacity: 512)
        for key in stream { sketch.add(key) }
        let partitions = 17
        let plan = PartitionPlanner.plan(sketch, partitions: partitions)
        #expect(Set(plan.heavy.map(\.key)) == Set(planted.map(\.key)), "placed: exactly the planted keys (share >= 1/68)")
        let hashed = trueLoads(stream, partitions: partitions) { HybridPartitioner.hashPartition($0, partitions: partitions) }
        let hybrid = trueLoads(stream, partitions: partitions, plan.partitioner.partition)
        let fair = 1 / Double(partitions)
        let before = hashed.max()! / fair, after = hybrid.max()! / fair
        #expect(after < before, "hybrid \(after) better than hashing \(before)")
        #expect(after <= 1.1, "within tolerance of the fair share plus the tail's noise: \(after)")
        // The plan's estimates agree with the true loads to within the sketch's error and the
        // tail's spread over 100,000 keys.
        #expect(abs(plan.imbalanceBefore - before) < 0.1)
        #expect(abs(plan.imbalanceAfter - after) < 0.1)
        // A hashed key moves only off a partition that keeps less than all of its hashed keys,
        // and the records that move are the plan's migrated share.
        var moved = 0
        for key in stream where plan.partitioner.explicit[key] == nil {
            let hashed = HybridPartitioner.hashPartition(key, partitions: partitions)
            if plan.partitioner.partition(key) != hashed {
                moved += 1
                #expect(plan.partitioner.keep[hashed] < 1)
            }
        }
        for key in planted.map(\.key) where plan.partitioner.partition(key) != HybridPartitioner.hashPartition(key, partitions: partitions) {
            moved += stream.lazy.filter { $0 == key }.count
        }
        #expect(abs(Double(moved) / Double(stream.count) - plan.migratedShare) < 0.02, "moved \(Double(moved) / Double(stream.count)), planned \(plan.migratedShare)")
    }

    @Test func rebuildingKeepsPlacementsThatStillBalance() {
        let planted: [(key: UInt64, share: Double)] = [(11, 0.05), (22, 0.05), (33, 0.04), (44, 0.04), (55, 0.03)]
        let first = plantedStream(heavy: planted, tailKeys: 100_000, total: 300_000, seed: 5)
        var sketch = HeavyHitters(capacity: 512)
        for key in first { sketch.add(key) }
        let plan = PartitionPlanner.plan(sketch, partitions: 17)
        // The same distribution again (another sample): the rebuilt plan moves almost nothing.
        let second = plantedStream(heavy: planted, tailKeys: 100_000, total: 300_000, seed: 6)
        var again = HeavyHitters(capacity: 512)
        for key in second { again.add(key) }
        let rebuilt = PartitionPlanner.plan(again, partitions: 17, previous: plan.partitioner)
        #expect(rebuilt.migratedShare < 0.02, "moved \(rebuilt.migratedShare)")
        for key in planted.map(\.key) { #expect(rebuilt.partitioner.partition(key) == plan.partitioner.partition(key)) }
        let fresh = PartitionPlanner.plan(again, partitions: 17)
        #expect(rebuilt.imbalanceAfter <= fresh.imbalanceAfter + 0.06)
    }

    @Test func aKeyLargerThanAPartitionSetsTheLowerBoundAndIsSalted() {
        let stream = plantedStream(heavy: [(7, 0.3)], tailKeys: 10_000, total: 100_000, seed: 9)
        var sketch = HeavyHitters(capacity: 128)
        for key in stream { sketch.add(key) }
        let plan = PartitionPlanner.plan(sketch, partitions: 10)
        #expect(abs(plan.imbalanceLowerBound - 3) < 0.01)
        #expect(plan.imbalanceAfter >= plan.imbalanceLowerBound - 1e-9)
        #expect(plan.heavy.first?.key == 7 && plan.heavy.first?.salts == 3)
    }

    @Test func emptySketchPlansPlainHashing() {
        let plan = PartitionPlanner.plan(HeavyHitters(capacity: 8), partitions: 4)
        #expect(plan.heavy.isEmpty && plan.imbalanceAfter == 1 && plan.partitioner.explicit.isEmpty)
    }

    @Test func partitionerFileRoundTripsAndRejectsMalformedFiles() throws {
        let stream = plantedStream(heavy: [(0xdead_beef_0000_0001, 0.2), (42, 0.1)], tailKeys: 1_000, total: 20_000, seed: 1)
        var sketch = HeavyHitters(capacity: 64)
        for key in stream { sketch.add(key) }
        let plan = PartitionPlanner.plan(sketch, partitions: 8)
        let data = try PartitionerFile.encode(plan, operator: "split", values: [42: "the"])
        let text = String(decoding: data, as: UTF8.self)
        #expect(text.contains("\"key_hash\":\"deadbeef00000001\"") && text.contains("\"value\":\"the\""))
        let (loaded, salts) = try PartitionerFile.decode(data)
        #expect(loaded.partitions == plan.partitioner.partitions && loaded.explicit == plan.partitioner.explicit)
        #expect(zip(loaded.keep, plan.partitioner.keep).allSatisfy { abs($0 - $1) < 1e-12 })
        #expect(zip(loaded.spill, plan.partitioner.spill).allSatisfy { abs($0 - $1) < 1e-12 })
        var state: UInt64 = 1
        var disagree = 0
        for _ in 0..<10_000 {
            let key = splitMix64(&state)
            if loaded.partition(key) != plan.partitioner.partition(key) { disagree += 1 }
        }
        #expect(disagree == 0)
        #expect(salts[0xdead_beef_0000_0001] == plan.heavy.first { $0.key == 0xdead_beef_0000_0001 }!.salts)
        for heavy in plan.heavy {
            #expect(loaded.salts(heavy.key) == heavy.salts && plan.partitioner.salts(heavy.key) == heavy.salts)
        }
        // The file as libspoor.so's loader reads it: the same keys, placements and values.
        let description = try PartitionerDescription.decode([UInt8](data))
        #expect(description.operatorName == "split" && description.partitions == 8)
        #expect(Set(description.keys.map(\.keyHash)) == Set(plan.heavy.map(\.key)))
        #expect(description.keys.first { $0.keyHash == 42 }?.value == "the")
        for bad in [
            #"{"format":"spoor-flow-model","version":1,"partitions":2,"hash":"spoor-mix17","keys":[]}"#,
            #"{"format":"spoor-partitioner","version":2,"partitions":2,"hash":"spoor-mix17","keys":[]}"#,
            #"{"format":"spoor-partitioner","version":1,"partitions":0,"hash":"spoor-mix17","keys":[]}"#,
            #"{"format":"spoor-partitioner","version":1,"partitions":2,"hash":"murmur","keys":[]}"#,
            #"{"format":"spoor-partitioner","version":1,"partitions":2,"hash":"spoor-mix17","keys":[{"key_hash":"12","partition":0}]}"#,
            #"{"format":"spoor-partitioner","version":1,"partitions":2,"hash":"spoor-mix17","keys":[{"key_hash":"000000000000002a","partition":2}]}"#,
            #"{"format":"spoor-partitioner","version":1,"partitions":2,"hash":"spoor-mix17","keys":[],"keep":[0.5,1],"spill":[0,0]}"#,
            #"{"format":"spoor-partitioner","version":1,"partitions":2,"hash":"spoor-mix17","keys":[],"keep":[0.5],"spill":[0,1]}"#,
            #"{"format":"spoor-partitioner","version":1,"partitions":2,"hash":"spoor-mix17","keys":[],"keep":[1.5,1],"spill":[0,1]}"#,
            #"{"format":"spoor-partitioner","version":1,"partitions":2,"hash":"spoor-mix17","keys":[],"keep":[1,1]}"#,
            "not json",
        ] {
            #expect(throws: PartitionerFile.FormatError.self) { try PartitionerFile.decode(Data(bad.utf8)) }
        }
    }
}

@Suite struct SkewAnalysisTests {
    func report(op: UInt32, key: UInt64, partition: UInt32?, value: String? = nil) -> Report {
        Report(kind: .checkpoint, id: 1, fanout: 1, parents: [2], op: op, keyHash: key, startNanos: 0, endNanos: 10,
               thread: 1, partition: partition, event: nil, flags: 0,
               attachment: value.map { [Attribute(key: Array("key".utf8), value: Array($0.utf8))] } ?? [], ring: 0, position: 0)
    }

    @Test func operatorsKeysInstancesAndValues() {
        var analysis = SkewAnalysis(capacity: 16)
        for i in 0..<90 { analysis.add(report(op: 1, key: 5, partition: 0, value: i == 0 ? "the" : nil), operator: "count") }
        for i in 0..<10 { analysis.add(report(op: 1, key: UInt64(100 + i), partition: 1), operator: "count") }
        analysis.add(report(op: 2, key: 0, partition: nil), operator: "parse")
        let count = analysis.operators["count"]!
        #expect(count.keyed == 100 && count.keyValues[5] == "the")
        #expect(count.sketch.counters().first?.key == 5)
        #expect(count.observedImbalance() == 90 / 50.0)
        #expect(count.observedImbalance(partitions: 4) == 90 / 25.0)
        #expect(analysis.operators["parse"]!.keyed == 0 && analysis.operators["parse"]!.unpartitioned == 1)
    }
}
