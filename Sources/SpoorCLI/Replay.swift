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
        abstract: "Replay traces flat out through the reconstruction and the detector; print the throughput.",
        discussion: """
            Reads the inputs once into memory, then feeds their items --multiply times, each \
            copy with fresh trace ids, through the streaming reconstruction (assembly, \
            signatures, and classification against --model, or online learning of the first \
            copy's traces with --warm-up), and prints one JSON line: events (nodes) and items \
            replayed, seconds of wall and CPU time, events per second, traces assembled and \
            anomalies flagged, and the peak resident memory. This is the reconstruction \
            benchmark (bench/reconstruction.sh); the collector's live ingest is not involved.
            """)

    @OptionGroup var input: TraceInputOptions

    @Option(help: "Replay the inputs this many times, with fresh trace ids each time.")
    var multiply: Int = 1

    @Option(help: "Classify against this model (spoor flows learn).")
    var model: String?

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
        let analysis: AnalysisMode
        if let model {
            analysis = .detect(try loadModel(model))
        } else {
            analysis = .warmUp(traces: Set(items.map(\.trace)).count, model: FlowModel())
        }
        final class Counter: @unchecked Sendable {
            let lock = PosixMutex()
            var anomalies = 0
            var traces = 0
        }
        let counter = Counter()
        let reconstruction = try Reconstruction(configuration: input.configuration, analysis: analysis) { outcome in
            let anomaly = outcome.verdict?.isAnomaly == true
            counter.lock.withLock {
                counter.traces += 1
                if anomaly { counter.anomalies += 1 }
            }
        }
        let startWall = monotonicNanos()
        let startCPU = cpuNanos()
        var events = 0
        var replayed = 0
        for copy in 0..<max(multiply, 1) {
            let salt = copy == 0 ? 0 : SignatureHash.mix(UInt64(copy))
            let now = monotonicNanos()
            for item in items {
                let fresh: TraceItem
                switch item {
                case .node(var node):
                    node.trace ^= salt
                    fresh = .node(node)
                    events += 1
                case .edge(let trace, let from, let to):
                    fresh = .edge(trace: trace ^ salt, from: from, to: to)
                case .end(let trace):
                    fresh = .end(trace: trace ^ salt)
                }
                reconstruction.accept(fresh, labels: labels, now: now)
            }
            replayed += items.count
            reconstruction.expire(labels: labels, now: monotonicNanos())
        }
        let (statistics, _) = reconstruction.finish(labels: labels)
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
        out.json.endObject()
        out.endLine()
        out.flush()
    }
}

/// CPU time of the process (all threads), in nanoseconds.
func cpuNanos() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now)
    return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
}
