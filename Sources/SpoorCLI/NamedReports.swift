import SpoorLog

/// Reads every report of one run, each with the name of its operator as the writing process
/// registered it ("name (call site)", or "name" without a call site; "op<N>" if the log holds no
/// name), in log order. Read issues go to standard error.
func readNamedReports(_ run: LogRun, _ body: (Report, String) -> Void) throws {
    var names: [ProcessKey: [UInt32: String]] = [:]
    var process: ProcessKey?
    try LogReader(directory: run.directory).read(issues: { warn("\($0)") }) { entry in
        switch entry {
        case .segment(let header):
            process = ProcessKey(header.identity)
        case .operators(let list):
            guard let process else { return }
            for op in list { names[process, default: [:]][op.id] = op.callSite.isEmpty ? op.name : "\(op.name) (\(op.callSite))" }
        case .reports(_, _, _, let reports):
            guard let process else { return }
            let table = names[process]
            for report in reports { body(report, table?[report.op] ?? "op\(report.op)") }
        default:
            break
        }
    }
}
