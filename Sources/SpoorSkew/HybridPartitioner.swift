#if !SPOOR_SINGLE_MODULE
import SpoorSupport
#endif

/// A partitioning function for a keyed exchange: heavy keys placed on chosen partitions, every
/// other key hashed (the hybrid partitioning of Gedik, "Partitioning functions for stateful
/// data parallelism in stream processing", VLDB J. 2014). Keys are named by their key hash, the
/// value reports carry (`spoor_hash_bytes` of the key's bytes), so a placement computed from a
/// trace names the same keys in the running job.
public struct HybridPartitioner: Sendable, Hashable {
    /// Partitions (parallel instances of the receiving stage), at least 1.
    public let partitions: Int
    /// Explicitly placed keys: key hash to partition in `0..<partitions`.
    public let explicit: [UInt64: Int]
    /// For each partition, the fraction of the hashed keys that plain hashing puts there which
    /// stay (1 everywhere: plain hashing).
    public let keep: [Double]
    /// Where the hashed keys that do not stay go: each partition's share of them (all 0 when
    /// every key stays).
    public let spill: [Double]
    private let spillEnds: [Double]

    /// A partitioner over `partitions` placing `explicit` keys (entries outside `0..<partitions`
    /// are dropped) and hashing the rest; `keep` and `spill` (one entry per partition; missing
    /// or invalid: plain hashing) move part of the hashed keys off partitions that the placed
    /// keys load.
    public init(partitions: Int, explicit: [UInt64: Int] = [:], keep: [Double]? = nil, spill: [Double]? = nil) {
        let count = max(1, partitions)
        self.partitions = count
        self.explicit = explicit.filter { $0.value >= 0 && $0.value < count }
        let k = (keep ?? []).map { $0.isFinite ? min(max($0, 0), 1) : 1 }
        let w = (spill ?? []).map { $0.isFinite ? max($0, 0) : 0 }
        let spillTotal = w.reduce(0, +)
        if k.count == count, w.count == count, spillTotal > 0 {
            self.keep = k
            self.spill = w.map { $0 / spillTotal }
        } else {
            self.keep = [Double](repeating: 1, count: count)
            self.spill = [Double](repeating: 0, count: count)
        }
        var running = 0.0
        spillEnds = self.spill.map { running += $0; return running }
    }

    /// Plain hash partitioning of a key hash, the default of SpoorDataflow's exchanges (its
    /// `HashPartitioner`): the hash spread by a multiplicative mix (FNV's low bits are weak),
    /// bits 17 and up, modulo `partitions`.
    @inlinable public static func hashPartition(_ keyHash: UInt64, partitions: Int) -> Int {
        guard partitions > 1 else { return 0 }
        return Int(truncatingIfNeeded: ((keyHash &* 0x9e37_79b9_7f4a_7c15) >> 17) % UInt64(partitions))
    }

    /// A uniform value in [0, 1) from a key hash and a salt: one splitmix64 step from state
    /// `keyHash ^ salt`, top 53 bits.
    public static func unit(_ keyHash: UInt64, salt: UInt64) -> Double {
        var state = keyHash ^ salt
        return Double(splitMix64(&state) >> 11) * 0x1p-53
    }

    /// The salts of the two uniform draws: whether a hashed key stays, and where it spills.
    public static let staySalt: UInt64 = 0x7374_6179, spillSalt: UInt64 = 0x7370_696c

    /// The partition of a key: its explicit placement; else its plain hash partition `p` if
    /// `unit(key, staySalt) < keep[p]`; else the partition whose slice of [0, 1), in order and
    /// `spill[q]` wide, holds `unit(key, spillSalt)`.
    public func partition(_ keyHash: UInt64) -> Int {
        if let placed = explicit[keyHash] { return placed }
        let hashed = Self.hashPartition(keyHash, partitions: partitions)
        if keep[hashed] >= 1 || Self.unit(keyHash, salt: Self.staySalt) < keep[hashed] { return hashed }
        let point = Self.unit(keyHash, salt: Self.spillSalt)
        var low = 0, high = partitions - 1
        while low < high {
            let middle = (low + high) / 2
            if point < spillEnds[middle] { high = middle } else { low = middle + 1 }
        }
        return spill[low] > 0 ? low : (spill.lastIndex { $0 > 0 } ?? hashed)
    }

    /// Each partition's share of the hashed keys' records, for hashed keys spread evenly by
    /// plain hashing with `tail` of the records in all.
    func tailLoads(_ tail: Double) -> [Double] {
        let even = tail / Double(partitions)
        let spilled = keep.reduce(0) { $0 + even * (1 - $1) }
        return keep.indices.map { even * keep[$0] + spilled * spill[$0] }
    }
}

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
    /// Plans a partitioner over `partitions` for an exchange whose keys `sketch` counted.
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
        let count = max(1, partitions)
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
                                  previousPartition: was, salts: max(1, Int((share / target).rounded(.up)))))
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
        let partitioner = HybridPartitioner(partitions: count, explicit: explicit, keep: keep, spill: spill)
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
