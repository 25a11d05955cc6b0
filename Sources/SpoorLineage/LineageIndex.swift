#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
#if !SPOOR_SINGLE_MODULE
import SpoorLog
import SpoorSupport
#endif

/// An event on an indexed record (a poke).
public struct IndexedEvent: Sendable, Hashable {
    /// The event code (`spoor_event`).
    public var event: UInt32
    /// The operator that reported it (an index into `LineageIndex.operators`), if known.
    public var op: Int?
    /// When, in CLOCK_MONOTONIC nanoseconds.
    public var nanos: UInt64
}

/// One record of a lineage query.
public struct IndexedRecord: Sendable, Hashable {
    /// The record id.
    public var id: UInt64
    /// Entry or checkpoint output; nil for an id only seen as a parent or poked (a report of an
    /// unselected run, or one that was lost).
    public var kind: ReportKind?
    /// The operator that produced it (an index into `LineageIndex.operators`).
    public var op: Int?
    /// Its key hash.
    public var keyHash: UInt64
    /// UDF start and end of its production (0 if not measured).
    public var startNanos: UInt64, endNanos: UInt64
    /// The partition its producer worked on, if it set one.
    public var partition: UInt32?
    /// The report's fan-out and this record's place in it (ids `id - fanoutIndex` ...).
    public var fanout: UInt32, fanoutIndex: UInt32
    /// Whether it is a fold's aggregate, and whether parents past the maximum were left out.
    public var isFold: Bool, isTruncated: Bool
    /// Its parents.
    public var parents: [UInt64]
    /// Events reported on it, in log order.
    public var events: [IndexedEvent]

    /// The UDF's runtime, if both ends were measured.
    public var durationNanos: UInt64? {
        startNanos != 0 && endNanos >= startNanos ? endNanos - startNanos : nil
    }
}

/// An edge of a lineage query: `child` was derived from `parent`.
public struct LineageEdge: Sendable, Hashable {
    /// The input record.
    public var parent: UInt64
    /// The output record.
    public var child: UInt64
    /// The operator that made the child (an index into `LineageIndex.operators`).
    public var op: Int?
    /// Time from the parent's production to the child's (child end - parent end), if both are known.
    public var latencyNanos: UInt64?
    /// The child's key hash.
    public var keyHash: UInt64
}

/// The result of a lineage query: the records reached from `root`, the root first, then in
/// breadth-first order, and the edges between them.
public struct LineageQuery: Sendable {
    /// Which way a query walks.
    public enum Direction: String, Sendable, CaseIterable {
        /// To the ancestors, up to the entry points.
        case backward
        /// To the descendants.
        case forward
    }

    /// The record asked about.
    public var root: UInt64
    /// Which way it walked.
    public var direction: Direction
    /// The records reached, the root first.
    public var records: [IndexedRecord]
    /// The edges among `records`.
    public var edges: [LineageEdge]
    /// Whether the walk stopped at its record limit (more records are reachable).
    public var truncated: Bool
    /// The entry points among `records` (backward: the sampled inputs behind the root).
    public var entries: [UInt64] { records.filter { $0.kind == .entry }.map(\.id) }
}

/// A lineage index mapped read-only (docs/lineage.md): records by id, parent references by
/// parent id, events by id, each a sorted table searched by bisection, so that a query costs
/// about log2(records) page reads per record it returns, whatever the size of the log.
///
/// Opening validates the header (magic, version, CRC, every section inside the file); reading
/// validates each value it uses (a parent range or a node index out of bounds is ignored), so a
/// damaged index gives wrong or partial answers, never a crash. It is replaced by rename, never
/// written in place, so a mapping never sees a file shrink.
///
/// `@unchecked Sendable`: the mapping is read-only and never changes while the object lives.
public final class LineageIndex: @unchecked Sendable {
    private let base: UnsafeRawPointer
    private let size: Int
    private let nodes: UnsafeRawPointer, parents: UnsafeRawPointer, edges: UnsafeRawPointer, events: UnsafeRawPointer
    /// Records (entry and checkpoint reports), parent references, edges and events in the index.
    public let nodeCount: Int, parentCount: Int, edgeCount: Int, eventCount: Int
    /// Reports read when it was built.
    public let reports: UInt64
    /// The runs indexed.
    public let runs: [LineageRun]
    /// Their operators.
    public let operators: [IndexedOperator]
    /// The segment files it was built from.
    public let sources: [IndexSource]

