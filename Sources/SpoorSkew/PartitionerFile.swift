import Foundation
#if !SPOOR_SINGLE_MODULE
import SpoorSupport
#endif

/// A partitioner saved as JSON (`spoor skew -o FILE`), for an engine to load. Key hashes are 16
/// hex digits (JSON numbers lose 64-bit precision in many readers). The format:
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
/// `spill` (one number per partition): a key listed goes to its partition; any other key `h`
/// goes to its plain hash partition `p = ((h * 0x9e3779b97f4a7c15) mod 2^64 >> 17) mod
/// partitions` (`spoor-mix17`, `HybridPartitioner.hashPartition`) if `unit(h, 0x73746179) <
/// keep[p]`, else to the partition whose slice of [0, 1) (slices in partition order, `spill[q]`
/// wide, normalised to sum to 1) holds `unit(h, 0x7370696c)`, where `unit(h, s)` is the top 53
/// bits of one splitmix64 step from state `h ^ s`, times 2^-53 (`HybridPartitioner.unit`).
/// `salts` is how many partitions a join or a combinable aggregation should spread the key
/// over; the other fields say what the plan expects.
public enum PartitionerFile {
    /// The tail hash's name in the file.
    public static let hashName = "spoor-mix17"

    struct File: Codable {
        var format: String
        var version: Int
        var `operator`: String?
        var partitions: Int
        var hash: String
        var keys: [Key]
        var keep: [Double]?
        var spill: [Double]?
        var imbalance: Imbalance?
        var migrated_share: Double?
        var error_share: Double?
        var heavy_threshold: Double?
    }

    struct Key: Codable {
        var key_hash: String
        var partition: Int
        var share: Double?
        var error_share: Double?
        var salts: Int?
        var value: String?
    }

    struct Imbalance: Codable {
        var before: Double
        var after: Double
        var lower_bound: Double
    }

    /// A malformed file.
    public struct FormatError: Error, CustomStringConvertible {
        /// What is wrong.
        public var description: String
    }

    /// The JSON of `plan` for operator `name`, with the key values known (`values`).
    public static func encode(_ plan: PartitionPlan, operator name: String?, values: [UInt64: String] = [:]) throws -> Data {
        let file = File(
            format: "spoor-partitioner", version: 1, operator: name, partitions: plan.partitioner.partitions,
            hash: hashName,
            keys: plan.heavy.map {
                Key(key_hash: hex64($0.key), partition: $0.partition, share: $0.share, error_share: $0.errorShare,
                    salts: $0.salts, value: values[$0.key])
            },
            keep: plan.partitioner.keep, spill: plan.partitioner.spill,
            imbalance: Imbalance(before: plan.imbalanceBefore, after: plan.imbalanceAfter, lower_bound: plan.imbalanceLowerBound),
            migrated_share: plan.migratedShare, error_share: plan.errorShare, heavy_threshold: plan.heavyThreshold)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return try encoder.encode(file)
    }

    /// The partitioner in `data`, and each placed key's salt count.
    public static func decode(_ data: Data) throws -> (partitioner: HybridPartitioner, salts: [UInt64: Int]) {
        let file: File
        do {
            file = try JSONDecoder().decode(File.self, from: data)
        } catch {
            throw FormatError(description: "not a partitioner file: \(error)")
        }
        guard file.format == "spoor-partitioner" else { throw FormatError(description: "format is \"\(file.format)\", not \"spoor-partitioner\"") }
        guard file.version == 1 else { throw FormatError(description: "version \(file.version) is not supported (1 is)") }
        guard file.hash == hashName else { throw FormatError(description: "hash \"\(file.hash)\" is not supported (\(hashName) is)") }
        guard file.partitions >= 1 else { throw FormatError(description: "partitions must be at least 1, not \(file.partitions)") }
        for (name, values) in [("keep", file.keep), ("spill", file.spill)] {
            guard let values else { continue }
            guard values.count == file.partitions, values.allSatisfy({ $0.isFinite && $0 >= 0 && (name == "spill" || $0 <= 1) }) else {
                throw FormatError(description: "\(name) must hold \(file.partitions) numbers\(name == "keep" ? " in [0, 1]" : " >= 0")")
            }
        }
        if (file.keep == nil) != (file.spill == nil) { throw FormatError(description: "keep and spill come together") }
        if let keep = file.keep, let spill = file.spill, keep.contains(where: { $0 < 1 }), !spill.contains(where: { $0 > 0 }) {
            throw FormatError(description: "keys that do not stay need a partition to spill to: spill is all zero")
        }
        var explicit: [UInt64: Int] = [:], salts: [UInt64: Int] = [:]
        for key in file.keys {
            guard key.key_hash.utf8.count == 16, let hash = UInt64(key.key_hash, radix: 16) else {
                throw FormatError(description: "key_hash \"\(key.key_hash)\" is not 16 hex digits")
            }
            guard key.partition >= 0 && key.partition < file.partitions else {
                throw FormatError(description: "key \(key.key_hash): partition \(key.partition) is outside 0..<\(file.partitions)")
            }
            explicit[hash] = key.partition
            salts[hash] = max(1, key.salts ?? 1)
        }
        return (HybridPartitioner(partitions: file.partitions, explicit: explicit, keep: file.keep, spill: file.spill), salts)
    }
}
