import SpoorABI

/// Small key/value metadata about a UDF call, carried by its report.
public struct Attachment: Sendable, Hashable, ExpressibleByDictionaryLiteral {
    /// The pairs, in order.
    public var pairs: [(key: String, value: String)] {
        get { storage.map { ($0.key, $0.value) } }
        set { storage = newValue.map { Pair(key: $0.key, value: $0.value) } }
    }

    struct Pair: Sendable, Hashable {
        var key: String
        var value: String
    }

    var storage: [Pair]

    /// An attachment from pairs.
    public init(dictionaryLiteral elements: (String, String)...) {
        storage = elements.map { Pair(key: $0.0, value: $0.1) }
    }

    /// Whether there are no pairs.
    public var isEmpty: Bool { storage.isEmpty }

    /// Calls `body` with the pairs as `spoor_attr` values valid during the call.
    func withAttributes<R>(_ body: (UnsafePointer<spoor_attr>?, Int) -> R) -> R {
        guard !storage.isEmpty else { return body(nil, 0) }
        var bytes: [UInt8] = []
        var ranges: [(key: Range<Int>, value: Range<Int>)] = []
        for pair in storage {
            let keyStart = bytes.count
            bytes += pair.key.utf8
            let valueStart = bytes.count
            bytes += pair.value.utf8
            ranges.append((keyStart..<valueStart, valueStart..<bytes.count))
        }
        return bytes.withUnsafeBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return body(nil, 0) }
            let raw = UnsafeRawPointer(base)
            var attributes = ranges.map { range in
                spoor_attr(
                    key: raw.assumingMemoryBound(to: CChar.self) + range.key.lowerBound, key_len: range.key.count,
                    value: raw + range.value.lowerBound, value_len: range.value.count)
            }
            return attributes.withUnsafeMutableBufferPointer { body(UnsafePointer($0.baseAddress), $0.count) }
        }
    }
}
