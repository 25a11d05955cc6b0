import Foundation

/// The heaviest keys of a stream in bounded memory: the Space-Saving sketch (Metwally, Agrawal
/// and El Abbadi, ICDT 2005) with weighted updates and forward exponential decay (Cormode,
/// Shkapenyuk, Srivastava and Xu, ICDE 2009), so that a key's count is its records' weight with
/// each record discounted by half every `halfLifeNanos` of its age.
///
/// The sketch keeps `capacity` counters. With `W` the total (decayed) weight seen:
/// - every counter's estimate overstates its key's true weight by at most its `error`, and every
///   error is at most `errorBound` = the smallest counter, which is at most `W / capacity`;
/// - a key without a counter has a true weight of at most `errorBound`.
///
/// So every key whose true share of `W` is above `errorBound / W` (at most `1 / capacity`) has a
/// counter, and a key whose `estimate - error` is at least `φ·W` certainly has a share of at
/// least `φ`. Decay scales every counter alike, so the bounds hold at any time.
///
/// Cost: O(log capacity) per update (a binary min-heap of the counters, and a dictionary from
/// key to heap slot); memory about 40 bytes per counter.
public struct HeavyHitters: Sendable {
    /// A key's estimated weight and its error: the true weight is in
    /// `estimate - error ... estimate`.
    public struct Counter: Sendable, Hashable {
        /// The key (a record's key hash).
        public var key: UInt64
        /// The estimated weight (decayed to the time asked about).
        public var estimate: Double
        /// The most the estimate can overstate the key's weight.
        public var error: Double

        /// A counter.
        public init(key: UInt64, estimate: Double, error: Double) {
            self.key = key
            self.estimate = estimate
            self.error = error
        }
    }

    /// Counters kept.
    public let capacity: Int
    /// A record's weight halves every this many nanoseconds of age; nil: no decay.
    public let halfLifeNanos: UInt64?

    // A min-heap on `counts`; `slot[key]` is a key's heap position. Counts and errors are scaled
    // by 2^((t - landmark) / halfLife) at each record's time t (forward decay), so older records
    // need no update as time passes; `scale(at:)` turns them into weights at a given time.
    private var keys: [UInt64] = []
    private var counts: [Double] = []
    private var errors: [Double] = []
    private var slot: [UInt64: Int32] = [:]
    private var landmark: UInt64 = 0
    private var started = false
    private var scaledTotal: Double = 0
    /// Records (updates) seen.
    public private(set) var updates = 0
    /// The latest record time seen.
    public private(set) var latest: UInt64 = 0

    /// An empty sketch of `capacity` counters (at least 1) whose records' weight halves every
    /// `halfLifeNanos` (nil: never).
    public init(capacity: Int, halfLifeNanos: UInt64? = nil) {
        self.capacity = max(1, capacity)
        self.halfLifeNanos = halfLifeNanos.map { max($0, 1) }
        keys.reserveCapacity(self.capacity)
        counts.reserveCapacity(self.capacity)
        errors.reserveCapacity(self.capacity)
    }

    /// The forward-decay factor of a record at `time`: 2^((time - landmark) / halfLife).
    private func growth(_ time: UInt64) -> Double {
        guard let halfLife = halfLifeNanos else { return 1 }
        let age = time >= landmark ? Double(time - landmark) : -Double(landmark - time)
        return Foundation.exp2(age / Double(halfLife))
    }

