import Spoor
import Synchronization

/// A step of a stage instance's fused pipeline. A stage instance pushes each record through its
/// chain of nodes (one virtual call per node and record), then window boundaries and the end.
/// One instance's chain runs on one thread.
class Node<Input: Sendable> {
    func emit(_ record: Traced<Input>, window: UInt64) {}
    func watermark(_ window: UInt64) {}
    func finish() {}
}

/// Counters shared by all instances of a dataflow.
final class FlowCounters: Sendable {
    let udfErrors = Atomic<Int>(0)
    let records = Atomic<Int>(0)
}

// MARK: - Fused UDFs

final class MapNode<Input: Sendable, Output: Sendable>: Node<Input> {
    let op: Operator
    let transform: @Sendable (Input) throws -> Output
    let next: Node<Output>
    let counters: FlowCounters

    init(_ op: Operator, _ transform: @escaping @Sendable (Input) throws -> Output, next: Node<Output>, counters: FlowCounters) {
        self.op = op
        self.transform = transform
        self.next = next
        self.counters = counters
    }

    override func emit(_ record: Traced<Input>, window: UInt64) {
        do {
            next.emit(try record.map(op, transform), window: window)
        } catch {
            counters.udfErrors.add(1, ordering: .relaxed)
            _ = record.poke(.error, op: op)
        }
    }
    override func watermark(_ window: UInt64) { next.watermark(window) }
    override func finish() { next.finish() }
}

final class FlatMapNode<Input: Sendable, Output: Sendable>: Node<Input> {
    let op: Operator
    let transform: @Sendable (Input) throws -> [Output]
    let next: Node<Output>
    let counters: FlowCounters

    init(_ op: Operator, _ transform: @escaping @Sendable (Input) throws -> [Output], next: Node<Output>, counters: FlowCounters) {
        self.op = op
        self.transform = transform
        self.next = next
        self.counters = counters
    }

    override func emit(_ record: Traced<Input>, window: UInt64) {
        do {
            if _fastPath(!record.isTracked) {
                for output in try transform(record.value) { next.emit(Traced(untracked: output), window: window) }
                return
            }
            for output in try record.flatMap(op, transform) { next.emit(output, window: window) }
        } catch {
            counters.udfErrors.add(1, ordering: .relaxed)
            _ = record.poke(.error, op: op)
        }
    }
    override func watermark(_ window: UInt64) { next.watermark(window) }
    override func finish() { next.finish() }
}

final class FilterNode<Element: Sendable>: Node<Element> {
    let op: Operator
    let predicate: @Sendable (Element) throws -> Bool
    let next: Node<Element>
    let counters: FlowCounters

    init(_ op: Operator, _ predicate: @escaping @Sendable (Element) throws -> Bool, next: Node<Element>, counters: FlowCounters) {
        self.op = op
        self.predicate = predicate
        self.next = next
        self.counters = counters
    }

    override func emit(_ record: Traced<Element>, window: UInt64) {
        do {
            if let kept = try record.filter(op, predicate) { next.emit(kept, window: window) }
        } catch {
            counters.udfErrors.add(1, ordering: .relaxed)
            _ = record.poke(.error, op: op)
        }
    }
    override func watermark(_ window: UInt64) { next.watermark(window) }
    override func finish() { next.finish() }
}

// MARK: - Shuffle

/// Partitions records onto the input queues of the next stage, in batches per window; pokes
/// traced records at shuffle write and queue enter. Round-robin when `keyOf` is nil.
final class ShuffleWriterNode<Element: Sendable>: Node<Element> {
    let queues: [BoundedQueue<Message<Element>>]
    let keyOf: (@Sendable (Element) -> Int)?
    let handle: PartitionerHandle?
    let batchSize: Int
    let op: Operator
    private var buffers: [[Traced<Element>]]
    private var bufferWindows: [UInt64]
    private var roundRobin = 0
    private var partitioner: any Partitioner
    private var partitionerVersion: UInt64

