import Spoor
import Synchronization

/// Maps a key to one of the partitions (parallel instances) of the next stage.
public protocol Partitioner: Sendable {
    /// The partition in `0..<partitions` of a key with this hash: the key's `traceKeyHash`, the
    /// hash its reports carry (stable across runs and processes), so a placement computed from a
    /// trace (heavy keys) names the same keys in the running job.
    func partition(keyHash: UInt64, partitions: Int) -> Int
}

/// Hash partitioning, as Spark's `HashPartitioner`.
public struct HashPartitioner: Partitioner {
    /// A hash partitioner.
    public init() {}

    /// The hash spread by a multiplicative mix (FNV's low bits are weak), mod `partitions`.
    public func partition(keyHash: UInt64, partitions: Int) -> Int {
        guard partitions > 1 else { return 0 }
        let mixed = (keyHash &* 0x9e37_79b9_7f4a_7c15) >> 17
        return Int(truncatingIfNeeded: mixed % UInt64(partitions))
    }
}

/// Explicit placement of some keys (heavy keys, each alone or on a chosen partition), hashing
/// for the rest: the hybrid partitioning of Gedik (VLDB J. 2014) that trace-derived key
/// histograms feed.
public struct AssignedKeyPartitioner: Partitioner {
    let assignments: [UInt64: Int]
    let fallback: HashPartitioner
    let avoided: Set<Int>

    /// Keys (by their `traceKeyHash`, as reports carry them) placed on given partitions; other
    /// keys are hashed onto the partitions not named in `assignments` when there are any.
    public init(assignments: [UInt64: Int]) {
        self.assignments = assignments
        self.fallback = HashPartitioner()
        self.avoided = Set(assignments.values)
    }

    /// The assigned partition, or a hash over the partitions left free.
    public func partition(keyHash: UInt64, partitions: Int) -> Int {
        if let assigned = assignments[keyHash] { return assigned % partitions }
        let free = (0..<partitions).filter { !avoided.contains($0) }
        guard !free.isEmpty else { return fallback.partition(keyHash: keyHash, partitions: partitions) }
        return free[fallback.partition(keyHash: keyHash, partitions: free.count)]
    }
}

/// A partitioner file from `spoor skew -o FILE`, routed by libspoor.so (the same partition for
/// every key as in any other engine loading the file). On an exchange with as many partitions as
/// the file was planned for it places the file's heavy keys; on any other exchange it falls back
/// to `HashPartitioner` (a plan for 17 partitions says nothing about 4).
extension SkewPartitioner: Partitioner {
    /// The file's partition when `partitions` is the file's count, else plain hashing.
    public func partition(keyHash: UInt64, partitions: Int) -> Int {
        partitions == self.partitions ? partition(keyHash: keyHash) : HashPartitioner().partition(keyHash: keyHash, partitions: partitions)
    }
}

/// A partitioner that can be replaced while the dataflow runs. Writers check its version once
/// per window and switch at a window boundary, so every window's keys are grouped consistently.
public final class PartitionerHandle: @unchecked Sendable {
    private let current: Locked<(version: UInt64, partitioner: any Partitioner)>
    private let versionWord = Atomic<UInt64>(0)

    /// A handle starting with `partitioner`.
    public init(_ partitioner: any Partitioner = HashPartitioner()) {
        current = Locked((0, partitioner))
    }

    /// Replaces the partitioner with the partitioner file at `path` (`spoor skew -o FILE`); takes
    /// effect at each writer's next window. On a malformed or unreadable file it throws and the
    /// partitioner in force stays.
    public func replace(withContentsOf path: String) throws(SpoorError) {
        replace(with: try SkewPartitioner(contentsOf: path))
    }

    /// Replaces the partitioner; takes effect at each writer's next window.
    public func replace(with partitioner: any Partitioner) {
        current.withLock { state in
            state = (state.version + 1, partitioner)
            versionWord.store(state.version, ordering: .releasing)
        }
    }

    /// How many times the partitioner has been replaced (0: the one the handle started with).
    public var version: UInt64 { versionWord.load(ordering: .acquiring) }

    @usableFromInline
    func snapshot() -> (version: UInt64, partitioner: any Partitioner) {
        current.withLock { $0 }
    }
}
