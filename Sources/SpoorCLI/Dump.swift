import ArgumentParser
import SpoorLog

struct Dump: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print every report as one JSON object per line.",
        discussion: """
            Reads every run under DIR (or the runs --run selects) in run name order, and \
            within a run in log order. Every line has the same fields in the same order; \
            a value that was not recorded is null.

              run          run directory name (unique in a log root)
              run_id       run id, 16 hex digits
              pid          the traced process
              kind         entry: a record entered the traced topology;
                           checkpoint: an operator produced records from parents;
                           poke: an event on a record
              id           the record's id, 16 hex digits (for a poke, the poked
                           record); a checkpoint with fanout N minted the N
                           consecutive ids starting at id
              fanout       number of ids minted (1 for entries and pokes)
              parents      ids of the tracked inputs (empty for entries, pokes)
              op           operator id in this run's operator table
              operator     the operator's name (null if the log does not name it)
              call_site    where the operator was registered, or null
              key_hash     16 hex digits, null if the record has no key
              start_ns     when the operator's function started, CLOCK_MONOTONIC
                           ns; null if not measured (entries, pokes, or not given)
              start_utc    start_ns as ISO-8601 UTC with ns, or null
              end_ns       when it ended; entries and pokes: the event's time
              end_utc      end_ns as ISO-8601 UTC with ns, or null
              duration_ns  end_ns - start_ns; null unless both were measured
              thread       OS thread id of the writer
              partition    the writer's partition, or null
              event        pokes: shuffle_write, shuffle_read, serialize,
                           deserialize, buffer_enter, buffer_leave, network_send,
                           network_receive, filtered, exit, error or custom:N;
                           null for entries and checkpoints
              fold         written by a fold's finish (parents: the folded records)
              truncated    parents past the per-report maximum were left out
              attachment   array of {"key", "value", "encoding"} in the order
                           written: encoding utf8 (value is the text) or hex
                           (value is the bytes, two hex digits each); keys may
                           repeat

            With --internal, also segment (index), ring, pos (ring position), slots \
            and flags: where the report lies in the log; run_id, ring and pos \
            identify a report.

            Damage in the log is reported on standard error and the rest is still \
            read. A directory that holds no run, a path that does not exist or is \
            not a directory, and a --run that names no run are errors (exit status \
            1). See docs/log-format.md.
            """)

    @OptionGroup var log: LogSelection

    @Flag(help: "Add the fields that locate each report in the log: segment, ring, pos, slots, flags.")
    var `internal` = false

    func run() throws {
        try reportingFailures {
            let runs = try log.selectedRuns()
            var output = StandardOutput()
            defer { output.flush() }
            let formatter = ReportJSONFormatter(includeInternal: `internal`)
            for run in runs {
                var context = SegmentContext(runName: run.name)
                // Operator tables by run id and process: a run directory could hold the segments
                // of more than one process, each numbering its operators from 1.
                var tables: [ProcessKey: [UInt32: OperatorRecord]] = [:]
                // Each issue goes to standard error as it is found, after the lines before it.
                try LogReader(directory: run.directory).read(issues: { issue in
                    output.flush()
                    warn("\(issue)")
                }) { entry in
                    switch entry {
                    case .segment(let header):
                        if let previous = context.header { tables[ProcessKey(previous.identity)] = context.operators }
                        context.header = header
                        context.operators = tables[ProcessKey(header.identity)] ?? [:]
                    case .operators(let operators):
                        for op in operators { context.operators[op.id] = op }
                    case .reports(_, _, _, let reports):
                        for report in reports {
                            formatter.write(report, in: context, to: &output.json)
                            output.endLine()
                        }
                    default:
                        break
                    }
                }
                output.flush()
            }
        }
    }
}

/// The run id and process of a segment: the scope of its operator ids, threads and rings.
struct ProcessKey: Hashable {
    var runID: UInt64, pid: UInt32
    init(runID: UInt64, pid: UInt32) { (self.runID, self.pid) = (runID, pid) }
    init(_ identity: RunIdentity) { self.init(runID: identity.runID, pid: identity.pid) }
}
