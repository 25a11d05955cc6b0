import ArgumentParser
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SpoorReconstruction
import SpoorSupport

struct Replay: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Replay traces through the reconstruction and the detector, flat out or at a rate; print the throughput.",
        discussion: """
            Reads the inputs once into memory and orders their items as a live source would \
            (events across traces in time order, each edge after its ends, and an end marker \
            after each trace's last item; --as-read keeps the inputs' order), then feeds them \
            --multiply times, each \
            copy with fresh trace ids, through the streaming reconstruction (assembly, \
            signatures, and classification against --model, or online learning of the first \
            copy's traces), flat out or paced at --rate events per second, with a progress bar \
            on standard error (when it is a terminal, or with --progress), and prints one JSON \
            line: events (nodes) and items replayed, seconds of wall and CPU time, events per \
            second, traces assembled and anomalies flagged, the peak resident memory, and with \
            --latency the report-to-verdict latency: from the arrival of a trace's last item to \
            its verdict (p50, p99, max over all traces and over the anomalies). This is the \
            reconstruction benchmark (bench/reconstruction/run.sh).
            """)

    @OptionGroup var input: TraceInputOptions

    @Option(help: "Replay the inputs this many times, with fresh trace ids each time.")
    var multiply: Int = 1

    @Option(help: "Classify against this model (spoor flows learn).")
    var model: String?

    @Option(help: "Events (nodes) per second to replay at; 0: flat out.")
    var rate: Double = 0

    @Flag(help: "Draw the progress bar even if standard error is not a terminal.")
    var progress = false

    @Flag(help: "Measure each trace's report-to-verdict latency (costs a table update per item).")
    var latency = false

    @Option(help: ArgumentHelp("Send the traces as X-Trace text reports over TCP to HOST:PORT (spoor collect --xtrace-listen, or any X-Trace collector) at --rate reports/s, instead of reconstructing them here.", valueName: "host:port"))
    var send: String?

    @Flag(help: "Replay the items in the order the inputs hold them (TraceBench: every event, then every edge), with no end markers: traces then close on expiry.")
    var asRead = false

    func validate() throws {
        guard rate >= 0, multiply >= 1 else { throw ValidationError("--rate is not negative, --multiply at least 1") }
    }

    func run() throws {
        var labels = LabelTable()
        var items: [TraceItem] = []
        for source in input.inputs {
            do {
                try source.read(labels: &labels, issue: { warn($0.description) }) { item, _ in items.append(item) }
            } catch let error as IngestError {
                warn(error.description)
                throw ExitCode.failure
            }
        }
        if let send {
            try sendXTrace(items, labels: labels, to: send)
            return
        }
        if !asRead { items = TraceItem.timeOrdered(items) }
        let analysis: AnalysisMode
        if let model {
            analysis = .detect(try loadModel(model))
        } else {
            analysis = .warmUp(traces: Set(items.map(\.trace)).count, model: FlowModel())
        }
        /// Outcomes arrive on worker threads: counts, and with --latency each trace's last arrival.
        final class Counter: @unchecked Sendable {
            let lock = PosixMutex()
            var anomalies = 0
            var traces = 0
            var lastArrival: [UInt64: UInt64] = [:]
            var latencies: [UInt64] = [], anomalyLatencies: [UInt64] = []
        }
        let counter = Counter()
        let measure = latency
        let reconstruction = try Reconstruction(configuration: input.configuration, analysis: analysis) { outcome in
            let anomaly = outcome.verdict?.isAnomaly == true
            let now = measure ? monotonicNanos() : 0
            counter.lock.withLock {
                counter.traces += 1
                if anomaly { counter.anomalies += 1 }
                if measure, let arrival = counter.lastArrival.removeValue(forKey: outcome.graph.trace), now >= arrival {
                    counter.latencies.append(now - arrival)
                    if anomaly { counter.anomalyLatencies.append(now - arrival) }
                }
            }
        }
        let totalEvents = items.reduce(0) { if case .node = $1 { $0 + 1 } else { $0 } } * multiply
        var bar = ProgressBar(total: totalEvents, enabled: progress || isatty(2) == 1)
        let startWall = monotonicNanos()
        let startCPU = cpuNanos()
        var events = 0
        var replayed = 0
        var lastExpiry = startWall
        let pacer = Pacer(rate: rate, start: startWall)
        var batch: [TraceItem] = []
        batch.reserveCapacity(1024)
        for copy in 0..<multiply {
            let salt = copy == 0 ? 0 : SignatureHash.mix(UInt64(copy))
            var now = monotonicNanos()
            for (position, item) in items.enumerated() {
                if position & 1023 == 0 {
                    // Items go in batches of 1024 (one call each), then the pacing and the clock.
                    reconstruction.accept(contentsOf: batch, labels: labels, now: now)
                    batch.removeAll(keepingCapacity: true)
                    now = pacer.keep(done: events)
                    if now &- lastExpiry > 100_000_000 {
                        reconstruction.expire(labels: labels, now: now)
                        lastExpiry = now
                    }
                    bar.update(done: events, now: now)
                }
                let fresh: TraceItem
                let trace: UInt64
                switch item {
                case .node(var node):
                    node.trace ^= salt
                    trace = node.trace
                    fresh = .node(node)
                    events += 1
                case .edge(let original, let from, let to):
                    trace = original ^ salt
                    fresh = .edge(trace: trace, from: from, to: to)
                case .end(let original):
                    trace = original ^ salt
                    fresh = .end(trace: trace)
                }
                if measure {
                    let arrival = monotonicNanos()
                    counter.lock.withLock { counter.lastArrival[trace] = arrival }
                }
                batch.append(fresh)
            }
            reconstruction.accept(contentsOf: batch, labels: labels, now: now)
            batch.removeAll(keepingCapacity: true)
            replayed += items.count
            if rate == 0 { reconstruction.expire(labels: labels, now: monotonicNanos()) }
        }
        let (statistics, _) = reconstruction.finish(labels: labels)
        bar.finish(done: events, now: monotonicNanos())
        let wall = Double(monotonicNanos() - startWall) / 1e9
        let cpu = Double(cpuNanos() - startCPU) / 1e9
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        var out = StandardOutput()
        out.json.beginObject()
        out.json.string("bench", "reconstruction")
        out.json.number("workers", input.workers)
        out.json.number("multiply", multiply)
        out.json.number("events", events)
        out.json.number("items", replayed)
        out.json.number("traces", statistics.assembled)
        out.json.number("anomalies", counter.lock.withLock { counter.anomalies })
        out.json.number("fractured", statistics.fractured)
        out.json.number("evicted", statistics.evicted)
        out.json.key("wall_seconds")
        out.json.bytes.append(contentsOf: "\((wall * 1000).rounded() / 1000)".utf8)
        out.json.key("cpu_seconds")
        out.json.bytes.append(contentsOf: "\((cpu * 1000).rounded() / 1000)".utf8)
        out.json.number("events_per_second", Int(Double(events) / max(wall, 1e-9)))
        out.json.number("events_per_cpu_second", Int(Double(events) / max(cpu, 1e-9)))
        out.json.number("peak_rss_kib", Int(usage.ru_maxrss))
        out.json.key("rate")
        out.json.bytes.append(contentsOf: (rate == 0 ? "null" : "\(rate)").utf8)
        if measure {
            counter.lock.withLock {
                for (name, values) in [("flag_latency", counter.latencies), ("anomaly_flag_latency", counter.anomalyLatencies)] {
                    let sorted = values.sorted()
                    func quantile(_ q: Double) -> UInt64? { sorted.isEmpty ? nil : sorted[min(sorted.count - 1, Int(Double(sorted.count) * q))] }
                    if name == "flag_latency" { out.json.key("flag_latency") } else { out.json.key("anomaly_flag_latency") }
                    out.json.beginObject()
                    out.json.number("traces", sorted.count)
                    out.json.number("p50_ns", quantile(0.5))
                    out.json.number("p99_ns", quantile(0.99))
                    out.json.number("max_ns", sorted.last)
                    out.json.endObject()
                }
            }
        }
        out.json.endObject()
        out.endLine()
        out.flush()
    }
}

