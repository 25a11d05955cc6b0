#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CSpoor
import SpoorSupport
import SpoorLog

/// The consumer lease of a segment: which process drains its rings (docs/shm-layout.md, "The
/// consumer lease"). Exactly one consumer at a time: the owner's collector thread (`consumer`
/// 0) or one `spoor collect` process (its holder word). The words live in the segment header;
/// this type names them and holds the steps both sides share.
enum ConsumerLease {
    /// The holder word of process `pid`: the pid in the low 32 bits, the low 32 bits of its
    /// start time in the high ones, so that a pid reused by another process is not taken for the
    /// holder. nil if the process does not exist.
    static func holder(pid: pid_t) -> UInt64? {
        guard let start = startTicks(pid) else { return nil }
        return (start & 0xffff_ffff) << 32 | UInt64(UInt32(bitPattern: pid))
    }

    /// The holder word of this process.
    static let ourselves: UInt64 = holder(pid: getpid()) ?? UInt64(UInt32(bitPattern: getpid()))

    /// The pid in a holder word.
    static func pid(_ holder: UInt64) -> pid_t { pid_t(bitPattern: UInt32(truncatingIfNeeded: holder)) }

    /// Whether the process a holder word names still runs (the same process, not a reused pid).
    static func isAlive(_ holder: UInt64) -> Bool {
        let pid = pid(holder)
        guard pid > 0 else { return false }
        guard kill(pid, 0) == 0 || errno == EPERM else { return false }
        guard let start = startTicks(pid) else { return false }
        return start & 0xffff_ffff == holder >> 32
    }

    /// Field 22 of /proc/PID/stat: the process's start time in clock ticks after boot.
    static func startTicks(_ pid: pid_t) -> UInt64? {
        let fd = open("/proc/\(pid)/stat", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { _ = close(fd) }
        var buffer = [UInt8](repeating: 0, count: 1024)
        let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard count > 0 else { return nil }
        // The command name (field 2) is in parentheses and may hold spaces or parentheses: the
        // fields after it start after the last ')'.
        guard let close = buffer[..<count].lastIndex(of: UInt8(ascii: ")")) else { return nil }
        let fields = buffer[(close + 1)..<count].split(separator: UInt8(ascii: " "))
        // fields[0] is field 3 (state), so field 22 is fields[19].
        guard fields.count > 19 else { return nil }
        return UInt64(String(decoding: fields[19], as: UTF8.self))
    }

    /// What a consumer that died wrote into a run's log: per ring, the end of its last logged
    /// batch, and the batches (first position, report count), so that the next consumer starts
    /// every ring after it and counts the batches the dead one logged but did not acknowledge.
    struct LoggedBatches {
        var end: [UInt32: UInt64] = [:]
        var batches: [UInt32: [(first: UInt64, count: Int)]] = [:]
        /// The log segment index after the last one found (at least the scan's first).
        var nextSegment: UInt32
    }

    /// Reads the log segments numbered `first` or later in `directory`, keeping the records of
    /// run `runID`, and seals a last segment its writer left unsealed (naming the next index).
    static func scanLog(directory: String, runID: UInt64, from first: UInt32) -> LoggedBatches {
        var result = LoggedBatches(nextSegment: first)
        let reader = LogReader(directory: directory, firstSegment: first)
        guard let paths = try? reader.segmentPaths(), !paths.isEmpty else { return result }
        var lastPath = ""
        for path in paths {
            guard let name = path.split(separator: "/").last,
                  let index = LogFormat.segmentIndex(ofFileName: String(name)) else { continue }
            if index &+ 1 > result.nextSegment {
                result.nextSegment = index &+ 1
                lastPath = path
            }
        }
        var inRun = false
        let issues = (try? reader.read { entry in
            switch entry {
            case .segment(let header):
                inRun = header.identity.runID == runID
            case .reports(let ring, let firstPosition, let end, let reports) where inRun:
                result.end[ring] = result.end[ring].map { max($0, end) } ?? end
                result.batches[ring, default: []].append((firstPosition, reports.count))
            default:
                break
            }
        }) ?? []
        if let open = issues.first(where: { $0.kind == .unsealed && $0.path == lastPath }) {
            try? LogWriter.sealAbandoned(open, next: result.nextSegment)
        }
        return result
    }

    /// Takes over the rings of `segment` after its consumer died: moves each ring's tail past
    /// what the dead consumer had logged but not yet acknowledged (clearing the consumed kind
    /// bytes of a shared ring first), counts those batches in `drained` and `batches`, and
    /// returns the log segment index to write from. The caller holds the lease.
    static func adopt(segment: SharedSegment, directory: String, runID: UInt64) -> UInt32 {
        let first = UInt32(truncatingIfNeeded: spoorint_load_acquire(segment.headerWord(HeaderField.consumerLogSegment)))
        let logged = scanLog(directory: directory, runID: runID, from: first)
        let capacity = UInt64(segment.ringSlots)
        let mask = capacity - 1
        for (ring, end) in logged.end where Int(ring) < segment.ringCount {
            let descriptor = segment.ring(Int(ring))
            let tailWord = RingField.word(descriptor, RingField.tail)
            let tail = spoorint_load_acquire(tailWord)
            let head = spoorint_load_acquire(RingField.word(descriptor, RingField.head))
            // Only a range inside the ring's live reports (a log of another run's ring, or one
            // already acknowledged, changes nothing).
            guard end != tail, end &- tail <= head &- tail, head &- tail <= capacity else { continue }
            var reports = 0
            var batches = 0
            for batch in logged.batches[ring] ?? [] where batch.first &- tail < end &- tail {
                reports += batch.count
                batches += 1
            }
            if segment.isShared(Int(ring)) {
                var position = tail
                while position != end {
                    (segment.slots(Int(ring)) + Int((position & mask) << 6) + ReportField.kind).storeBytes(of: 0, as: UInt8.self)
                    position &+= 1
                }
            }
            spoorint_bump(RingField.word(descriptor, RingField.drained), UInt64(reports))
            spoorint_bump(RingField.word(descriptor, RingField.batches), UInt64(batches))
            spoorint_store_release(tailWord, end)
        }
        return logged.nextSegment
    }
}