    /// Maps the index at `path`. Throws (with the path) if it cannot be read or is not a valid index.
    public init(path: String) throws {
        let descriptor = try Self.call("open(\(path))") { Glibc.open(path, O_RDONLY | O_CLOEXEC) }
        defer { close(descriptor) }
        var info = stat()
        _ = try Self.call("fstat(\(path))") { fstat(descriptor, &info) }
        let size = Int(info.st_size)
        guard size >= IndexFormat.headerSize else { throw LogError("\(path) is not a lineage index (too short)") }
        guard let mapped = mmap(nil, size, PROT_READ, MAP_PRIVATE, descriptor, 0), mapped != MAP_FAILED else {
            throw LogError("cannot map \(path): \(errnoText(errno))")
        }
        let base = UnsafeRawPointer(mapped)
        self.base = base
        self.size = size
        func u64(_ offset: Int) -> Int {
            let value = UInt64(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
            return value > UInt64(Int.max) ? Int.max : Int(value)
        }
        let magicMatches = IndexFormat.magic.indices.allSatisfy { base.load(fromByteOffset: $0, as: UInt8.self) == IndexFormat.magic[$0] }
        let version = UInt32(littleEndian: base.loadUnaligned(fromByteOffset: IndexFormat.versionOffset, as: UInt32.self))
        let crc = UInt32(littleEndian: base.loadUnaligned(fromByteOffset: IndexFormat.headerCRCOffset, as: UInt32.self))
        var problem: String?
        if !magicMatches {
            problem = "is not a lineage index"
        } else if version != IndexFormat.version {
            problem = "has index version \(version); this spoor reads version \(IndexFormat.version) (rebuild it with spoor index)"
        } else if crc32c(0, UnsafeRawBufferPointer(start: base, count: IndexFormat.headerCRCOffset)) != crc {
            problem = "has a damaged header (CRC mismatch)"
        }
        nodeCount = u64(IndexFormat.nodeCountOffset)
        parentCount = u64(IndexFormat.parentCountOffset)
        edgeCount = u64(IndexFormat.edgeCountOffset)
        eventCount = u64(IndexFormat.eventCountOffset)
        reports = UInt64(u64(IndexFormat.reportsOffset))
        let sections = [
            (u64(IndexFormat.nodesOffset), nodeCount, IndexFormat.nodeSize),
            (u64(IndexFormat.parentsOffset), parentCount, 8),
            (u64(IndexFormat.edgesOffset), edgeCount, IndexFormat.edgeSize),
            (u64(IndexFormat.eventsOffset), eventCount, IndexFormat.eventSize),
            (u64(IndexFormat.metaOffset), u64(IndexFormat.metaLengthOffset), 1),
        ]
        if problem == nil {
            for (offset, count, itemSize) in sections {
                let (bytes, overflow) = count.multipliedReportingOverflow(by: itemSize)
                if overflow || offset < IndexFormat.headerSize || offset > size || bytes > size - offset {
                    problem = "has a section outside the file"
                }
            }
        }
        if let problem {
            munmap(mapped, size)
            throw LogError("\(path) \(problem)")
        }
        nodes = base + sections[0].0
        parents = base + sections[1].0
        edges = base + sections[2].0
        events = base + sections[3].0
        do {
            var meta = MetaReader(UnsafeRawBufferPointer(start: base + sections[4].0, count: sections[4].1))
            var runs: [LineageRun] = []
            for _ in 0..<(try meta.count(minimumBytes: 16)) {
                let runID = try meta.u64(), pid = try meta.u32()
                runs.append(LineageRun(directory: try meta.string(), runID: runID, pid: pid))
            }
            var operators: [IndexedOperator] = []
            for _ in 0..<(try meta.count(minimumBytes: 20)) {
                let run = Int(try meta.u32()), id = try meta.u32(), named = try meta.u32() != 0
                let name = try meta.string(), callSite = try meta.string()
                operators.append(IndexedOperator(run: run, id: id, name: named ? name : nil, callSite: callSite))
            }
            var sources: [IndexSource] = []
            for _ in 0..<(try meta.count(minimumBytes: 20)) {
                let path = try meta.string()
                sources.append(IndexSource(path: path, size: try meta.u64(), modifiedNanos: try meta.u64()))
            }
            self.runs = runs
            self.operators = operators
            self.sources = sources
        } catch {
            munmap(mapped, size)
            throw LogError("\(path): \(error)")
        }
    }

    deinit { munmap(UnsafeMutableRawPointer(mutating: base), size) }

    private static func call(_ name: String, _ body: () -> Int32) throws -> Int32 {
        do {
            return try syscall(name, body)
        } catch {
            throw LogError(error.description)
        }
    }

    // MARK: Tables

    @inline(__always)
    private func u64(_ table: UnsafeRawPointer, _ offset: Int) -> UInt64 {
        UInt64(littleEndian: table.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }

    @inline(__always)
    private func u32(_ table: UnsafeRawPointer, _ offset: Int) -> UInt32 {
        UInt32(littleEndian: table.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }

    /// The first index in `0..<count` whose key (the u64 at `stride * index`) is not below `key`.
    private func lowerBound(_ table: UnsafeRawPointer, count: Int, stride: Int, key: UInt64) -> Int {
        var low = 0, high = count
        while low < high {
            let middle = low + (high - low) / 2
            if u64(table, middle * stride) < key { low = middle + 1 } else { high = middle }
        }
        return low
    }

    /// The node that minted `id`, if the index holds one.
    private func node(of id: UInt64) -> Int? {
        // The last node whose first id is at most `id`, if its fan-out covers `id`.
        let after = id == .max ? nodeCount : lowerBound(nodes, count: nodeCount, stride: IndexFormat.nodeSize, key: id + 1)
        guard after > 0 else { return nil }
        let candidate = after - 1
        let first = u64(nodes, candidate * IndexFormat.nodeSize + IndexFormat.nodeFirstID)
        let fanout = UInt64(u32(nodes, candidate * IndexFormat.nodeSize + IndexFormat.nodeFanout))
        return id &- first < fanout ? candidate : nil
    }

    private func operatorIndex(_ raw: UInt32) -> Int? {
        raw != IndexFormat.noOperator && Int(raw) < operators.count ? Int(raw) : nil
    }

    private func events(of id: UInt64) -> [IndexedEvent] {
        var index = lowerBound(events, count: eventCount, stride: IndexFormat.eventSize, key: id)
        var found: [IndexedEvent] = []
        while index < eventCount, u64(events, index * IndexFormat.eventSize) == id {
            let offset = index * IndexFormat.eventSize
            found.append(IndexedEvent(
                event: u32(events, offset + 16), op: operatorIndex(u32(events, offset + 20)), nanos: u64(events, offset + 8)))
            index += 1
        }
        return found
    }

    /// The record `id`: what its report says, or only its events (kind nil) if no report in
    /// the index minted it.
    public func record(_ id: UInt64) -> IndexedRecord {
        let events = events(of: id)
        guard let node = node(of: id) else {
            return IndexedRecord(
                id: id, kind: nil, op: events.first?.op, keyHash: 0, startNanos: 0, endNanos: 0, partition: nil, fanout: 1,
                fanoutIndex: 0, isFold: false, isTruncated: false, parents: [], events: events)
        }
        let offset = node * IndexFormat.nodeSize
        let first = u64(nodes, offset + IndexFormat.nodeFirstID)
        let packed = u64(nodes, offset + IndexFormat.nodeParentStart)
        let start = Int(packed & IndexFormat.parentStartMask)
        let count = Int(u32(nodes, offset + IndexFormat.nodeParentCount))
        var parents: [UInt64] = []
        if start <= parentCount && count <= parentCount - start {
            parents.reserveCapacity(count)
            for index in start..<start + count { parents.append(u64(self.parents, index * 8)) }
        }
        let bits = UInt8(truncatingIfNeeded: packed >> 56)
        let partition = u32(nodes, offset + IndexFormat.nodePartition)
        return IndexedRecord(
            id: id, kind: ReportKind(rawValue: bits & 3), op: operatorIndex(u32(nodes, offset + IndexFormat.nodeOperator)),
            keyHash: u64(nodes, offset + IndexFormat.nodeKeyHash), startNanos: u64(nodes, offset + IndexFormat.nodeStart),
            endNanos: u64(nodes, offset + IndexFormat.nodeEnd), partition: partition == IndexFormat.noPartition ? nil : partition,
            fanout: u32(nodes, offset + IndexFormat.nodeFanout), fanoutIndex: UInt32(truncatingIfNeeded: id &- first),
            isFold: bits & 4 != 0, isTruncated: bits & 8 != 0, parents: parents, events: events)
    }

    /// The records derived directly from `id`: every id minted by a report naming `id` as a
    /// parent (all of a fan-out's outputs).
    public func children(of id: UInt64) -> [UInt64] { children(of: id, atMost: Int.max).ids }

    /// As `children(of:)`, stopping after `atMost` ids (`complete` is false if it stopped).
    func children(of id: UInt64, atMost: Int) -> (ids: [UInt64], complete: Bool) {
        var index = lowerBound(edges, count: edgeCount, stride: IndexFormat.edgeSize, key: id)
        var found: [UInt64] = []
        while index < edgeCount, u64(edges, index * IndexFormat.edgeSize) == id {
            let node = u64(edges, index * IndexFormat.edgeSize + 8)
            index += 1
            guard node < UInt64(nodeCount) else { continue }
            let offset = Int(node) * IndexFormat.nodeSize
            let first = u64(nodes, offset + IndexFormat.nodeFirstID)
            // At most the library's largest fan-out, whatever a damaged index says.
            let fanout = min(u32(nodes, offset + IndexFormat.nodeFanout), IndexFormat.maxFanout)
            for output in 0..<UInt64(fanout) {
                guard found.count < atMost else { return (found, false) }
                found.append(first &+ output)
            }
        }
        return (found, true)
    }

    /// The operator of a record or edge, by its index.
    public func operatorRecord(_ index: Int?) -> IndexedOperator? {
        guard let index, operators.indices.contains(index) else { return nil }
        return operators[index]
    }

    /// Walks from `root` backward to every ancestor (up to the entry points) or forward to every
    /// descendant, stopping after `limit` records (then `truncated` is set).
    public func query(_ root: UInt64, _ direction: LineageQuery.Direction, limit: Int = 1_000_000) -> LineageQuery {
        var records: [IndexedRecord] = []
        var position: [UInt64: Int] = [:]
        var pairs: [(parent: UInt64, child: UInt64)] = []
        var truncated = false
        var queue: [UInt64] = [root]
        var seen: Set<UInt64> = [root]
        var next = 0
        while next < queue.count {
            let id = queue[next]
            next += 1
            let record = record(id)
            position[id] = records.count
            records.append(record)
            var neighbours = record.parents
            if direction == .forward {
                // More children than the limit cannot all be returned: stop generating them there.
                let (ids, complete) = children(of: id, atMost: max(limit, 1))
                neighbours = ids
                if !complete { truncated = true }
            }
            for neighbour in neighbours {
                if !seen.contains(neighbour) {
                    guard seen.count < max(limit, 1) else {
                        truncated = true
                        continue
                    }
                    seen.insert(neighbour)
                    queue.append(neighbour)
                }
                pairs.append(direction == .backward ? (neighbour, id) : (id, neighbour))
            }
        }
        var edges: [LineageEdge] = []
        edges.reserveCapacity(pairs.count)
        for (parent, child) in pairs {
            guard let childIndex = position[child], let parentIndex = position[parent] else { continue }
            let made = records[childIndex], input = records[parentIndex]
            let latency: UInt64? =
                input.kind != nil && made.kind != nil && input.endNanos != 0 && made.endNanos >= input.endNanos
                ? made.endNanos - input.endNanos : nil
            edges.append(LineageEdge(parent: parent, child: child, op: made.op, latencyNanos: latency, keyHash: made.keyHash))
        }
        return LineageQuery(root: root, direction: direction, records: records, edges: edges, truncated: truncated)
    }

    /// Whether the index was built from exactly the segment files `runs` hold now.
    public func isCurrent(for runs: [LogRun]) -> Bool {
        (try? IndexSource.of(runs: runs)) == sources
    }

    /// Opens the index at `path` if it is current for `runs`; otherwise builds it from them
    /// first (writing `path`) and returns what the build found as well.
    public static func open(
        at path: String, for runs: [LogRun]
    ) throws -> (index: LineageIndex, built: IndexSummary?) {
        if let existing = try? LineageIndex(path: path), existing.isCurrent(for: runs) { return (existing, nil) }
        let sources = try IndexSource.of(runs: runs)
        let builder = LineageIndexBuilder()
        try builder.read(runs: runs)
        let summary = try builder.write(to: path, sources: sources)
        return (try LineageIndex(path: path), summary)
    }
}
