import Spoor
import Synchronization

/// The rest of a stage instance's fused pipeline, as closures. They are created by the
/// `@inlinable` stream operations, so the whole chain is specialized for the user's concrete
/// types in the user's module: a record goes through direct closure calls with no generic
/// metadata lookups. One instance's chain runs on one thread.
@usableFromInline
struct Downstream<Element>: @unchecked Sendable {
    @usableFromInline let emit: (Traced<Element>, UInt64) -> Void
    @usableFromInline let emitBatch: (UInt64, [Traced<Element>]) -> Void
    @usableFromInline let watermark: (UInt64) -> Void
    @usableFromInline let finish: () -> Void

    @inlinable
    init(emit: @escaping (Traced<Element>, UInt64) -> Void, watermark: @escaping (UInt64) -> Void, finish: @escaping () -> Void) {
        self.emit = emit
        self.emitBatch = { window, batch in for record in batch { emit(record, window) } }
        self.watermark = watermark
        self.finish = finish
    }

    @inlinable
    init(
        emit: @escaping (Traced<Element>, UInt64) -> Void, emitBatch: @escaping (UInt64, [Traced<Element>]) -> Void,
        watermark: @escaping (UInt64) -> Void, finish: @escaping () -> Void
    ) {
        self.emit = emit
        self.emitBatch = emitBatch
        self.watermark = watermark
        self.finish = finish
    }

    /// This chain behind a shuffle read: traced records are poked as they leave the queue.
    @inlinable
    func readingShuffle(_ op: Operator) -> Downstream<Element> {
        let emit = self.emit
        return Downstream(
            emit: emit,
            emitBatch: { window, batch in
                for record in batch {
                    if _fastPath(!record.isTracked) {
                        emit(record, window)
                    } else {
                        emit(record.poke(.bufferLeave, then: .shuffleRead, op: op), window)
                    }
                }
            },
            watermark: watermark, finish: finish)
    }
}

/// The receiving end of a keying step whose records are only folded (a keyed aggregation): each
/// keyed value with what it contributes to its key's fold. The keying UDF's application is
/// reported as for any map; in piggyback mode it is kept inline in the fold's lineage, so no
/// lineage node is allocated per keyed record.
@usableFromInline
struct KeyedDownstream<Key: DataflowKey, Value: Sendable>: @unchecked Sendable {
    @usableFromInline let emit: (KeyValue<Key, Value>, consuming FoldContribution, UInt64) -> Void
    @usableFromInline let watermark: (UInt64) -> Void
    @usableFromInline let finish: () -> Void

    @inlinable
    init(
        emit: @escaping (KeyValue<Key, Value>, consuming FoldContribution, UInt64) -> Void,
        watermark: @escaping (UInt64) -> Void, finish: @escaping () -> Void
    ) {
        self.emit = emit
        self.watermark = watermark
        self.finish = finish
    }
}

/// Counters shared by all instances of a dataflow.
@usableFromInline
final class FlowCounters: Sendable {
    @usableFromInline let udfErrors = Atomic<Int>(0)
    @usableFromInline init() {}
}

/// The key of a keyed operator (keyBy, reduceByKey, groupByKey, join, cogroup): hashable for
/// grouping, and a `TraceKey`, whose stable hash its reports carry and the partitioner places.
public typealias DataflowKey = Hashable & Sendable & TraceKey

/// The hash of a key for reports and partitioning: FNV-1a of its canonical bytes.
@inlinable
func reportKeyHash<Key: TraceKey>(_ key: Key) -> UInt64 {
    key.traceKeyHash
}

// MARK: - Shuffle

/// Partitions records onto the input queues of the next stage, in batches per window; pokes
/// traced records at shuffle write and queue enter. Round-robin when `keyOf` is nil.
@usableFromInline
final class ShuffleWriter<Element: Sendable> {
    @usableFromInline let queues: [BoundedQueue<Message<Element>>]
    @usableFromInline let keyOf: ((Element) -> UInt64)?
    @usableFromInline let handle: PartitionerHandle?
    @usableFromInline let batchSize: Int
    @usableFromInline let op: Operator
    @usableFromInline var buffers: [[Traced<Element>]]
    @usableFromInline var bufferWindows: [UInt64]
    @usableFromInline var roundRobin: Int
    @usableFromInline var partitioner: any Partitioner
    @usableFromInline var partitionerVersion: UInt64

    @inlinable
    init(
        queues: [BoundedQueue<Message<Element>>], keyOf: ((Element) -> UInt64)?, handle: PartitionerHandle?,
        batchSize: Int, op: Operator, startingAt instance: Int
    ) {
        self.queues = queues
        self.keyOf = keyOf
        self.handle = handle
        self.batchSize = batchSize
        self.op = op
        buffers = Array(repeating: [], count: queues.count)
        bufferWindows = Array(repeating: 0, count: queues.count)
        roundRobin = instance % max(queues.count, 1)
        let snapshot = handle?.snapshot() ?? (0, HashPartitioner())
        partitioner = snapshot.partitioner
        partitionerVersion = snapshot.version
    }

