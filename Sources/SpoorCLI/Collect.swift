import ArgumentParser
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SpoorLog
import SpoorReconstruction
import SpoorRuntime
import Synchronization
import SpoorSupport

struct Collect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Drain the rings of every traced process of this user on the host into their logs, live.",
        discussion: """
            Finds the shared-memory segment of every process of this user that traces with \
            libspoor (C, Swift, Python workers, JVM executors), whether it started before or \
            after the collector, takes its rings over through the segment's consumer lease \
            (docs/shm-layout.md) and drains them into that run's log, where the process's own \
            collector thread would have written them. Segments of other users and of unknown \
            layout versions are refused. A producer that dies is drained to the end and its run \
            finished; a collector killed and restarted loses and duplicates nothing. The rings \
            go back to their processes at SIGTERM or SIGINT.

            The reports also stream through the live reconstruction (traces = forward lineage \
            of each sampled entry); with --model each completed trace is classified and every \
            anomaly is printed as a JSON line on standard output with its explanation. A status \
            line (segments, reports/s, open traces, anomalies, drops) goes to standard error \
            every second, or to --status-file.
            """)

    @Option(help: "Milliseconds between passes while idle (a pass that finds a ring a quarter full is followed at once).")
    var intervalMs: Int = 5

    @Option(help: "Classify completed traces against this model (spoor flows learn) and print the anomalies.")
    var model: String?

    @Option(help: "Seconds without a new report after which an open trace is assembled.")
    var expiry: Double = 5

    @Option(help: "Open traces at most (memory bound of the live reconstruction).")
    var maxOpenTraces: Int = 100_000

    @Flag(help: "No live reconstruction: only drain into the logs.")
    var noReconstruction = false

    @Option(name: .customLong("xtrace-listen"), help: ArgumentHelp("Also take X-Trace text reports over TCP on 127.0.0.1:PORT (0: any free port, named on standard error) into the live reconstruction and the detector: other systems' traces, or spoor replay --send.", valueName: "port"))
    var xTraceListen: UInt16?

    @Flag(help: "Drain what the processes running now have committed, hand the rings back and exit; print one JSON line with the drain rate.")
    var once = false

    @Flag(help: "Run in the background (detached from the terminal); see --pid-file and --status-file.")
    var daemon = false

    @Option(help: "Write the collector's pid here (with --daemon).")
    var pidFile: String?

    @Option(help: "Write the status line here, replacing it every second, instead of standard error.")
    var statusFile: String?

    @Option(help: "Where POSIX shared memory appears.")
    var shmDirectory: String = "/dev/shm"

    @Option(help: "Only segments whose name starts with this (without the leading '/'), for example 'spoor.'.")
    var segmentPrefix: String = ""

    func validate() throws {
        guard (0...10_000).contains(intervalMs) else { throw ValidationError("--interval-ms is 0 to 10000") }
        guard expiry > 0, maxOpenTraces > 0 else { throw ValidationError("--expiry and --max-open-traces are positive") }
        guard !(daemon && once) else { throw ValidationError("--daemon and --once exclude each other") }
        guard !(noReconstruction && xTraceListen != nil) else { throw ValidationError("--xtrace-listen feeds the live reconstruction: it excludes --no-reconstruction") }
    }

    func run() throws {
        if daemon { try daemonize() }
        if let pidFile { try writeFile(pidFile, Array("\(getpid())\n".utf8)) }
        // SIGTERM and SIGINT: finish the pass, hand every ring back and exit.
        StopSignal.install()

        let live = try noReconstruction ? nil : LiveReconstruction(model: model, expiry: expiry, maxOpenTraces: maxOpenTraces)
        let xTrace = try xTraceListen.map { port in try live!.serveXTrace(port: port, model: model, expiry: expiry, maxOpenTraces: maxOpenTraces) }
        var options = HostCollector.Options()
        options.sharedMemoryDirectory = shmDirectory
        options.namePrefix = segmentPrefix
        let collector = HostCollector(
            options: options,
            onOperators: live.map { live in { run, operators in live.define(run: run, operators) } },
            onBatch: live.map { live in { run, ring, first, second, count in live.add(run: run, ring: ring, first, second, count) } })
        var status = StatusLine(file: statusFile)
        let started = monotonicNanos()
        var drainNanos: UInt64 = 0
        var drained: UInt64 = 0
        var idleSince: UInt64? = nil
        while !StopSignal.isRequested {
            let passStart = monotonicNanos()
            let step = collector.step()
            if step.reports > 0 {
                drainNanos &+= monotonicNanos() &- passStart
                drained &+= step.reports
            }
            for event in collector.takeEvents() { status.event(event.description) }
            live?.expire()
            status.update(collector.currentTotals(), live: live, now: monotonicNanos())
            if once {
                // Done once every segment found is attached and empty (or settled otherwise),
                // and a scan has run since the last report.
                if collector.pending == 0 && collector.drainedEverything && step.reports == 0 {
                    if let since = idleSince, monotonicNanos() &- since > 300_000_000 { break }
                    if idleSince == nil { idleSince = monotonicNanos() }
                } else {
                    idleSince = nil
                }
            }
            if !step.backlog && step.reports == 0 && intervalMs > 0 {
                var pause = timespec(tv_sec: 0, tv_nsec: Int(intervalMs) * 1_000_000)
                _ = nanosleep(&pause, nil)
            }
        }
        collector.shutdown()
        for event in collector.takeEvents() { status.event(event.description) }
        let totals = collector.currentTotals()
        xTrace?.stop()
        live?.finish()
        status.finish(totals, live: live)
        if once {
            var out = StandardOutput()
            out.json.beginObject()
            out.json.string("bench", "collect_drain")
            out.json.number("reports", Int(drained))
            out.json.key("drain_seconds")
            out.json.bytes.append(contentsOf: "\(Double(drainNanos) / 1e9)".utf8)
            out.json.number("reports_per_second", Int(Double(drained) / max(Double(drainNanos) / 1e9, 1e-9)))
            out.json.key("wall_seconds")
            out.json.bytes.append(contentsOf: "\(Double(monotonicNanos() &- started) / 1e9)".utf8)
            out.json.number("dead_producers", totals.deadProducers)
            out.json.endObject()
            out.endLine()
            out.flush()
        }
    }

    /// Detaches from the terminal: fork, new session, fork again, standard streams to /dev/null.
    private func daemonize() throws {
        func forkOrFail() throws -> pid_t {
            let pid = fork()
            guard pid >= 0 else { throw CleanExit.message("spoor collect: fork failed: \(errnoText(errno))") }
            return pid
        }
        if try forkOrFail() > 0 { Glibc.exit(0) }
        _ = setsid()
        if try forkOrFail() > 0 { Glibc.exit(0) }
        let null = open("/dev/null", O_RDWR)
        if null >= 0 {
            _ = dup2(null, 0)
            _ = dup2(null, 1)
            _ = dup2(null, 2)
            if null > 2 { _ = close(null) }
        }
    }
}

