import Spoor

/// What flows through a channel between stages.
@usableFromInline
enum Message<T: Sendable>: Sendable {
    /// Records of one window.
    case batch(window: UInt64, records: [Traced<T>])
    /// The producer will send no more records of windows up to and including `window`.
    case watermark(UInt64)
    /// The producer is done.
    case end
}

/// How a streaming source cuts its records into tumbling windows.
public enum Windowing: Sendable {
    /// One window for the whole (finite) input: batch mode.
    case none
    /// A new window every `count` records of each source instance.
    case count(Int)
    /// A new window every `milliseconds` of processing time at the source.
    case time(milliseconds: Int)
}

/// A keyed record.
public struct KeyValue<Key: DataflowKey, Value: Sendable>: Sendable {
    /// The key.
    public var key: Key
    /// The value.
    public var value: Value

    /// A keyed record.
    @inlinable
    public init(_ key: Key, _ value: Value) {
        self.key = key
        self.value = value
    }
}

/// The output of a join: both sides' values for a key.
public struct Joined<Key: DataflowKey, Left: Sendable, Right: Sendable>: Sendable {
    /// The key.
    public var key: Key
    /// The left value.
    public var left: Left
    /// The right value.
    public var right: Right

    /// A joined pair.
    @inlinable
    public init(key: Key, left: Left, right: Right) {
        self.key = key
        self.left = left
        self.right = right
    }
}

/// The output of a cogroup: every value of both sides for a key.
public struct CoGrouped<Key: DataflowKey, Left: Sendable, Right: Sendable>: Sendable {
    /// The key.
    public var key: Key
    /// The left values.
    public var left: [Left]
    /// The right values.
    public var right: [Right]

    /// A cogrouped key.
    @inlinable
    public init(key: Key, left: [Left], right: [Right]) {
        self.key = key
        self.left = left
        self.right = right
    }
}

