import Spoor
import Synchronization

/// A stream of records in a dataflow plan. Transformations up to the next shuffle are fused into
/// the current stage; shuffles and keyed operations start a new stage. The operations are
/// `@inlinable`: the fused chain is specialized for your types in your module.
public struct DataStream<Element: Sendable>: Sendable {
    @usableFromInline let flow: Dataflow
    @usableFromInline let stage: Stage
    /// Installs the rest of the chain behind this stream in instance `index`.
    @usableFromInline let connect: @Sendable (Int, Downstream<Element>) -> Void

    @inlinable
    init(flow: Dataflow, stage: Stage, connect: @escaping @Sendable (Int, Downstream<Element>) -> Void) {
        self.flow = flow
        self.stage = stage
        self.connect = connect
    }

    /// Instances of the stage this stream is in.
    public var parallelism: Int { stage.parallelism }

    /// Runs a UDF step; if it throws, the record is dropped with an `error` event and counted.
    @inlinable
    static func guarding(_ record: Traced<Element>, _ op: Operator, _ counters: FlowCounters, _ step: () throws -> Void) {
        do {
            try step()
        } catch {
            counters.udfErrors.add(1, ordering: .relaxed)
            _ = record.poke(.error, op: op)
        }
    }

    @inlinable
    func extend<Output: Sendable>(_ wrap: @escaping @Sendable (Downstream<Output>) -> Downstream<Element>) -> DataStream<Output> {
        let connect = self.connect
        return DataStream<Output>(flow: flow, stage: stage) { index, next in connect(index, wrap(next)) }
    }

    /// lift(f: T -> U), fused. A UDF that throws drops its record and reports an error event.
    @inlinable
    public func map<Output: Sendable>(_ name: String, _ transform: @escaping @Sendable (Element) throws -> Output) -> DataStream<Output> {
        let op = Operator(name, callSite: "map:\(name)")
        let counters = flow.counters
        return extend { next in
            Downstream(
                emit: { record, window in
                    Self.guarding(record, op, counters) { next.emit(try record.map(op, transform), window) }
                },
                watermark: next.watermark, finish: next.finish)
        }
    }

    /// lift(f: T -> [U]), fused.
    @inlinable
    public func flatMap<Output: Sendable>(_ name: String, _ transform: @escaping @Sendable (Element) throws -> [Output]) -> DataStream<Output> {
        let op = Operator(name, callSite: "flatMap:\(name)")
        let counters = flow.counters
        return extend { next in
            Downstream(
                emit: { record, window in
                    Self.guarding(record, op, counters) { try record.flatMap(op, transform) { next.emit($0, window) } }
                },
                watermark: next.watermark, finish: next.finish)
        }
    }

    /// lift(f: T -> Bool), fused; removed records are reported as filtered.
    @inlinable
    public func filter(_ name: String, _ isIncluded: @escaping @Sendable (Element) throws -> Bool) -> DataStream<Element> {
        let op = Operator(name, callSite: "filter:\(name)")
        let counters = flow.counters
        return extend { next in
            Downstream(
                emit: { record, window in
                    Self.guarding(record, op, counters) {
                        if let kept = try record.filter(op, isIncluded) { next.emit(kept, window) }
                    }
                },
                watermark: next.watermark, finish: next.finish)
        }
    }

    /// Keys the records (a fused map), for the keyed operations.
    @inlinable
    public func keyBy<Key: DataflowKey, Value: Sendable>(
        _ name: String, _ keyed: @escaping @Sendable (Element) throws -> KeyValue<Key, Value>
    ) -> KeyedStream<Key, Value> {
        let op = Operator(name, callSite: "keyBy:\(name)")
        let counters = flow.counters
        let connect = self.connect
        let stream: DataStream<KeyValue<Key, Value>> = extend { next in
            Downstream(
                emit: { record, window in
                    Self.guarding(record, op, counters) {
                        next.emit(try record.map(op, keyOf: { reportKeyHash($0.key) }, keyed), window)
                    }
                },
                watermark: next.watermark, finish: next.finish)
        }
        // The same keying, for aggregations that fold the keyed records right away.
        return KeyedStream(stream: stream) { index, next in
            connect(index, Downstream(
                emit: { record, window in
                    Self.guarding(record, op, counters) {
                        let (pair, contribution) = try record.mapIntoFold(op, keyOf: { reportKeyHash($0.key) }, keyed)
                        next.emit(pair, contribution, window)
                    }
                },
                watermark: next.watermark, finish: next.finish))
        }
    }

