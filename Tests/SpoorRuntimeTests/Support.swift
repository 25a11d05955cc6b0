import CSpoor
import SpoorLog
import Testing

#if canImport(Glibc)
import Glibc
#endif

func temporaryDirectory() -> String {
    var template = Array("/tmp/spoor-test-XXXXXX".utf8CString)
    return template.withUnsafeMutableBufferPointer { buffer in
        guard let base = buffer.baseAddress, mkdtemp(base) != nil else { return "/tmp" }
        return String(cString: base)
    }
}

/// Initialises the library with a log under `logDirectory` and the settings `configure` makes.
func initialize(logDirectory: String, shmName: String? = nil, _ configure: (inout spoor_config) -> Void = { _ in }) -> Int32 {
    logDirectory.withCString { dir in
        func start(_ shm: UnsafePointer<CChar>?) -> Int32 {
            var config = spoor_config()
            config.log_dir = dir
            config.shm_name = shm
            config.flags = SPOOR_CONFIG_IGNORE_ENV
            configure(&config)
            return spoor_init(&config)
        }
        guard let shmName else { return start(nil) }
        return shmName.withCString { start($0) }
    }
}

func sampling(_ mode: spoor_sampling_mode, probability: Double = 0, everyN: UInt64 = 0, perSecond: UInt64 = 0) -> spoor_sampling {
    var value = spoor_sampling()
    value.mode = mode.rawValue
    value.probability = probability
    value.every_n = everyN
    value.per_second = perSecond
    return value
}

func runDirectory() -> String {
    var buffer = [CChar](repeating: 0, count: 4096)
    let length = spoor_run_dir(&buffer, buffer.count)
    return String(decoding: buffer.prefix(Int(max(length, 0))).map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

func registerOperator(_ name: String) -> UInt32 {
    var op: UInt32 = 0
    let status = name.withCString { spoor_register_operator($0, strlen($0), nil, 0, &op) }
    precondition(status == SPOOR_OK)
    return op
}

func readReports(_ directory: String) throws -> (reports: [Report], close: CloseStatistics?, damage: [LogDamage]) {
    var reports: [Report] = []
    var close: CloseStatistics?
    let damage = try LogReader(directory: directory).read { entry in
        switch entry {
        case .reports(_, _, _, let batch): reports += batch
        case .close(let statistics): close = statistics
        default: break
        }
    }
    return (reports, close, damage)
}

/// Runs `body(index)` on `count` new OS threads at once and waits for all of them.
func onThreads(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
    final class Job: @unchecked Sendable {
        let body: @Sendable (Int) -> Void
        let index: Int
        init(_ body: @escaping @Sendable (Int) -> Void, _ index: Int) {
            self.body = body
            self.index = index
        }
    }
    var threads: [pthread_t] = []
    for index in 0..<count {
        var thread = pthread_t()
        let job = Unmanaged.passRetained(Job(body, index)).toOpaque()
        let result = pthread_create(&thread, nil, { raw in
            guard let raw else { return nil }
            let job = Unmanaged<Job>.fromOpaque(raw).takeRetainedValue()
            job.body(job.index)
            return nil
        }, job)
        precondition(result == 0)
        threads.append(thread)
    }
    for thread in threads { pthread_join(thread, nil) }
}

/// A buffer threads write disjoint parts of.
final class SharedBuffer<Element>: @unchecked Sendable {
    let pointer: UnsafeMutableBufferPointer<Element>
    init(count: Int, initial: Element) {
        pointer = .allocate(capacity: count)
        pointer.initialize(repeating: initial)
    }
    deinit { pointer.deallocate() }
}
