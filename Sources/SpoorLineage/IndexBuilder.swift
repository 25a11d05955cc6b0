#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CSpoor
#if !SPOOR_SINGLE_MODULE
import SpoorLog
import SpoorSupport
#endif

/// An operator of an indexed run: operator ids are per run, so the index numbers every
/// (run, id) pair it saw once and nodes name that number.
public struct IndexedOperator: Sendable, Hashable {
    /// The run (an index into the index's runs).
    public var run: Int
    /// The operator id in that run.
    public var id: UInt32
    /// Its name; nil if reports named the id and no operator record did.
    public var name: String?
    /// Where it was registered, possibly empty.
    public var callSite: String
}

/// What building an index found and wrote.
public struct IndexSummary: Sendable {
    /// Reports read from the log.
    public var reports: UInt64
    /// Entry and checkpoint reports (nodes).
    public var nodes: Int
    /// Parent references (edges).
    public var edges: Int
    /// Pokes.
    public var events: Int
    /// Bytes of the index file.
    public var bytes: UInt64
    /// What the log reader found wrong (the index holds every report read undamaged, once).
    public var issues: [LogIssue]
}

/// Builds a lineage index from a log (docs/lineage.md): reads every report once, sorts the
/// records by id and the parent references by parent id (LSD radix sorts), and writes the file
/// that `LineageIndex` maps. Memory while building: about 72 bytes per report plus 32 per
/// parent reference (the sort buffers), in chunks that never need copying as they grow.
public final class LineageIndexBuilder {
    struct Node {
        var firstID: UInt64
        var keyHash: UInt64
        var start: UInt64
        var end: UInt64
        /// Parent start with the kind and flag bits on top (`IndexFormat.nodeParentStart`).
        var parentStart: UInt64
        var fanout: UInt32
        var op: UInt32
        var parentCount: UInt32
        var partition: UInt32
    }

    struct Event {
        var id: UInt64
        var nanos: UInt64
        var event: UInt32
        var op: UInt32
    }

    private var nodes = ChunkedArray<Node>()
    private var parents = ChunkedArray<UInt64>()
    private var events = ChunkedArray<Event>()
    private(set) var runs: [LineageRun] = []
    private var runIndex: [LineageRun: Int] = [:]
    private(set) var operators: [IndexedOperator] = []
    private var operatorIndex: [OperatorKey: UInt32] = [:]
    private var reports: UInt64 = 0
    private var issues: [LogIssue] = []

    private struct OperatorKey: Hashable {
        var run: Int
        var id: UInt32
    }

    /// An empty builder.
    public init() {}

    /// Reads every report of `runs` (`LogRoot.runs`), once each.
    public func read(runs selected: [LogRun]) throws {
        try readLineageLog(
            runs: selected, issue: { self.issues.append($0) }, run: { self.addRun($0) },
            operators: { list, run in for op in list { self.define(op, run: run) } },
            reports: { batch, run in for report in batch { self.add(report, run: run) } })
    }

    /// The index of `run` in the runs, adding it if it is new.
    @discardableResult
    public func addRun(_ run: LineageRun) -> Int {
        if let known = runIndex[run] { return known }
        runs.append(run)
        runIndex[run] = runs.count - 1
        return runs.count - 1
    }

    private func operatorNumber(run: Int, id: UInt32) -> UInt32 {
        let key = OperatorKey(run: run, id: id)
        if let known = operatorIndex[key] { return known }
        let number = UInt32(truncatingIfNeeded: operators.count)
        operators.append(IndexedOperator(run: run, id: id, name: nil, callSite: ""))
        operatorIndex[key] = number
        return number
    }

    /// Names an operator of `run` (an index from `addRun`).
    public func define(_ op: OperatorRecord, run: Int) {
        let number = Int(operatorNumber(run: run, id: op.id))
        operators[number].name = op.name
        operators[number].callSite = op.callSite
    }

    /// Adds one report of `run` (an index from `addRun`).
    public func add(_ report: Report, run: Int) {
        reports &+= 1
        let op = operatorNumber(run: run, id: report.op)
        if report.kind == .poke {
            events.append(Event(id: report.id, nanos: report.endNanos, event: report.event ?? 0, op: op))
            return
        }
        let start = UInt64(parents.count)
        for parent in report.parents { parents.append(parent) }
        var bits = UInt64(report.kind.rawValue & 3)
        if report.isFold { bits |= 4 }
        if report.isTruncated { bits |= 8 }
        nodes.append(Node(
            firstID: report.id, keyHash: report.keyHash, start: report.startNanos, end: report.endNanos,
            parentStart: (start & IndexFormat.parentStartMask) | bits << 56, fanout: max(report.fanout, 1), op: op,
            parentCount: UInt32(truncatingIfNeeded: report.parents.count),
            partition: report.partition ?? IndexFormat.noPartition))
    }