    /// Shuffles the records round-robin onto a new stage of `parallelism` instances.
    @inlinable
    public func rebalance(_ name: String, parallelism: Int? = nil) -> DataStream<Element> {
        let next = ChannelStage<Element>(name: name, parallelism: parallelism ?? flow.parallelism, queueCapacity: flow.queueCapacity)
        flow.add(next)
        exchange(into: next, keyOf: nil, partitioner: nil)
        let op = next.readOp
        return DataStream(flow: flow, stage: next) { index, chain in next.heads.set(index, chain.readingShuffle(op)) }
    }

    /// Connects every instance of this stream's stage to a shuffle writer into `next`.
    @inlinable
    func exchange(into next: ChannelStage<Element>, keyOf: ((Element) -> UInt64)?, partitioner: PartitionerHandle?) {
        next.producers += stage.parallelism
        let queues = next.queues
        let batchSize = flow.batchSize
        let op = next.readOp
        for index in 0..<max(stage.parallelism, 0) {
            connect(index, ShuffleWriter(queues: queues, keyOf: keyOf, handle: partitioner, batchSize: batchSize, op: op, startingAt: index).downstream)
        }
    }

    /// Where records leave the dataflow. `body` runs on the last stage's threads (concurrently
    /// across its instances) with each record and its window; `onWindow` runs once a window has
    /// passed every instance. Traced records are reported as exiting (in piggyback mode, with
    /// their whole lineage).
    @inlinable
    public func sink(
        _ name: String, onWindow: (@Sendable (UInt64) -> Void)? = nil,
        _ body: @escaping @Sendable (Traced<Element>, UInt64) -> Void
    ) {
        let op = Operator(name, callSite: "sink:\(name)")
        let coordinator = SinkCoordinator(instances: stage.parallelism, onWindow: onWindow)
        for index in 0..<max(stage.parallelism, 0) {
            connect(index, Downstream(
                emit: { record, window in
                    body(record, window)
                    if _slowPath(record.isTracked) { record.exit(op) }
                },
                watermark: { coordinator.instancePassed($0) }, finish: {}))
        }
    }

    /// Collects every record (thread-safe) for reading after `run`.
    @inlinable
    public func collect(_ name: String) -> CollectedRecords<Element> {
        let collected = CollectedRecords<Element>()
        sink(name) { record, window in collected.append(record, window: window) }
        return collected
    }
}

/// Records a sink collected, with their windows.
public final class CollectedRecords<Element: Sendable>: @unchecked Sendable {
    private let storage = Locked<[(window: UInt64, record: Traced<Element>)]>([])

    /// An empty collection.
    public init() {}

    /// Adds a record.
    public func append(_ record: Traced<Element>, window: UInt64) {
        storage.withLock { $0.append((window, record)) }
    }

    /// Every collected record with its window, in arrival order.
    public var records: [(window: UInt64, record: Traced<Element>)] { storage.withLock { $0 } }

    /// The collected values.
    public var values: [Element] { records.map(\.record.value) }
}

/// A stream of keyed records.
public struct KeyedStream<Key: DataflowKey, Value: Sendable>: Sendable {
    /// The records.
    public let stream: DataStream<KeyValue<Key, Value>>
    /// For a stream keyed by `keyBy`: installs the keying step straight in front of an aggregation's
    /// fold (instead of `stream`), so that keyed records that are only folded need no lineage node.
    @usableFromInline let connectFolding: (@Sendable (Int, KeyedDownstream<Key, Value>) -> Void)?

    /// A keyed view of a stream of keyed records.
    @inlinable
    public init(stream: DataStream<KeyValue<Key, Value>>) {
        self.stream = stream
        connectFolding = nil
    }

    @inlinable
    init(stream: DataStream<KeyValue<Key, Value>>, connectFolding: @escaping @Sendable (Int, KeyedDownstream<Key, Value>) -> Void) {
        self.stream = stream
        self.connectFolding = connectFolding
    }

    @inlinable
    var flow: Dataflow { stream.flow }

