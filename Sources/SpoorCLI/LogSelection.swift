import ArgumentParser
import SpoorLog
import SpoorRuntime

/// The log a command reads: a path and the runs selected in it.
struct LogSelection: ParsableArguments {
    @Argument(help: ArgumentHelp(
        "A run directory, or a log root (a directory of run directories, such as SPOOR_DIR).",
        valueName: "dir"))
    var directory: String

    @Option(
        name: .customLong("run"),
        help: ArgumentHelp(
            "Read only this run (repeat for several): a run directory name such as 20261202T063924Z-1234-89abcdef, its 8-digit id suffix 89abcdef, or the 16-digit run id. Default: every run.",
            valueName: "name"))
    var runs: [String] = []

    @Flag(name: .customLong("no-recover"), help: "Do not first drain what dead processes left in shared memory for this directory.")
    var noRecover = false

    /// The selected runs, in name order; throws (with a message) if there are none. First drains
    /// the shared-memory segments of dead processes that logged here (a worker killed with
    /// SIGKILL), so that the runs read are whole; says so on standard error.
    func selectedRuns() throws -> [LogRun] {
        if !noRecover {
            let swept = SegmentRecovery.recoverDead(under: directory)
            if swept.segments > 0 {
                warn("recovered \(swept.reports) reports from \(swept.segments) segment\(swept.segments == 1 ? "" : "s") of dead processes")
            }
            for failure in swept.failures { warn("could not recover \(failure)") }
        }
        return try LogRoot.runs(at: directory, selecting: runs)
    }
}

/// Runs `body`, turning a log error into a message on standard error and exit status 1.
func reportingFailures(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let error as LogError {
        warn(error.description)
        throw ExitCode.failure
    }
}