    /// Writes the index to `path` (through a temporary file in the same directory, renamed over
    /// it, so that a reader never maps a half-written index), recording `sources` so that a
    /// reader can tell whether the log has changed since.
    public func write(to path: String, sources: [IndexSource]) throws -> IndexSummary {
        guard nodes.count < Int(UInt32.max), events.count < Int(UInt32.max) else {
            throw LogError("lineage index: more than 4,294,967,294 records in one index")
        }
        let temporary = path + ".tmp.\(getpid())"
        let file = try IndexFileWriter(path: temporary)
        var renamed = false
        defer { if !renamed { unlink(temporary) } }

        // Nodes by first id.
        var order = [UInt32](unsafeUninitializedCapacity: nodes.count) { buffer, count in
            for index in 0..<buffer.count { buffer[index] = UInt32(truncatingIfNeeded: index) }
            count = buffer.count
        }
        var keys = [UInt64](unsafeUninitializedCapacity: nodes.count) { buffer, count in
            for index in 0..<buffer.count { buffer[index] = nodes[index].firstID }
            count = buffer.count
        }
        radixSort(keys: &keys, values: &order)
        keys = []

        var header = [UInt8](repeating: 0, count: IndexFormat.headerSize)
        try file.append(header)
        let nodesOffset = file.offset
        for index in order {
            let node = nodes[Int(index)]
            try file.appendRecord(IndexFormat.nodeSize) { raw in
                raw.storeBytes(of: node.firstID.littleEndian, toByteOffset: IndexFormat.nodeFirstID, as: UInt64.self)
                raw.storeBytes(of: node.keyHash.littleEndian, toByteOffset: IndexFormat.nodeKeyHash, as: UInt64.self)
                raw.storeBytes(of: node.start.littleEndian, toByteOffset: IndexFormat.nodeStart, as: UInt64.self)
                raw.storeBytes(of: node.end.littleEndian, toByteOffset: IndexFormat.nodeEnd, as: UInt64.self)
                raw.storeBytes(of: node.parentStart.littleEndian, toByteOffset: IndexFormat.nodeParentStart, as: UInt64.self)
                raw.storeBytes(of: node.fanout.littleEndian, toByteOffset: IndexFormat.nodeFanout, as: UInt32.self)
                raw.storeBytes(of: node.op.littleEndian, toByteOffset: IndexFormat.nodeOperator, as: UInt32.self)
                raw.storeBytes(of: node.parentCount.littleEndian, toByteOffset: IndexFormat.nodeParentCount, as: UInt32.self)
                raw.storeBytes(of: node.partition.littleEndian, toByteOffset: IndexFormat.nodePartition, as: UInt32.self)
            }
        }
        let parentsOffset = file.offset
        for index in 0..<parents.count {
            let parent = parents[index]
            try file.appendRecord(8) { $0.storeBytes(of: parent.littleEndian, as: UInt64.self) }
        }

        // Edges by parent id: (parent, the sorted index of the node naming it).
        var edgeKeys: [UInt64] = []
        var edgeNodes: [UInt32] = []
        edgeKeys.reserveCapacity(parents.count)
        edgeNodes.reserveCapacity(parents.count)
        for (sorted, index) in order.enumerated() {
            let node = nodes[Int(index)]
            let start = Int(node.parentStart & IndexFormat.parentStartMask)
            for offset in 0..<Int(node.parentCount) {
                edgeKeys.append(parents[start + offset])
                edgeNodes.append(UInt32(truncatingIfNeeded: sorted))
            }
        }
        order = []
        radixSort(keys: &edgeKeys, values: &edgeNodes)
        let edgesOffset = file.offset
        for index in 0..<edgeKeys.count {
            let parent = edgeKeys[index], node = UInt64(edgeNodes[index])
            try file.appendRecord(IndexFormat.edgeSize) { raw in
                raw.storeBytes(of: parent.littleEndian, toByteOffset: 0, as: UInt64.self)
                raw.storeBytes(of: node.littleEndian, toByteOffset: 8, as: UInt64.self)
            }
        }
        let edgeCount = edgeKeys.count
        edgeKeys = []
        edgeNodes = []

        // Events by id (the sort is stable: one record's events stay in log order).
        var eventKeys = [UInt64](unsafeUninitializedCapacity: events.count) { buffer, count in
            for index in 0..<buffer.count { buffer[index] = events[index].id }
            count = buffer.count
        }
        var eventOrder = [UInt32](unsafeUninitializedCapacity: events.count) { buffer, count in
            for index in 0..<buffer.count { buffer[index] = UInt32(truncatingIfNeeded: index) }
            count = buffer.count
        }
        radixSort(keys: &eventKeys, values: &eventOrder)
        let eventsOffset = file.offset
        for index in eventOrder {
            let event = events[Int(index)]
            try file.appendRecord(IndexFormat.eventSize) { raw in
                raw.storeBytes(of: event.id.littleEndian, toByteOffset: 0, as: UInt64.self)
                raw.storeBytes(of: event.nanos.littleEndian, toByteOffset: 8, as: UInt64.self)
                raw.storeBytes(of: event.event.littleEndian, toByteOffset: 16, as: UInt32.self)
                raw.storeBytes(of: event.op.littleEndian, toByteOffset: 20, as: UInt32.self)
            }
        }

        var meta = MetaWriter()
        meta.u32(UInt32(truncatingIfNeeded: runs.count))
        for run in runs {
            meta.u64(run.runID)
            meta.u32(run.pid)
            meta.string(run.directory)
        }
        meta.u32(UInt32(truncatingIfNeeded: operators.count))
        for op in operators {
            meta.u32(UInt32(truncatingIfNeeded: op.run))
            meta.u32(op.id)
            meta.u32(op.name == nil ? 0 : 1)
            meta.string(op.name ?? "")
            meta.string(op.callSite)
        }
        meta.u32(UInt32(truncatingIfNeeded: sources.count))
        for source in sources {
            meta.string(source.path)
            meta.u64(source.size)
            meta.u64(source.modifiedNanos)
        }
        let metaOffset = file.offset
        try file.append(meta.bytes)
        try file.flush()

        header.withUnsafeMutableBytes { raw in
            for (index, byte) in IndexFormat.magic.enumerated() { raw[index] = byte }
            func put32(_ value: UInt32, _ offset: Int) { raw.storeBytes(of: value.littleEndian, toByteOffset: offset, as: UInt32.self) }
            func put64<T: BinaryInteger>(_ value: T, _ offset: Int) {
                raw.storeBytes(of: UInt64(value).littleEndian, toByteOffset: offset, as: UInt64.self)
            }
            put32(IndexFormat.version, IndexFormat.versionOffset)
            put32(UInt32(IndexFormat.headerSize), IndexFormat.headerSizeOffset)
            put64(nodes.count, IndexFormat.nodeCountOffset)
            put64(parents.count, IndexFormat.parentCountOffset)
            put64(edgeCount, IndexFormat.edgeCountOffset)
            put64(events.count, IndexFormat.eventCountOffset)
            put64(nodesOffset, IndexFormat.nodesOffset)
            put64(parentsOffset, IndexFormat.parentsOffset)
            put64(edgesOffset, IndexFormat.edgesOffset)
            put64(eventsOffset, IndexFormat.eventsOffset)
            put64(metaOffset, IndexFormat.metaOffset)
            put64(meta.bytes.count, IndexFormat.metaLengthOffset)
            put64(reports, IndexFormat.reportsOffset)
            put32(crc32c(0, UnsafeRawBufferPointer(rebasing: raw[0..<IndexFormat.headerCRCOffset])), IndexFormat.headerCRCOffset)
        }
        try file.write(header, at: 0)
        let bytes = UInt64(file.offset)
        try file.close()
        try syscall("rename(\(temporary), \(path))") { rename(temporary, path) }
        renamed = true
        return IndexSummary(
            reports: reports, nodes: nodes.count, edges: edgeCount, events: events.count, bytes: bytes, issues: issues)
    }
}

