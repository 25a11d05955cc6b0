import Foundation
#if !SPOOR_SINGLE_MODULE
import SpoorPartitioning
import SpoorSupport
#endif

/// A partitioner saved as JSON (`spoor skew -o FILE`), for an engine to load; the format and its
/// validation are `PartitionerDescription`'s (the decoder libspoor.so's `spoor_partitioner_load`
/// runs too). Writing needs Foundation's encoder, so it lives here, outside the library.
public enum PartitionerFile {
    /// The tail hash's name in the file.
    public static let hashName = PartitionerDescription.hashName

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
    public typealias FormatError = PartitionerDescription.FormatError

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
        let description = try PartitionerDescription.decode([UInt8](data))
        var salts: [UInt64: Int] = [:]
        for key in description.keys { salts[key.keyHash] = key.salts }
        return (HybridPartitioner(description), salts)
    }
}
