#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CSpoor
import SpoorSupport

/// A sampling strategy for entry checkpoints (`spoor_sampling` in the C header).
///
/// Per thread, every count-based strategy becomes a countdown in `spoor__thread`: the inline
/// fast path of `spoor_entry` decrements it and returns "untracked" while it is above 1, so an
/// unsampled entry never enters the library. When it reaches 1 the slow path decides (and
/// samples, except in rate mode when the second's quota is spent) and draws the next countdown:
/// a geometric gap for probability p (the number of trials to the next success, which is
/// exactly i.i.d. Bernoulli(p) sampling), N for every-N-th, an adaptive gap for rate limiting.
/// Key-hash mode sets the countdown to 0, which tells the inline path to compare the key's
/// mixed hash against a threshold instead.
enum SamplingStrategy: Equatable, Sendable {
    case off
    case all
    case probability(Double)
    case everyNth(UInt64)
    case rate(perSecond: UInt64)
    case keyHash(Double)

    static let `default` = SamplingStrategy.probability(0.01)

    /// Mode numbers stored in the low byte of `spoor__thread.state_flags`.
    /// (The `spoor_sampling_mode` numbers of spoor.h.)
    enum Mode {
        static var off: UInt32 { SPOOR_SAMPLE_OFF.rawValue }
        static var all: UInt32 { SPOOR_SAMPLE_ALL.rawValue }
        static var probability: UInt32 { SPOOR_SAMPLE_PROBABILITY.rawValue }
        static var everyNth: UInt32 { SPOOR_SAMPLE_EVERY_N.rawValue }
        static var rate: UInt32 { SPOOR_SAMPLE_RATE.rawValue }
        static var keyHash: UInt32 { SPOOR_SAMPLE_KEY_HASH.rawValue }
    }

    /// Validates a C `spoor_sampling`.
    init(_ value: spoor_sampling) throws(ConfigurationError) {
        guard value.reserved == 0 else { throw ConfigurationError("sampling.reserved must be 0") }
        switch value.mode {
        case SPOOR_SAMPLE_DEFAULT.rawValue: self = .default
        case SPOOR_SAMPLE_OFF.rawValue: self = .off
        case SPOOR_SAMPLE_ALL.rawValue: self = .all
        case SPOOR_SAMPLE_PROBABILITY.rawValue: self = .probability(try Self.checkedProbability(value.probability))
        case SPOOR_SAMPLE_EVERY_N.rawValue:
            guard value.every_n >= 1 else { throw ConfigurationError("sampling.every_n must be at least 1") }
            self = .everyNth(value.every_n)
        case SPOOR_SAMPLE_RATE.rawValue:
            guard value.per_second >= 1, value.per_second <= UInt64(UInt32.max) else {
                throw ConfigurationError("sampling.per_second must be in [1, 2^32-1]")
            }
            self = .rate(perSecond: value.per_second)
        case SPOOR_SAMPLE_KEY_HASH.rawValue: self = .keyHash(try Self.checkedProbability(value.probability))
        default: throw ConfigurationError("sampling.mode \(value.mode) is not a spoor_sampling_mode")
        }
    }

    /// Parses `off`, `all`, `probability:P`, `every:N`, `rate:K`, `key:P`.
    init(parsing text: String) throws(ConfigurationError) {
        let parts = text.split(separator: ":", maxSplits: 1).map(String.init)
        let name = parts.first ?? ""
        let argument = parts.count > 1 ? parts[1] : nil
        switch (name, argument) {
        case ("off", nil): self = .off
        case ("all", nil): self = .all
        case ("probability", let p?), ("p", let p?):
            guard let value = Double(p) else { throw ConfigurationError("SPOOR_SAMPLING: \(p) is not a number") }
            self = .probability(try Self.checkedProbability(value))
        case ("key", let p?):
            guard let value = Double(p) else { throw ConfigurationError("SPOOR_SAMPLING: \(p) is not a number") }
            self = .keyHash(try Self.checkedProbability(value))
        case ("every", let n?):
            guard let value = UInt64(n), value >= 1 else { throw ConfigurationError("SPOOR_SAMPLING: every:N needs N >= 1") }
            self = .everyNth(value)
        case ("rate", let k?):
            guard let value = UInt64(k), value >= 1, value <= UInt64(UInt32.max) else {
                throw ConfigurationError("SPOOR_SAMPLING: rate:K needs K in [1, 2^32-1]")
            }
            self = .rate(perSecond: value)
        default:
            throw ConfigurationError("SPOOR_SAMPLING: '\(text)' is not off, all, probability:P, every:N, rate:K or key:P")
        }
    }

    static func checkedProbability(_ value: Double) throws(ConfigurationError) -> Double {
        guard value.isFinite, value >= 0, value <= 1 else {
            throw ConfigurationError("sampling probability \(value) is not in [0, 1]")
        }
        return value
    }

    /// The C value of this strategy.
    var cValue: spoor_sampling {
        var value = spoor_sampling()
        switch self {
        case .off: value.mode = Mode.off
        case .all: value.mode = Mode.all
        case .probability(let p): value.mode = Mode.probability; value.probability = p
        case .everyNth(let n): value.mode = Mode.everyNth; value.every_n = n
        case .rate(let k): value.mode = Mode.rate; value.per_second = k
        case .keyHash(let p): value.mode = Mode.keyHash; value.probability = p
        }
        return value
    }

