import SpoorLog

/// A record in a reconstructed lineage graph.
public struct LineageRecord: Sendable, Hashable {
    /// The record id.
    public var id: UInt64
    /// Entry, checkpoint output, or an id only seen as a parent or poked (`nil`).
    public var kind: ReportKind?
    /// The operator that produced it.
    public var op: UInt32
    /// Its key hash.
    public var keyHash: UInt64
    /// UDF start and end of its production.
    public var startNanos: UInt64, endNanos: UInt64
    /// Whether it is a fold's aggregate.
    public var isFold: Bool
    /// Its parents.
    public var parents: [UInt64]
    /// Records derived from it.
    public var children: [UInt64]
    /// Events reported on it, with their operator and time.
    public var events: [(event: UInt32, op: UInt32, nanos: UInt64)]

    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.id == rhs.id }
    public func hash(into hasher: inout Hasher) { hasher.combine(id) }
}

/// Lineage DAGs reconstructed from a report stream: every output id becomes a node with edges
/// from its parents; pokes become events on nodes. Answers forward lineage (everything derived
/// from a record) and backward lineage (everything a record derives from).
///
/// Under sampling, forward lineage from a traced record is complete, while backward lineage is
/// partial: untraced contributors are never reported (Table I of the tracing paper).
public struct LineageGraph: Sendable {
    /// Records by id.
    public private(set) var records: [UInt64: LineageRecord] = [:]
    /// Operators by id.
    public private(set) var operators: [UInt32: OperatorRecord] = [:]

    /// An empty graph.
    public init() {}

    /// What the reader found wrong in the log (damage skipped, unsealed segments, duplicates,
    /// unreadable segments); the graph holds every report that was read undamaged, once.
    public private(set) var issues: [LogIssue] = []

    /// Reads every run under `path` (a run directory or a log root).
    public init(logAt path: String) throws {
        for run in try LogReader.runDirectories(at: path) {
            try LogReader(directory: run).read(issues: { self.issues.append($0) }) { entry in
                switch entry {
                case .operators(let list): for op in list { self.operators[op.id] = op }
                case .reports(_, _, _, let reports): for report in reports { self.add(report) }
                default: break
                }
            }
        }
    }

    private mutating func node(_ id: UInt64) -> LineageRecord {
        records[id] ?? LineageRecord(id: id, kind: nil, op: 0, keyHash: 0, startNanos: 0, endNanos: 0, isFold: false, parents: [], children: [], events: [])
    }

    /// Adds one report.
    public mutating func add(_ report: Report) {
        switch report.kind {
        case .poke:
            var record = node(report.id)
            record.events.append((report.event ?? 0, report.op, report.endNanos))
            records[report.id] = record
        case .entry, .checkpoint:
            for offset in 0..<UInt64(max(report.fanout, 1)) {
                let id = report.id &+ offset
                var record = node(id)
                record.kind = report.kind
                record.op = report.op
                record.keyHash = report.keyHash
                record.startNanos = report.startNanos
                record.endNanos = report.endNanos
                record.isFold = report.isFold
                record.parents = report.parents
                records[id] = record
                for parent in report.parents {
                    var parentRecord = node(parent)
                    parentRecord.children.append(id)
                    records[parent] = parentRecord
                }
            }
        }
    }

    /// The operator name of a record, if known.
    public func operatorName(of id: UInt64) -> String? {
        records[id].flatMap { operators[$0.op]?.name }
    }

    /// Every record derived from `id` (not including it).
    public func forward(from id: UInt64) -> Set<UInt64> { closure(from: id) { $0.children } }

    /// Every record `id` derives from (not including it).
    public func backward(from id: UInt64) -> Set<UInt64> { closure(from: id) { $0.parents } }

    /// The entry records `id` derives from (itself if it is one).
    public func entries(of id: UInt64) -> Set<UInt64> {
        backward(from: id).union([id]).filter { records[$0]?.kind == .entry }
    }

    private func closure(from id: UInt64, _ next: (LineageRecord) -> [UInt64]) -> Set<UInt64> {
        var seen = Set<UInt64>()
        var stack = records[id].map(next) ?? []
        while let current = stack.popLast() {
            guard seen.insert(current).inserted, let record = records[current] else { continue }
            stack += next(record)
        }
        return seen
    }

    /// A canonical text of the backward lineage of `id`: operator names and key hashes, parents
    /// sorted, ids left out. Two runs with the same lineage shape give the same text.
    public func canonicalBackward(of id: UInt64) -> String {
        var memo: [UInt64: String] = [:]
        func canonical(_ id: UInt64) -> String {
            if let known = memo[id] { return known }
            guard let record = records[id] else { return "?" }
            let name = operators[record.op]?.name ?? "op\(record.op)"
            let parents = record.parents.map(canonical).sorted().joined(separator: ",")
            let text = "\(name)#\(String(record.keyHash, radix: 16))(\(parents))"
            memo[id] = text
            return text
        }
        return canonical(id)
    }
}
