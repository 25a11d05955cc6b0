/// A type that is a traced record, so operators can be written for sequences of `Traced<T>`.
public protocol TracedRecord: SendableMetatype {
    /// The record's value type.
    associatedtype Value
    /// The record.
    var traced: Traced<Value> { get }
}

extension Traced: TracedRecord {
    /// The record itself.
    @inlinable public var traced: Traced<Value> { self }
}

extension AsyncSequence {
    /// A traced pipeline's source: each element enters at `source` and is sampled there
    /// (key-hash sampling decides on `keyHash`).
    public func traced(
        at source: Operator, keyHash: @escaping @Sendable (Element) -> UInt64 = { _ in 0 }
    ) -> AsyncMapSequence<Self, Traced<Element>> {
        map { Traced.enter($0, at: source, keyHash: keyHash($0)) }
    }
}

/// Traced operators on async sequences of traced records: swap `map` for `tracedMap` and so on,
/// and the pipeline reports (or piggybacks) the lineage of its sampled records. Transforms may be
/// async; their time, including suspensions, is the UDF's runtime.
extension AsyncSequence where Element: TracedRecord {
    /// Traced `map`.
    public func tracedMap<Output>(
        _ op: Operator? = nil, fileID: StaticString = #fileID, line: UInt = #line,
        _ transform: @escaping @Sendable (Element.Value) async throws -> Output
    ) -> AsyncThrowingMapSequence<Self, Traced<Output>> {
        map { element in
            let record = element.traced
            if _fastPath(!record.isTracked) { return Traced<Output>(untracked: try await transform(record.value)) }
            let start = SpoorClock.now()
            let output = try await transform(record.value)
            let end = SpoorClock.now()
            let derived = Reporter.derive(
                from: record.id, record.trail, op: op?.id ?? Operator.callSite(fileID: fileID, line: line, kind: "map"),
                fanout: 1, key: 0, start: start, end: end, attachment: [:])
            return Traced<Output>(value: output, id: derived.id, lineage: derived.lineage(0))
        }
    }

    /// Traced `compactMap`: a nil result removes the record and reports it as filtered.
    public func tracedCompactMap<Output>(
        _ op: Operator? = nil, fileID: StaticString = #fileID, line: UInt = #line,
        _ transform: @escaping @Sendable (Element.Value) async throws -> Output?
    ) -> AsyncThrowingCompactMapSequence<Self, Traced<Output>> {
        compactMap { element in
            let record = element.traced
            if _fastPath(!record.isTracked) { return try await transform(record.value).map { Traced<Output>(untracked: $0) } }
            let start = SpoorClock.now()
            let output = try await transform(record.value)
            let end = SpoorClock.now()
            let opID = op?.id ?? Operator.callSite(fileID: fileID, line: line, kind: "compactMap")
            guard let output else {
                Reporter.poke(record.id, record.trail, op: opID, event: .filtered, at: end)
                return nil
            }
            let derived = Reporter.derive(from: record.id, record.trail, op: opID, fanout: 1, key: 0, start: start, end: end, attachment: [:])
            return Traced<Output>(value: output, id: derived.id, lineage: derived.lineage(0))
        }
    }

    /// Traced `filter`: kept records are reported as new records, removed ones as filtered.
    public func tracedFilter(
        _ op: Operator? = nil, fileID: StaticString = #fileID, line: UInt = #line,
        _ isIncluded: @escaping @Sendable (Element.Value) async throws -> Bool
    ) -> AsyncThrowingCompactMapSequence<Self, Traced<Element.Value>> {
        tracedCompactMap(op, fileID: fileID, line: line) { value in try await isIncluded(value) ? value : nil }
    }

    /// Traced `flatMap`: the outputs of one element are reported together (consecutive ids).
    public func tracedFlatMap<Outputs: Sequence & SendableMetatype>(
        _ op: Operator? = nil, fileID: StaticString = #fileID, line: UInt = #line,
        _ transform: @escaping @Sendable (Element.Value) async throws -> Outputs
    ) -> AsyncThrowingFlatMapSequence<Self, RecordsSequence<Outputs.Element>> {
        flatMap { element in
            let record = element.traced
            if _fastPath(!record.isTracked) {
                return RecordsSequence(try await transform(record.value).map { Traced<Outputs.Element>(untracked: $0) })
            }
            let start = SpoorClock.now()
            let outputs = Array(try await transform(record.value))
            let end = SpoorClock.now()
            let opID = op?.id ?? Operator.callSite(fileID: fileID, line: line, kind: "flatMap")
            guard !outputs.isEmpty else {
                Reporter.poke(record.id, record.trail, op: opID, event: .filtered, at: end)
                return RecordsSequence([])
            }
            let derived = Reporter.derive(
                from: record.id, record.trail, op: opID, fanout: UInt32(Swift.min(outputs.count, 65_536)), key: 0,
                start: start, end: end, attachment: [:])
            return RecordsSequence(outputs.enumerated().map { index, output in
                let id = derived.id.rawValue == 0 || index >= 65_536 ? RecordID.untracked : RecordID(derived.id.rawValue &+ UInt64(index))
                return Traced(value: output, id: id, lineage: derived.lineage(UInt32(truncatingIfNeeded: index)))
            })
        }
    }

    /// Traced `reduce`: folds every element into one result, reported once with every traced
    /// element as a parent.
    public func tracedReduce<Result>(
        into initial: Result, _ op: Operator, key: UInt64 = 0,
        _ update: (inout Result, Element.Value) async throws -> Void
    ) async throws -> Traced<Result> {
        var result = initial
        var fold = TraceFold()
        let start = SpoorClock.now()
        for try await element in self {
            let record = element.traced
            fold.add(record)
            try await update(&result, record.value)
        }
        return fold.finish(result, op: op, key: key, start: start, end: SpoorClock.now())
    }

    /// Traced terminal `forEach`: runs `body` and reports each traced record's exit.
    public func tracedForEach(
        _ op: Operator? = nil, fileID: StaticString = #fileID, line: UInt = #line,
        _ body: (Element.Value) async throws -> Void
    ) async throws {
        for try await element in self {
            let record = element.traced
            try await body(record.value)
            if _slowPath(record.isTracked) { record.exit(op) }
        }
    }
}

/// The outputs of a traced `flatMap` as an async sequence.
public struct RecordsSequence<Value>: AsyncSequence {
    /// Element type.
    public typealias Element = Traced<Value>
    let records: [Traced<Value>]

    init(_ records: [Traced<Value>]) { self.records = records }

    /// The iterator.
    public struct AsyncIterator: AsyncIteratorProtocol {
        var base: IndexingIterator<[Traced<Value>]>
        /// The next record.
        public mutating func next() async -> Traced<Value>? { base.next() }
    }

    /// An iterator.
    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(base: records.makeIterator()) }
}