/// An append-only array stored in fixed chunks: growing it never copies what it holds (an index
/// of 10⁸ records would otherwise need twice its memory at each doubling).
struct ChunkedArray<Element> {
    private static var shift: Int { 16 }
    private static var mask: Int { (1 << shift) - 1 }
    private var chunks: [[Element]] = []
    private(set) var count = 0

    mutating func append(_ element: Element) {
        if count & Self.mask == 0 {
            var chunk: [Element] = []
            chunk.reserveCapacity(1 << Self.shift)
            chunks.append(chunk)
        }
        chunks[chunks.count - 1].append(element)
        count += 1
    }

    subscript(index: Int) -> Element { chunks[index >> Self.shift][index & Self.mask] }
}

/// Sorts `keys` ascending and permutes `values` with them; stable (equal keys keep their order).
/// Least-significant-digit radix sort, 8 bits a pass, skipping the passes whose digit is the same
/// in every key (the high bytes of ids minted by one process usually are).
func radixSort(keys: inout [UInt64], values: inout [UInt32]) {
    let count = keys.count
    guard count > 1 else { return }
    precondition(values.count == count)
    var histogram = [Int](repeating: 0, count: 8 * 256)
    histogram.withUnsafeMutableBufferPointer { histogram in
        keys.withUnsafeBufferPointer { keys in
            for key in keys {
                var shifted = key
                for digit in 0..<8 {
                    histogram[digit << 8 | Int(shifted & 0xff)] += 1
                    shifted >>= 8
                }
            }
        }
    }
    var spareKeys = [UInt64](repeating: 0, count: count)
    var spareValues = [UInt32](repeating: 0, count: count)
    for digit in 0..<8 {
        let base = digit << 8
        if histogram[base..<base + 256].contains(count) { continue }
        var next = [Int](repeating: 0, count: 256)
        var total = 0
        for bucket in 0..<256 {
            next[bucket] = total
            total += histogram[base + bucket]
        }
        let shift = UInt64(digit * 8)
        keys.withUnsafeBufferPointer { keys in
            values.withUnsafeBufferPointer { values in
                spareKeys.withUnsafeMutableBufferPointer { outKeys in
                    spareValues.withUnsafeMutableBufferPointer { outValues in
                        next.withUnsafeMutableBufferPointer { next in
                            for index in 0..<count {
                                let key = keys[index]
                                let bucket = Int((key >> shift) & 0xff)
                                let target = next[bucket]
                                next[bucket] = target + 1
                                outKeys[target] = key
                                outValues[target] = values[index]
                            }
                        }
                    }
                }
            }
        }
        swap(&keys, &spareKeys)
        swap(&values, &spareValues)
    }
}