    /// The shuffle into a keyed stage: partials per key, pre-aggregated by the combiner if given.
    @inlinable
    func partials(
        _ name: String, combiner: (@Sendable (Value, Value) -> Value)?, partitioner: PartitionerHandle?
    ) -> ChannelStage<Partial<Key, Value>> {
        let next = ChannelStage<Partial<Key, Value>>(name: name, parallelism: flow.parallelism, queueCapacity: flow.queueCapacity)
        flow.add(next)
        let partialStream: DataStream<Partial<Key, Value>>
        if let connectFolding {
            // The keying step feeds the combiner (or a one-contributor partial) directly.
            let folding: @Sendable (Downstream<Partial<Key, Value>>) -> KeyedDownstream<Key, Value>
            if let combiner {
                folding = { Combiner(combiner, next: $0).keyedDownstream }
            } else {
                folding = { next in
                    KeyedDownstream(
                        emit: { pair, contribution, window in
                            let fold = TraceFold(contribution)
                            next.emit(Traced(untracked: Partial(key: pair.key, value: pair.value, fold: fold)), window)
                        },
                        watermark: next.watermark, finish: next.finish)
                }
            }
            partialStream = DataStream(flow: flow, stage: stream.stage) { index, next in connectFolding(index, folding(next)) }
        } else if let combiner {
            partialStream = stream.extend { Combiner(combiner, next: $0).downstream }
        } else {
            partialStream = stream.extend { next in
                Downstream(
                    emit: { record, window in
                        var fold = TraceFold()
                        fold.add(record)
                        next.emit(Traced(untracked: Partial(key: record.value.key, value: record.value.value, fold: fold)), window)
                    },
                    watermark: next.watermark, finish: next.finish)
            }
        }
        partialStream.exchange(into: next, keyOf: { $0.key.traceKeyHash }, partitioner: partitioner ?? PartitionerHandle())
        return next
    }

    /// reduceByKey: one aggregate per key (and window), reported once with every traced
    /// contributor. With `combiner`, records are pre-aggregated before the shuffle.
    @inlinable
    public func reduceByKey(
        _ name: String, combiner: Bool = true, partitioner: PartitionerHandle? = nil,
        _ combine: @escaping @Sendable (Value, Value) -> Value
    ) -> DataStream<KeyValue<Key, Value>> {
        let stage = partials(name, combiner: combiner ? combine : nil, partitioner: partitioner)
        let op = Operator(name, callSite: "reduceByKey:\(name)")
        return DataStream(flow: flow, stage: stage) { (index: Int, next: Downstream<KeyValue<Key, Value>>) in
            let aggregator = KeyedAggregator<Key, Partial<Key, Value>, Partial<Key, Value>, KeyValue<Key, Value>>(
                accumulate: { (entries: inout [Key: Partial<Key, Value>], record: Traced<Partial<Key, Value>>) in
                    let partial = record.value
                    if let slot = entries.index(forKey: partial.key) {
                        entries.values[slot].value = combine(entries.values[slot].value, partial.value)
                        entries.values[slot].fold.merge(partial.fold)
                    } else {
                        entries[partial.key] = partial
                    }
                },
                results: { (key: Key, partial: Partial<Key, Value>, emit: (Traced<KeyValue<Key, Value>>) -> Void) in
                    let output = KeyValue(key, partial.value)
                    if _fastPath(!partial.fold.isTracked) {
                        emit(Traced(untracked: output))
                    } else {
                        emit(partial.fold.finish(output, op: op, key: reportKeyHash(key)))
                    }
                },
                next: next)
            stage.heads.set(index, aggregator.downstream.readingShuffle(stage.readOp))
        }
    }

    /// groupByKey: every value of a key (per window), reported once with every traced contributor.
    @inlinable
    public func groupByKey(_ name: String, partitioner: PartitionerHandle? = nil) -> DataStream<KeyValue<Key, [Value]>> {
        let stage = partials(name, combiner: nil, partitioner: partitioner)
        let op = Operator(name, callSite: "groupByKey:\(name)")
        return DataStream(flow: flow, stage: stage) { index, next in
            let aggregator = KeyedAggregator<Key, Partial<Key, Value>, (values: [Value], fold: TraceFold), KeyValue<Key, [Value]>>(
                accumulate: { entries, record in
                    let partial = record.value
                    entries[partial.key, default: ([], TraceFold())].values.append(partial.value)
                    entries[partial.key, default: ([], TraceFold())].fold.merge(partial.fold)
                },
                results: { key, group, emit in
                    emit(group.fold.finish(KeyValue(key, group.values), op: op, key: reportKeyHash(key)))
                },
                next: next)
            stage.heads.set(index, aggregator.downstream.readingShuffle(stage.readOp))
        }
    }

