#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SpoorABI

/// A partitioner file (`spoor skew -o FILE`) loaded into libspoor.so: heavy keys placed on the
/// partitions the plan chose, every other key hashed (and, where the plan says so, part of them
/// spilled off the partitions the heavy keys load). Routing is `spoor_partitioner_partition`, the
/// code every binding runs, so a Swift job, a Python UDF and a Spark partitioner loading the same
/// file send every key to the same partition.
///
/// Immutable once loaded; any number of threads may route through one at once. The native table
/// is released when the last reference goes away, so no thread can still be routing through it.
public final class SkewPartitioner: Sendable {
    // Immutable after init; freed in deinit, when no other reference (and so no call) remains.
    private nonisolated(unsafe) let handle: OpaquePointer

    /// The number of partitions the file was planned for.
    public let partitions: Int
    /// The number of keys it places explicitly.
    public let placedKeys: Int

    /// Loads a partitioner file's JSON. Throws `SpoorError` (`SPOOR_E_PARSE` with what is wrong
    /// and where, for a file that is not a valid partitioner file).
    public init(json: some Collection<UInt8>) throws(SpoorError) {
        let bytes = Array(json)
        var loaded: OpaquePointer?
        let status = bytes.withUnsafeBytes { spoor_partitioner_load($0.baseAddress, $0.count, &loaded) }
        try SpoorError.check(status)
        guard let loaded else { throw SpoorError(code: SPOOR_E_NO_MEMORY) }
        handle = loaded
        partitions = Int(spoor_partitioner_partitions(loaded))
        placedKeys = Int(spoor_partitioner_keys(loaded))
    }

    /// Loads the partitioner file at `path`. Throws `SpoorError` (`SPOOR_E_IO` when the file
    /// cannot be read).
    public convenience init(contentsOf path: String) throws(SpoorError) {
        try self.init(json: try Self.read(path))
    }

    deinit { spoor_partitioner_free(handle) }

    /// The partition in `0..<partitions` of the key with this hash (`TraceKey.traceKeyHash`,
    /// the hash its reports carry).
    @inline(__always)
    public func partition(keyHash: UInt64) -> Int {
        Int(spoor_partitioner_partition(handle, keyHash))
    }

    /// How many partitions a join or a combinable aggregation should spread this key's records
    /// over (the plan's salts for a key heavier than a partition; 1 for any other key).
    public func salts(keyHash: UInt64) -> Int {
        Int(spoor_partitioner_salts(handle, keyHash))
    }

    /// The whole file, through the C library (no Foundation in the binding).
    private static func read(_ path: String) throws(SpoorError) -> [UInt8] {
        guard let file = fopen(path, "rb") else {
            throw SpoorError(code: SPOOR_E_IO, message: "cannot open \(path)")
        }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = chunk.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, file) }
            bytes.append(contentsOf: chunk[0..<count])
            if count < chunk.count { break }
        }
        guard ferror(file) == 0 else { throw SpoorError(code: SPOOR_E_IO, message: "cannot read \(path)") }
        return bytes
    }
}
