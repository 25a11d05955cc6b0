#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CSpoor

/// A configuration problem, with the field or variable it concerns.
struct ConfigurationError: Error {
    var message: String
    init(_ message: String) { self.message = message }
}

/// What the library does when a thread's ring is full.
enum FullPolicy: Sendable { case drop, block, overwrite }

/// Where drained batches go.
enum SinkKind: Sendable { case log, discard }

/// Which clock `spoor_now` reads (SPOOR_CLOCK): the TSC where it is invariant (auto, the
/// default), or always clock_gettime(CLOCK_MONOTONIC).
enum ClockChoice: Sendable { case automatic, monotonic }

/// A validated configuration: `spoor_config` with defaults and environment overrides applied.
struct RuntimeConfiguration: Sendable {
    /// The log root when neither log_dir nor SPOOR_DIR names one.
    static let defaultLogRoot = "spoor-traces"
    var logRoot = RuntimeConfiguration.defaultLogRoot
    var sharedMemoryName: String?
    var ringSlots = 16_384
    var maxThreads = 64
    var flushIntervalMillis = 10
    var fullPolicy = FullPolicy.drop
    var blockTimeoutMillis = 1_000
    var sink = SinkKind.log
    var segmentBytes: UInt64 = 64 << 20
    var seed: UInt64 = 0
    var sampling = SamplingStrategy.default
    var clock = ClockChoice.automatic
    /// Shared (multi-producer) rings for threads beyond `maxThreads` (SPOOR_SHARED_RINGS).
    var sharedRings = min(max(sysconf(Int32(_SC_NPROCESSORS_ONLN)), 1), 64)
    /// The environment variable each overridden field came from, to name it in errors.
    var environmentSources: [String: String] = [:]

    func fieldName(_ field: String) -> String {
        environmentSources[field].map { "\($0) (\(field))" } ?? field
    }

    static let maxPathLength = Int(SPOORINT_RUN_DIR_CAPACITY) - 64

    /// Reads `config` (NULL: defaults), then the SPOOR_* variables unless told to ignore them.
    init(
        _ config: UnsafePointer<spoor_config>?,
        environment: (String) -> String? = { name in getenv(name).map { String(cString: $0) } }
    ) throws(ConfigurationError) {
        var useEnvironment = true
        if let config {
            let value = config.pointee
            guard value.struct_size == 0 || Int(value.struct_size) == MemoryLayout<spoor_config>.size else {
                throw ConfigurationError("struct_size \(value.struct_size) is not sizeof(spoor_config) = \(MemoryLayout<spoor_config>.size)")
            }
            guard value.flags & ~SPOOR_CONFIG_IGNORE_ENV == 0 else {
                throw ConfigurationError("flags has unknown bits 0x\(String(value.flags, radix: 16))")
            }
            useEnvironment = value.flags & SPOOR_CONFIG_IGNORE_ENV == 0
            if let dir = value.log_dir { logRoot = try Self.boundedString(dir, field: "log_dir") }
            if let name = value.shm_name { sharedMemoryName = try Self.boundedString(name, field: "shm_name") }
            if value.ring_slots != 0 { ringSlots = Int(value.ring_slots) }
            if value.max_threads != 0 { maxThreads = Int(value.max_threads) }
            if value.flush_interval_ms != 0 { flushIntervalMillis = Int(value.flush_interval_ms) }
            switch value.full_policy {
            case 0: fullPolicy = .drop
            case 1: fullPolicy = .block
            case 2: fullPolicy = .overwrite
            default: throw ConfigurationError("full_policy \(value.full_policy) is not a spoor_full_policy")
            }
            if value.block_timeout_ms != 0 { blockTimeoutMillis = Int(value.block_timeout_ms) }
            switch value.sink {
            case 0: sink = .log
            case 1: sink = .discard
            default: throw ConfigurationError("sink \(value.sink) is not a spoor_sink_kind")
            }
            if value.segment_bytes != 0 { segmentBytes = value.segment_bytes }
            seed = value.seed
            sampling = try SamplingStrategy(value.sampling)
        }
        if useEnvironment { try applyEnvironment(environment) }
        try validate()
    }

    static func boundedString(_ pointer: UnsafePointer<CChar>, field: String) throws(ConfigurationError) -> String {
        let length = strnlen(pointer, maxPathLength + 1)
        guard length <= maxPathLength else { throw ConfigurationError("\(field) is longer than \(maxPathLength) bytes") }
        let bytes = UnsafeRawBufferPointer(start: pointer, count: length)
        return String(decoding: bytes, as: UTF8.self)
    }

