// libFuzzer target "config": the configuration parser (RuntimeConfiguration) on SPOOR_*
// environment values and on spoor_config structs. Built by scripts/fuzz-recover.
//
// Input: byte 0 bit 0: also pass a spoor_config whose numeric fields are the next 64 bytes
// (log_dir / shm_name point at the first two values when bits 1 / 2 are set); bytes 1-2: which of
// the variables below are set (bit i: names[i]); then the values of the set variables in order,
// separated by NUL bytes. A configuration that is accepted must satisfy every documented bound.
import CSpoor
@testable import SpoorRuntime

let spoorFuzzVariables = [
    "SPOOR_SAMPLING", "SPOOR_DIR", "SPOOR_SHM_NAME", "SPOOR_RING_SLOTS", "SPOOR_MAX_THREADS", "SPOOR_FLUSH_MS",
    "SPOOR_BLOCK_TIMEOUT_MS", "SPOOR_SEGMENT_BYTES", "SPOOR_SEED", "SPOOR_FULL_POLICY", "SPOOR_SINK",
]

@_cdecl("LLVMFuzzerTestOneInput")
public func spoorFuzzConfig(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    guard let data, size >= 3 else { return 0 }
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let useStruct = bytes[0] & 1 != 0
    let mask = Int(bytes[1]) | Int(bytes[2]) << 8
    var rest = bytes[3...]
    var structBytes = [UInt8](repeating: 0, count: 64)
    if useStruct {
        let take = rest.prefix(64)
        structBytes.replaceSubrange(0..<take.count, with: take)
        rest = rest.dropFirst(take.count)
    }
    var values = rest.split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
    var environment: [String: String] = [:]
    for (index, name) in spoorFuzzVariables.enumerated() where mask & (1 << index) != 0 && !values.isEmpty {
        environment[name] = values.removeFirst()
    }
    func check(_ configuration: RuntimeConfiguration) {
        let c = configuration
        precondition(c.ringSlots >= 64 && c.ringSlots <= 1 << 24 && c.ringSlots & (c.ringSlots - 1) == 0)
        precondition((1...4096).contains(c.maxThreads) && (1...60_000).contains(c.flushIntervalMillis))
        precondition((1...60_000).contains(c.blockTimeoutMillis))
        precondition(c.segmentBytes >= 64 << 10 && c.segmentBytes <= 1 << 40)
        precondition(!c.logRoot.isEmpty && c.logRoot.utf8.count <= RuntimeConfiguration.maxPathLength)
    }
    let lookup: (String) -> String? = { environment[$0] }
    if !useStruct {
        if let configuration = try? RuntimeConfiguration(nil, environment: lookup) { check(configuration) }
        return 0
    }
    // Strings for the pointer fields: the first remaining values, NUL-terminated.
    let logDir = Array((values.first ?? "").utf8CString)
    let shmName = Array((values.dropFirst().first ?? "").utf8CString)
    logDir.withUnsafeBufferPointer { logDirPointer in
        shmName.withUnsafeBufferPointer { shmPointer in
            var config = spoor_config()
            func word32(_ at: Int) -> UInt32 {
                UInt32(structBytes[at]) | UInt32(structBytes[at + 1]) << 8 | UInt32(structBytes[at + 2]) << 16
                    | UInt32(structBytes[at + 3]) << 24
            }
            func word64(_ at: Int) -> UInt64 { UInt64(word32(at)) | UInt64(word32(at + 4)) << 32 }
            // struct_size is right or wrong, as byte 0 bit 3 says.
            config.struct_size = bytes[0] & 8 != 0 ? word32(0) : UInt32(MemoryLayout<spoor_config>.size)
            config.flags = word32(4) & 3
            config.log_dir = bytes[0] & 2 != 0 ? logDirPointer.baseAddress : nil
            config.shm_name = bytes[0] & 4 != 0 ? shmPointer.baseAddress : nil
            config.ring_slots = word32(8)
            config.max_threads = word32(12)
            config.flush_interval_ms = word32(16)
            config.full_policy = word32(20) & 0x8000_0003
            config.block_timeout_ms = word32(24)
            config.sink = word32(28) & 0x8000_0003
            config.segment_bytes = word64(32)
            config.seed = word64(40)
            config.sampling.mode = word32(48) & 0x8000_0007
            config.sampling.reserved = word32(52) & 0x8000_0000
            config.sampling.probability = Double(bitPattern: word64(56))
            config.sampling.every_n = UInt64(word32(52) & 0xff)
            config.sampling.per_second = UInt64(word32(48) >> 8)
            if let configuration = try? RuntimeConfiguration(&config, environment: lookup) { check(configuration) }
        }
    }
    return 0
}