    init(
        queues: [BoundedQueue<Message<Element>>], keyOf: (@Sendable (Element) -> Int)?, handle: PartitionerHandle?,
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

    private func flush(_ partition: Int) {
        guard !buffers[partition].isEmpty else { return }
        var batch = buffers[partition]
        buffers[partition] = []
        buffers[partition].reserveCapacity(batchSize)
        for index in batch.indices where batch[index].isTracked {
            batch[index] = batch[index].poke(.bufferEnter, op: op)
        }
        queues[partition].push(.batch(window: bufferWindows[partition], records: batch))
    }

    override func emit(_ record: Traced<Element>, window: UInt64) {
        let partition: Int
        if let keyOf {
            partition = partitioner.partition(keyHash: keyOf(record.value), partitions: queues.count)
        } else {
            partition = roundRobin
            roundRobin = roundRobin + 1 == queues.count ? 0 : roundRobin + 1
        }
        if bufferWindows[partition] != window {
            flush(partition)
            bufferWindows[partition] = window
        }
        buffers[partition].append(_fastPath(!record.isTracked) ? record : record.poke(.shuffleWrite, op: op))
        if buffers[partition].count >= batchSize { flush(partition) }
    }

    override func watermark(_ window: UInt64) {
        for partition in queues.indices { flush(partition) }
        for queue in queues { queue.push(.watermark(window)) }
        // A replaced partitioner takes effect here, between windows.
        if let handle, handle.version != partitionerVersion {
            let snapshot = handle.snapshot()
            partitioner = snapshot.partitioner
            partitionerVersion = snapshot.version
        }
    }

    override func finish() {
        for partition in queues.indices { flush(partition) }
        for queue in queues { queue.push(.end) }
    }
}

// MARK: - Keyed aggregation

/// A partial aggregate of one key: the value so far and the lineage of its contributors.
struct Partial<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    var key: Key
    var value: Value
    var fold: TraceFold
}

/// Turns each keyed record into a one-record partial (no map-side combining).
final class PartialNode<Key: Hashable & Sendable, Value: Sendable>: Node<KeyValue<Key, Value>> {
    let next: Node<Partial<Key, Value>>

    init(next: Node<Partial<Key, Value>>) { self.next = next }

    override func emit(_ record: Traced<KeyValue<Key, Value>>, window: UInt64) {
        var fold = TraceFold()
        fold.add(record)
        next.emit(Traced(untracked: Partial(key: record.value.key, value: record.value.value, fold: fold)), window: window)
    }
    override func watermark(_ window: UInt64) { next.watermark(window) }
    override func finish() { next.finish() }
}

/// Keyed state per window, with a fast path for the window most records belong to.
struct WindowedState<Key: Hashable, Entry> {
    private var currentWindow = UInt64.max
    private var current: [Key: Entry] = [:]
    private var others: [UInt64: [Key: Entry]] = [:]

    /// Runs `body` on the entries of `window`, in place.
    @inline(__always)
    mutating func withEntries<R>(_ window: UInt64, _ body: (inout [Key: Entry]) -> R) -> R {
        if _slowPath(window != currentWindow) {
            if currentWindow != .max { others[currentWindow] = current }
            current = others.removeValue(forKey: window) ?? [:]
            currentWindow = window
        }
        return body(&current)
    }

    /// Removes the windows up to and including `window` (all if nil), in ascending order.
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
final class CombinerNode<Key: Hashable & Sendable, Value: Sendable>: Node<KeyValue<Key, Value>> {
    let combine: @Sendable (Value, Value) -> Value
    let next: Node<Partial<Key, Value>>
    private var state = WindowedState<Key, Partial<Key, Value>>()

    init(_ combine: @escaping @Sendable (Value, Value) -> Value, next: Node<Partial<Key, Value>>) {
        self.combine = combine
        self.next = next
    }

    override func emit(_ record: Traced<KeyValue<Key, Value>>, window: UInt64) {
        let combine = self.combine
        state.withEntries(window) { entries in
            let key = record.value.key
            if let index = entries.index(forKey: key) {
                entries.values[index].value = combine(entries.values[index].value, record.value.value)
                entries.values[index].fold.add(record)
            } else {
                var fold = TraceFold()
                fold.add(record)
                entries[key] = Partial(key: key, value: record.value.value, fold: fold)
            }
        }
    }

    private func flush(through window: UInt64?) {
        for (closing, partials) in state.close(through: window) {
            for partial in partials.values { next.emit(Traced(untracked: partial), window: closing) }
        }
    }

    override func watermark(_ window: UInt64) {
        flush(through: window)
        next.watermark(window)
    }

    override func finish() {
        flush(through: nil)
        next.finish()
    }
}

/// reduceByKey: merges partials per key and window, and at the window's end reports each
/// aggregate once, with every traced contributor as a parent.
final class ReduceNode<Key: Hashable & Sendable, Value: Sendable>: Node<Partial<Key, Value>> {
    let op: Operator
    let combine: @Sendable (Value, Value) -> Value
    let next: Node<KeyValue<Key, Value>>
    private var state = WindowedState<Key, Partial<Key, Value>>()