/// The reports the collector drains, rebuilt into traces as they arrive (the forward lineage of
/// each sampled entry, `SpoorReportTracer`), and classified against a model if one is given.
final class LiveReconstruction {
    private var labels = LabelTable()
    private var tracer = SpoorReportTracer()
    private let reconstruction: Reconstruction
    private var runs: [UInt64: Int] = [:]
    private let verdicts: VerdictSink?
    private let counter = Counter()
    private var lastRotate = monotonicNanos()
    private let expiryNanos: UInt64

    final class Counter: @unchecked Sendable {
        let lock = PosixMutex()
        var anomalies = 0
        var traces = 0
    }

    init(model: String?, expiry: Double, maxOpenTraces: Int) throws {
        var configuration = ReconstructionConfiguration()
        configuration.expiryNanos = UInt64(expiry * 1e9)
        configuration.maxOpenTraces = maxOpenTraces
        configuration.workers = 1
        expiryNanos = configuration.expiryNanos
        let analysis: AnalysisMode
        if let model {
            analysis = .detect(try loadModel(model))
            verdicts = VerdictSink(printAll: false)
        } else {
            analysis = .assemble
            verdicts = nil
        }
        reconstruction = try Reconstruction(
            configuration: configuration, analysis: analysis, outcome: Self.outcomes(counter: counter, verdicts: verdicts))
    }