    @inlinable
    func flush(_ partition: Int) {
        guard !buffers[partition].isEmpty else { return }
        var batch: [Traced<Element>] = []
        batch.reserveCapacity(batchSize)
        swap(&batch, &buffers[partition])
        for index in batch.indices where batch[index].isTracked {
            batch[index] = batch[index].poke(.bufferEnter, op: op)
        }
        queues[partition].push(.batch(window: bufferWindows[partition], records: batch))
    }

    @inlinable
    func emit(_ record: Traced<Element>, window: UInt64) {
        let partition: Int
        if let keyOf {
            partition = partitioner.partition(keyHash: keyOf(record.value), partitions: queues.count)
        } else {
            partition = roundRobin
            roundRobin = roundRobin + 1 == queues.count ? 0 : roundRobin + 1
        }
        if _slowPath(bufferWindows[partition] != window) {
            flush(partition)
            bufferWindows[partition] = window
        }
        buffers[partition].append(_fastPath(!record.isTracked) ? record : record.poke(.shuffleWrite, op: op))
        if buffers[partition].count >= batchSize { flush(partition) }
    }

    @inlinable
    func watermark(_ window: UInt64) {
        for partition in queues.indices { flush(partition) }
        for queue in queues { queue.push(.watermark(window)) }
        // A replaced partitioner takes effect here, between windows.
        if let handle, handle.version != partitionerVersion {
            let snapshot = handle.snapshot()
            partitioner = snapshot.partitioner
            partitionerVersion = snapshot.version
        }
    }

    @inlinable
    func finish() {
        for partition in queues.indices { flush(partition) }
        for queue in queues { queue.push(.end) }
    }

    @inlinable
    var downstream: Downstream<Element> {
        Downstream(emit: { self.emit($0, window: $1) }, watermark: { self.watermark($0) }, finish: { self.finish() })
    }
}

// MARK: - Keyed state

/// A partial aggregate of one key: the value so far and the lineage of its contributors.
@usableFromInline
struct Partial<Key: DataflowKey, Value: Sendable>: Sendable {
    @usableFromInline var key: Key
    @usableFromInline var value: Value
    @usableFromInline var fold: TraceFold

    @inlinable
    init(key: Key, value: Value, fold: TraceFold) {
        self.key = key
        self.value = value
        self.fold = fold
    }
}

/// Keyed state per window, with a fast path for the window most records belong to.
@usableFromInline
struct WindowedState<Key: Hashable, Entry> {
    @usableFromInline var currentWindow = UInt64.max
    @usableFromInline var current: [Key: Entry] = [:]
    @usableFromInline var others: [UInt64: [Key: Entry]] = [:]

    @inlinable
    init() {}

    /// Makes `window`'s entries `current`.
    @inlinable
    mutating func select(_ window: UInt64) {
        if _slowPath(window != currentWindow) {
            if currentWindow != .max { others[currentWindow] = current }
            current = others.removeValue(forKey: window) ?? [:]
            currentWindow = window
        }
    }

    /// Runs `body` on the entries of `window`, in place.
    @inlinable
    mutating func withEntries<R>(_ window: UInt64, _ body: (inout [Key: Entry]) -> R) -> R {
        select(window)
        return body(&current)
    }

    /// Removes the windows up to and including `window` (all if nil), in ascending order.
    @inlinable
    mutating func close(through window: UInt64?) -> [(window: UInt64, entries: [Key: Entry])] {
        if currentWindow != .max {
            others[currentWindow] = current
            current = [:]
            currentWindow = .max
        }
        var closed: [(UInt64, [Key: Entry])] = []
        for candidate in others.keys.sorted() where window.map({ candidate <= $0 }) ?? true {
            if let entries = others.removeValue(forKey: candidate) { closed.append((candidate, entries)) }
        }
        return closed
    }
}

/// The map-side combiner: folds records per key and window before the shuffle and sends one
/// partial per key at the window's end. Lineage is not lost: each partial carries the fold of
/// every traced contributor, and the reducer merges the folds.
@usableFromInline
final class Combiner<Key: DataflowKey, Value: Sendable> {
    @usableFromInline let combine: (Value, Value) -> Value
    @usableFromInline let next: Downstream<Partial<Key, Value>>
    /// Touched only by the instance's thread.
    @usableFromInline @exclusivity(unchecked) var state = WindowedState<Key, Partial<Key, Value>>()

    @inlinable
    init(_ combine: @escaping (Value, Value) -> Value, next: Downstream<Partial<Key, Value>>) {
        self.combine = combine
        self.next = next
    }

    @inlinable
    func emit(_ record: Traced<KeyValue<Key, Value>>, window: UInt64) {
        emit(record.value, contribution: FoldContribution(record), window: window)
    }

