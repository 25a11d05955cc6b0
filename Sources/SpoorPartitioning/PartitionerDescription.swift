#if !SPOOR_SINGLE_MODULE
import SpoorSupport
#endif

/// A partitioner file (`spoor skew -o FILE`, format "spoor-partitioner" version 1) as read and
/// validated by the one decoder every loader uses: `spoor_partitioner_load` in libspoor.so (and so
/// every binding) and `PartitionerFile.decode` in the CLI. Key hashes are 16 hex digits (JSON
/// numbers lose 64-bit precision in many readers). The format:
///
///     {"format": "spoor-partitioner", "version": 1,
///      "operator": "split (wc.swift:12)", "partitions": 17, "hash": "spoor-mix17",
///      "keys": [{"key_hash": "7f3a...", "partition": 3, "share": 0.0512, "error_share": 0.0004,
///                "salts": 1, "value": "the"}, ...],
///      "keep": [1, 0.42, ...], "spill": [0.11, 0, ...],
///      "imbalance": {"before": 2.31, "after": 1.04, "lower_bound": 1.0},
///      "migrated_share": 0.061, "error_share": 0.0004, "heavy_threshold": 0.0147}
///
/// A loader needs `partitions`, `hash`, each key's `key_hash` and `partition`, and `keep` and
/// `spill` (one number per partition, both or neither): a key listed goes to its partition; any
/// other key `h` goes to its plain hash partition `p = ((h * 0x9e3779b97f4a7c15) mod 2^64 >> 17)
/// mod partitions` (`spoor-mix17`, `HybridPartitioner.hashPartition`) if `unit(h, 0x73746179) <
/// keep[p]`, else to the partition whose slice of [0, 1) (slices in partition order, `spill[q]`
/// wide, normalised to sum to 1) holds `unit(h, 0x7370696c)`, where `unit(h, s)` is the top 53
/// bits of one splitmix64 step from state `h ^ s`, times 2^-53 (`HybridPartitioner.unit`).
/// `salts` (1 to `partitions`, default 1) is how many partitions a join or a combinable
/// aggregation should spread the key over; the other fields say what the plan expects and are
/// checked for type only. Members not named here are ignored, so later versions can add some.
public struct PartitionerDescription: Sendable, Equatable {
    /// One placed key.
    public struct Key: Sendable, Equatable {
        /// The key hash (`spoor_hash_bytes` of the key's canonical bytes).
        public var keyHash: UInt64
        /// Its partition, in `0..<partitions`.
        public var partition: Int
        /// Its salt count, in `1...partitions`.
        public var salts: Int
        /// The key's value, where the trace attached it.
        public var value: String?
        /// Its estimated share of the records, and the share's error bound.
        public var share: Double?, errorShare: Double?
    }

    /// The operator whose output keys were counted.
    public var operatorName: String?
    /// Partitions, in `1...HybridPartitioner.maximumPartitions`.
    public var partitions: Int
    /// The placed keys, in file order (each key hash once).
    public var keys: [Key]
    /// Keep and spill shares, one per partition; nil: plain hashing for unplaced keys.
    public var keep: [Double]?, spill: [Double]?

    /// A malformed file.
    public struct FormatError: Error, CustomStringConvertible, Sendable {
        /// What is wrong.
        public var description: String
    }

    /// The tail hash's name in the file.
    public static let hashName = "spoor-mix17"

    /// Largest input accepted, in bytes.
    public static let maximumBytes = 1 << 28