/// Writes a file through a 1 MiB buffer.
final class IndexFileWriter {
    private var descriptor: Int32
    private let path: String
    private var buffer: UnsafeMutableRawPointer
    private let capacity = 1 << 20
    private var used = 0
    /// Bytes appended so far (the offset of the next byte).
    private(set) var offset = 0

    init(path: String) throws {
        self.path = path
        descriptor = try syscall("open(\(path))") { open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600) }
        buffer = .allocate(byteCount: capacity, alignment: 16)
    }

    deinit {
        buffer.deallocate()
        if descriptor >= 0 { Glibc.close(descriptor) }
    }

    /// Appends `size` bytes (at most the buffer's capacity) that `fill` writes.
    @inline(__always)
    func appendRecord(_ size: Int, _ fill: (UnsafeMutableRawPointer) -> Void) throws {
        if capacity - used < size { try flush() }
        fill(buffer + used)
        used += size
        offset += size
    }

    func append(_ bytes: [UInt8]) throws {
        try flush()
        try bytes.withUnsafeBytes { try writeAll($0, at: nil) }
        offset += bytes.count
    }

    func flush() throws {
        guard used > 0 else { return }
        try writeAll(UnsafeRawBufferPointer(start: buffer, count: used), at: nil)
        used = 0
    }

    func write(_ bytes: [UInt8], at position: Int) throws {
        try bytes.withUnsafeBytes { try writeAll($0, at: position) }
    }

    private func writeAll(_ bytes: UnsafeRawBufferPointer, at position: Int?) throws {
        var done = 0
        while done < bytes.count {
            let rest = UnsafeRawBufferPointer(rebasing: bytes[done...])
            let written = try syscall("write(\(path))") { () -> Int in
                if let position { return pwrite(descriptor, rest.baseAddress, rest.count, off_t(position + done)) }
                return Glibc.write(descriptor, rest.baseAddress, rest.count)
            }
            done += written
        }
    }

    func close() throws {
        try flush()
        let closing = descriptor
        descriptor = -1
        try syscall("close(\(path))") { Glibc.close(closing) }
    }
}
