#if !SPOOR_SINGLE_MODULE
import SpoorLog
#endif

/// A record in a reconstructed lineage graph.
public struct LineageRecord: Sendable, Hashable {
    /// The record id.
    public var id: UInt64
    /// Entry, checkpoint output, or an id only seen as a parent or poked (`nil`).
    public var kind: ReportKind?
    /// The run (an index into `LineageGraph.runs`) whose report produced it; nil for an id only
    /// seen as a parent or poked.
    public var run: Int?
    /// The operator that produced it: an id in the operator table of `run`.
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
    /// Events reported on it, with the run and operator that reported them and the time.
    public var events: [(event: UInt32, run: Int, op: UInt32, nanos: UInt64)]

    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.id == rhs.id }
    public func hash(into hasher: inout Hasher) { hasher.combine(id) }
}

/// One process's run in a lineage graph: the reports of one run id in one run directory, with
/// their own operator table (operator ids are per run: the same id names different operators in
/// different runs).
public struct LineageRun: Sendable, Hashable {
    /// The run directory the reports came from.
    public var directory: String
    /// The run id of the segments.
    public var runID: UInt64
    /// The traced process.
    public var pid: UInt32

    /// Creates a run description.
    public init(directory: String, runID: UInt64, pid: UInt32) {
        self.directory = directory
        self.runID = runID
        self.pid = pid
    }
}

/// Lineage DAGs reconstructed from a report stream: every output id becomes a node with edges
/// from its parents; pokes become events on nodes. Answers forward lineage (everything derived
/// from a record) and backward lineage (everything a record derives from).
///
/// Record ids are global (a record of one process can be the parent of a record of another), so
/// records are keyed by id across every run read; operator ids are local to a run, so operator
/// names are looked up in the table of the run that wrote the report.
///
/// Under sampling, forward lineage from a traced record is complete, while backward lineage is
/// partial: untraced contributors are never reported (Table I of the tracing paper).
public struct LineageGraph: Sendable {
    /// Records by id.
    public private(set) var records: [UInt64: LineageRecord] = [:]
    /// The runs read, in the order first seen.
    public private(set) var runs: [LineageRun] = []
    private var runIndex: [LineageRun: Int] = [:]
    /// Operators by run (index into `runs`) and id.
    private var operatorTables: [[UInt32: OperatorRecord]] = []

    /// An empty graph.
    public init() {}

    /// What the reader found wrong in the log (damage skipped, unsealed segments, duplicates,
    /// unreadable segments); the graph holds every report that was read undamaged, once.
    public private(set) var issues: [LogIssue] = []

    /// Reads every run under `path` (a run directory or a log root), or those `selecting` names
    /// (`LogRun.matches`). Throws if `path` holds no run (`LogRoot.runs(at:selecting:)`) or a
    /// run cannot be read.
    public init(logAt path: String, selecting selectors: [String] = []) throws {
        try readLineageLog(
            runs: LogRoot.runs(at: path, selecting: selectors), issue: { self.issues.append($0) },
            run: { self.addRun($0) }, operators: { self.addOperators($0, run: $1) },
            reports: { reports, run in for report in reports { self.add(report, run: run) } })
    }

    /// The index of `run` in `runs`, adding it if it is new.
    public mutating func addRun(_ run: LineageRun) -> Int {
        if let known = runIndex[run] { return known }
        runs.append(run)
        operatorTables.append([:])
        runIndex[run] = runs.count - 1
        return runs.count - 1
    }

    /// Adds operator definitions to the table of `run` (an index into `runs`; others are ignored).
    public mutating func addOperators(_ operators: [OperatorRecord], run: Int) {
        guard operatorTables.indices.contains(run) else { return }
        for op in operators { operatorTables[run][op.id] = op }
    }

    /// The operator `op` of `run`, if that run defined it.
    public func operatorRecord(run: Int, op: UInt32) -> OperatorRecord? {
        guard operatorTables.indices.contains(run) else { return nil }
        return operatorTables[run][op]
    }

    private mutating func node(_ id: UInt64) -> LineageRecord {
        records[id] ?? LineageRecord(id: id, kind: nil, run: nil, op: 0, keyHash: 0, startNanos: 0, endNanos: 0, isFold: false, parents: [], children: [], events: [])
    }

    /// Adds one report written by `run` (an index into `runs`).
    public mutating func add(_ report: Report, run: Int) {
        switch report.kind {
        case .poke:
            var record = node(report.id)
            record.events.append((report.event ?? 0, run, report.op, report.endNanos))
            records[report.id] = record
        case .entry, .checkpoint:
            for offset in 0..<UInt64(max(report.fanout, 1)) {
                let id = report.id &+ offset
                var record = node(id)
                record.kind = report.kind
                record.run = run
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
        guard let record = records[id], let run = record.run else { return nil }
        return operatorRecord(run: run, op: record.op)?.name
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
            let name = operatorName(of: id) ?? "op\(record.op)"
            let parents = record.parents.map(canonical).sorted().joined(separator: ",")
            let text = "\(name)#\(String(record.keyHash, radix: 16))(\(parents))"
            memo[id] = text
            return text
        }
        return canonical(id)
    }
}

/// Reads every entry of `runs` for a lineage structure: `run` numbers the process of each
/// segment (`LineageRun`: one run id and pid in one directory), and the operators and reports
/// that follow go to `operators` and `reports` with that number. `issue` gets what the reader
/// found wrong.
func readLineageLog(
    runs: [LogRun], issue: (LogIssue) -> Void, run number: (LineageRun) -> Int,
    operators: ([OperatorRecord], Int) -> Void, reports: ([Report], Int) -> Void
) throws {
    for run in runs {
        var current: Int?
        try LogReader(directory: run.directory).read(issues: issue) { entry in
            switch entry {
            case .segment(let header):
                current = number(LineageRun(directory: run.directory, runID: header.identity.runID, pid: header.identity.pid))
            case .operators(let list):
                if let current { operators(list, current) }
            case .reports(_, _, _, let batch):
                if let current { reports(batch, current) }
            default:
                break
            }
        }
    }
}
