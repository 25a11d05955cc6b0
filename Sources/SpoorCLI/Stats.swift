import ArgumentParser
import SpoorLog

struct Stats: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print counts per run as one JSON object per line.",
        discussion: """
            One line per run under DIR (or per run --run selects), in run name order; \
            with --merge, one line for all of them together. Every line has the same \
            fields in the same order; a value that was not recorded is null.

              run           run directory name (null with --merge)
              run_id        run id, 16 hex digits (null with --merge)
              pid           the traced process (null with --merge)
              runs          names of the runs the line counts
              directory     the run directory (with --merge, DIR)
              started_utc   when the run started, ISO-8601 UTC (--merge: earliest)
              segments      segment files with a valid header
              reports       reports read
              entries, checkpoints, pokes
                            reports read, by kind
              threads       distinct OS threads that wrote reports
              operators     per operator seen in a report: {"op", "name",
                            "call_site", "reports", "total_duration_ns"}; with
                            --merge, operators of the same name and call site
                            count together and op is null where runs numbered
                            them differently
              closed        the run shut down cleanly (wrote a close record);
                            with --merge, every run did
              written, committed, dropped, sampled, drained, sink_errors
                            the library's counters at shutdown, null unless
                            closed (--merge: summed): reports asked for, put into
                            a ring, lost to a full ring, entries sampled, taken
                            from the rings into the log, batches the log failed
                            to write
              damaged_segments
                            segments in which damage was found
              losses        reports lost while the run went on, from the log's
                            loss records: one object per process, ring (null:
                            threads without a ring, reports refused as too
                            large), thread (null: none, or beyond the 4096
                            a shared ring's sharer table names) and
                            reason (ring_full, no_ring, sink_error, too_large,
                            overwritten),
                            with reports, records, first_utc, last_utc and
                            per_second (second_utc, reports)

            With --internal, also batches, rings, close_batches and close_threads. \
            Errors as for dump (exit status 1). See docs/log-format.md.
            """)

    @OptionGroup var log: LogSelection

    @Flag(help: "Print one line for all the selected runs together instead of one per run.")
    var merge = false

    @Flag(help: "Add the log's internal counts: batches, rings, close_batches, close_threads.")
    var `internal` = false

    func run() throws {
        try reportingFailures {
            var output = StandardOutput()
            defer { output.flush() }
            var total = RunStatistics(directory: log.directory)
            for run in try log.selectedRuns() {
                var statistics = RunStatistics(directory: run.directory)
                statistics.names = [run.name]
                let damage = try LogReader(directory: run.directory).read { statistics.add($0) }
                statistics.damagedSegments = Set(damage.filter { $0.kind == .damaged || $0.kind == .unreadable }.map(\.path)).count
                statistics.issues = damage
                if merge {
                    total.merge(statistics)
                } else {
                    statistics.write(merged: false, includeInternal: `internal`, to: &output.json)
                    output.endLine()
                    output.flush()
                }
                for issue in statistics.issues { warn("\(issue)") }
            }
            if merge {
                total.write(merged: true, includeInternal: `internal`, to: &output.json)
                output.endLine()
            }
        }
    }
}

/// Counts over one run, or over several merged.
struct RunStatistics {
    struct Thread: Hashable { var writer: ProcessKey, thread: UInt32 }
    struct OperatorKey: Hashable { var writer: ProcessKey, op: UInt32 }
    struct OperatorCount { var count = 0, durationNanos: UInt64 = 0 }
    /// Merged operators are identified by name and call site (ids are per run).
    struct MergedOperatorKey: Hashable, Comparable {
        var name: String?, callSite: String?, op: UInt32?
        static func < (lhs: Self, rhs: Self) -> Bool {
            (lhs.name ?? "", lhs.callSite ?? "", lhs.op ?? 0) < (rhs.name ?? "", rhs.callSite ?? "", rhs.op ?? 0)
        }
    }

