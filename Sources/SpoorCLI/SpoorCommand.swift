import ArgumentParser
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SpoorLog
import SpoorRuntime
import SpoorSupport

/// The `spoor` command-line tool.
@main
struct SpoorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "spoor",
        abstract: "Read and recover Spoor lineage traces.",
        discussion: """
            A traced program writes its log under a log root (SPOOR_DIR, by default spoor-traces): \
            one run directory per process start, named TIME-PID-XXXXXXXX (UTC start time, process \
            id, last 8 hex digits of the run id), holding segment files. The commands that read a \
            log take a run directory or a log root, and --run NAME to pick runs in it.

            A report is one lineage event: an entry (a record entered the traced topology), a \
            checkpoint (an operator produced records from its parents) or a poke (an event on a \
            record). Record ids are 16 hex digits and unique across runs, so a record of one \
            process can be the parent of a record of another. dump prints the reports, stats \
            counts them, recover saves the reports of a process that died.

            Output is JSON, one object per line, with the same fields in the same order on every \
            line and null for what was not recorded; 'spoor help dump' and 'spoor help stats' \
            describe the fields, docs/log-format.md in full. Errors go to standard error as \
            'spoor: ...' with exit status 1; a wrong command line exits with status 64.
            """,
        subcommands: [Dump.self, Stats.self, Recover.self, Collect.self, Index.self, Lineage.self, Flows.self, RunReport.self, Replay.self, Skew.self])
}

/// Buffered standard output (print per line would dominate a large dump).
struct StandardOutput {
    /// The line being written and the lines not yet flushed.
    var json = JSONWriter()

    mutating func writeLine(_ line: String) {
        json.bytes.append(contentsOf: line.utf8)
        endLine()
    }

    /// Ends the line written into `json`.
    mutating func endLine() {
        json.bytes.append(0x0a)
        if json.bytes.count >= 1 << 16 { flush() }
    }

    mutating func flush() {
        writeFully(descriptor: 1, json.bytes)
        json.bytes.removeAll(keepingCapacity: true)
    }
}

func warn(_ message: String) {
    writeFully(descriptor: 2, Array("spoor: \(message)\n".utf8))
}

func writeFully(descriptor: Int32, _ bytes: [UInt8]) {
    bytes.withUnsafeBytes { raw in
        guard let base = raw.baseAddress else { return }
        var offset = 0
        while offset < raw.count {
            guard let written = try? syscall("write", { write(descriptor, base + offset, raw.count - offset) }),
                  written > 0
            else { return }
            offset += written
        }
    }
}

struct Recover: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Drain the shared-memory segment of a process that died into its log.",
        discussion: """
            Reports the dead process had committed to its rings but the collector had not yet \
            written are appended to the run directory recorded in the segment (or --out), without \
            duplicates; then the segment is unlinked. Prints one JSON object:

              run_directory         where the reports went
              recovered             reports this command drained from the segment
              drained_by_collector  reports the dead process's collector had logged
              damaged_rings         indices of rings holding a malformed report
                                    (the rest of such a ring was skipped)
            """)

    @Argument(help: "The segment name, e.g. /spoor.1234.89abcdef (see /dev/shm).")
    var name: String

    @Option(help: "Write into this run directory instead of the one recorded in the segment.")
    var out: String?

    @Flag(help: "Drain even if the owning process still runs.")
    var force = false

    @Flag(help: "Leave the segment in /dev/shm afterwards.")
    var keep = false

    @Flag(help: "Recover a segment that belongs to another user (as root); its files are given to that user.")
    var allowOtherOwner = false

    func run() throws {
        let summary = try SegmentRecovery.recover(
            name: name, outputDirectory: out, force: force, keepSegment: keep, allowOtherOwner: allowOtherOwner)
        print("{\"run_directory\":\(jsonString(summary.runDirectory)),\"recovered\":\(summary.reports),\"drained_by_collector\":\(summary.drainedByCollector),\"damaged_rings\":\(summary.damagedRings),\"invalid_reports\":\(summary.invalidReports)}")
    }
}