    /// Both sides shuffled by key into one two-input stage.
    @inlinable
    func twoSided<Other: Sendable>(
        _ other: KeyedStream<Key, Other>, _ name: String, partitioner: PartitionerHandle?
    ) -> ChannelStage<Side<Key, Value, Other>> {
        let stage = ChannelStage<Side<Key, Value, Other>>(name: name, parallelism: flow.parallelism, queueCapacity: flow.queueCapacity)
        flow.add(stage)
        let handle = partitioner ?? PartitionerHandle()
        let left: DataStream<Side<Key, Value, Other>> = stream.extend { next in
            Downstream(emit: { next.emit(Traced(untracked: .left($0)), $1) }, watermark: next.watermark, finish: next.finish)
        }
        let right: DataStream<Side<Key, Value, Other>> = other.stream.extend { next in
            Downstream(emit: { next.emit(Traced(untracked: .right($0)), $1) }, watermark: next.watermark, finish: next.finish)
        }
        left.exchange(into: stage, keyOf: { $0.key.traceKeyHash }, partitioner: handle)
        right.exchange(into: stage, keyOf: { $0.key.traceKeyHash }, partitioner: handle)
        return stage
    }

    /// Inner join per key (and window) with another keyed stream: each pair is reported with
    /// both parents.
    @inlinable
    public func join<Other: Sendable>(
        _ other: KeyedStream<Key, Other>, _ name: String, partitioner: PartitionerHandle? = nil
    ) -> DataStream<Joined<Key, Value, Other>> {
        let stage = twoSided(other, name, partitioner: partitioner)
        let op = Operator(name, callSite: "join:\(name)")
        typealias Buffered = (left: [Traced<KeyValue<Key, Value>>], right: [Traced<KeyValue<Key, Other>>])
        return DataStream(flow: flow, stage: stage) { index, next in
            let aggregator = KeyedAggregator<Key, Side<Key, Value, Other>, Buffered, Joined<Key, Value, Other>>(
                accumulate: { entries, record in
                    switch record.value {
                    case .left(let left): entries[left.value.key, default: ([], [])].left.append(left)
                    case .right(let right): entries[right.value.key, default: ([], [])].right.append(right)
                    }
                },
                results: { key, sides, emit in
                    let traced = sides.left.contains(where: \.isTracked) || sides.right.contains(where: \.isTracked)
                    let keyHash = traced ? reportKeyHash(key) : 0
                    for left in sides.left {
                        for right in sides.right {
                            emit(left.join(right, op, key: keyHash) { Joined(key: key, left: $0.value, right: $1.value) })
                        }
                    }
                },
                next: next)
            stage.heads.set(index, aggregator.downstream.readingShuffle(stage.readOp))
        }
    }

    /// cogroup per key (and window) with another keyed stream: all values of both sides, reported
    /// once with every traced parent.
    @inlinable
    public func cogroup<Other: Sendable>(
        _ other: KeyedStream<Key, Other>, _ name: String, partitioner: PartitionerHandle? = nil
    ) -> DataStream<CoGrouped<Key, Value, Other>> {
        let stage = twoSided(other, name, partitioner: partitioner)
        let op = Operator(name, callSite: "cogroup:\(name)")
        typealias Group = (left: [Value], right: [Other], fold: TraceFold)
        return DataStream(flow: flow, stage: stage) { index, next in
            let aggregator = KeyedAggregator<Key, Side<Key, Value, Other>, Group, CoGrouped<Key, Value, Other>>(
                accumulate: { entries, record in
                    switch record.value {
                    case .left(let left):
                        entries[left.value.key, default: ([], [], TraceFold())].left.append(left.value.value)
                        entries[left.value.key, default: ([], [], TraceFold())].fold.add(left)
                    case .right(let right):
                        entries[right.value.key, default: ([], [], TraceFold())].right.append(right.value.value)
                        entries[right.value.key, default: ([], [], TraceFold())].fold.add(right)
                    }
                },
                results: { key, group, emit in
                    emit(group.fold.finish(CoGrouped(key: key, left: group.left, right: group.right), op: op, key: reportKeyHash(key)))
                },
                next: next)
            stage.heads.set(index, aggregator.downstream.readingShuffle(stage.readOp))
        }
    }
}