    /// A keyed value from a keying step fused into this combiner (see `KeyedDownstream`); the
    /// contribution moves into the key's fold.
    @inlinable
    func emit(_ pair: KeyValue<Key, Value>, contribution: consuming FoldContribution, window: UInt64) {
        state.select(window)
        if let index = state.current.index(forKey: pair.key) {
            Self.combine(into: &state.current.values[index], pair.value, combine, contribution)
        } else {
            var fold = TraceFold()
            fold.add(contribution)
            state.current[pair.key] = Partial(key: pair.key, value: pair.value, fold: fold)
        }
    }

    /// Folds `value` into `partial` in place (no copy of the partial and its lineage).
    @inlinable
    static func combine(
        into partial: inout Partial<Key, Value>, _ value: Value, _ combine: (Value, Value) -> Value,
        _ contribution: consuming FoldContribution
    ) {
        partial.value = combine(partial.value, value)
        partial.fold.add(contribution)
    }


    @inlinable
    func flush(through window: UInt64?) {
        for (closing, partials) in state.close(through: window) {
            for partial in partials.values { next.emit(Traced(untracked: partial), closing) }
        }
    }

    /// A window closed upstream: its partials go out, then the watermark.
    @inlinable
    func watermark(_ window: UInt64) {
        flush(through: window)
        next.watermark(window)
    }

    @inlinable
    func finish() {
        flush(through: nil)
        next.finish()
    }

    @inlinable
    var downstream: Downstream<KeyValue<Key, Value>> {
        Downstream(emit: { self.emit($0, window: $1) }, watermark: { self.watermark($0) }, finish: { self.finish() })
    }

    @inlinable
    var keyedDownstream: KeyedDownstream<Key, Value> {
        KeyedDownstream(
            emit: { self.emit($0, contribution: $1, window: $2) }, watermark: { self.watermark($0) },
            finish: { self.finish() })
    }
}

/// A keyed aggregation at the receiving side of a shuffle (reduceByKey, groupByKey, cogroup,
/// join): per key and window it accumulates an entry, and at the window's end emits each result
/// with `finish`, which reports it once with all its traced parents.
@usableFromInline
final class KeyedAggregator<Key: DataflowKey, Input: Sendable, Entry, Output: Sendable> {
    @usableFromInline let accumulate: (inout [Key: Entry], Traced<Input>) -> Void
    @usableFromInline let results: (Key, Entry, (Traced<Output>) -> Void) -> Void
    @usableFromInline let next: Downstream<Output>
    @usableFromInline var state = WindowedState<Key, Entry>()

    @inlinable
    init(
        accumulate: @escaping (inout [Key: Entry], Traced<Input>) -> Void,
        results: @escaping (Key, Entry, (Traced<Output>) -> Void) -> Void, next: Downstream<Output>
    ) {
        self.accumulate = accumulate
        self.results = results
        self.next = next
    }

    @inlinable
    func flush(through window: UInt64?) {
        var closed = state.close(through: window)
        for index in closed.indices {
            let closing = closed[index].window
            // Take each result out of the state before emitting it, so that what it holds (in
            // piggyback mode, its lineage graph, cut as it is reported) is freed right after it
            // is emitted, while still in cache, rather than with the whole window at the end.
            var pending = ContiguousArray(closed[index].entries)
            closed[index].entries = [:]
            while let (key, entry) = pending.popLast() {
                results(key, entry) { self.next.emit($0, closing) }
            }
        }
    }

    @inlinable
    var downstream: Downstream<Input> {
        let accumulate = self.accumulate
        return Downstream(
            emit: { record, window in self.state.withEntries(window) { accumulate(&$0, record) } },
            watermark: { window in
                self.flush(through: window)
                self.next.watermark(window)
            },
            finish: {
                self.flush(through: nil)
                self.next.finish()
            })
    }
}

/// A record of either side of a join or cogroup, keeping its lineage identity.
@usableFromInline
enum Side<Key: DataflowKey, Left: Sendable, Right: Sendable>: Sendable {
    case left(Traced<KeyValue<Key, Left>>)
    case right(Traced<KeyValue<Key, Right>>)

    @inlinable
    var key: Key {
        switch self {
        case .left(let record): record.value.key
        case .right(let record): record.value.key
        }
    }
}

// MARK: - Sink

/// Counts sink instances through each window and calls back once every instance passed it.
@usableFromInline
final class SinkCoordinator: @unchecked Sendable {
    let instances: Int
    let onWindow: (@Sendable (UInt64) -> Void)?
    private let passed = Locked<[UInt64: Int]>([:])

    @usableFromInline
    init(instances: Int, onWindow: (@Sendable (UInt64) -> Void)?) {
        self.instances = instances
        self.onWindow = onWindow
    }

    @usableFromInline
    func instancePassed(_ window: UInt64) {
        let complete = passed.withLock { counts -> Bool in
            counts[window, default: 0] += 1
            guard counts[window] == instances else { return false }
            counts.removeValue(forKey: window)
            return true
        }
        if complete { onWindow?(window) }
    }
}