    /// Installs this strategy into a thread's state and sets its first countdown.
    func install(into thread: UnsafeMutablePointer<spoor__thread>, epoch: UInt64, seed: UInt64) {
        if thread.pointee.rng == 0 {
            var state = seed != 0 ? seed ^ (UInt64(thread.pointee.tid) &* 0x9e37_79b9_7f4a_7c15) : randomWord()
            thread.pointee.rng = splitMix64(&state) | 1
        }
        thread.pointee.key_threshold = 0
        switch self {
        case .off, .probability(0), .keyHash(0):
            thread.pointee.state_flags = Mode.off
            thread.pointee.countdown = UInt64.max
        case .all, .probability(1), .keyHash(1), .everyNth(1):
            thread.pointee.state_flags = Mode.all
            thread.pointee.countdown = 1
        case .probability(let p):
            thread.pointee.state_flags = Mode.probability
            thread.pointee.key_threshold = log1p(-p).bitPattern
            thread.pointee.countdown = Self.geometricGap(thread)
        case .everyNth(let n):
            thread.pointee.state_flags = Mode.everyNth
            thread.pointee.key_threshold = n
            thread.pointee.countdown = n
        case .rate(let k):
            thread.pointee.state_flags = Mode.rate
            thread.pointee.key_threshold = k
            thread.pointee.countdown = 1
            thread.pointee.rate_gap = 1
            thread.pointee.rate_gap_start_ns = monotonicNanos()
        case .keyHash(let p):
            thread.pointee.state_flags = Mode.keyHash
            thread.pointee.key_threshold = keyThreshold(p)
            thread.pointee.countdown = 0
        }
        thread.pointee.sampler_epoch = epoch
    }

    /// Decides an entry that reached the slow path with a valid sampler state, and sets the next
    /// countdown. Returns whether the entry is sampled.
    @inline(__always)
    static func decide(_ thread: UnsafeMutablePointer<spoor__thread>, keyHash: UInt64) -> Bool {
        let countdown = thread.pointee.countdown
        switch thread.pointee.state_flags & 0xff {
        case Mode.all:
            return true
        case Mode.keyHash:
            return spoor__mix64(keyHash) < thread.pointee.key_threshold
        case Mode.off:
            thread.pointee.countdown = UInt64.max
            return false
        default:
            if countdown > 1 {
                thread.pointee.countdown = countdown &- 1
                return false
            }
        }
        switch thread.pointee.state_flags & 0xff {
        case Mode.probability:
            thread.pointee.countdown = geometricGap(thread)
            return true
        case Mode.everyNth:
            thread.pointee.countdown = thread.pointee.key_threshold
            return true
        case Mode.rate:
            return rateDecision(thread)
        default:
            return false
        }
    }

    /// Trials up to and including the next success of Bernoulli(p), p = 1 - exp(log1p(-p)).
    static func geometricGap(_ thread: UnsafeMutablePointer<spoor__thread>) -> UInt64 {
        var state = thread.pointee.rng
        let bits = splitMix64(&state)
        thread.pointee.rng = state
        let uniform = (Double(bits >> 11) + 1) * 0x1p-53  // (0, 1]
        let logComplement = Double(bitPattern: thread.pointee.key_threshold)  // log(1 - p) < 0
        let gap = (log(uniform) / logComplement).rounded(.down) + 1
        guard gap.isFinite, gap < 0x1p62 else { return 1 << 62 }
        return gap < 1 ? 1 : UInt64(gap)
    }

    /// Rate mode: admit the entry if this second's process-wide quota has room, then size the
    /// next gap so the thread comes back about `perSecond` times a second.
    static func rateDecision(_ thread: UnsafeMutablePointer<spoor__thread>) -> Bool {
        let limit = thread.pointee.key_threshold
        let now = monotonicNanos()
        let second = now / 1_000_000_000
        let window = spoorint_rate_window_ptr()
        var admitted = false
        // The window only moves forward: a thread whose clock read is older than the stored
        // window counts against the stored window, so no window ever admits more than `limit`.
        while true {
            let current = spoorint_load_relaxed(window)
            let next: UInt64
            if current >> 32 < second & 0xffff_ffff {
                next = (second & 0xffff_ffff) << 32 | 1
            } else if current & 0xffff_ffff < limit {
                next = current &+ 1
            } else {
                break
            }
            if spoorint_cas(window, current, next) {
                admitted = true
                break
            }
        }
        let elapsed = max(now &- thread.pointee.rate_gap_start_ns, 1)
        let perSecondSeen = Double(thread.pointee.rate_gap) * 1e9 / Double(elapsed)
        let gap: Double = min(max(perSecondSeen / Double(limit), 1), 1_048_576)
        thread.pointee.rate_gap = UInt64(gap)
        thread.pointee.countdown = UInt64(gap)
        thread.pointee.rate_gap_start_ns = now
        return admitted
    }
}

/// floor(p * 2^64), clamped: the key-hash sampling threshold.
func keyThreshold(_ probability: Double) -> UInt64 {
    guard probability.isFinite, probability > 0 else { return 0 }
    let scaled = probability * 0x1p64
    return scaled >= 0x1p64 ? UInt64.max : UInt64(scaled)
}