    /// What is done with every assembled trace: counted, and its verdict printed if anomalous.
    private static func outcomes(counter: Counter, verdicts: VerdictSink?) -> @Sendable (TraceOutcome) -> Void {
        { outcome in
            let anomaly = outcome.verdict?.isAnomaly == true
            counter.lock.withLock {
                counter.traces += 1
                if anomaly { counter.anomalies += 1 }
            }
            verdicts?.take(outcome)
        }
    }

    private func run(_ identity: RunIdentity) -> Int {
        if let known = runs[identity.runID] { return known }
        let number = runs.count + 1
        runs[identity.runID] = number
        return number
    }

    func define(run identity: RunIdentity, _ operators: [OperatorRecord]) {
        tracer.define(operators, run: run(identity), labels: &labels)
    }

    func add(run identity: RunIdentity, ring: UInt32, _ first: UnsafeRawBufferPointer, _ second: UnsafeRawBufferPointer, _ count: Int) {
        let number = run(identity)
        let now = monotonicNanos()
        for part in [first, second] where part.count > 0 {
            var slot = 0
            let slots = part.count / ReportLayout.slotSize
            while slot < slots, let (report, used) = ReportLayout.decode(part, slot: slot, ring: ring, position: 0) {
                tracer.add(report, run: number, labels: &labels) { item, labels in
                    reconstruction.accept(item, labels: labels, now: now)
                }
                slot += used
            }
        }
    }

    /// Closes traces whose records nothing consumed within the expiry, and expired traces.
    func expire() {
        let now = monotonicNanos()
        if now &- lastRotate >= expiryNanos {
            tracer.rotate(labels: &labels) { item, labels in reconstruction.accept(item, labels: labels, now: now) }
            lastRotate = now
        }
        reconstruction.expire(labels: labels, now: now)
    }

    func finish() {
        tracer.finish(labels: &labels) { item, labels in reconstruction.accept(item, labels: labels, now: monotonicNanos()) }
        _ = reconstruction.finish(labels: labels)
        verdicts?.flush()
    }

    /// Starts a thread that takes X-Trace text reports over TCP on 127.0.0.1:`port` into a
    /// reconstruction of its own (its labels are its own stream's), classified against the same
    /// model, its verdicts printed and counted with the Spoor reports'.
    func serveXTrace(port: UInt16, model: String?, expiry: Double, maxOpenTraces: Int) throws -> XTraceService {
        var configuration = ReconstructionConfiguration()
        configuration.expiryNanos = UInt64(expiry * 1e9)
        configuration.maxOpenTraces = maxOpenTraces
        let analysis: AnalysisMode = try model.map { .detect(try loadModel($0)) } ?? .assemble
        let reconstruction = try Reconstruction(
            configuration: configuration, analysis: analysis, outcome: Self.outcomes(counter: counter, verdicts: verdicts))
        let service = XTraceService(reconstruction: reconstruction)
        try service.start(port: port)
        xTrace = service
        return service
    }

    private var xTrace: XTraceService?

    var openTraces: Int { reconstruction.statistics.open + (xTrace?.openTraces ?? 0) }
    var anomalies: Int { counter.lock.withLock { counter.anomalies } }
    var traces: Int { counter.lock.withLock { counter.traces } }
}

/// The collector's X-Trace input: a thread running the TCP listener into its reconstruction until
/// `stop` (or SIGTERM/SIGINT); what has arrived by then is still taken.
final class XTraceService: @unchecked Sendable {
    private let reconstruction: Reconstruction
    private let stopping = Atomic<Bool>(false)
    private let open = Atomic<Int>(0)
    private var thread: OSThread?

