#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A Bloom filter over 64-bit signatures: the anomaly detector's fast path, as in the Altair
/// paper. A signature that is absent is certainly not a learnt flow (a structural anomaly); one
/// that is present is a learnt flow with probability 1 - p, where for n signatures in m bits with
/// k probes
///
///     p = (1 - e^(-k n / m))^k
///
/// (`expectedFalsePositiveRate`). The detector confirms a positive against its flow table, so a
/// false positive costs a lookup, never a missed anomaly; `FlowDetector` counts them.
///
/// The k probe positions come from two halves of one mixed hash (Kirsch and Mitzenmacher's
/// double hashing), all inside one 512-bit block (a cache line) chosen by a third, so a query
/// touches one cache line.
public struct BloomFilter: Sendable, Hashable {
    /// The bits, in 64-bit words; a multiple of 8 words (whole 512-bit blocks).
    public private(set) var words: [UInt64]
    /// Probes per signature.
    public let probes: Int
    /// Signatures inserted.
    public private(set) var count: Int = 0

    /// A filter sized for `capacity` signatures at about `falsePositiveRate` (the classic sizing
    /// m = -n ln p / (ln 2)^2, k = (m / n) ln 2, rounded up to whole blocks; at least one block).
    public init(capacity: Int, falsePositiveRate: Double = 0.001) {
        let n = Double(max(capacity, 1))
        let p = min(max(falsePositiveRate, 1e-12), 0.5)
        let bits = (-n * log(p) / (0.6931471805599453 * 0.6931471805599453)).rounded(.up)
        let blocks = max(1, Int((bits / 512).rounded(.up)))
        self.words = [UInt64](repeating: 0, count: blocks * 8)
        self.probes = max(1, min(16, Int((Double(blocks * 512) / n * 0.6931471805599453).rounded())))
    }

    /// The number of bits.
    public var bitCount: Int { words.count * 64 }

    /// Adds a signature.
    public mutating func insert(_ signature: UInt64) {
        let (block, h1, h2) = locate(signature)
        for i in 0..<probes {
            let bit = Int((h1 &+ UInt32(i) &* h2) & 511)
            words[block * 8 + bit >> 6] |= 1 << UInt64(bit & 63)
        }
        count += 1
    }

    /// Whether `signature` may have been inserted (false: certainly not).
    public func mayContain(_ signature: UInt64) -> Bool {
        let (block, h1, h2) = locate(signature)
        for i in 0..<probes {
            let bit = Int((h1 &+ UInt32(i) &* h2) & 511)
            if words[block * 8 + bit >> 6] & (1 << UInt64(bit & 63)) == 0 { return false }
        }
        return true
    }

    func locate(_ signature: UInt64) -> (block: Int, h1: UInt32, h2: UInt32) {
        let h = SignatureHash.mix(signature ^ 0x424c_4f4f_4d46_494c)
        let g = SignatureHash.mix(h)
        let blocks = UInt64(words.count / 8)
        return (Int(g % blocks), UInt32(truncatingIfNeeded: h), UInt32(truncatingIfNeeded: h >> 32) | 1)
    }

    /// The formula's false-positive rate for the signatures inserted so far.
    public var expectedFalsePositiveRate: Double {
        guard count > 0 else { return 0 }
        let exponent = -Double(probes) * Double(count) / Double(bitCount)
        return pow(1 - exp(exponent), Double(probes))
    }
}
