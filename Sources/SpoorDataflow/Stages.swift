import Spoor
import Synchronization

/// A stage: `parallelism` instances of one fused pipeline, each on a thread of its own.
class Stage: @unchecked Sendable {
    let name: String
    let parallelism: Int

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
final class Heads<Element: Sendable>: @unchecked Sendable {
    private var nodes: [Node<Element>?]
    private(set) var connectedTwice = false

    init(count: Int) { nodes = Array(repeating: nil, count: count) }

    func set(_ index: Int, _ node: Node<Element>) {
        if nodes[index] != nil { connectedTwice = true }
        nodes[index] = node
    }

    subscript(index: Int) -> Node<Element>? { nodes[index] }
    var complete: Bool { nodes.allSatisfy { $0 != nil } }
}

/// The handle a source body uses to emit records.
public final class SourceContext<Element: Sendable>: @unchecked Sendable {
    /// This instance's index.
    public let instance: Int
    /// How many instances the source has.
    public let parallelism: Int
    let head: Node<Element>
    let op: Operator
    let tracing: Bool
    let windowing: Windowing
    let flow: Dataflow
    private var window: UInt64 = 0
    private var inWindow = 0
    private let startNanos: UInt64

    init(instance: Int, parallelism: Int, head: Node<Element>, op: Operator, tracing: Bool, windowing: Windowing, flow: Dataflow) {
        self.instance = instance
        self.parallelism = parallelism
        self.head = head
        self.op = op
        self.tracing = tracing
        self.windowing = windowing
        self.flow = flow
        self.startNanos = SpoorClock.now()
    }

    /// Whether `Dataflow.stop()` was called: a streaming source should return.
    public var isStopped: Bool { flow.stopRequested.load(ordering: .relaxed) }

    /// Emits a record: sampled at entry (key-hash sampling decides on `keyHash`), assigned to the
    /// current window, pushed through the stage's fused pipeline.
    public func emit(_ value: Element, keyHash: UInt64 = 0) {
        if case .time(let milliseconds) = windowing {
            let due = (SpoorClock.now() &- startNanos) / (UInt64(max(milliseconds, 1)) * 1_000_000)
            while window < due { closeWindow() }
        }
        head.emit(tracing ? Traced.enter(value, at: op, keyHash: keyHash) : Traced(untracked: value), window: window)
        inWindow += 1
        if case .count(let size) = windowing, inWindow >= size { closeWindow() }
    }

    /// Closes the current window now.
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

final class SourceStage<Element: Sendable>: Stage, @unchecked Sendable {
    let op: Operator
    let windowing: Windowing
    let body: @Sendable (SourceContext<Element>) -> Void
    let heads: Heads<Element>

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
final class ChannelStage<Element: Sendable>: Stage, @unchecked Sendable {
    let queues: [BoundedQueue<Message<Element>>]
    let heads: Heads<Element>
    let readOp: Operator
    var producers = 0

    init(name: String, parallelism: Int, queueCapacity: Int) {
        queues = (0..<parallelism).map { _ in BoundedQueue(capacity: queueCapacity) }
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
        let readOp = self.readOp
        return {
            Spoor.setPartition(UInt32(index))
            var passed: [UInt64: Int] = [:]
            var ended = 0
            while ended < producers {
                switch queue.pop() {
                case .batch(let window, let records):
                    for record in records {
                        if _fastPath(!record.isTracked) {
                            head.emit(record, window: window)
                        } else {
                            head.emit(record.poke(.bufferLeave, op: readOp).poke(.shuffleRead, op: readOp), window: window)
                        }
                    }
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