    init(reconstruction: Reconstruction) { self.reconstruction = reconstruction }

    var openTraces: Int { open.load(ordering: .relaxed) }

    func start(port: UInt16) throws {
        let reconstruction = self.reconstruction
        let started = OSThread.start(name: "spoor-xtrace") { [self] in
            var labels = LabelTable()
            let control = LiveControl(
                stop: { StopSignal.isRequested || self.stopping.load(ordering: .relaxed) },
                listening: { warn("collect: listening for X-Trace reports on \($0)") },
                idle: { labels in
                    reconstruction.expire(labels: labels, now: monotonicNanos())
                    self.open.store(reconstruction.statistics.open, ordering: .relaxed)
                })
            do {
                try TraceInput.xTraceListen(XTraceEndpoint(port: port)).read(
                    labels: &labels, issue: { warn($0.description) }, control: control
                ) { item, labels in reconstruction.accept(item, labels: labels, now: monotonicNanos()) }
            } catch {
                warn("collect: X-Trace input: \(error)")
            }
            _ = reconstruction.finish(labels: labels)
            self.open.store(0, ordering: .relaxed)
        }
        switch started {
        case .success(let thread): self.thread = thread
        case .failure(let error): throw CleanExit.message("spoor collect: cannot start the X-Trace thread: \(error)")
        }
    }

    /// Ends the listener (after taking what has arrived) and waits for its traces' verdicts.
    func stop() {
        stopping.store(true, ordering: .relaxed)
        thread?.join()
        thread = nil
    }
}

/// The collector's status line: on standard error (rewritten in place on a terminal) or in a
/// file replaced every second. Events go on lines of their own.
struct StatusLine {
    let file: String?
    let terminal = isatty(2) != 0
    var lastUpdate: UInt64 = 0
    var lastReports: UInt64 = 0
    var pendingLine = false

    init(file: String?) { self.file = file }

    mutating func event(_ text: String) {
        if pendingLine && file == nil && terminal { writeFully(descriptor: 2, Array(("\n").utf8)) }
        pendingLine = false
        if file == nil { writeFully(descriptor: 2, Array(("spoor collect: \(text)\n").utf8)) }
    }

    mutating func update(_ totals: HostCollector.Totals, live: LiveReconstruction?, now: UInt64) {
        guard now &- lastUpdate >= 1_000_000_000 else { return }
        let seconds = lastUpdate == 0 ? 1 : Double(now &- lastUpdate) / 1e9
        let rate = Double(totals.reports &- lastReports) / seconds
        lastUpdate = now
        lastReports = totals.reports
        write(line(totals, live: live, rate: rate))
    }

    mutating func finish(_ totals: HostCollector.Totals, live: LiveReconstruction?) {
        write(line(totals, live: live, rate: nil))
        if pendingLine && file == nil { writeFully(descriptor: 2, Array(("\n").utf8)) }
        pendingLine = false
    }

    private func line(_ totals: HostCollector.Totals, live: LiveReconstruction?, rate: Double?) -> String {
        var text = "segments \(totals.attached) | "
        if let rate { text += "\(Int(rate)) reports/s | " }
        text += "reports \(totals.reports) | drops \(totals.dropped) | dead producers \(totals.deadProducers)"
        if let live { text += " | open traces \(live.openTraces) | traces \(live.traces) | anomalies \(live.anomalies)" }
        return text
    }

    private mutating func write(_ text: String) {
        if let file {
            try? writeFile(file + ".tmp", Array((text + "\n").utf8))
            _ = rename(file + ".tmp", file)
        } else if terminal {
            writeFully(descriptor: 2, Array(("\r\u{1b}[K" + text).utf8))
            pendingLine = true
        } else {
            writeFully(descriptor: 2, Array((text + "\n").utf8))
        }
    }
}