    private mutating func applyEnvironment(_ environment: (String) -> String?) throws(ConfigurationError) {
        func integer(_ name: String) throws(ConfigurationError) -> UInt64? {
            guard let text = environment(name) else { return nil }
            guard let value = UInt64(text.trimmingSpaces) else { throw ConfigurationError("\(name)=\(text) is not a non-negative integer") }
            return value
        }
        if let text = environment("SPOOR_SAMPLING") {
            do {
                sampling = try SamplingStrategy(parsing: text.trimmingSpaces)
            } catch {
                throw error.message.hasPrefix("SPOOR_SAMPLING") ? error : ConfigurationError("SPOOR_SAMPLING=\(text): \(error.message)")
            }
        }
        if let text = environment("SPOOR_DIR") {
            logRoot = text
            environmentSources["log_dir"] = "SPOOR_DIR"
        }
        if let text = environment("SPOOR_SHM_NAME") { sharedMemoryName = text }
        if let value = try integer("SPOOR_RING_SLOTS") {
            ringSlots = Int(clamping: value)
            environmentSources["ring_slots"] = "SPOOR_RING_SLOTS"
        }
        if let value = try integer("SPOOR_MAX_THREADS") {
            maxThreads = Int(clamping: value)
            environmentSources["max_threads"] = "SPOOR_MAX_THREADS"
        }
        if let value = try integer("SPOOR_FLUSH_MS") {
            flushIntervalMillis = Int(clamping: value)
            environmentSources["flush_interval_ms"] = "SPOOR_FLUSH_MS"
        }
        if let value = try integer("SPOOR_BLOCK_TIMEOUT_MS") {
            blockTimeoutMillis = Int(clamping: value)
            environmentSources["block_timeout_ms"] = "SPOOR_BLOCK_TIMEOUT_MS"
        }
        if let value = try integer("SPOOR_SEGMENT_BYTES") {
            segmentBytes = value
            environmentSources["segment_bytes"] = "SPOOR_SEGMENT_BYTES"
        }
        if let value = try integer("SPOOR_SEED") { seed = value }
        if let text = environment("SPOOR_FULL_POLICY") {
            switch text.trimmingSpaces {
            case "drop": fullPolicy = .drop
            case "block": fullPolicy = .block
            case "overwrite": fullPolicy = .overwrite
            default: throw ConfigurationError("SPOOR_FULL_POLICY=\(text) is not drop, block or overwrite")
            }
        }
        if let value = try integer("SPOOR_SHARED_RINGS") {
            sharedRings = Int(clamping: value)
            environmentSources["shared_rings"] = "SPOOR_SHARED_RINGS"
        }
        if let text = environment("SPOOR_CLOCK") {
            switch text.trimmingSpaces {
            case "auto": clock = .automatic
            case "monotonic": clock = .monotonic
            default: throw ConfigurationError("SPOOR_CLOCK=\(text) is not auto or monotonic")
            }
        }
        if let text = environment("SPOOR_SINK") {
            switch text.trimmingSpaces {
            case "log": sink = .log
            case "none": sink = .discard
            default: throw ConfigurationError("SPOOR_SINK=\(text) is not log or none")
            }
        }
    }

    private func validate() throws(ConfigurationError) {
        guard ringSlots >= 64, ringSlots <= 1 << 24, ringSlots & (ringSlots - 1) == 0 else {
            throw ConfigurationError("\(fieldName("ring_slots")) = \(ringSlots) is not a power of two in [64, 2^24]")
        }
        guard (1...4096).contains(maxThreads) else { throw ConfigurationError("\(fieldName("max_threads")) = \(maxThreads) is not in [1, 4096]") }
        guard (1...64).contains(sharedRings) else {
            throw ConfigurationError("\(fieldName("shared_rings")) = \(sharedRings) is not in [1, 64]")
        }
        guard (1...60_000).contains(flushIntervalMillis) else {
            throw ConfigurationError("\(fieldName("flush_interval_ms")) = \(flushIntervalMillis) is not in [1, 60000]")
        }
        guard (1...60_000).contains(blockTimeoutMillis) else {
            throw ConfigurationError("\(fieldName("block_timeout_ms")) = \(blockTimeoutMillis) is not in [1, 60000]")
        }
        guard segmentBytes >= 64 << 10, segmentBytes <= 1 << 40 else {
            throw ConfigurationError("\(fieldName("segment_bytes")) = \(segmentBytes) is not in [64 KiB, 2^40]")
        }
        guard !logRoot.isEmpty, logRoot.utf8.count <= Self.maxPathLength else {
            throw ConfigurationError("\(fieldName("log_dir")) must be 1 to \(Self.maxPathLength) bytes")
        }
        guard UInt64(maxThreads + sharedRings) * UInt64(ringSlots) * 64 <= 1 << 40 else {
            throw ConfigurationError("(max_threads + shared rings) * ring_slots * 64 exceeds 1 TiB")
        }
    }
}

extension String {
    var trimmingSpaces: String {
        String(self.drop(while: { $0 == " " }).reversed().drop(while: { $0 == " " }).reversed())
    }
}
