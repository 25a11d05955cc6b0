#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
#if !SPOOR_SINGLE_MODULE
import SpoorLog
#endif

/// The on-disk layout of a lineage index (docs/lineage.md, "The index file"): every offset and
/// size in one place, for the writer (`LineageIndexBuilder`) and the reader (`LineageIndex`).
///
/// All integers are little-endian; sections start at multiples of 8 bytes.
enum IndexFormat {
    static let magic: [UInt8] = Array("SPOORLIX".utf8)
    static let version: UInt32 = 1
    static let headerSize = 128

    // Header fields (byte offsets).
    static let versionOffset = 8
    static let headerSizeOffset = 12
    static let nodeCountOffset = 16
    static let parentCountOffset = 24
    static let edgeCountOffset = 32
    static let eventCountOffset = 40
    static let nodesOffset = 48
    static let parentsOffset = 56
    static let edgesOffset = 64
    static let eventsOffset = 72
    static let metaOffset = 80
    static let metaLengthOffset = 88
    static let reportsOffset = 96
    static let headerCRCOffset = 124

    /// A node: one entry or checkpoint report, minting `fanout` consecutive ids from `firstID`.
    static let nodeSize = 56
    static let nodeFirstID = 0
    static let nodeKeyHash = 8
    static let nodeStart = 16
    static let nodeEnd = 24
    /// Low 48 bits: the index of its first parent in the parents section; bits 56-63: the kind
    /// (bits 0-1 of that byte), fold (bit 2), truncated (bit 3).
    static let nodeParentStart = 32
    static let nodeFanout = 40
    static let nodeOperator = 44
    static let nodeParentCount = 48
    static let nodePartition = 52

    /// An edge: a parent id and the index of the node whose report names it, sorted by parent id
    /// then node.
    static let edgeSize = 16
    /// An event: a poke (id, time, event code, operator), sorted by id then time.
    static let eventSize = 24

    static let parentStartMask: UInt64 = (1 << 48) - 1
    static let noOperator = UInt32.max
    static let noPartition = UInt32.max
    /// The largest fan-out a report can have (`spoor_checkpoint`).
    static let maxFanout: UInt32 = 65_536
}

/// A little-endian byte buffer for the index's metadata section.
struct MetaWriter {
    var bytes: [UInt8] = []

    mutating func u32(_ value: UInt32) { withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func u64(_ value: UInt64) { withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func string(_ text: String) {
        let utf8 = Array(text.utf8)
        u32(UInt32(truncatingIfNeeded: utf8.count))
        bytes += utf8
    }
}

/// Reads what `MetaWriter` wrote, refusing anything that runs past the end.
struct MetaReader {
    let bytes: UnsafeRawBufferPointer
    var offset = 0

    init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    mutating func u32() throws -> UInt32 {
        guard bytes.count - offset >= 4 else { throw LogError("lineage index: metadata cut short") }
        defer { offset += 4 }
        return UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }

    mutating func u64() throws -> UInt64 {
        guard bytes.count - offset >= 8 else { throw LogError("lineage index: metadata cut short") }
        defer { offset += 8 }
        return UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }

    mutating func string() throws -> String {
        let length = Int(try u32())
        guard bytes.count - offset >= length else { throw LogError("lineage index: metadata cut short") }
        defer { offset += length }
        return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + length]), as: UTF8.self)
    }

    /// A count of items of at least `minimumBytes` each, refused if they cannot fit in what is left.
    mutating func count(minimumBytes: Int) throws -> Int {
        let count = Int(try u32())
        guard count <= (bytes.count - offset) / max(minimumBytes, 1) else {
            throw LogError("lineage index: metadata count \(count) does not fit")
        }
        return count
    }
}

/// A segment file an index was built from, as `stat` saw it: an index whose sources differ from
/// the files now present is stale.
public struct IndexSource: Sendable, Hashable {
    /// The segment file's path.
    public var path: String
    /// Its size in bytes.
    public var size: UInt64
    /// Its modification time, nanoseconds since the epoch.
    public var modifiedNanos: UInt64

    /// The sources of `runs`: their segment files in run and index order.
    public static func of(runs: [LogRun]) throws -> [IndexSource] {
        var sources: [IndexSource] = []
        for run in runs {
            for path in try LogReader(directory: run.directory).segmentPaths() {
                var info = stat()
                guard stat(path, &info) == 0 else {
                    throw LogError("cannot read \(path): \(String(cString: strerror(errno)))")
                }
                let modified = UInt64(max(info.st_mtim.tv_sec, 0)) &* 1_000_000_000 &+ UInt64(max(info.st_mtim.tv_nsec, 0))
                sources.append(IndexSource(path: path, size: UInt64(max(info.st_size, 0)), modifiedNanos: modified))
            }
        }
        return sources
    }
}
