import SpoorABI
import Synchronization

/// An error from the Spoor core, with its `spoor_strerror` text and the detail of the failure.
public struct SpoorError: Error, Sendable, CustomStringConvertible {
    /// The negative status code of the C ABI (`SPOOR_E_*`).
    public var code: Int32
    /// What failed, in words.
    public var message: String

    init(code: Int32) {
        self.code = code
        self.message = String(cString: spoor_strerror(code)) + ": " + String(cString: spoor_error_detail())
    }

    init(code: Int32, message: String) {
        self.code = code
        self.message = String(cString: spoor_strerror(code)) + ": " + message
    }

    /// The description.
    public var description: String { message }

    static func check(_ status: Int32) throws(SpoorError) {
        if status < 0 { throw SpoorError(code: status) }
    }
}

/// How traced records carry their lineage.
public enum TracingMode: UInt8, Sendable {
    /// Every lifted UDF reports to the core at once (forward and partial backward lineage).
    case direct = 1
    /// Each record carries its immutable lineage graph and reports it where it leaves the
    /// pipeline (backward lineage only, more memory per record).
    case piggyback = 2
}

/// A sampling strategy for entry checkpoints.
public enum Sampling: Sendable, Equatable {
    /// Trace nothing.
    case off
    /// Trace every entry.
    case all
    /// Trace each entry independently with this probability.
    case probability(Double)
    /// Trace every N-th entry of each thread.
    case everyNth(UInt64)
    /// Trace at most this many entries per second, process-wide.
    case rate(perSecond: UInt64)
    /// Trace an entry iff its key hash is selected with this probability, the same in every process.
    case keyHash(Double)

    var cValue: spoor_sampling {
        var value = spoor_sampling()
        switch self {
        case .off: value.mode = SPOOR_SAMPLE_OFF.rawValue
        case .all: value.mode = SPOOR_SAMPLE_ALL.rawValue
        case .probability(let p): value.mode = SPOOR_SAMPLE_PROBABILITY.rawValue; value.probability = p
        case .everyNth(let n): value.mode = SPOOR_SAMPLE_EVERY_N.rawValue; value.every_n = n
        case .rate(let k): value.mode = SPOOR_SAMPLE_RATE.rawValue; value.per_second = k
        case .keyHash(let p): value.mode = SPOOR_SAMPLE_KEY_HASH.rawValue; value.probability = p
        }
        return value
    }
}

/// What a thread does with a report when its ring is full (`spoor_full_policy`).
public enum FullPolicy: Sendable, Equatable {
    /// Drop the report and count it: the caller never waits (`SPOOR_FULL_DROP`).
    case drop
    /// Wait for the collector up to the library's block timeout, then drop
    /// (`SPOOR_FULL_BLOCK`).
    case block
    /// Keep the newest: free the oldest reports not yet drained and count them as overwritten,
    /// a flight recorder (`SPOOR_FULL_OVERWRITE`; shared rings drop instead).
    case overwrite

    var cValue: UInt32 {
        switch self {
        case .drop: SPOOR_FULL_DROP.rawValue
        case .block: SPOOR_FULL_BLOCK.rawValue
        case .overwrite: SPOOR_FULL_OVERWRITE.rawValue
        }
    }
}

/// Configuration of `Spoor.start`. A setting left nil is the library's default (an all-zero
/// field of `spoor_config`, documented in spoor.h): the defaults live in one place, the core.
public struct Configuration: Sendable {
    /// Root of the log; each start creates a run directory inside it. nil: "spoor-traces".
    public var logDirectory: String?
    /// Entry sampling. nil: the library's default (probability 0.01).
    public var sampling: Sampling?
    /// Direct reporting or piggybacking.
    public var mode = TracingMode.direct
    /// Slots (64 bytes) per private ring, a power of two. nil: the library's default.
    public var ringSlots: UInt32?
    /// Private rings, that is threads tracing on a ring of their own; more threads share the
    /// shared rings. nil: the library's default.
    public var maxThreads: UInt32?
    /// Collector period in milliseconds. nil: the library's default.
    public var flushIntervalMilliseconds: UInt32?
    /// What a thread does with a report when its ring is full.
    public var whenFull = FullPolicy.drop
    /// Drain into the binary log (true) or discard (false: overhead measurements).
    public var writeLog = true
    /// Let SPOOR_* environment variables override these settings.
    public var readEnvironment = true
    /// Sampler seed; 0 is random.
    public var seed: UInt64 = 0