    var directory: String
    var names: [String] = []
    var identities: [RunIdentity] = []
    var segments = 0
    var kinds: [ReportKind: Int] = [:]
    var batches = 0
    var threads = Set<Thread>()
    var rings = Set<Thread>()
    var operatorTables: [ProcessKey: [UInt32: OperatorRecord]] = [:]
    var perOperator: [OperatorKey: OperatorCount] = [:]
    var closes: [ProcessKey: CloseStatistics] = [:]
    /// Runs merged in that ended with a close record, and runs merged in.
    var closedRuns = 0, runCount = 0
    var damagedSegments = 0
    /// Reports lost, from the loss records: per process, ring, owner thread and reason.
    struct LossKey: Hashable, Comparable {
        var writer: ProcessKey, ring: UInt32, thread: UInt32, reason: LossReason
        static func < (lhs: Self, rhs: Self) -> Bool {
            (lhs.writer.pid, lhs.ring, lhs.thread, lhs.reason.rawValue) < (rhs.writer.pid, rhs.ring, rhs.thread, rhs.reason.rawValue)
        }
    }
    struct LossTotal {
        var reports: UInt64 = 0
        var records = 0
        var first: Int64?, last: Int64?
        /// Reports lost per wall-clock second (seconds since the epoch), in order.
        var perSecond: [(second: Int64, reports: UInt64)] = []
    }
    var losses: [LossKey: LossTotal] = [:]
    /// What the reader found wrong, printed to standard error after the run's line.
    var issues: [LogIssue] = []
    private var currentRun = ProcessKey(runID: 0, pid: 0)
    private var closeTotal: CloseStatistics?

    init(directory: String) { self.directory = directory }

    mutating func add(_ entry: LogEntry) {
        switch entry {
        case .segment(let header):
            currentRun = ProcessKey(header.identity)
            if !identities.contains(where: { ProcessKey($0) == currentRun }) { identities.append(header.identity) }
            segments += 1
        case .operators(let records):
            for op in records { operatorTables[currentRun, default: [:]][op.id] = op }
        case .reports(let ring, _, _, let reports):
            batches += 1
            rings.insert(Thread(writer: currentRun, thread: ring))
            for report in reports {
                kinds[report.kind, default: 0] += 1
                threads.insert(Thread(writer: currentRun, thread: report.thread))
                let key = OperatorKey(writer: currentRun, op: report.op)
                var count = perOperator[key] ?? OperatorCount()
                count.count += 1
                if report.startNanos > 0 && report.endNanos >= report.startNanos {
                    count.durationNanos &+= report.endNanos - report.startNanos
                }
                perOperator[key] = count
            }
        case .close(let statistics):
            closes[currentRun] = statistics
        case .loss(let ring, let loss):
            let key = LossKey(writer: currentRun, ring: ring, thread: loss.thread, reason: loss.reason)
            var total = losses[key] ?? LossTotal()
            total.reports &+= loss.reports
            total.records += 1
            let identity = identities.first { ProcessKey($0) == currentRun }
            if let wall = identity?.realtimeNanos(atMonotonic: loss.monotonicNanos) {
                total.first = min(total.first ?? wall, wall)
                total.last = max(total.last ?? wall, wall)
                let second = wall >= 0 ? wall / 1_000_000_000 : (wall - 999_999_999) / 1_000_000_000
                if let lastSecond = total.perSecond.last, lastSecond.second == second {
                    total.perSecond[total.perSecond.count - 1].reports &+= loss.reports
                } else {
                    total.perSecond.append((second, loss.reports))
                }
            }
            losses[key] = total
        }
    }

    /// Adds the counts of another run (a run is closed if every process in it wrote a close record).
    mutating func merge(_ other: RunStatistics) {
        names += other.names
        identities += other.identities
        segments += other.segments
        for (kind, count) in other.kinds { kinds[kind, default: 0] += count }
        batches += other.batches
        threads.formUnion(other.threads)
        rings.formUnion(other.rings)
        for (run, table) in other.operatorTables { operatorTables[run, default: [:]].merge(table) { $1 } }
        for (key, count) in other.perOperator {
            var sum = perOperator[key] ?? OperatorCount()
            sum.count += count.count
            sum.durationNanos &+= count.durationNanos
            perOperator[key] = sum
        }
        runCount += 1
        if let otherClose = other.closeOfRun {
            closedRuns += 1
            closeTotal = closeTotal.map { sum($0, otherClose) } ?? otherClose
        }
        damagedSegments += other.damagedSegments
        for (key, total) in other.losses { losses[key] = total }
    }

    /// The close counters of a single run: summed over its processes, nil unless each one closed.
    var closeOfRun: CloseStatistics? {
        guard !identities.isEmpty, identities.allSatisfy({ closes[ProcessKey($0)] != nil }) else { return nil }
        return identities.compactMap { closes[ProcessKey($0)] }.reduce(nil) { total, next in total.map { sum($0, next) } ?? next }
    }

