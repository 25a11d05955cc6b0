import Spoor
import Synchronization

/// A stream of records in a dataflow plan. Transformations up to the next shuffle are fused into
/// the current stage; shuffles and keyed operations start a new stage.
public struct DataStream<Element: Sendable>: Sendable {
    let flow: Dataflow
    let stage: Stage
    /// Installs the rest of the chain (`node`) behind this stream in instance `index`.
    let connect: @Sendable (Int, Node<Element>) -> Void

    /// Instances of the stage this stream is in.
    public var parallelism: Int { stage.parallelism }

    func extend<Output: Sendable>(_ makeNode: @escaping @Sendable (Node<Output>) -> Node<Element>) -> DataStream<Output> {
        let connect = self.connect
        return DataStream<Output>(flow: flow, stage: stage) { index, next in connect(index, makeNode(next)) }
    }

    /// lift(f: T -> U), fused.
    public func map<Output: Sendable>(_ name: String, _ transform: @escaping @Sendable (Element) throws -> Output) -> DataStream<Output> {
        let op = Operator(name, callSite: "map:\(name)")
        let counters = flow.counters
        return extend { MapNode(op, transform, next: $0, counters: counters) }
    }

    /// lift(f: T -> [U]), fused.
    public func flatMap<Output: Sendable>(_ name: String, _ transform: @escaping @Sendable (Element) throws -> [Output]) -> DataStream<Output> {
        let op = Operator(name, callSite: "flatMap:\(name)")
        let counters = flow.counters
        return extend { FlatMapNode(op, transform, next: $0, counters: counters) }
    }

    /// lift(f: T -> Bool), fused; removed records are poked as filtered.
    public func filter(_ name: String, _ isIncluded: @escaping @Sendable (Element) throws -> Bool) -> DataStream<Element> {
        let op = Operator(name, callSite: "filter:\(name)")
        let counters = flow.counters
        return extend { FilterNode(op, isIncluded, next: $0, counters: counters) }
    }

    /// Keys the records (a fused map), for the keyed operations.
    public func keyBy<Key: Hashable & Sendable, Value: Sendable>(
        _ name: String, _ keyed: @escaping @Sendable (Element) throws -> KeyValue<Key, Value>
    ) -> KeyedStream<Key, Value> {
        KeyedStream(stream: map(name, keyed))
    }

    /// Shuffles the records round-robin onto a new stage of `parallelism` instances.
    public func rebalance(_ name: String, parallelism: Int? = nil) -> DataStream<Element> {
        let next = ChannelStage<Element>(
            name: name, parallelism: parallelism ?? flow.configuration.parallelism, queueCapacity: flow.configuration.queueCapacity)
        exchange(into: next, keyOf: nil, partitioner: nil)
        return DataStream(flow: flow, stage: next) { index, node in next.heads.set(index, node) }
    }

    /// Connects every instance of this stream's stage to a shuffle writer into `next`.
    func exchange(into next: ChannelStage<Element>, keyOf: (@Sendable (Element) -> Int)?, partitioner: PartitionerHandle?) {
        flow.add(next)
        next.producers += stage.parallelism
        let queues = next.queues
        let batchSize = flow.configuration.batchSize
        let op = next.readOp
        for index in 0..<stage.parallelism {
            connect(index, ShuffleWriterNode(queues: queues, keyOf: keyOf, handle: partitioner, batchSize: batchSize, op: op, startingAt: index))
        }
    }

    /// Where records leave the dataflow. `body` runs on the last stage's threads (concurrently
    /// across its instances) with each record and its window; `onWindow` runs once a window has
    /// passed every instance. Traced records are reported as exiting (in piggyback mode, with
    /// their whole lineage).
    public func sink(
        _ name: String, onWindow: (@Sendable (UInt64) -> Void)? = nil,
        _ body: @escaping @Sendable (Traced<Element>, UInt64) -> Void
    ) {
        let op = Operator(name, callSite: "sink:\(name)")
        let coordinator = SinkCoordinator(instances: stage.parallelism, onWindow: onWindow)
        for index in 0..<stage.parallelism {
            connect(index, SinkNode(op, body, shared: coordinator))
        }
    }

    /// Collects every record (thread-safe) for reading after `run`.
    public func collect(_ name: String) -> CollectedRecords<Element> {
        let collected = CollectedRecords<Element>()
        sink(name) { record, window in collected.append(record, window: window) }
        return collected
    }
}

/// Records a sink collected, with their windows.
public final class CollectedRecords<Element: Sendable>: Sendable {
    private let storage = Mutex<[(window: UInt64, record: Traced<Element>)]>([])

