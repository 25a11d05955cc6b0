#if !SPOOR_SINGLE_MODULE
import SpoorSupport
#endif

/// A partitioning function for a keyed exchange: heavy keys placed on chosen partitions, every
/// other key hashed (the hybrid partitioning of Gedik, "Partitioning functions for stateful
/// data parallelism in stream processing", VLDB J. 2014). Keys are named by their key hash, the
/// value reports carry (`spoor_hash_bytes` of the key's bytes), so a placement computed from a
/// trace names the same keys in the running job.
///
/// The routing itself is `PartitionerTable`'s, the code `spoor_partitioner_partition` runs in
/// every engine; this value adds the arrays the planner reads.
public struct HybridPartitioner: Sendable, Hashable {
    /// Partitions (parallel instances of the receiving stage), in `1...maximumPartitions`.
    public let partitions: Int
    /// Explicitly placed keys: key hash to partition in `0..<partitions`.
    public let explicit: [UInt64: Int]
    /// Placed keys' salt counts (see `salts(_:)`), for keys with more than 1.
    public let saltCounts: [UInt64: Int]
    /// For each partition, the fraction of the hashed keys that plain hashing puts there which
    /// stay (1 everywhere: plain hashing).
    public let keep: [Double]
    /// Where the hashed keys that do not stay go: each partition's share of them (all 0 when
    /// every key stays).
    public let spill: [Double]
    private let table: Table

    /// The largest partition count.
    public static let maximumPartitions = PartitionerTable.maximumPartitions

    /// Owns the compiled table.
    private final class Table: Sendable {
        // Immutable after init and read only through PartitionerTable's loads.
        nonisolated(unsafe) let base: UnsafeMutableRawPointer
        init(_ base: UnsafeMutableRawPointer) { self.base = base }
        deinit { PartitionerTable.free(base) }
    }

    /// A partitioner over `partitions` (clamped to `1...maximumPartitions`) placing `explicit`
    /// keys (entries outside `0..<partitions` are dropped) and hashing the rest; `keep` and
    /// `spill` (one entry per partition; missing or invalid: plain hashing) move part of the
    /// hashed keys off partitions that the placed keys load. `salts` gives placed keys' salt
    /// counts (clamped to `1...partitions`; missing: 1).
    public init(partitions: Int, explicit: [UInt64: Int] = [:], keep: [Double]? = nil, spill: [Double]? = nil,
                salts: [UInt64: Int] = [:]) {
        let count = min(max(1, partitions), Self.maximumPartitions)
        self.partitions = count
        let placed = explicit.filter { $0.value >= 0 && $0.value < count }
        let saltCounts = salts.compactMapValues { $0 > 1 ? min($0, count) : nil }.filter { placed[$0.key] != nil }
        self.explicit = placed
        self.saltCounts = saltCounts
        if let shares = PartitionerTable.normalise(partitions: count, keep: keep, spill: spill) {
            self.keep = shares.keep
            self.spill = shares.spill
        } else {
            self.keep = [Double](repeating: 1, count: count)
            self.spill = [Double](repeating: 0, count: count)
        }
        let entries = placed.map { (key: $0.key, partition: $0.value, salts: saltCounts[$0.key] ?? 1) }
        guard let base = PartitionerTable.make(partitions: count, explicit: entries, keep: self.keep, spill: self.spill) else {
            fatalError("out of memory for a partitioner of \(count) partitions and \(entries.count) keys")
        }
        table = Table(base)
    }

    /// A partitioner from a decoded partitioner file.
    public init(_ description: PartitionerDescription) {
        var explicit: [UInt64: Int] = [:], salts: [UInt64: Int] = [:]
        for key in description.keys {
            explicit[key.keyHash] = key.partition
            salts[key.keyHash] = key.salts
        }
        self.init(partitions: description.partitions, explicit: explicit, keep: description.keep,
                  spill: description.spill, salts: salts)
    }

    public static func == (lhs: HybridPartitioner, rhs: HybridPartitioner) -> Bool {
        lhs.partitions == rhs.partitions && lhs.explicit == rhs.explicit && lhs.saltCounts == rhs.saltCounts
            && lhs.keep == rhs.keep && lhs.spill == rhs.spill
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(partitions)
        hasher.combine(explicit)
        hasher.combine(saltCounts)
        hasher.combine(keep)
        hasher.combine(spill)
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
    @inline(__always)
    public static func unit(_ keyHash: UInt64, salt: UInt64) -> Double {
        var state = keyHash ^ salt
        return Double(splitMix64(&state) >> 11) * 0x1p-53
    }

    /// The salts of the two uniform draws: whether a hashed key stays, and where it spills.
    public static let staySalt: UInt64 = 0x7374_6179, spillSalt: UInt64 = 0x7370_696c

    /// The partition of a key: its explicit placement; else its plain hash partition `p` if
    /// `unit(key, staySalt) < keep[p]`; else the partition whose slice of [0, 1), in order and
    /// `spill[q]` wide, holds `unit(key, spillSalt)` (past the last slice: the last partition
    /// with a spill share).
    public func partition(_ keyHash: UInt64) -> Int {
        PartitionerTable.partition(UnsafeRawPointer(table.base), keyHash)
    }

    /// How many partitions a join or a combinable aggregation should spread a key's records
    /// over (salting): its salt count if it is placed, else 1.
    public func salts(_ keyHash: UInt64) -> Int {
        PartitionerTable.salts(UnsafeRawPointer(table.base), keyHash)
    }

    /// Each partition's share of the hashed keys' records, for hashed keys spread evenly by
    /// plain hashing with `tail` of the records in all.
    package func tailLoads(_ tail: Double) -> [Double] {
        let even = tail / Double(partitions)
        let spilled = keep.reduce(0) { $0 + even * (1 - $1) }
        return keep.indices.map { even * keep[$0] + spilled * spill[$0] }
    }
}