    /// The defaults.
    public init() {}
}

/// Counters of the core (`spoor_stats`).
public struct Statistics: Sendable, Equatable {
    /// Reports the library was asked to write.
    public var written: UInt64
    /// Reports published into rings (less those overwritten).
    public var committed: UInt64
    /// Reports lost: a full ring, a block timeout, no ring, or overwritten by newer ones.
    public var dropped: UInt64
    /// Entries sampled.
    public var sampled: UInt64
    /// Reports drained by the collector.
    public var drained: UInt64
    /// Failed sink batches.
    public var sinkErrors: UInt64
}

/// The process-wide tracing switch: start, stop, flush, sample.
public enum Spoor {
    @usableFromInline
    static let currentMode = Atomic<UInt8>(TracingMode.direct.rawValue)

    /// The tracing mode of the running instance.
    @inlinable
    public static var mode: TracingMode {
        TracingMode(rawValue: currentMode.load(ordering: .relaxed)) ?? .direct
    }

    /// Starts tracing in this process.
    public static func start(_ configuration: Configuration = Configuration()) throws(SpoorError) {
        currentMode.store(configuration.mode.rawValue, ordering: .relaxed)
        var config = spoor_config()
        config.flags = configuration.readEnvironment ? 0 : SPOOR_CONFIG_IGNORE_ENV
        config.ring_slots = configuration.ringSlots ?? 0
        config.max_threads = configuration.maxThreads ?? 0
        config.flush_interval_ms = configuration.flushIntervalMilliseconds ?? 0
        config.full_policy = configuration.whenFull.cValue
        config.sink = configuration.writeLog ? SPOOR_SINK_LOG.rawValue : SPOOR_SINK_NONE.rawValue
        config.seed = configuration.seed
        config.sampling = configuration.sampling?.cValue ?? spoor_sampling()
        let status: Int32
        if let directory = configuration.logDirectory {
            status = directory.withCString { path in
                config.log_dir = path
                return spoor_init(&config)
            }
        } else {
            status = spoor_init(&config)
        }
        try SpoorError.check(status)
    }

    /// Drains everything and stops tracing.
    public static func shutdown() throws(SpoorError) {
        try SpoorError.check(spoor_shutdown())
    }

    /// Waits until every report committed so far is in the sink.
    public static func flush(timeoutMilliseconds: UInt32 = 10_000) throws(SpoorError) {
        try SpoorError.check(spoor_flush(timeoutMilliseconds))
    }

    /// Replaces the sampling strategy at run time.
    public static func setSampling(_ sampling: Sampling) throws(SpoorError) {
        var value = sampling.cValue
        try SpoorError.check(spoor_set_sampling(&value))
    }

    /// The run directory of the log, if tracing into a log.
    public static var runDirectory: String? {
        var buffer = [CChar](repeating: 0, count: 4096)
        let length = spoor_run_dir(&buffer, buffer.count)
        guard length > 0 else { return nil }
        return String(decoding: buffer.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The counters, or nil if not running.
    public static var statistics: Statistics? {
        var stats = spoor_stats()
        guard spoor_get_stats(&stats) == SPOOR_OK else { return nil }
        return Statistics(
            written: stats.written, committed: stats.committed, dropped: stats.dropped, sampled: stats.sampled,
            drained: stats.drained, sinkErrors: stats.sink_errors)
    }

    /// Sets the partition the calling thread works on (reported with every record it traces).
    @inlinable
    public static func setPartition(_ partition: UInt32) {
        spoor_set_partition(partition)
    }

    /// Whether tracing is running.
    public static var isRunning: Bool {
        spoor_generation() != 0
    }
}