    init(_ op: Operator, _ combine: @escaping @Sendable (Value, Value) -> Value, next: Node<KeyValue<Key, Value>>) {
        self.op = op
        self.combine = combine
        self.next = next
    }

    override func emit(_ record: Traced<Partial<Key, Value>>, window: UInt64) {
        let combine = self.combine
        let partial = record.value
        state.withEntries(window) { entries in
            if let index = entries.index(forKey: partial.key) {
                entries.values[index].value = combine(entries.values[index].value, partial.value)
                entries.values[index].fold.merge(partial.fold)
            } else {
                entries[partial.key] = partial
            }
        }
    }

    private func flush(through window: UInt64?) {
        for (closing, aggregates) in state.close(through: window) {
            for partial in aggregates.values {
                let output = KeyValue(partial.key, partial.value)
                next.emit(
                    _fastPath(!partial.fold.isTracked)
                        ? Traced(untracked: output)
                        : partial.fold.finish(output, op: op, key: reportKeyHash(partial.key)),
                    window: closing)
            }
        }
    }

    override func watermark(_ window: UInt64) {
        flush(through: window)
        next.watermark(window)
    }

    override func finish() {
        flush(through: nil)
        next.finish()
    }
}

/// groupByKey: collects every value of a key per window; reports once per group.
final class GroupNode<Key: Hashable & Sendable, Value: Sendable>: Node<Partial<Key, Value>> {
    let op: Operator
    let next: Node<KeyValue<Key, [Value]>>
    private var state = WindowedState<Key, (values: [Value], fold: TraceFold)>()

    init(_ op: Operator, next: Node<KeyValue<Key, [Value]>>) {
        self.op = op
        self.next = next
    }

    override func emit(_ record: Traced<Partial<Key, Value>>, window: UInt64) {
        let partial = record.value
        state.withEntries(window) { entries in
            entries[partial.key, default: ([], TraceFold())].values.append(partial.value)
            entries[partial.key, default: ([], TraceFold())].fold.merge(partial.fold)
        }
    }

    private func flush(through window: UInt64?) {
        for (closing, groups) in state.close(through: window) {
            for (key, group) in groups {
                next.emit(group.fold.finish(KeyValue(key, group.values), op: op, key: reportKeyHash(key)), window: closing)
            }
        }
    }

    override func watermark(_ window: UInt64) {
        flush(through: window)
        next.watermark(window)
    }

    override func finish() {
        flush(through: nil)
        next.finish()
    }
}

// MARK: - Two inputs

/// A record of either side of a join or cogroup, keeping its lineage identity.
enum Side<Key: Hashable & Sendable, Left: Sendable, Right: Sendable>: Sendable {
    case left(Traced<KeyValue<Key, Left>>)
    case right(Traced<KeyValue<Key, Right>>)

    var key: Key {
        switch self {
        case .left(let record): record.value.key
        case .right(let record): record.value.key
        }
    }
}

/// Tags a side's records for the shared two-input channel.
final class SideNode<Key: Hashable & Sendable, Value: Sendable, Left: Sendable, Right: Sendable>: Node<KeyValue<Key, Value>> {
    let wrap: @Sendable (Traced<KeyValue<Key, Value>>) -> Side<Key, Left, Right>
    let next: Node<Side<Key, Left, Right>>

    init(_ wrap: @escaping @Sendable (Traced<KeyValue<Key, Value>>) -> Side<Key, Left, Right>, next: Node<Side<Key, Left, Right>>) {
        self.wrap = wrap
        self.next = next
    }

    override func emit(_ record: Traced<KeyValue<Key, Value>>, window: UInt64) {
        next.emit(Traced(untracked: wrap(record)), window: window)
    }
    override func watermark(_ window: UInt64) { next.watermark(window) }
    override func finish() { next.finish() }
}

/// Inner join per key and window: every (left, right) pair, reported with both parents.
final class JoinNode<Key: Hashable & Sendable, Left: Sendable, Right: Sendable>: Node<Side<Key, Left, Right>> {
    let op: Operator
    let next: Node<Joined<Key, Left, Right>>
    private var state: [UInt64: [Key: (left: [Traced<KeyValue<Key, Left>>], right: [Traced<KeyValue<Key, Right>>])]] = [:]

    init(_ op: Operator, next: Node<Joined<Key, Left, Right>>) {
        self.op = op
        self.next = next
    }

