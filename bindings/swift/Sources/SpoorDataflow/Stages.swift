import Spoor
import Synchronization

/// A stage: `parallelism` instances of one fused pipeline, each on a thread of its own.
@usableFromInline
class Stage: @unchecked Sendable {
    @usableFromInline let name: String
    @usableFromInline let parallelism: Int

    @usableFromInline
    init(name: String, parallelism: Int) {
        self.name = name
        self.parallelism = parallelism
    }

    /// A problem with the plan (an unconnected output, a second consumer), or nil.
    func planProblem() -> String? { nil }

    /// The body of instance `index`.
    func worker(_ index: Int, flow: Dataflow) -> () -> Void { {} }
}

/// Where a stage's instances keep the heads of their fused chains.
@usableFromInline
final class Heads<Element>: @unchecked Sendable {
    private var chains: [Downstream<Element>?]
    private(set) var connectedTwice = false

    @usableFromInline
    init(count: Int) { chains = Array(repeating: nil, count: max(count, 0)) }

    @usableFromInline
    func set(_ index: Int, _ chain: Downstream<Element>) {
        if chains[index] != nil { connectedTwice = true }
        chains[index] = chain
    }

    subscript(index: Int) -> Downstream<Element>? { chains[index] }
    var complete: Bool { chains.allSatisfy { $0 != nil } }
}

/// Set by `Dataflow.stop()`.
@usableFromInline
final class StopFlag: Sendable {
    @usableFromInline let flag = Atomic<Bool>(false)
    init() {}
    @inlinable var isSet: Bool { flag.load(ordering: .relaxed) }
    func set() { flag.store(true, ordering: .relaxed) }
}

/// The handle a source body uses to emit records.
public final class SourceContext<Element: Sendable>: @unchecked Sendable {
    /// This instance's index.
    public let instance: Int
    /// How many instances the source has.
    public let parallelism: Int
    @usableFromInline let head: Downstream<Element>
    @usableFromInline let op: Operator
    @usableFromInline let tracing: Bool
    @usableFromInline let windowing: Windowing
    @usableFromInline let stopFlag: StopFlag
    @usableFromInline var window: UInt64 = 0
    @usableFromInline var inWindow = 0
    @usableFromInline let windowSize: Int
    @usableFromInline let windowNanos: UInt64
    @usableFromInline let startNanos: UInt64

    init(instance: Int, parallelism: Int, head: Downstream<Element>, op: Operator, tracing: Bool, windowing: Windowing, flow: Dataflow) {
        self.instance = instance
        self.parallelism = parallelism
        self.head = head
        self.op = op
        self.tracing = tracing
        self.windowing = windowing
        self.stopFlag = flow.stopFlag
        switch windowing {
        case .none:
            windowSize = .max
            windowNanos = 0
        case .count(let size):
            windowSize = max(size, 1)
            windowNanos = 0
        case .time(let milliseconds):
            windowSize = .max
            windowNanos = UInt64(max(milliseconds, 1)) * 1_000_000
        }
        self.startNanos = SpoorClock.now()
    }

    /// Whether `Dataflow.stop()` was called: a streaming source should return.
    @inlinable
    public var isStopped: Bool { stopFlag.isSet }

    /// Emits a record: sampled at entry (key-hash sampling decides on `keyHash`), assigned to the
    /// current window, pushed through the stage's fused pipeline.
    @inlinable
    public func emit(_ value: Element, keyHash: UInt64 = 0) {
        if _slowPath(windowNanos != 0) {
            let due = (SpoorClock.now() &- startNanos) / windowNanos
            while window < due { closeWindow() }
        }
        head.emit(tracing ? Traced.enter(value, at: op, keyHash: keyHash) : Traced(untracked: value), window)
        inWindow &+= 1
        if _slowPath(inWindow >= windowSize) { closeWindow() }
    }

    /// Closes the current window now.
    @inlinable
    public func closeWindow() {
        head.watermark(window)
        window += 1
        inWindow = 0
    }

    func finish() {
        if case .none = windowing {} else if inWindow > 0 { closeWindow() }
        head.finish()
    }
}

@usableFromInline
final class SourceStage<Element: Sendable>: Stage, @unchecked Sendable {
    let op: Operator
    let windowing: Windowing
    let body: @Sendable (SourceContext<Element>) -> Void
    @usableFromInline let heads: Heads<Element>

    init(name: String, parallelism: Int, windowing: Windowing, body: @escaping @Sendable (SourceContext<Element>) -> Void) {
        self.op = Operator(name, callSite: "source:\(name)")
        self.windowing = windowing
        self.body = body
        self.heads = Heads(count: parallelism)
        super.init(name: name, parallelism: parallelism)
    }

    override func planProblem() -> String? {
        if heads.connectedTwice { return "source '\(name)' feeds two consumers" }
        return heads.complete ? nil : "source '\(name)' has no consumer (end it with a sink)"
    }

    override func worker(_ index: Int, flow: Dataflow) -> () -> Void {
        guard let head = heads[index] else { return {} }
        let context = SourceContext(
            instance: index, parallelism: parallelism, head: head, op: op, tracing: flow.configuration.tracing,
            windowing: windowing, flow: flow)
        let body = self.body
        return {
            Spoor.setPartition(UInt32(index))
            body(context)
            context.finish()
        }
    }
}

/// A stage fed by a shuffle: one bounded input queue per instance, fed by every instance of the
/// upstream stage(s). A window closes at an instance when every producer has passed it.
@usableFromInline
final class ChannelStage<Element: Sendable>: Stage, @unchecked Sendable {
    @usableFromInline let queues: [BoundedQueue<Message<Element>>]
    @usableFromInline let heads: Heads<Element>
    @usableFromInline let readOp: Operator
    @usableFromInline var producers = 0

    @usableFromInline
    init(name: String, parallelism: Int, queueCapacity: Int) {
        // A parallelism below 1 is refused by Dataflow.run(); build nothing for it meanwhile.
        queues = (0..<max(parallelism, 0)).map { _ in BoundedQueue(capacity: queueCapacity) }
        heads = Heads(count: parallelism)
        readOp = Operator(name, callSite: "shuffle:\(name)")
        super.init(name: name, parallelism: parallelism)
    }

    override func planProblem() -> String? {
        if heads.connectedTwice { return "stage '\(name)' feeds two consumers" }
        if producers == 0 { return "stage '\(name)' has no producer" }
        return heads.complete ? nil : "stage '\(name)' has no consumer (end it with a sink)"
    }

    override func worker(_ index: Int, flow: Dataflow) -> () -> Void {
        guard let head = heads[index] else { return {} }
        let queue = queues[index]
        let producers = self.producers
        return {
            Spoor.setPartition(UInt32(index))
            var passed: [UInt64: Int] = [:]
            var ended = 0
            while ended < producers {
                switch queue.pop() {
                case .batch(let window, let records):
                    head.emitBatch(window, records)
                case .watermark(let window):
                    passed[window, default: 0] += 1
                    if passed[window] == producers {
                        passed.removeValue(forKey: window)
                        head.watermark(window)
                    }
                case .end:
                    ended += 1
                }
            }
            head.finish()
        }
    }
}
