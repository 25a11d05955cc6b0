// A traced process for the crash test: it writes reports forever and records, in a shared
// progress file, the sequence number of the last report the library accepted. The test kills it
// with SIGKILL at an arbitrary point and recovers its segment from another process.
//
// Usage: SpoorTestChild SHM_NAME LOG_DIR PROGRESS_FILE [EXIT_AFTER]
// With EXIT_AFTER, it writes that many reports and returns from main without spoor_shutdown:
// the library's exit handler must drain them.
#if canImport(Glibc)
import Glibc
#endif
import CSpoor
import SpoorRuntime

/// Set by SIGTERM in --collect mode (a word: the handler only stores it).
nonisolated(unsafe) var collectorStop: sig_atomic_t = 0

let arguments = CommandLine.arguments

// SpoorTestChild --cycles LOG_DIR N: under a 4 GiB address-space limit, N spoor_init /
// spoor_shutdown cycles (default rings, one report each) and N failed spoor_init calls (the log
// directory cannot be created). Exits 0 if all of them behaved, 1 with a message otherwise.
if arguments.count == 4 && arguments[1] == "--cycles", let cycles = Int(arguments[3]) {
    let root = arguments[2]
    let blocker = root + "/file"
    let blockerFD = open(blocker, O_CREAT | O_WRONLY, 0o600)
    guard blockerFD >= 0 else { exit(2) }
    close(blockerFD)
    var limit = rlimit(rlim_cur: 4 << 30, rlim_max: 4 << 30)
    guard setrlimit(__rlimit_resource_t(RLIMIT_AS.rawValue), &limit) == 0 else { exit(2) }
    func start(_ dir: String, sink: spoor_sink_kind) -> Int32 {
        dir.withCString { path in
            var config = spoor_config()
            config.log_dir = path
            config.flags = SPOOR_CONFIG_IGNORE_ENV
            config.sink = sink.rawValue
            config.sampling.mode = SPOOR_SAMPLE_ALL.rawValue
            return spoor_init(&config)
        }
    }
    for cycle in 0..<cycles {
        let started = start(root, sink: SPOOR_SINK_NONE)
        guard started == SPOOR_OK else {
            print("cycle \(cycle): spoor_init returned \(started): \(String(cString: spoor_error_detail()))")
            exit(1)
        }
        var id: UInt64 = 0
        _ = spoor_entry(0, 1, &id)
        guard spoor_shutdown() == SPOOR_OK else {
            print("cycle \(cycle): spoor_shutdown failed")
            exit(1)
        }
        let failed = start(blocker + "/logs", sink: SPOOR_SINK_LOG)
        guard failed == SPOOR_E_IO else {
            print("cycle \(cycle): a failed spoor_init returned \(failed): \(String(cString: spoor_error_detail()))")
            exit(1)
        }
    }
    exit(0)
}

// SpoorTestChild --collect PREFIX: a collector process (HostCollector) for the segments whose
// names start with PREFIX, until SIGTERM (then it hands the rings back) or SIGKILL.
if arguments.count == 3 && arguments[1] == "--collect" {
    var options = HostCollector.Options()
    options.namePrefix = arguments[2]
    options.scanIntervalMillis = 20
    let collector = HostCollector(options: options)
    signal(SIGTERM) { _ in collectorStop = 1 }
    // A parent may have spawned this process with SIGTERM blocked: unblock it.
    var unblock = sigset_t()
    sigemptyset(&unblock)
    sigaddset(&unblock, SIGTERM)
    pthread_sigmask(SIG_UNBLOCK, &unblock, nil)
    while collectorStop == 0 {
        let step = collector.step()
        for event in collector.takeEvents() { print(event.description) }
        fflush(nil)
        if step.reports == 0 && !step.backlog { usleep(1_000) }
    }
    collector.shutdown()
    for event in collector.takeEvents() { print(event.description) }
    exit(0)
}

guard arguments.count == 4 || arguments.count == 5 else {
    print("usage: SpoorTestChild SHM_NAME LOG_DIR PROGRESS_FILE [EXIT_AFTER]")
    exit(2)
}
let exitAfter = arguments.count == 5 ? UInt64(arguments[4]) : nil

let progressFD = open(arguments[3], O_RDWR)
guard progressFD >= 0, let progressMap = mmap(nil, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, progressFD, 0),
      progressMap != MAP_FAILED
else { exit(3) }
let progress = progressMap.assumingMemoryBound(to: UInt64.self)

/// The fields every report of sequence number `seq` must carry (checked by the test).
func keyHash(_ seq: UInt64) -> UInt64 { seq &* 0x9e37_79b9_7f4a_7c15 }

let status = arguments[1].withCString { shm in
    arguments[2].withCString { dir in
        var config = spoor_config()
        config.log_dir = dir
        config.shm_name = shm
        config.flags = SPOOR_CONFIG_IGNORE_ENV
        config.ring_slots = 1024  // small: the ring wraps many times
        config.flush_interval_ms = 2
        config.full_policy = SPOOR_FULL_BLOCK.rawValue  // no drops: every sequence number is committed
        config.block_timeout_ms = 60_000
        config.sampling.mode = SPOOR_SAMPLE_ALL.rawValue
        return spoor_init(&config)
    }
}
guard status == SPOOR_OK else { exit(4) }
var op: UInt32 = 0
_ = spoor_register_operator("crash-udf", 9, "main.swift:1", 12, &op)

var seq: UInt64 = 1
while exitAfter.map({ seq <= $0 }) ?? true {
    // Sequence number as parent; a 16-byte attachment that repeats it (a torn report would not).
    var payload = (seq, ~seq)
    let status = withUnsafeBytes(of: &payload) { raw -> Int32 in
        "seq".withCString { key in
            var attribute = spoor_attr(key: key, key_len: 3, value: raw.baseAddress, value_len: 16)
            var info = spoor_report_info()
            info.op = op
            info.key_hash = keyHash(seq)
            info.start_ns = seq
            info.end_ns = seq &+ 7
            return withUnsafePointer(to: &attribute) { attributes in
                info.attrs = attributes
                info.n_attrs = 1
                var parent = seq
                var out: UInt64 = 0
                return spoor_checkpoint(&parent, 1, &info, &out)
            }
        }
    }
    guard status == SPOOR_OK else { exit(5) }
    spoorint_store_release(progress, seq)
    seq += 1
}