    func append(_ record: Traced<Element>, window: UInt64) {
        storage.withLock { $0.append((window, record)) }
    }

    /// Every collected record with its window, in arrival order.
    public var records: [(window: UInt64, record: Traced<Element>)] { storage.withLock { $0 } }

    /// The collected values.
    public var values: [Element] { records.map(\.record.value) }
}

/// A stream of keyed records.
public struct KeyedStream<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    /// The records.
    public let stream: DataStream<KeyValue<Key, Value>>

    /// A keyed view of a stream of keyed records.
    public init(stream: DataStream<KeyValue<Key, Value>>) {
        self.stream = stream
    }

    var flow: Dataflow { stream.flow }

    func keyedStage<Input: Sendable>(_ name: String) -> ChannelStage<Input> {
        ChannelStage<Input>(name: name, parallelism: flow.configuration.parallelism, queueCapacity: flow.configuration.queueCapacity)
    }

    func partials(_ name: String, combiner: (@Sendable (Value, Value) -> Value)?, partitioner: PartitionerHandle?) -> ChannelStage<Partial<Key, Value>> {
        let next: ChannelStage<Partial<Key, Value>> = keyedStage(name)
        let partialStream: DataStream<Partial<Key, Value>> = combiner.map { combine in
            stream.extend { CombinerNode(combine, next: $0) }
        } ?? stream.extend { PartialNode(next: $0) }
        partialStream.exchange(into: next, keyOf: { $0.key.hashValue }, partitioner: partitioner ?? PartitionerHandle())
        return next
    }

    /// reduceByKey: one aggregate per key (and window), reported once with every traced
    /// contributor. With `combiner`, records are pre-aggregated before the shuffle.
    public func reduceByKey(
        _ name: String, combiner: Bool = true, partitioner: PartitionerHandle? = nil,
        _ combine: @escaping @Sendable (Value, Value) -> Value
    ) -> DataStream<KeyValue<Key, Value>> {
        let stage = partials(name, combiner: combiner ? combine : nil, partitioner: partitioner)
        let op = Operator(name, callSite: "reduceByKey:\(name)")
        return DataStream(flow: flow, stage: stage) { index, next in stage.heads.set(index, ReduceNode(op, combine, next: next)) }
    }

    /// groupByKey: every value of a key (per window), reported once with every traced contributor.
    public func groupByKey(_ name: String, partitioner: PartitionerHandle? = nil) -> DataStream<KeyValue<Key, [Value]>> {
        let stage = partials(name, combiner: nil, partitioner: partitioner)
        let op = Operator(name, callSite: "groupByKey:\(name)")
        return DataStream(flow: flow, stage: stage) { index, next in stage.heads.set(index, GroupNode(op, next: next)) }
    }

    func twoSided<Other: Sendable, Output: Sendable>(
        _ other: KeyedStream<Key, Other>, _ name: String, partitioner: PartitionerHandle?,
        head: @escaping @Sendable (Operator, Node<Output>) -> Node<Side<Key, Value, Other>>
    ) -> DataStream<Output> {
        let stage: ChannelStage<Side<Key, Value, Other>> = keyedStage(name)
        let handle = partitioner ?? PartitionerHandle()
        let left: DataStream<Side<Key, Value, Other>> = stream.extend { SideNode({ .left($0) }, next: $0) }
        let right: DataStream<Side<Key, Value, Other>> = other.stream.extend { SideNode({ .right($0) }, next: $0) }
        left.exchange(into: stage, keyOf: { $0.key.hashValue }, partitioner: handle)
        flow.stages.removeAll { $0 === stage }
        right.exchange(into: stage, keyOf: { $0.key.hashValue }, partitioner: handle)
        let op = Operator(name, callSite: "join:\(name)")
        return DataStream(flow: flow, stage: stage) { index, next in stage.heads.set(index, head(op, next)) }
    }

    /// Inner join per key (and window) with another keyed stream: each pair is reported with
    /// both parents.
    public func join<Other: Sendable>(
        _ other: KeyedStream<Key, Other>, _ name: String, partitioner: PartitionerHandle? = nil
    ) -> DataStream<Joined<Key, Value, Other>> {
        twoSided(other, name, partitioner: partitioner) { op, next in JoinNode(op, next: next) }
    }

    /// cogroup per key (and window) with another keyed stream: all values of both sides, reported
    /// once with every traced parent.
    public func cogroup<Other: Sendable>(
        _ other: KeyedStream<Key, Other>, _ name: String, partitioner: PartitionerHandle? = nil
    ) -> DataStream<CoGrouped<Key, Value, Other>> {
        twoSided(other, name, partitioner: partitioner) { op, next in CoGroupNode(op, next: next) }
    }
}
