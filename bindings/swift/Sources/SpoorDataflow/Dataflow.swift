#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Spoor
import Synchronization

/// Settings of a dataflow.
public struct DataflowConfiguration: Sendable {
    /// Instances of every stage after a shuffle.
    public var parallelism = 2
    /// Records per batch on a shuffle.
    public var batchSize = 256
    /// Batches a stage instance's input queue holds before its producers wait (backpressure).
    public var queueCapacity = 16
    /// Whether sources sample records at entry. Off: no record is ever traced and the core is
    /// never called (the untraced baseline). On: the tracing mode is `Spoor.mode` (direct or
    /// piggyback) and sampling is Spoor's; start Spoor before building the dataflow.
    public var tracing = false
    /// Stack size of each stage instance's thread in bytes; 0: the system default.
    public var threadStackBytes = 0

    /// The defaults.
    public init() {}

    /// What is wrong with these settings, if anything.
    var problem: String? {
        if parallelism < 1 { return "parallelism is \(parallelism); it must be at least 1" }
        if batchSize < 1 { return "batchSize is \(batchSize); it must be at least 1" }
        if queueCapacity < 1 { return "queueCapacity is \(queueCapacity); it must be at least 1" }
        if threadStackBytes < 0 { return "threadStackBytes is \(threadStackBytes); it must be 0 or more" }
        return nil
    }
}

/// A plan that cannot run.
public struct DataflowError: Error, CustomStringConvertible {
    /// What is wrong.
    public var description: String
}

/// A parallel dataflow in the shape of Spark and Flink: sources; stages of parallel instances on
/// threads, each running a pipeline of fused UDFs; shuffles between stages (round-robin or by
/// key, with a replaceable partitioner); a map-side combiner; reduceByKey, groupByKey, join and
/// cogroup; batch mode, or streaming with tumbling windows by count or time; bounded queues with
/// backpressure. Records travel as `Traced` values, so tracing needs no change to user code.
public final class Dataflow: @unchecked Sendable {
    /// The settings.
    public let configuration: DataflowConfiguration
    @usableFromInline var batchSize: Int { configuration.batchSize }
    @usableFromInline var parallelism: Int { configuration.parallelism }
    @usableFromInline var queueCapacity: Int { configuration.queueCapacity }
    @usableFromInline var stages: [Stage] = []
    @usableFromInline let counters = FlowCounters()
    let stopFlag = StopFlag()
    private let running = Locked<Bool>(false)

    /// An empty plan.
    public init(_ configuration: DataflowConfiguration = DataflowConfiguration()) {
        self.configuration = configuration
    }

    @usableFromInline
    func add(_ stage: Stage) { stages.append(stage) }

    /// A source of `parallelism` instances; `body` runs once per instance and emits records
    /// through its context, until its input ends (batch) or `isStopped` (streaming).
    @inlinable
    public func source<Element: Sendable>(
        _ name: String, parallelism: Int = 1, windowing: Windowing = .none,
        _ body: @escaping @Sendable (SourceContext<Element>) -> Void
    ) -> DataStream<Element> {
        let stage = makeSource(name, parallelism: parallelism, windowing: windowing, body)
        return DataStream(flow: self, stage: stage) { index, chain in stage.heads.set(index, chain) }
    }

    @usableFromInline
    func makeSource<Element: Sendable>(
        _ name: String, parallelism: Int, windowing: Windowing, _ body: @escaping @Sendable (SourceContext<Element>) -> Void
    ) -> SourceStage<Element> {
        let stage = SourceStage(name: name, parallelism: parallelism, windowing: windowing, body: body)
        add(stage)
        return stage
    }

    /// A source over an in-memory collection, split evenly among the instances.
    @inlinable
    public func source<Elements: Collection & Sendable>(
        _ name: String, _ elements: Elements, parallelism: Int = 1, windowing: Windowing = .none,
        keyHash: (@Sendable (Elements.Element) -> UInt64)? = nil
    ) -> DataStream<Elements.Element> where Elements.Element: Sendable {
        source(name, parallelism: parallelism, windowing: windowing) { context in
            var index = 0
            for element in elements {
                if index % context.parallelism == context.instance {
                    if context.isStopped { return }
                    context.emit(element, keyHash: keyHash?(element) ?? 0)
                }
                index += 1
            }
        }
    }

    /// Runs the plan: one thread per stage instance; returns when every source has finished and
    /// every stage has drained. Throws if the plan is incomplete.
    public func run() throws(DataflowError) {
        let alreadyRunning = running.withLock { state -> Bool in
            defer { state = true }
            return state
        }
        guard !alreadyRunning else { throw DataflowError(description: "a dataflow runs once") }
        if let problem = configuration.problem { throw DataflowError(description: "bad configuration: \(problem)") }
        if let stage = stages.first(where: { $0.parallelism < 1 }) {
            throw DataflowError(description: "stage '\(stage.name)' has parallelism \(stage.parallelism); it must be at least 1")
        }
        if let problem = stages.lazy.compactMap({ $0.planProblem() }).first { throw DataflowError(description: problem) }
        // Every thread waits at the gate until all have started: if one cannot start, the
        // others return without running, and run() fails instead of waiting on a stage that
        // will never produce or consume.
        let gate = StartGate()
        var threads: [WorkerThread] = []
        var failure: (stage: String, index: Int, code: Int32)?
        start: for stage in stages {
            for index in 0..<stage.parallelism {
                switch WorkerThread.start(gate: gate, stackBytes: configuration.threadStackBytes, stage.worker(index, flow: self)) {
                case .success(let thread): threads.append(thread)
                case .failure(let error):
                    failure = (stage.name, index, error.code)
                    break start
                }
            }
        }
        gate.open(run: failure == nil)
        for thread in threads { thread.join() }
        if let failure {
            throw DataflowError(
                description: "could not start a thread for stage '\(failure.stage)' instance \(failure.index): \(String(cString: strerror(failure.code)))")
        }
    }

    /// Asks streaming sources to return (they see `isStopped`); `run` then drains and returns.
    public func stop() {
        stopFlag.set()
    }

    /// UDF calls that threw (their records were dropped and poked with an error event).
    public var udfErrors: Int { counters.udfErrors.load(ordering: .relaxed) }
}
