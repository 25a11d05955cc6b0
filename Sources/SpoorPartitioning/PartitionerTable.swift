#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A hybrid partitioner compiled into one block of memory: what `spoor_partitioner_partition`
/// and `HybridPartitioner.partition` both route through, so that every engine, the planner and
/// the tests compute the same partition. Reading it takes no lock, allocates nothing and touches
/// no reference count (it is plain memory behind a raw pointer), so it is safe on a shuffle's
/// per-record path and from any number of threads at once.
///
/// Layout (all fields naturally aligned, `Header` first):
///
///     Header                         64 bytes
///     keys[capacity]: UInt64         explicitly placed key hashes, 0 = empty slot
///     values[capacity]: UInt64       partition (low 32 bits) | salts << 32
///     keep[partitions]: Double       absent when every hashed key stays (plain hashing)
///     spillEnds[partitions]: Double  running sums of the normalised spill shares; absent likewise
///
/// Keys are found by linear probing from a Fibonacci hash of the key (load factor at most 1/2).
/// Key hash 0 cannot mark a slot, so its placement lives in the header.
package enum PartitionerTable {
    /// "spoorpt1": a live table. Cleared when the table is freed, so that a freed or foreign
    /// pointer handed back is refused in most cases instead of being read as a table.
    static let magic: UInt64 = 0x7370_6f6f_7270_7431

    struct Header {
        var magic: UInt64
        var partitions: UInt32
        /// 1: every hashed key stays on its plain hash partition (no keep or spill arrays).
        var keepAll: UInt32
        /// Slots in the key table minus one (a power of two minus one).
        var mask: UInt64
        /// The partition of key hash 0 when it is placed, else -1; and its salts.
        var zeroPartition: Int32
        var zeroSalts: UInt32
        /// The last partition with a non-zero spill share (where a point past every slice lands).
        var lastSpill: UInt32
        var reserved0: UInt32
        var keyCount: UInt64
        var reserved1: UInt64
        var reserved2: UInt64
    }

    /// The largest partition count a table takes.
    package static let maximumPartitions = 1 << 20

    /// Keep and spill shares cleaned as the partitioner uses them: keep clamped to [0, 1] (NaN:
    /// 1), spill clamped to >= 0 (NaN: 0) and normalised to sum to 1; nil when either is missing,
    /// has the wrong length, or nothing can spill (plain hashing).
    package static func normalise(partitions: Int, keep: [Double]?, spill: [Double]?) -> (keep: [Double], spill: [Double])? {
        guard let keep, let spill, keep.count == partitions, spill.count == partitions else { return nil }
        let k = keep.map { $0.isNaN ? 1 : min(max($0, 0), 1) }
        let w = spill.map { $0.isNaN || $0 == .infinity ? 0 : max($0, 0) }
        let total = w.reduce(0, +)
        guard total > 0, total.isFinite, k.contains(where: { $0 < 1 }) else { return nil }
        return (k, w.map { $0 / total })
    }

    /// A new table (to be released with `free`), or nil when memory is short or the arguments
    /// are out of range (`partitions` outside `1...maximumPartitions`; placements outside
    /// `0..<partitions` are skipped; salts are clamped to `1...partitions`).
    package static func make(
        partitions: Int, explicit: [(key: UInt64, partition: Int, salts: Int)], keep: [Double]?, spill: [Double]?
    ) -> UnsafeMutableRawPointer? {
        guard partitions >= 1, partitions <= maximumPartitions else { return nil }
        let shares = normalise(partitions: partitions, keep: keep, spill: spill)
        var capacity = 1
        while capacity < 2 * explicit.count { capacity <<= 1 }
        let headerBytes = MemoryLayout<Header>.size
        let tableBytes = capacity * 16
        let shareBytes = shares == nil ? 0 : partitions * 16
        guard let base = malloc(headerBytes + tableBytes + shareBytes) else { return nil }
        let keys = (base + headerBytes).bindMemory(to: UInt64.self, capacity: capacity)
        let values = (base + headerBytes + capacity * 8).bindMemory(to: UInt64.self, capacity: capacity)
        keys.initialize(repeating: 0, count: capacity)
        values.initialize(repeating: 0, count: capacity)
        var header = Header(
            magic: magic, partitions: UInt32(partitions), keepAll: shares == nil ? 1 : 0, mask: UInt64(capacity - 1),
            zeroPartition: -1, zeroSalts: 1, lastSpill: 0, reserved0: 0, keyCount: 0, reserved1: 0, reserved2: 0)
        for entry in explicit where entry.partition >= 0 && entry.partition < partitions {
            let salts = UInt64(min(max(entry.salts, 1), partitions))
            if entry.key == 0 {
                if header.zeroPartition < 0 { header.keyCount += 1 }
                header.zeroPartition = Int32(entry.partition)
                header.zeroSalts = UInt32(salts)
                continue
            }
            var slot = Int(probeStart(entry.key, mask: header.mask))
            while keys[slot] != 0 && keys[slot] != entry.key { slot = (slot + 1) & (capacity - 1) }
            if keys[slot] == 0 { header.keyCount += 1 }
            keys[slot] = entry.key
            values[slot] = UInt64(entry.partition) | salts << 32
        }
        if let shares {
            let keepBase = (base + headerBytes + tableBytes).bindMemory(to: Double.self, capacity: 2 * partitions)
            var running = 0.0
            for p in 0..<partitions {
                keepBase[p] = shares.keep[p]
                running += shares.spill[p]
                keepBase[partitions + p] = running
                if shares.spill[p] > 0 { header.lastSpill = UInt32(p) }
            }
        }
        base.storeBytes(of: header, as: Header.self)
        return base
    }

    /// Releases a table made by `make` (nil: nothing).
    package static func free(_ table: UnsafeMutableRawPointer?) {
        guard let table, isValid(UnsafeRawPointer(table)) else { return }
        table.storeBytes(of: 0, as: UInt64.self)
        releaseMemory(table)
    }

    /// Whether `table` looks like a live table (its magic word).
    @inline(__always)
    package static func isValid(_ table: UnsafeRawPointer) -> Bool {
        table.load(as: UInt64.self) == magic
    }

    @inline(__always)
    static func probeStart(_ key: UInt64, mask: UInt64) -> UInt64 {
        ((key &* 0x9e37_79b9_7f4a_7c15) >> 32) & mask
    }

    /// The partition count of a live table.
    @inline(__always)
    package static func partitions(_ table: UnsafeRawPointer) -> Int {
        Int(table.load(fromByteOffset: MemoryLayout<Header>.offset(of: \Header.partitions)!, as: UInt32.self))
    }

    /// The number of placed keys of a live table.
    package static func keyCount(_ table: UnsafeRawPointer) -> Int {
        Int(table.load(fromByteOffset: MemoryLayout<Header>.offset(of: \Header.keyCount)!, as: UInt64.self))
    }

    /// The explicit slot of `key`: its stored value, or nil.
    @inline(__always)
    static func placement(_ table: UnsafeRawPointer, _ key: UInt64) -> UInt64? {
        let header = table.load(as: Header.self)
        if key == 0 {
            return header.zeroPartition >= 0 ? UInt64(UInt32(header.zeroPartition)) | UInt64(header.zeroSalts) << 32 : nil
        }
        let headerBytes = MemoryLayout<Header>.size
        let capacity = Int(header.mask) + 1
        var slot = Int(probeStart(key, mask: header.mask))
        // At most half the slots are full, so the probe ends at an empty slot.
        while true {
            let stored = table.load(fromByteOffset: headerBytes + slot * 8, as: UInt64.self)
            if stored == key { return table.load(fromByteOffset: headerBytes + (capacity + slot) * 8, as: UInt64.self) }
            if stored == 0 { return nil }
            slot = (slot + 1) & Int(header.mask)
        }
    }

    /// The partition of a key hash (see `HybridPartitioner.partition`).
    @inline(__always)
    package static func partition(_ table: UnsafeRawPointer, _ key: UInt64) -> Int {
        if let value = placement(table, key) { return Int(truncatingIfNeeded: value & 0xffff_ffff) }
        let header = table.load(as: Header.self)
        let partitions = Int(header.partitions)
        let hashed = HybridPartitioner.hashPartition(key, partitions: partitions)
        if header.keepAll != 0 { return hashed }
        let shares = MemoryLayout<Header>.size + (Int(header.mask) + 1) * 16
        let keep = table.load(fromByteOffset: shares + hashed * 8, as: Double.self)
        if keep >= 1 || HybridPartitioner.unit(key, salt: HybridPartitioner.staySalt) < keep { return hashed }
        let point = HybridPartitioner.unit(key, salt: HybridPartitioner.spillSalt)
        let ends = shares + partitions * 8
        var low = 0, high = partitions - 1
        while low < high {
            let middle = (low + high) / 2
            if point < table.load(fromByteOffset: ends + middle * 8, as: Double.self) { high = middle } else { low = middle + 1 }
        }
        let end = table.load(fromByteOffset: ends + low * 8, as: Double.self)
        let start = low == 0 ? 0 : table.load(fromByteOffset: ends + (low - 1) * 8, as: Double.self)
        return end > start ? low : Int(header.lastSpill)
    }

    /// How many partitions a join or combinable aggregation should spread a key over: its
    /// `salts` if placed, else 1.
    @inline(__always)
    package static func salts(_ table: UnsafeRawPointer, _ key: UInt64) -> Int {
        guard let value = placement(table, key) else { return 1 }
        return Int(truncatingIfNeeded: value >> 32)
    }
}

/// The C library's free (the enum's own `free` hides it inside `PartitionerTable`).
private func releaseMemory(_ pointer: UnsafeMutableRawPointer) {
    free(pointer)
}