    override func emit(_ record: Traced<Side<Key, Left, Right>>, window: UInt64) {
        switch record.value {
        case .left(let left): state[window, default: [:]][left.value.key, default: ([], [])].left.append(left)
        case .right(let right): state[window, default: [:]][right.value.key, default: ([], [])].right.append(right)
        }
    }

    private func flush(through window: UInt64?) {
        for closing in state.keys.sorted() where window.map({ closing <= $0 }) ?? true {
            guard let groups = state.removeValue(forKey: closing) else { continue }
            for (key, sides) in groups {
                let keyHash = sides.left.contains(where: \.isTracked) || sides.right.contains(where: \.isTracked) ? reportKeyHash(key) : 0
                for left in sides.left {
                    for right in sides.right {
                        let joined = left.join(right, op, key: keyHash) { Joined(key: key, left: $0.value, right: $1.value) }
                        next.emit(joined, window: closing)
                    }
                }
            }
        }
    }

    override func watermark(_ window: UInt64) {
        flush(through: window)
        next.watermark(window)
    }

    override func finish() {
        flush(through: nil)
        next.finish()
    }
}

/// cogroup per key and window: all values of both sides, reported once with every parent.
final class CoGroupNode<Key: Hashable & Sendable, Left: Sendable, Right: Sendable>: Node<Side<Key, Left, Right>> {
    let op: Operator
    let next: Node<CoGrouped<Key, Left, Right>>
    private var state: [UInt64: [Key: (left: [Left], right: [Right], fold: TraceFold)]] = [:]

    init(_ op: Operator, next: Node<CoGrouped<Key, Left, Right>>) {
        self.op = op
        self.next = next
    }

    override func emit(_ record: Traced<Side<Key, Left, Right>>, window: UInt64) {
        let key = record.value.key
        var entry = state[window]?[key] ?? ([], [], TraceFold())
        switch record.value {
        case .left(let left):
            entry.left.append(left.value.value)
            entry.fold.add(left)
        case .right(let right):
            entry.right.append(right.value.value)
            entry.fold.add(right)
        }
        state[window, default: [:]][key] = entry
    }

    private func flush(through window: UInt64?) {
        for closing in state.keys.sorted() where window.map({ closing <= $0 }) ?? true {
            guard let groups = state.removeValue(forKey: closing) else { continue }
            for (key, entry) in groups {
                let output = CoGrouped(key: key, left: entry.left, right: entry.right)
                next.emit(entry.fold.finish(output, op: op, key: reportKeyHash(key)), window: closing)
            }
        }
    }

    override func watermark(_ window: UInt64) {
        flush(through: window)
        next.watermark(window)
    }

    override func finish() {
        flush(through: nil)
        next.finish()
    }
}

// MARK: - Sink

/// Where records leave the dataflow: the user's body, an `exit` report per traced record (in
/// piggyback mode the whole lineage graph), and window-completion callbacks once every instance
/// of the stage has passed the window.
final class SinkNode<Element: Sendable>: Node<Element> {
    let op: Operator
    let body: @Sendable (Traced<Element>, UInt64) -> Void
    let shared: SinkCoordinator

    init(_ op: Operator, _ body: @escaping @Sendable (Traced<Element>, UInt64) -> Void, shared: SinkCoordinator) {
        self.op = op
        self.body = body
        self.shared = shared
    }

    override func emit(_ record: Traced<Element>, window: UInt64) {
        body(record, window)
        if _slowPath(record.isTracked) { record.exit(op) }
    }
    override func watermark(_ window: UInt64) { shared.instancePassed(window) }
    override func finish() { shared.instanceFinished() }
}

/// Counts sink instances through each window.
final class SinkCoordinator: Sendable {
    let instances: Int
    let onWindow: (@Sendable (UInt64) -> Void)?
    private let passed = Mutex<[UInt64: Int]>([:])
    private let closedThrough = Mutex<UInt64?>(nil)

    init(instances: Int, onWindow: (@Sendable (UInt64) -> Void)?) {
        self.instances = instances
        self.onWindow = onWindow
    }

    func instancePassed(_ window: UInt64) {
        let complete = passed.withLock { counts -> Bool in
            counts[window, default: 0] += 1
            guard counts[window] == instances else { return false }
            counts.removeValue(forKey: window)
            return true
        }
        if complete {
            closedThrough.withLock { $0 = window }
            onWindow?(window)
        }
    }

    func instanceFinished() {}
}