extension Replay {
    /// Assembles each trace of `items`, then sends them --multiply times (fresh trace ids per
    /// copy), in order of their first event, as X-Trace text over one TCP connection, paced at
    /// --rate reports per second, with the progress bar; prints one JSON line.
    func sendXTrace(_ items: [TraceItem], labels: LabelTable, to destination: String) throws {
        var byTrace: [UInt64: (nodes: [TraceNode], edges: [(from: UInt64, to: UInt64)], first: UInt64)] = [:]
        var order: [UInt64] = []
        for item in items {
            let trace = item.trace
            if byTrace[trace] == nil {
                byTrace[trace] = ([], [], .max)
                order.append(trace)
            }
            switch item {
            case .node(let node):
                byTrace[trace]!.nodes.append(node)
                byTrace[trace]!.first = min(byTrace[trace]!.first, node.end != 0 ? node.end : node.start)
            case .edge(_, let from, let to): byTrace[trace]!.edges.append((from, to))
            case .end: break
            }
        }
        var assembler = TraceAssembler()
        var graphs: [TraceGraph] = []
        for trace in order.sorted(by: { (byTrace[$0]!.first, $0) < (byTrace[$1]!.first, $1) }) {
            var (nodes, edges, _) = byTrace[trace]!
            graphs.append(assembler.assemble(trace: trace, nodes: &nodes, edges: &edges, closure: .complete))
        }
        let descriptor = try connectTCP(destination)
        defer { close(descriptor) }
        let reportsPerCopy = graphs.reduce(0) { $0 + $1.nodes.count }
        var bar = ProgressBar(total: reportsPerCopy * multiply, enabled: progress || isatty(2) == 1)
        var buffer: [UInt8] = []
        buffer.reserveCapacity(1 << 17)
        var sent = 0, bytes = 0, traces = 0
        let start = monotonicNanos()
        let pacer = Pacer(rate: rate, start: start)
        for copy in 0..<multiply {
            let salt = copy == 0 ? 0 : SignatureHash.mix(UInt64(copy))
            for graph in graphs {
                sent += XTraceWriter.append(graph, trace: graph.trace ^ salt, labels: labels, to: &buffer)
                traces += 1
                if buffer.count >= 1 << 16 {
                    try writeAll(descriptor, buffer, to: destination)
                    bytes += buffer.count
                    buffer.removeAll(keepingCapacity: true)
                    bar.update(done: sent, now: pacer.keep(done: sent))
                }
            }
        }
        try writeAll(descriptor, buffer, to: destination)
        bytes += buffer.count
        bar.finish(done: sent, now: monotonicNanos())
        let seconds = Double(monotonicNanos() - start) / 1e9
        var out = StandardOutput()
        out.json.beginObject()
        out.json.string("bench", "replay_send")
        out.json.string("to", destination)
        out.json.number("multiply", multiply)
        out.json.number("traces", traces)
        out.json.number("reports", sent)
        out.json.number("bytes", bytes)
        out.json.key("seconds")
        out.json.bytes.append(contentsOf: "\((seconds * 1000).rounded() / 1000)".utf8)
        out.json.number("reports_per_second", Int(Double(sent) / max(seconds, 1e-9)))
        out.json.key("rate")
        out.json.bytes.append(contentsOf: (rate == 0 ? "null" : "\(rate)").utf8)
        out.json.endObject()
        out.endLine()
        out.flush()
    }