    /// Writes the JSON object of these counts (without a newline).
    func write(merged: Bool, includeInternal: Bool, to out: inout JSONWriter) {
        let close = merged ? (closedRuns == runCount && runCount > 0 ? closeTotal : nil) : closeOfRun
        let single = merged ? nil : identities.first
        out.beginObject()
        out.string("run", merged ? nil : names.first)
        out.hex("run_id", single?.runID)
        out.number("pid", single?.pid)
        out.key("runs")
        out.beginArray()
        for name in names { out.string(name) }
        out.endArray()
        out.string("directory", directory)
        out.utc("started_utc", identities.compactMap { $0.realtimeNanos == 0 ? nil : Int64(exactly: $0.realtimeNanos) }.min())
        out.number("segments", segments)
        out.number("reports", kinds.values.reduce(0, +))
        out.number("entries", kinds[.entry] ?? 0)
        out.number("checkpoints", kinds[.checkpoint] ?? 0)
        out.number("pokes", kinds[.poke] ?? 0)
        out.number("threads", threads.count)
        out.key("operators")
        out.beginArray()
        if merged { writeMergedOperators(to: &out) } else { writeOperators(to: &out) }
        out.endArray()
        out.bool("closed", close != nil)
        out.number("written", close?.written)
        out.number("committed", close?.committed)
        out.number("dropped", close?.dropped)
        out.number("sampled", close?.sampled)
        out.number("drained", close?.drained)
        out.number("sink_errors", close?.sinkErrors)
        out.number("damaged_segments", damagedSegments)
        writeLosses(to: &out)
        if includeInternal {
            out.number("batches", batches)
            out.number("rings", rings.count)
            out.number("close_batches", close?.batches)
            out.number("close_threads", close?.threads)
        }
        out.endObject()
    }

    /// `losses`: what the loss records say was lost, per process, ring, owner thread and reason,
    /// with the first and last time a loss was seen and the reports lost per second.
    private func writeLosses(to out: inout JSONWriter) {
        out.key("losses")
        out.beginArray()
        for key in losses.keys.sorted() {
            guard let total = losses[key] else { continue }
            out.beginObject()
            out.number("pid", key.writer.pid)
            out.number("ring", key.ring == LossRecord.noRing ? nil : key.ring)
            out.number("thread", key.thread == 0 ? nil : key.thread)
            out.string("reason", key.reason.name)
            out.number("reports", total.reports)
            out.number("records", total.records)
            out.utc("first_utc", total.first)
            out.utc("last_utc", total.last)
            out.key("per_second")
            out.beginArray()
            for entry in total.perSecond {
                out.beginObject()
                out.utc("second_utc", entry.second * 1_000_000_000)
                out.number("reports", entry.reports)
                out.endObject()
            }
            out.endArray()
            out.endObject()
        }
        out.endArray()
    }

    private func writeOperators(to out: inout JSONWriter) {
        let order = identities.map(ProcessKey.init)
        let keys = perOperator.keys.sorted {
            let (left, right) = (order.firstIndex(of: $0.writer) ?? 0, order.firstIndex(of: $1.writer) ?? 0)
            return left != right ? left < right : $0.op < $1.op
        }
        for key in keys {
            let record = operatorTables[key.writer]?[key.op]
            Self.writeOperator(op: key.op, record?.name, record?.callSite, perOperator[key] ?? OperatorCount(), to: &out)
        }
    }

    private func writeMergedOperators(to out: inout JSONWriter) {
        var merged: [MergedOperatorKey: (ops: Set<UInt32>, count: OperatorCount)] = [:]
        for (key, count) in perOperator {
            let record = operatorTables[key.writer]?[key.op]
            // Operators without a name can only be told apart by id.
            let mergedKey = MergedOperatorKey(name: record?.name, callSite: record?.callSite, op: record == nil ? key.op : nil)
            var entry = merged[mergedKey] ?? ([], OperatorCount())
            entry.ops.insert(key.op)
            entry.count.count += count.count
            entry.count.durationNanos &+= count.durationNanos
            merged[mergedKey] = entry
        }
        for key in merged.keys.sorted() {
            let entry = merged[key] ?? ([], OperatorCount())
            Self.writeOperator(op: entry.ops.count == 1 ? entry.ops.first : nil, key.name, key.callSite, entry.count, to: &out)
        }
    }

    private static func writeOperator(
        op: UInt32?, _ name: String?, _ callSite: String?, _ count: OperatorCount, to out: inout JSONWriter
    ) {
        out.beginObject()
        out.number("op", op)
        out.string("name", name)
        out.string("call_site", callSite.flatMap { $0.isEmpty ? nil : $0 })
        out.number("reports", count.count)
        out.number("total_duration_ns", count.durationNanos)
        out.endObject()
    }
}

private func sum(_ a: CloseStatistics, _ b: CloseStatistics) -> CloseStatistics {
    CloseStatistics(
        written: a.written &+ b.written, committed: a.committed &+ b.committed, dropped: a.dropped &+ b.dropped,
        sampled: a.sampled &+ b.sampled, drained: a.drained &+ b.drained, sinkErrors: a.sinkErrors &+ b.sinkErrors,
        batches: a.batches &+ b.batches, threads: a.threads &+ b.threads)
}
