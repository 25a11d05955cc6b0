import SpoorABI

/// The id of a record; 0 means untracked.
@frozen
public struct RecordID: Hashable, Sendable, CustomStringConvertible {
    /// The 64-bit id.
    public var rawValue: UInt64

    /// An id.
    @inlinable
    public init(_ rawValue: UInt64) { self.rawValue = rawValue }

    /// The id of every untracked record.
    public static let untracked = RecordID(0)

    /// Whether the record is traced.
    @inlinable
    public var isTracked: Bool { rawValue != 0 }

    /// 16 hex digits, as `spoor dump` prints ids.
    public var description: String {
        let digits = String(rawValue, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}

/// A key whose hash Spoor reports: FNV-1a 64 of the key's canonical bytes (`spoor_hash_bytes`,
/// whose documentation in spoor.h lists the canonical bytes of each kind of value), so the same
/// key hashes the same in every run, process and language, unlike `hashValue`, which Swift
/// seeds per process. Keyed dataflow operators require it; key-hash sampling and heavy-key
/// analysis rely on it.
///
/// Strings, integers, booleans, floating-point numbers and byte arrays conform; an enum with a
/// raw value conforms by declaring it (`extension Color: TraceKey {}`); any other type by
/// hashing a canonical byte form of its own with `traceHash(_:)`.
public protocol TraceKey {
    /// FNV-1a 64 of the key's canonical bytes.
    var traceKeyHash: UInt64 { get }
}

/// FNV-1a 64 over bytes: `spoor_hash_bytes`, the one definition, in libspoor.so.
@inlinable
public func traceHash<Bytes: Sequence>(_ bytes: Bytes) -> UInt64 where Bytes.Element == UInt8 {
    if let hash = bytes.withContiguousStorageIfAvailable({ spoor_hash_bytes($0.baseAddress, $0.count) }) {
        return hash
    }
    return Array(bytes).withUnsafeBufferPointer { spoor_hash_bytes($0.baseAddress, $0.count) }
}

extension String: TraceKey {
    /// FNV-1a 64 of the UTF-8 bytes.
    @inlinable public var traceKeyHash: UInt64 {
        var text = self
        return text.withUTF8 { spoor_hash_bytes($0.baseAddress, $0.count) }
    }
}

extension Substring: TraceKey {
    /// FNV-1a 64 of the UTF-8 bytes.
    @inlinable public var traceKeyHash: UInt64 {
        var text = self
        return text.withUTF8 { spoor_hash_bytes($0.baseAddress, $0.count) }
    }
}

extension Character: TraceKey {
    /// FNV-1a 64 of the UTF-8 bytes.
    @inlinable public var traceKeyHash: UInt64 { String(self).traceKeyHash }
}

extension Array: TraceKey where Element == UInt8 {
    /// FNV-1a 64 of the bytes themselves.
    @inlinable public var traceKeyHash: UInt64 { withUnsafeBufferPointer { spoor_hash_bytes($0.baseAddress, $0.count) } }
}

/// Integers hash as 64-bit two's complement, 8 bytes little-endian (`spoor_hash_u64`), whatever
/// their width and signedness: Int8(-1), Int(-1) and a Java long -1 agree.
extension Int: TraceKey {
    /// `spoor_hash_u64` of the value as a 64-bit integer.
    @inlinable public var traceKeyHash: UInt64 { spoor_hash_u64(UInt64(bitPattern: Int64(self))) }
}
extension Int8: TraceKey {
    /// `spoor_hash_u64` of the value as a 64-bit integer.
    @inlinable public var traceKeyHash: UInt64 { spoor_hash_u64(UInt64(bitPattern: Int64(self))) }
}
extension Int16: TraceKey {
    /// `spoor_hash_u64` of the value as a 64-bit integer.
    @inlinable public var traceKeyHash: UInt64 { spoor_hash_u64(UInt64(bitPattern: Int64(self))) }
}
extension Int32: TraceKey {
    /// `spoor_hash_u64` of the value as a 64-bit integer.
    @inlinable public var traceKeyHash: UInt64 { spoor_hash_u64(UInt64(bitPattern: Int64(self))) }
}
extension Int64: TraceKey {
    /// `spoor_hash_u64` of the value as a 64-bit integer.
    @inlinable public var traceKeyHash: UInt64 { spoor_hash_u64(UInt64(bitPattern: self)) }
}
extension UInt: TraceKey {
    /// `spoor_hash_u64` of the value.
    @inlinable public var traceKeyHash: UInt64 { spoor_hash_u64(UInt64(self)) }
}
extension UInt8: TraceKey {
    /// `spoor_hash_u64` of the value.
    @inlinable public var traceKeyHash: UInt64 { spoor_hash_u64(UInt64(self)) }
}
extension UInt16: TraceKey {
    /// `spoor_hash_u64` of the value.
    @inlinable public var traceKeyHash: UInt64 { spoor_hash_u64(UInt64(self)) }
}
extension UInt32: TraceKey {
    /// `spoor_hash_u64` of the value.
    @inlinable public var traceKeyHash: UInt64 { spoor_hash_u64(UInt64(self)) }
}
extension UInt64: TraceKey {
    /// `spoor_hash_u64` of the value.
    @inlinable public var traceKeyHash: UInt64 { spoor_hash_u64(self) }
}
extension Bool: TraceKey {
    /// `spoor_hash_u64` of 0 or 1.
    @inlinable public var traceKeyHash: UInt64 { spoor_hash_u64(self ? 1 : 0) }
}
extension Double: TraceKey {
    /// `spoor_hash_u64` of the IEEE-754 binary64 bits.
    @inlinable public var traceKeyHash: UInt64 { spoor_hash_u64(bitPattern) }
}
extension Float: TraceKey {
    /// `spoor_hash_u64` of the value's bits as a Double (a Float key and the same Double agree).
    @inlinable public var traceKeyHash: UInt64 { spoor_hash_u64(Double(self).bitPattern) }
}

extension RawRepresentable where RawValue: TraceKey {
    /// The hash of the raw value (declare `extension MyEnum: TraceKey {}` to use it).
    @inlinable public var traceKeyHash: UInt64 { rawValue.traceKeyHash }
}

extension Traced: Sendable where Value: Sendable {}

/// A record and its lineage identity: the papers' wrapper W[T].
///
/// A traced record carries its id (and, in piggyback mode, its lineage graph); an untracked one
/// carries id 0 and costs a branch in every lift: the UDF runs and nothing else happens, with no
/// clock read, no allocation and no call into the core. Lifts apply a UDF to the value and
/// report (direct mode) or record (piggyback mode) the application with its timing, operator
/// and call site. Immutable: every lift returns new records.
@frozen
public struct Traced<Value> {
    /// The record.
    public var value: Value
    /// Its id; `.untracked` unless sampled at entry or derived from a traced record.
    public let id: RecordID
    /// Its place in the lineage graph, in piggyback mode.
    @usableFromInline let trail: LineageRef?

    /// Its lineage graph, in piggyback mode. For a record sampled at entry and not derived since,
    /// a root node made on each access that carries the entry's id only.
    public var lineage: PiggybackLineage? { trail?.lineage }

    /// An untracked record.
    @inlinable
    public init(untracked value: Value) {
        self.value = value
        self.id = .untracked
        self.trail = nil
    }

    @inlinable
    init(value: Value, id: RecordID, lineage: LineageRef?) {
        self.value = value
        self.id = id
        self.trail = lineage
    }

    /// Whether the record is traced.
    @inlinable
    public var isTracked: Bool { id.rawValue != 0 }

    /// A record entering the traced topology at `source`: sampled by the configured strategy
    /// (key-hash sampling decides on `keyHash`), reported as an entry if sampled.
    @inlinable
    public static func enter(_ value: Value, at source: Operator, keyHash: UInt64 = 0) -> Traced<Value> {
        var id: UInt64 = 0
        _ = spoor_entry(source.id, keyHash, &id)
        if _fastPath(id == 0) { return Traced(untracked: value) }
        return Traced(value: value, id: RecordID(id), lineage: Reporter.entryLineage(id: id))
    }

    /// A record continuing a lineage that arrived from another process or language.
    public init(_ value: Value, continuing context: String) {
        var id: UInt64 = 0
        var flags: UInt32 = 0
        let status = context.utf8CString.withUnsafeBufferPointer { buffer in
            buffer.baseAddress.map { spoor_context_decode($0, max(buffer.count - 1, 0), &id, &flags) } ?? SPOOR_E_PARSE
        }
        self.init(value: value, id: RecordID(status == SPOOR_OK ? id : 0), lineage: nil)
    }

    /// The record's context for another process or language ("00-<id>-<flags>"). In piggyback
    /// mode the record leaves this process with it, so its lineage is reported here (once, however
    /// often the context is read) and the context names the record itself.
    public var context: String {
        let contextID = trail.map { $0.report() } ?? id.rawValue
        var buffer = [CChar](repeating: 0, count: Int(SPOOR_CONTEXT_STRING_LEN) + 1)
        let length = spoor_context_encode(contextID, contextID != 0 ? SPOOR_CONTEXT_SAMPLED : 0, &buffer, buffer.count)
        return String(decoding: buffer.prefix(Int(max(length, 0))).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

// MARK: - Lifts

extension Traced {
    /// lift(f: T -> U): applies `transform` and reports the output with this record as parent.
    @inlinable
    public func map<Output>(
        _ op: Operator? = nil, key: UInt64 = 0, attachment: @autoclosure () -> Attachment = [:],
        fileID: StaticString = #fileID, line: UInt = #line, _ transform: (Value) throws -> Output
    ) rethrows -> Traced<Output> {
        if _fastPath(id.rawValue == 0) { return Traced<Output>(untracked: try transform(value)) }
        let start = SpoorClock.now()
        let output = try transform(value)
        let end = SpoorClock.now()
        let derived = Reporter.derive(
            from: id, trail, op: op?.id ?? Operator.callSite(fileID: fileID, line: line, kind: "map"), fanout: 1,
            key: key, start: start, end: end, attachment: attachment())
        return Traced<Output>(value: output, id: derived.id, lineage: derived.lineage(0))
    }

    /// lift(f: T -> U) for a keyed output: as `map`, and the report carries `keyOf(output)` as
    /// the output's key hash (computed only for traced records).
    @inlinable
    public func map<Output>(
        _ op: Operator? = nil, keyOf: (Output) -> UInt64,
        fileID: StaticString = #fileID, line: UInt = #line, _ transform: (Value) throws -> Output
    ) rethrows -> Traced<Output> {
        if _fastPath(id.rawValue == 0) { return Traced<Output>(untracked: try transform(value)) }
        let start = SpoorClock.now()
        let output = try transform(value)
        let end = SpoorClock.now()
        let derived = Reporter.derive(
            from: id, trail, op: op?.id ?? Operator.callSite(fileID: fileID, line: line, kind: "map"),
            key: keyOf(output), start: start, end: end)
        return Traced<Output>(value: output, id: derived.id, lineage: derived.lineage(0))
    }

    /// lift(f: T -> U) for an output that is only folded (a keyed record entering an aggregation):
    /// applies `transform` and returns the output with what it contributes to the fold, for
    /// `TraceFold.add(_:)`. Reports as `map(_:keyOf:_:)` does; in piggyback mode the application
    /// is kept inline in the fold's lineage instead of in a node of its own.
    @inlinable
    public func mapIntoFold<Output>(
        _ op: Operator, keyOf: (Output) -> UInt64, _ transform: (Value) throws -> Output
    ) rethrows -> (value: Output, contribution: FoldContribution) {
        if _fastPath(id.rawValue == 0) { return (try transform(value), .untracked) }
        let start = SpoorClock.now()
        let output = try transform(value)
        let end = SpoorClock.now()
        return (output, Reporter.contribution(from: id, trail, op: op.id, key: keyOf(output), start: start, end: end))
    }

    /// lift(f: T -> U^m): applies `transform` and reports its m outputs in one report (their ids
    /// are consecutive).
    @inlinable
    public func flatMap<Outputs: Sequence>(
        _ op: Operator? = nil, attachment: @autoclosure () -> Attachment = [:],
        fileID: StaticString = #fileID, line: UInt = #line, _ transform: (Value) throws -> Outputs
    ) rethrows -> [Traced<Outputs.Element>] {
        if _fastPath(id.rawValue == 0) { return try transform(value).map { Traced<Outputs.Element>(untracked: $0) } }
        let start = SpoorClock.now()
        let outputs = Array(try transform(value))
        let end = SpoorClock.now()
        guard !outputs.isEmpty else {
            Reporter.poke(id, trail, op: op?.id ?? 0, event: .filtered, at: end)
            return []
        }
        let derived = Reporter.derive(
            from: id, trail, op: op?.id ?? Operator.callSite(fileID: fileID, line: line, kind: "flatMap"),
            fanout: UInt32(truncatingIfNeeded: min(outputs.count, 65_536)), key: 0, start: start, end: end,
            attachment: attachment())
        var result: [Traced<Outputs.Element>] = []
        result.reserveCapacity(outputs.count)
        for (index, output) in outputs.enumerated() {
            let id = derived.id.rawValue == 0 || index >= 65_536 ? RecordID.untracked : RecordID(derived.id.rawValue &+ UInt64(index))
            result.append(Traced<Outputs.Element>(value: output, id: id, lineage: derived.lineage(UInt32(truncatingIfNeeded: index))))
        }
        return result
    }

    /// lift(f: T -> U^m), handing each output to `body` as it is derived (no array of outputs is
    /// built): one report for the m outputs, as `flatMap`.
    @inlinable
    public func flatMap<Output>(
        _ op: Operator? = nil, fileID: StaticString = #fileID, line: UInt = #line,
        _ transform: (Value) throws -> [Output], each body: (Traced<Output>) throws -> Void
    ) rethrows {
        if _fastPath(id.rawValue == 0) {
            for output in try transform(value) { try body(Traced<Output>(untracked: output)) }
            return
        }
        let start = SpoorClock.now()
        let outputs = try transform(value)
        let end = SpoorClock.now()
        let opID = op?.id ?? Operator.callSite(fileID: fileID, line: line, kind: "flatMap")
        guard !outputs.isEmpty else {
            Reporter.poke(id, trail, op: opID, event: .filtered, at: end)
            return
        }
        let derived = Reporter.derive(
            from: id, trail, op: opID, fanout: UInt32(truncatingIfNeeded: Swift.min(outputs.count, 65_536)), key: 0,
            start: start, end: end, attachment: [:])
        for index in outputs.indices {
            let outputID = derived.id.rawValue == 0 || index >= 65_536 ? RecordID.untracked : RecordID(derived.id.rawValue &+ UInt64(index))
            try body(Traced<Output>(value: outputs[index], id: outputID, lineage: derived.lineage(UInt32(truncatingIfNeeded: index))))
        }
    }

    /// lift(f: T -> {true, false}): the record if `isIncluded` holds (reported as a new record),
    /// otherwise nil and a `filtered` event on the record.
    @inlinable
    public func filter(
        _ op: Operator? = nil, fileID: StaticString = #fileID, line: UInt = #line, _ isIncluded: (Value) throws -> Bool
    ) rethrows -> Traced<Value>? {
        if _fastPath(id.rawValue == 0) { return try isIncluded(value) ? self : nil }
        let start = SpoorClock.now()
        let keep = try isIncluded(value)
        let end = SpoorClock.now()
        let opID = op?.id ?? Operator.callSite(fileID: fileID, line: line, kind: "filter")
        guard keep else {
            Reporter.poke(id, trail, op: opID, event: .filtered, at: end)
            return nil
        }
        let derived = Reporter.derive(from: id, trail, op: opID, key: 0, start: start, end: end)
        return Traced(value: value, id: derived.id, lineage: derived.lineage(0))
    }

    /// lift(f: T -> U?): the transformed record, or nil and a `filtered` event.
    @inlinable
    public func compactMap<Output>(
        _ op: Operator? = nil, fileID: StaticString = #fileID, line: UInt = #line, _ transform: (Value) throws -> Output?
    ) rethrows -> Traced<Output>? {
        if _fastPath(id.rawValue == 0) { return try transform(value).map { Traced<Output>(untracked: $0) } }
        let start = SpoorClock.now()
        let output = try transform(value)
        let end = SpoorClock.now()
        let opID = op?.id ?? Operator.callSite(fileID: fileID, line: line, kind: "compactMap")
        guard let output else {
            Reporter.poke(id, trail, op: opID, event: .filtered, at: end)
            return nil
        }
        let derived = Reporter.derive(from: id, trail, op: opID, key: 0, start: start, end: end)
        return Traced<Output>(value: output, id: derived.id, lineage: derived.lineage(0))
    }

    /// lift(f: T -> ()): runs a side effect where the record leaves the pipeline; reports the
    /// application and an `exit` event (in piggyback mode, the whole lineage graph).
    @inlinable
    public func forEach(
        _ op: Operator? = nil, fileID: StaticString = #fileID, line: UInt = #line, _ body: (Value) throws -> Void
    ) rethrows {
        if _fastPath(id.rawValue == 0) { return try body(value) }
        let start = SpoorClock.now()
        try body(value)
        let end = SpoorClock.now()
        let opID = op?.id ?? Operator.callSite(fileID: fileID, line: line, kind: "forEach")
        let derived = Reporter.derive(from: id, trail, op: opID, key: 0, start: start, end: end)
        Traced<Void>(value: (), id: derived.id, lineage: derived.lineage(0)).exit(op, at: end)
    }

    /// lift(f: (T, T) -> T): combines two records of the same type (a fold step, a merge).
    @inlinable
    public func combine(
        _ other: Traced<Value>, _ op: Operator? = nil, key: UInt64 = 0,
        fileID: StaticString = #fileID, line: UInt = #line, _ reduce: (Value, Value) throws -> Value
    ) rethrows -> Traced<Value> {
        try self.combine(other, op, key: key, fileID: fileID, line: line, kind: "combine", reduce)
    }

    /// lift(f: (T, U) -> T): combines a record with one of another type (a fold into an aggregate,
    /// a join).
    @inlinable
    public func combine<Other>(
        _ other: Traced<Other>, _ op: Operator? = nil, key: UInt64 = 0,
        fileID: StaticString = #fileID, line: UInt = #line, kind: StaticString = "combine",
        _ merge: (Value, Other) throws -> Value
    ) rethrows -> Traced<Value> {
        if _fastPath(id.rawValue == 0 && other.id.rawValue == 0) {
            return Traced(untracked: try merge(value, other.value))
        }
        let start = SpoorClock.now()
        let output = try merge(value, other.value)
        let end = SpoorClock.now()
        let derived = Reporter.derive(
            from: [(id, trail), (other.id, other.trail)],
            op: op?.id ?? Operator.callSite(fileID: fileID, line: line, kind: kind), key: key, start: start, end: end,
            fold: false)
        return Traced(value: output, id: derived.id, lineage: derived.lineage(0))
    }

    /// A two-input UDF with its own output type (a join): reports the output with both records
    /// as parents (untracked ones left out).
    @inlinable
    public func join<Other, Output>(
        _ other: Traced<Other>, _ op: Operator? = nil, key: UInt64 = 0,
        fileID: StaticString = #fileID, line: UInt = #line, _ merge: (Value, Other) throws -> Output
    ) rethrows -> Traced<Output> {
        if _fastPath(id.rawValue == 0 && other.id.rawValue == 0) {
            return Traced<Output>(untracked: try merge(value, other.value))
        }
        let start = SpoorClock.now()
        let output = try merge(value, other.value)
        let end = SpoorClock.now()
        let derived = Reporter.derive(
            from: [(id, trail), (other.id, other.trail)],
            op: op?.id ?? Operator.callSite(fileID: fileID, line: line, kind: "join"), key: key, start: start, end: end,
            fold: false)
        return Traced<Output>(value: output, id: derived.id, lineage: derived.lineage(0))
    }

    /// Poke: an engine event on the record, with no mutation. In piggyback mode a terminal event
    /// (`filtered`, `error`) reports the record's lineage there, and the returned record continues
    /// from its reported id.
    @inlinable
    public func poke(_ event: RecordEvent, op: Operator? = nil) -> Traced<Value> {
        if _fastPath(id.rawValue == 0) { return self }
        let nanos = SpoorClock.now()
        let poked = Reporter.poke(id, trail, op: op?.id ?? 0, event: event, at: nanos)
        return Traced(value: value, id: poked.id, lineage: poked.lineage)
    }

    /// Poke with two events at the same instant (a record leaving a queue as it is read from a
    /// shuffle): one clock read, and in piggyback mode one view for both.
    @inlinable
    public func poke(_ event: RecordEvent, then second: RecordEvent, op: Operator? = nil) -> Traced<Value> {
        if _fastPath(id.rawValue == 0) { return self }
        let nanos = SpoorClock.now()
        let poked = Reporter.poke(id, trail, op: op?.id ?? 0, event: event, then: second, at: nanos)
        return Traced(value: value, id: poked.id, lineage: poked.lineage)
    }

    /// The record leaves the traced topology: reports an `exit` event (in piggyback mode, the
    /// whole lineage graph first). Returns the record's id as reported.
    @inlinable
    @discardableResult
    public func exit(_ op: Operator? = nil, at nanos: UInt64 = 0) -> RecordID {
        if _fastPath(id.rawValue == 0) { return .untracked }
        return Reporter.exit(id, trail, op: op?.id ?? 0, at: nanos == 0 ? SpoorClock.now() : nanos)
    }
}