    private func connectTCP(_ destination: String) throws -> Int32 {
        guard let colon = destination.lastIndex(of: ":"), let port = UInt16(destination[destination.index(after: colon)...]) else {
            warn("--send takes HOST:PORT, not '\(destination)'")
            throw ExitCode.failure
        }
        var host = String(destination[..<colon])
        if host == "localhost" { host = "127.0.0.1" }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else {
            warn("--send: '\(host)' is not an IPv4 address")
            throw ExitCode.failure
        }
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard descriptor >= 0, connected == 0 else {
            warn("cannot connect to \(destination): \(errnoText(errno))")
            if descriptor >= 0 { close(descriptor) }
            throw ExitCode.failure
        }
        return descriptor
    }

    private func writeAll(_ descriptor: Int32, _ bytes: [UInt8], to destination: String) throws {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else {
                warn("sending to \(destination) failed: \(errnoText(errno))")
                throw ExitCode.failure
            }
            offset += written
        }
    }
}

/// CPU time of the process (all threads), in nanoseconds.
func cpuNanos() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now)
    return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
}

/// Holds a replay to `rate` items per second from `start` (0: flat out).
struct Pacer {
    let rate: Double
    let start: UInt64

    /// Sleeps off any lead of `done` items over the schedule; returns the time after.
    func keep(done: Int) -> UInt64 {
        let now = monotonicNanos()
        guard rate > 0 else { return now }
        let due = start &+ UInt64(Double(done) / rate * 1e9)
        guard due > now else { return now }
        var pause = timespec(tv_sec: Int((due - now) / 1_000_000_000), tv_nsec: Int((due - now) % 1_000_000_000))
        nanosleep(&pause, nil)
        return monotonicNanos()
    }
}

/// A progress bar on standard error, redrawn at most five times a second:
/// `[##########..........]  50%  1.6M/3.2M events  1.0M events/s  ETA 2s`.
struct ProgressBar {
    let total: Int
    let enabled: Bool
    private var started: UInt64 = 0
    private var drawn: UInt64 = 0

    init(total: Int, enabled: Bool) {
        self.total = max(total, 1)
        self.enabled = enabled
    }

    mutating func update(done: Int, now: UInt64) {
        guard enabled else { return }
        if started == 0 { started = now }
        guard now &- drawn >= 200_000_000 else { return }
        drawn = now
        draw(done: done, now: now, end: "")
    }

    mutating func finish(done: Int, now: UInt64) {
        guard enabled else { return }
        if started == 0 { started = now }
        draw(done: done, now: now, end: "\n")
    }

    private func draw(done: Int, now: UInt64, end: String) {
        let fraction = min(Double(done) / Double(total), 1)
        let filled = Int(fraction * 30)
        let seconds = Double(now &- started) / 1e9
        let speed = seconds > 0 ? Double(done) / seconds : 0
        let left = speed > 0 ? Double(total - min(done, total)) / speed : 0
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: 30 - filled)
        let line = "\r[\(bar)] \(Int(fraction * 100))%  \(Self.count(done))/\(Self.count(total)) events  \(Self.count(Int(speed)))/s  ETA \(Int(left.rounded()))s  "
        writeFully(descriptor: 2, Array((line + end).utf8))
    }

    static func count(_ value: Int) -> String {
        switch value {
        case ..<10_000: return "\(value)"
        case ..<10_000_000: return "\(Double(value / 100) / 10)k"
        default: return "\(Double(value / 100_000) / 10)M"
        }
    }
}
