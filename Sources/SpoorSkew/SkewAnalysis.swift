#if !SPOOR_SINGLE_MODULE
import SpoorLog
#endif

/// The key distributions of a run's operators, from their reports: for each operator, a
/// heavy-hitter sketch of the keys of the records it emitted (the keys the next exchange
/// partitions by), and the records of each operator instance (the partition its writer set with
/// `spoor_set_partition`), weighted by fanout.
///
/// Entry reports are sampled; every report below a sampled entry is written. With one sampling
/// probability for the run, every key's records are sampled alike, so shares, histograms and
/// imbalance ratios estimated from the reports are unbiased without knowing the probability;
/// counts scale by its inverse.
public struct SkewAnalysis: Sendable {
    /// One operator's keys and instances.
    public struct OperatorKeys: Sendable {
        /// The operator (name and call site).
        public var name: String
        /// The keys of its output records.
        public var sketch: HeavyHitters
        /// Records with a key, by weight.
        public var keyed: Double = 0
        /// Records by operator instance (partition), all records, keyed or not.
        public var instances: [UInt32: Double] = [:]
        /// Records reported without a partition.
        public var unpartitioned: Double = 0
        /// Key values where the reports attach one (an attribute named `key`), by key hash.
        public var keyValues: [UInt64: String] = [:]

        /// Observed load per instance: largest over mean across the instances seen (1 if one or
        /// none), with `partitions` instances when given (instances with no record count too).
        public func observedImbalance(partitions: Int? = nil) -> Double? {
            guard !instances.isEmpty else { return nil }
            let count = max(partitions ?? instances.count, instances.count)
            let total = instances.values.reduce(0, +)
            guard total > 0 else { return nil }
            return (instances.values.max() ?? 0) / (total / Double(count))
        }
    }

    /// Counters per operator sketch.
    public let capacity: Int
    /// The sketches' half-life (nil: no decay).
    public let halfLifeNanos: UInt64?
    /// Operators by name.
    public private(set) var operators: [String: OperatorKeys] = [:]
    private static let keyAttribute = Array("key".utf8)

    /// An empty analysis with `capacity` counters per operator.
    public init(capacity: Int = 1_024, halfLifeNanos: UInt64? = nil) {
        self.capacity = capacity
        self.halfLifeNanos = halfLifeNanos
    }

    /// Counts one report of operator `name` (entries and checkpoints; pokes are ignored).
    public mutating func add(_ report: Report, operator name: String) {
        guard report.kind == .entry || report.kind == .checkpoint else { return }
        let weight = Double(max(report.fanout, 1))
        var entry = operators[name] ?? OperatorKeys(name: name, sketch: HeavyHitters(capacity: capacity, halfLifeNanos: halfLifeNanos))
        if let partition = report.partition { entry.instances[partition, default: 0] += weight } else { entry.unpartitioned += weight }
        if report.keyHash != 0 {
            entry.keyed += weight
            entry.sketch.add(report.keyHash, weight: weight, at: report.endNanos)
            if entry.keyValues.count < 4 * capacity, entry.keyValues[report.keyHash] == nil,
               let attribute = report.attachment.first(where: { $0.key == Self.keyAttribute }) {
                entry.keyValues[report.keyHash] = String(decoding: attribute.value, as: UTF8.self)
            }
        }
        operators[name] = entry
    }
}