    /// Decodes and validates a partitioner file.
    public static func decode(_ bytes: UnsafeBufferPointer<UInt8>) throws(FormatError) -> PartitionerDescription {
        guard bytes.count <= maximumBytes else { throw FormatError(description: "larger than \(maximumBytes) bytes") }
        let root: JSONValue
        do {
            root = try JSONReader.parse(bytes)
        } catch {
            throw FormatError(description: "not a partitioner file: \(error)")
        }
        guard case .object = root else { throw FormatError(description: "not a partitioner file: not a JSON object") }
        guard case let .string(format)? = root["format"] else { throw FormatError(description: "format is missing or not a string") }
        guard format == "spoor-partitioner" else { throw FormatError(description: "format is \"\(format)\", not \"spoor-partitioner\"") }
        let version = try integer(root["version"], "version")
        guard version == 1 else { throw FormatError(description: "version \(version) is not supported (1 is)") }
        guard case let .string(hash)? = root["hash"] else { throw FormatError(description: "hash is missing or not a string") }
        guard hash == hashName else { throw FormatError(description: "hash \"\(hash)\" is not supported (\(hashName) is)") }
        let partitions = try integer(root["partitions"], "partitions")
        guard partitions >= 1 && partitions <= HybridPartitioner.maximumPartitions else {
            throw FormatError(description: "partitions must be in 1...\(HybridPartitioner.maximumPartitions), not \(partitions)")
        }
        var operatorName: String?
        switch root["operator"] {
        case nil, .null?: break
        case let .string(name)?: operatorName = name
        default: throw FormatError(description: "operator is not a string")
        }
        for name in ["migrated_share", "error_share", "heavy_threshold"] {
            _ = try optionalNumber(root[name], name)
        }
        if let imbalance = root["imbalance"], imbalance != .null {
            guard case .object = imbalance else { throw FormatError(description: "imbalance is not an object") }
            for name in ["before", "after", "lower_bound"] { _ = try optionalNumber(imbalance[name], "imbalance.\(name)") }
        }
        let keep = try shares(root["keep"], "keep", partitions: partitions, atMostOne: true)
        let spill = try shares(root["spill"], "spill", partitions: partitions, atMostOne: false)
        if (keep == nil) != (spill == nil) { throw FormatError(description: "keep and spill come together") }
        if let spill, !spill.reduce(0, +).isFinite { throw FormatError(description: "spill must sum to a finite number") }
        if let keep, let spill, keep.contains(where: { $0 < 1 }), !spill.contains(where: { $0 > 0 }) {
            throw FormatError(description: "keys that do not stay need a partition to spill to: spill is all zero")
        }
        guard case let .array(entries)? = root["keys"] else { throw FormatError(description: "keys is missing or not an array") }
        var keys: [Key] = []
        keys.reserveCapacity(entries.count)
        var seen = Set<UInt64>()
        for (index, entry) in entries.enumerated() {
            guard case .object = entry else { throw FormatError(description: "keys[\(index)] is not an object") }
            guard case let .string(text)? = entry["key_hash"] else {
                throw FormatError(description: "keys[\(index)].key_hash is missing or not a string")
            }
            guard text.utf8.count == 16, text.utf8.allSatisfy({ isHexDigit($0) }), let keyHash = UInt64(text, radix: 16) else {
                throw FormatError(description: "key_hash \"\(text)\" is not 16 hex digits")
            }
            guard seen.insert(keyHash).inserted else { throw FormatError(description: "key \(text) is listed twice") }
            let partition = try integer(entry["partition"], "keys[\(index)].partition")
            guard partition >= 0 && partition < partitions else {
                throw FormatError(description: "key \(text): partition \(partition) is outside 0..<\(partitions)")
            }
            var salts = 1
            if let value = entry["salts"], value != .null {
                salts = try integer(value, "keys[\(index)].salts")
                guard salts >= 1 && salts <= partitions else {
                    throw FormatError(description: "key \(text): salts \(salts) is outside 1...\(partitions)")
                }
            }
            var value: String?
            switch entry["value"] {
            case nil, .null?: break
            case let .string(text)?: value = text
            default: throw FormatError(description: "keys[\(index)].value is not a string")
            }
            keys.append(Key(keyHash: keyHash, partition: partition, salts: salts, value: value,
                            share: try optionalNumber(entry["share"], "keys[\(index)].share"),
                            errorShare: try optionalNumber(entry["error_share"], "keys[\(index)].error_share")))
        }
        return PartitionerDescription(operatorName: operatorName, partitions: partitions, keys: keys, keep: keep, spill: spill)
    }

    /// Decodes and validates a partitioner file.
    public static func decode(_ bytes: [UInt8]) throws(FormatError) -> PartitionerDescription {
        let result: Result<PartitionerDescription, FormatError> = bytes.withUnsafeBufferPointer { buffer in
            Result { () throws(FormatError) -> PartitionerDescription in try decode(buffer) }
        }
        return try result.get()
    }

    private static func isHexDigit(_ byte: UInt8) -> Bool {
        (0x30...0x39).contains(byte) || (0x61...0x66).contains(byte) || (0x41...0x46).contains(byte)
    }

    /// An integer member: a JSON number with no fraction, within ±2^31.
    private static func integer(_ value: JSONValue?, _ name: String) throws(FormatError) -> Int {
        guard case let .number(number)? = value else { throw FormatError(description: "\(name) is missing or not a number") }
        guard number.rounded() == number, abs(number) <= 2_147_483_647 else {
            throw FormatError(description: "\(name) must be an integer, not \(number)")
        }
        return Int(number)
    }

    private static func optionalNumber(_ value: JSONValue?, _ name: String) throws(FormatError) -> Double? {
        switch value {
        case nil, .null?: return nil
        case let .number(number)?: return number
        default: throw FormatError(description: "\(name) is not a number")
        }
    }

    private static func shares(_ value: JSONValue?, _ name: String, partitions: Int, atMostOne: Bool) throws(FormatError) -> [Double]? {
        switch value {
        case nil, .null?: return nil
        case let .array(elements)?:
            var result: [Double] = []
            result.reserveCapacity(elements.count)
            for element in elements {
                guard case let .number(number) = element, number >= 0, !atMostOne || number <= 1 else { break }
                result.append(number)
            }
            guard result.count == partitions, elements.count == partitions else {
                throw FormatError(description: "\(name) must hold \(partitions) numbers\(atMostOne ? " in [0, 1]" : " >= 0")")
            }
            return result
        default:
            throw FormatError(description: "\(name) must hold \(partitions) numbers\(atMostOne ? " in [0, 1]" : " >= 0")")
        }
    }
}
