#if !SPOOR_SINGLE_MODULE
import SpoorPartitioning
import SpoorSupport
#endif

/// One heavy key of a plan.
public struct HeavyKey: Sendable, Hashable {
    /// The key hash.
    public var key: UInt64
    /// Its estimated share of the exchange's records, and how much that can overstate it.
    public var share: Double, errorShare: Double
    /// Where the plan puts it, and where it went before (plain hashing, or the previous plan).
    public var partition: Int, previousPartition: Int
    /// Salt buckets for a join or a combinable aggregation: the key's records spread over this
    /// many partitions (1: it fits in one).
    public var salts: Int
}

/// A proposed partitioner with what it is expected to do, all as shares of the records
/// crossing the exchange.
public struct PartitionPlan: Sendable {
    /// The partitioner.
    public var partitioner: HybridPartitioner
    /// The keys it places, heaviest first.
    public var heavy: [HeavyKey]
    /// Each partition's estimated share before (plain hashing, or the previous plan) and after.
    public var loadsBefore: [Double], loadsAfter: [Double]
    /// Largest partition over the mean, before and after (1 is perfect balance).
    public var imbalanceBefore: Double, imbalanceAfter: Double
    /// No placement does better than this: the heaviest key's share times the partitions (at
    /// least 1); beyond it only salting helps.
    public var imbalanceLowerBound: Double
    /// The share of records whose partition changes from before.
    public var migratedShare: Double
    /// The sketch's error bound as a share: any key's share is known to within it.
    public var errorShare: Double
    /// The share above which a key was taken as heavy.
    public var heavyThreshold: Double
}

/// Builds hybrid partitioners from a heavy-hitter sketch.
public enum PartitionPlanner {
    /// Plans a partitioner over `partitions` (clamped to `1...HybridPartitioner.maximumPartitions`)
    /// for an exchange whose keys `sketch` counted.
    ///
    /// Keys with an estimated share of at least `heavyShare` (default a quarter of a
    /// partition's fair share, `1 / (4 partitions)`, and never below the sketch's error bound)
    /// are placed, heaviest first, on their partition before (`previous`, else plain hashing)
    /// if it stays within `1 + tolerance` of the fair share, else on the least loaded partition
    /// (greedy longest-processing-time first; where it was on a tie). Keeping a heavy key where it was whenever that
    /// balances keeps migration small when a plan is rebuilt.
    ///
    /// The other keys stay hashed, but partitions that placed keys load keep only part of their
    /// hashed keys: the rest (`1 - keep`, chosen by a hash of the key, so a key always goes the
    /// same way) spill onto the partitions below the level `M` at which
    /// `sum over p of max(0, M - heavy_p)` covers the hashed records (water-filling), so that
    /// every partition ends near `max(M, heavy_p)`. Only the spilled keys move from plain hashing.
    /// The hashed records are taken as spread evenly (the light keys' individual counts are
    /// within the sketch's error of each other).
    public static func plan(
        _ sketch: HeavyHitters, partitions: Int, previous: HybridPartitioner? = nil,
        heavyShare: Double? = nil, tolerance: Double = 0.05
    ) -> PartitionPlan {
        let count = min(max(1, partitions), HybridPartitioner.maximumPartitions)
        let total = sketch.total()
        let counters = sketch.counters()
        let errorShare = total > 0 ? sketch.errorBound() / total : 0
        let threshold = max(heavyShare ?? 1 / (4 * Double(count)), errorShare)
        let before = previous.flatMap { $0.partitions == count ? $0 : nil } ?? HybridPartitioner(partitions: count)
        guard total > 0 else {
            let zeros = [Double](repeating: 0, count: count)
            return PartitionPlan(partitioner: HybridPartitioner(partitions: count), heavy: [], loadsBefore: zeros,
                                 loadsAfter: zeros, imbalanceBefore: 1, imbalanceAfter: 1, imbalanceLowerBound: 1,
                                 migratedShare: 0, errorShare: 0, heavyThreshold: threshold)
        }
        let heavyCounters = counters.filter { $0.estimate / total >= threshold }
        let heavyTotal = heavyCounters.reduce(0) { $0 + $1.estimate } / total
        let tail = max(0, 1 - heavyTotal)
        let fair = 1 / Double(count)
        let target = fair * (1 + tolerance)
        // Place the heavy keys; `load` holds each partition's heavy share plus an even share of
        // the tail, which the spill then evens out.
        var heavyLoad = [Double](repeating: 0, count: count)
        let even = tail / Double(count)
        var explicit: [UInt64: Int] = [:]
        var heavy: [HeavyKey] = []
        for c in heavyCounters {
            let share = c.estimate / total
            let was = before.partition(c.key)
            var place = was
            if heavyLoad[was] + even + share > target {
                // The least loaded partition; where it was if that is as good (a key too heavy
                // for any partition gains nothing from moving).
                let least = heavyLoad.indices.min { (heavyLoad[$0], $0) < (heavyLoad[$1], $1) }!
                if heavyLoad[least] < heavyLoad[was] { place = least }
            }
            heavyLoad[place] += share
            explicit[c.key] = place
            heavy.append(HeavyKey(key: c.key, share: share, errorShare: c.error / total, partition: place,
                                  previousPartition: was, salts: min(count, max(1, Int((share / target).rounded(.up))))))
        }
        // Water-filling: the level M with sum of max(0, M - heavy_p) = tail.
        let sorted = heavyLoad.sorted()
        var level = sorted.last ?? 0
        var below = 0.0
        for (i, h) in sorted.enumerated() {
            below += h
            let candidate = (tail + below) / Double(i + 1)
            if i + 1 == count || candidate <= sorted[i + 1] {
                level = candidate
                break
            }
        }
        let desired = heavyLoad.map { max(0, level - $0) }
        let keep = desired.map { even > 0 ? min(1, $0 / even) : 1 }
        let spill = desired.map { max(0, $0 - even) }
        let partitioner = HybridPartitioner(
            partitions: count, explicit: explicit, keep: keep, spill: spill,
            salts: Dictionary(uniqueKeysWithValues: heavy.map { ($0.key, $0.salts) }))
        func loads(_ p: HybridPartitioner) -> [Double] {
            var result = p.tailLoads(tail)
            for c in heavyCounters { result[p.partition(c.key)] += c.estimate / total }
            return result
        }
        let loadsBefore = loads(before), loadsAfter = loads(partitioner)
        // Migration: the heavy keys that move, and the hashed records that move (estimated on a
        // fixed set of 65,536 pseudo-random key hashes standing for the evenly spread tail).
        var migrated = 0.0
        for c in heavyCounters where before.partition(c.key) != partitioner.partition(c.key) { migrated += c.estimate / total }
        var moved = 0
        var state: UInt64 = 0x6d69_6772_6174_65
        let probes = 65_536
        for _ in 0..<probes {
            let key = splitMix64(&state)
            if explicit[key] == nil && before.explicit[key] == nil && before.partition(key) != partitioner.partition(key) { moved += 1 }
        }
        migrated += tail * Double(moved) / Double(probes)
        let largest = counters.first.map { $0.estimate / total } ?? 0
        return PartitionPlan(
            partitioner: partitioner, heavy: heavy, loadsBefore: loadsBefore, loadsAfter: loadsAfter,
            imbalanceBefore: (loadsBefore.max() ?? 0) / fair, imbalanceAfter: (loadsAfter.max() ?? 0) / fair,
            imbalanceLowerBound: max(1, largest / fair), migratedShare: migrated, errorShare: errorShare,
            heavyThreshold: threshold)
    }
}
