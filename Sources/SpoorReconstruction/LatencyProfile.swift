/// A latency distribution learnt from normal traffic: a bounded uniform sample (reservoir) of
/// the observed values, from which quantiles and the tail threshold are computed.
public struct LatencyProfile: Sendable, Hashable {
    /// Values observed.
    public private(set) var count: Int = 0
    /// The largest value observed.
    public private(set) var maximum: UInt64 = 0
    /// A uniform sample of at most `LatencyProfile.reservoirSize` values, sorted once the
    /// profile is finished.
    public private(set) var sample: [UInt64] = []
    private var state: UInt64 = 0x243f_6a88_85a3_08d3

    /// Values kept per profile.
    public static let reservoirSize = 256

    /// An empty profile.
    public init() {}

    /// Records one value (Algorithm R: every value seen is in the sample with equal probability).
    public mutating func record(_ value: UInt64) {
        count += 1
        maximum = max(maximum, value)
        if sample.count < Self.reservoirSize {
            sample.append(value)
        } else {
            state = SignatureHash.mix(state)
            let slot = Int(state % UInt64(count))
            if slot < Self.reservoirSize { sample[slot] = value }
        }
    }

    /// Merges another profile's sample (learning from several sources).
    public mutating func merge(_ other: LatencyProfile) {
        for value in other.sample { record(value) }
        count += other.count - other.sample.count
        maximum = max(maximum, other.maximum)
    }

    /// Sets the count and maximum of a profile read back from a file (its sample was recorded).
    mutating func restore(count: Int, maximum: UInt64) {
        self.count = count
        self.maximum = maximum
    }

    /// Sorts the sample (quantiles read a sorted sample).
    public mutating func finish() { sample.sort() }

    /// The q-quantile of the sample (nearest rank), 0 if empty. Call `finish` first.
    public func quantile(_ q: Double) -> UInt64 {
        guard !sample.isEmpty else { return 0 }
        let rank = Int((Double(sample.count) * min(max(q, 0), 1)).rounded(.up))
        return sample[max(0, min(sample.count - 1, rank - 1))]
    }
}