    /// Records `weight` (positive) for `key` at `time` (nanoseconds on the caller's clock; only
    /// differences matter, and out-of-order times are fine).
    public mutating func add(_ key: UInt64, weight: Double = 1, at time: UInt64 = 0) {
        guard weight > 0, weight.isFinite else { return }
        if !started {
            started = true
            landmark = time
        }
        latest = max(latest, time)
        updates += 1
        var scaled = weight * growth(time)
        if scaled > 1e200 {
            // Move the landmark to `time`: every scaled value shrinks by the same factor.
            let factor = 1 / growth(time)
            for i in counts.indices {
                counts[i] *= factor
                errors[i] *= factor
            }
            scaledTotal *= factor
            landmark = time
            scaled = weight
        }
        scaledTotal += scaled
        if let position = slot[key] {
            counts[Int(position)] += scaled
            siftDown(Int(position))
        } else if keys.count < capacity {
            keys.append(key)
            counts.append(scaled)
            errors.append(0)
            slot[key] = Int32(keys.count - 1)
            siftUp(keys.count - 1)
        } else {
            // Replace the smallest counter: the new key may have had up to its count before.
            let minimum = counts[0]
            slot[keys[0]] = nil
            keys[0] = key
            errors[0] = minimum
            counts[0] = minimum + scaled
            slot[key] = 0
            siftDown(0)
        }
    }

    /// The factor turning scaled values into weights at `time`.
    private func scale(at time: UInt64) -> Double { 1 / growth(time) }

    /// The total weight of every record, decayed to `time` (default: the latest record's time).
    public func total(at time: UInt64? = nil) -> Double { scaledTotal * scale(at: time ?? latest) }

    /// The most any estimate overstates, and the most a key without a counter can weigh, at
    /// `time`: the smallest counter once all are in use, else 0.
    public func errorBound(at time: UInt64? = nil) -> Double {
        keys.count < capacity ? 0 : counts[0] * scale(at: time ?? latest)
    }

    /// The counters, heaviest first (ties by key), decayed to `time`.
    public func counters(at time: UInt64? = nil) -> [Counter] {
        let factor = scale(at: time ?? latest)
        return keys.indices
            .map { Counter(key: keys[$0], estimate: counts[$0] * factor, error: errors[$0] * factor) }
            .sorted { ($0.estimate, $1.key) > ($1.estimate, $0.key) }
    }

    /// The counter of `key`, if it has one.
    public func counter(for key: UInt64, at time: UInt64? = nil) -> Counter? {
        guard let position = slot[key] else { return nil }
        let factor = scale(at: time ?? latest)
        return Counter(key: key, estimate: counts[Int(position)] * factor, error: errors[Int(position)] * factor)
    }

    private mutating func swapAt(_ a: Int, _ b: Int) {
        keys.swapAt(a, b)
        counts.swapAt(a, b)
        errors.swapAt(a, b)
        slot[keys[a]] = Int32(a)
        slot[keys[b]] = Int32(b)
    }

    private mutating func siftUp(_ start: Int) {
        var i = start
        while i > 0 {
            let parent = (i - 1) / 2
            guard counts[i] < counts[parent] else { return }
            swapAt(i, parent)
            i = parent
        }
    }

    private mutating func siftDown(_ start: Int) {
        var i = start
        while true {
            let left = 2 * i + 1, right = left + 1
            var smallest = i
            if left < counts.count && counts[left] < counts[smallest] { smallest = left }
            if right < counts.count && counts[right] < counts[smallest] { smallest = right }
            guard smallest != i else { return }
            swapAt(i, smallest)
            i = smallest
        }
    }

    #if DEBUG
    /// Checks the heap order and the key index (debug builds; tests call it).
    public func _checkInvariants() {
        precondition(keys.count <= capacity && keys.count == counts.count && keys.count == errors.count, "counter arrays agree")
        precondition(slot.count == keys.count, "every counter is indexed once")
        for i in keys.indices {
            precondition(slot[keys[i]] == Int32(i), "the index names each counter's slot")
            precondition(errors[i] <= counts[i], "an error never exceeds its estimate")
            if i > 0 { precondition(counts[(i - 1) / 2] <= counts[i], "min-heap order") }
        }
        precondition(counts.reduce(0, +) <= scaledTotal * (1 + 1e-9) + 1e-9 || keys.count == capacity,
                     "until a counter is replaced, the counters sum to the total")
    }
    #endif
}
