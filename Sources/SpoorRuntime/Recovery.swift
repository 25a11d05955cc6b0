#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CSpoor
import SpoorSupport
import SpoorLog

/// What `SegmentRecovery.recover` did.
public struct RecoverySummary: Sendable {
    /// The run directory the reports went to.
    public var runDirectory: String
    /// Reports drained from the segment.
    public var reports: Int
    /// Reports of this run the log already held, drained by the owner's collector before it
    /// died (counted in the log, not from the segment's `drained` counters: a process killed
    /// after a batch reached the log and before its counter moved has that batch in the log
    /// and not in the counter).
    public var drainedByCollector: UInt64
    /// Rings holding a malformed report header, or a range that is not a ring's (the rest of
    /// such a ring is skipped).
    public var damagedRings: [Int]
    /// Reports whose header was well formed but whose contents were not (a malformed
    /// attachment): skipped, so that the log holds only reports its reader accepts.
    public var invalidReports: Int
}

/// Drains the shared-memory segment of a process that died (SIGKILL, a crash) into its log.
///
/// Everything the dead process committed to its rings is between each ring's tail and head.
/// The collector advances a tail only after the sink wrote the batch, so a batch may be both in
/// the log and still before the tail; recovery reads the log first and starts each ring after
/// the last position already logged, so no report is delivered twice. Reports are validated
/// against the head (never past it), so a report the producer had not published is never read.
///
/// Nothing in the segment is trusted. It is never mapped: the header, each ring descriptor, each
/// operator entry and each range of slots is copied once into private memory (`ForeignSegment`)
/// and validated there, and the log is encoded from that same copy, so a process rewriting the
/// segment meanwhile can change what is read but not make a validated report differ from the
/// one encoded. Counters read from it are combined with wrapping or saturating arithmetic only.
///
/// Files: a segment owned by another user is refused unless `allowOtherOwner`. The run directory
/// recorded in the segment is used only if it is an absolute path without `.`, `..` or empty
/// components, its last component names this run (`...-PID-RUNID`), every component is a real
/// directory (opened one by one with `O_NOFOLLOW`, so no symbolic link is followed) and the
/// directory belongs to the segment's owner. Files are created through that open directory, with
/// the owner's file-system identity when the caller is root (`setfsuid`/`setfsgid`, so the
/// kernel checks the owner's permissions and the files are the owner's), and any file recovery
/// created that still belongs to someone else is then given to the segment's owner.
public enum SegmentRecovery {
    /// A failure to recover, in words.
    public struct Failure: Error, CustomStringConvertible {
        /// What went wrong.
        public var description: String
    }

    /// Recovers segment `name`. Refuses a segment whose owner is alive unless `force`, and one
    /// that another user owns unless `allowOtherOwner`. Writes into `outputDirectory`, or the run
    /// directory recorded in the segment. Unlinks the segment afterwards unless `keepSegment`.
    public static func recover(
        name: String, outputDirectory: String?, force: Bool, keepSegment: Bool, allowOtherOwner: Bool = false
    ) throws -> RecoverySummary {
        let segment: ForeignSegment
        do {
            segment = try ForeignSegment(name: name)
        } catch {
            throw Failure(description: error.message)
        }
        // One recoverer at a time (a process sweeping its log root, `spoor dump`, `spoor recover`):
        // the lock is the segment file's, released when `segment` closes it.
        guard flock(segment.descriptor, LOCK_EX | LOCK_NB) == 0 else {
            throw Failure(description: "\(name) is being recovered by another process")
        }
        var header = segment.header
        // Another recoverer may have finished between the header's copy and the lock.
        var current: UInt64 = 0
        if segment.read(into: &current, count: 8, at: HeaderField.state) { header.state = current }
        let state = header.state
        guard state == UInt64(SPOORINT_SEGMENT_RUNNING) else {
            throw Failure(description: "\(name) was already \(state == UInt64(SPOORINT_SEGMENT_CLOSED) ? "closed cleanly" : "recovered")")
        }
        // A collector process that holds the rings drains them and finishes the run itself
        // (docs/shm-layout.md, "The consumer lease"): two consumers at once would log twice.
        var consumer: UInt64 = 0
        if segment.read(into: &consumer, count: 8, at: HeaderField.consumer), consumer != 0, ConsumerLease.isAlive(consumer) {
            throw Failure(description: "\(name) is being drained by the spoor collect process \(ConsumerLease.pid(consumer))")
        }
        let caller = geteuid()
        guard segment.ownerUID == caller || allowOtherOwner else {
            throw Failure(description: "\(name) belongs to uid \(segment.ownerUID), not to you (uid \(caller)); pass --allow-other-owner to recover it (its files will belong to uid \(segment.ownerUID))")
        }
        let owner = pid_t(bitPattern: header.owner_pid)
        let ownerRuns = owner > 0 && (kill(owner, 0) == 0 || errno == EPERM)
        if !force && ownerRuns {
            throw Failure(description: "process \(owner) that owns \(name) is still running (use --force to drain it anyway)")
        }

        // In the recorded run directory, act on files as the segment's owner (--out is the
        // caller's own choice: the caller's identity, and the files are given to the owner after).
        let identity = outputDirectory == nil
            ? FileIdentity.become(uid: segment.ownerUID, gid: segment.ownerGID) : FileIdentity(previousUID: nil, previousGID: nil)
        defer { identity.restore() }
        let directory: OpenDirectory
        if let outputDirectory {
            directory = try OpenDirectory.output(outputDirectory)
        } else {
            directory = try OpenDirectory.recorded(
                segment.runDirectory, ownerUID: segment.ownerUID, ownerPID: header.owner_pid, runID: header.run_id, segment: name)
        }
        defer { _ = close(directory.descriptor) }
        let access = directory.accessPath

        var loggedEnd: [UInt32: UInt64] = [:]
        var loggedBefore: UInt64 = 0
        var nextSegment: UInt32 = 0
        let reader = LogReader(directory: access)
        if let paths = try? reader.segmentPaths(), !paths.isEmpty {
            var lastPath = ""
            for path in paths {
                if let name = path.split(separator: "/").last, let index = LogFormat.segmentIndex(ofFileName: String(name)),
                   index &+ 1 > nextSegment {
                    nextSegment = index &+ 1
                    lastPath = path
                }
            }
            // Only this run's records count: --out may name a directory holding other runs.
            let runID = header.run_id
            var inThisRun = false
            let issues = try reader.read { entry in
                switch entry {
                case .segment(let segmentHeader):
                    inThisRun = segmentHeader.identity.runID == runID
                case .reports(let ring, _, let end, let batch) where inThisRun:
                    loggedEnd[ring] = loggedEnd[ring].map { max($0, end) } ?? end
                    loggedBefore &+= UInt64(batch.count)
                default:
                    break
                }
            }
            // The dead writer's last segment, left open: finished here (cut after its last valid
            // record, sealed naming the segment written next), so that readers of the recovered
            // run see a whole log, not a tail that "may be lost". Only in the run's own directory,
            // and never while the owner's pid runs (--force on a live process, whose writer goes
            // on appending; a reused pid leaves the segment unsealed, as before). Best effort: a
            // seal that cannot be written leaves the segment unsealed, which readers report, and
            // the recovery of the reports goes on.
            if outputDirectory == nil, !ownerRuns, let open = issues.first(where: { $0.kind == .unsealed && $0.path == lastPath }) {
                try? LogWriter.sealAbandoned(open, next: nextSegment)
            }
        }
        let runIdentity = RunIdentity(
            runID: header.run_id, pid: header.owner_pid,
            realtimeNanos: header.created_realtime_ns, monotonicNanos: header.created_monotonic_ns)
        let writer = try LogWriter(directory: access, identity: runIdentity, segmentBytes: 64 << 20, firstSegment: nextSegment)
        let sink = LogSink(writer: writer)
        defer { directory.giveCreatedFiles(from: nextSegment, to: segment.ownerUID, segment.ownerGID) }

        let drain = ForeignDrain(segment: segment)
        let outcome = try drain.drainAll(after: loggedEnd, into: sink, writeBack: true)
        let stats = outcome.statistics
        // Reports the dead process dropped for want of a ring were counted in its own memory
        // only; the close record written here cannot include them.
        var closing = stats
        closing.written = stats.committed &+ stats.dropped
        closing.threads = 0
        try sink.close(CloseStatistics(closing))
        segment.write(word: UInt64(SPOORINT_SEGMENT_RECOVERED), at: HeaderField.state)
        if !keepSegment { _ = shm_unlink(name) }
        return RecoverySummary(
            runDirectory: directory.displayPath, reports: outcome.reports,
            drainedByCollector: loggedBefore,
            damagedRings: outcome.damagedRings, invalidReports: outcome.invalidReports)
    }
}

/// Copies, validates and hands to a sink the reports of a `ForeignSegment`'s rings (see
/// `SegmentRecovery`). Separate from the file handling so that a fuzz target can run it on any
/// bytes with an in-memory sink.
struct ForeignDrain {
    let segment: ForeignSegment

    /// Slots copied at a time: at least the largest report (1 + ceil((65535 * 8 + 1024) / 64) =
    /// 8,209 slots), so every chunk holds at least one whole report.
    static let chunkSlots = 16_384

    struct Outcome {
        var reports = 0
        var invalidReports = 0
        var damagedRings: [Int] = []
        /// The segment's counters summed over its rings (wrapping), including `reports`.
        var statistics = spoor_stats()
    }

    struct RingOutcome {
        var reports = 0
        var invalid = 0
        var damaged = false
        /// The position after the last report used or skipped.
        var end: UInt64
    }

    /// Drains every ring, starting each after the position `loggedEnd` says is in the log
    /// already. With `writeBack`, advances each ring's `tail` and `drained` in the segment.
    func drainAll(after loggedEnd: [UInt32: UInt64], into sink: any ReportSink, writeBack: Bool) throws -> Outcome {
        let operators = (0..<segment.operatorCount()).compactMap { segment.operatorRecord($0) }
        try sink.writeOperators(operators)
        let chunk = min(Self.chunkSlots, segment.ringSlots)
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: chunk * Int(SPOORINT_SLOT_SIZE), alignment: 64)
        defer { buffer.deallocate() }
        var outcome = Outcome()
        for index in 0..<segment.ringCount {
            guard let ring = segment.ringDescriptor(index) else {
                outcome.damagedRings.append(index)
                continue
            }
            var start = ring.tail
            if let end = loggedEnd[UInt32(truncatingIfNeeded: index)], end &- ring.tail <= ring.head &- ring.tail {
                start = end
            }
            var drained: UInt64 = 0
            if start != ring.head {
                let shared = ring.flags & UInt64(SPOORINT_RING_SHARED) != 0
                let result = try drain(
                    ring: index, shared: shared, from: start, to: ring.head, buffer: buffer, chunk: chunk, into: sink)
                if result.damaged { outcome.damagedRings.append(index) }
                outcome.reports += result.reports
                outcome.invalidReports += result.invalid
                drained = UInt64(result.reports)
                if writeBack {
                    let offset = segment.ringOffset(index)
                    segment.write(word: ring.drained &+ drained, at: offset + RingField.drained)
                    segment.write(word: result.end, at: offset + RingField.tail)
                }
            }
            outcome.statistics.committed &+= ring.committed
            outcome.statistics.dropped &+= ring.dropped
            outcome.statistics.sampled &+= ring.sampled
            outcome.statistics.drained &+= ring.drained &+ drained
            outcome.statistics.batches &+= ring.batches
            outcome.statistics.sink_errors &+= ring.sink_errors
        }
        return outcome
    }

    /// Drains positions `start ..< head` of ring `index`: copies up to `chunk` slots at a time
    /// into `buffer`, walks the copy, and hands each run of consecutive valid reports to the
    /// sink from the copy. A malformed header (or one running past `head`) ends the ring; a
    /// well-framed report with malformed contents is skipped and counted.
    /// On a shared ring a header whose kind byte is still 0 was reserved by a producer that had
    /// not committed it when the process died: the ring's reports end there (not damage).
    func drain(
        ring index: Int, shared: Bool = false, from start: UInt64, to head: UInt64, buffer: UnsafeMutableRawPointer,
        chunk: Int, into sink: any ReportSink
    ) throws -> RingOutcome {
        var outcome = RingOutcome(end: start)
        guard head &- start <= UInt64(segment.ringSlots) else {
            outcome.damaged = true
            return outcome
        }
        let slotSize = Int(SPOORINT_SLOT_SIZE)
        var position = start
        while position != head {
            let remaining = Int(head &- position)
            let count = min(chunk, remaining)
            guard segment.readSlots(ring: index, from: position, count: count, into: buffer) else {
                outcome.damaged = true
                break
            }
            var slot = 0
            var runStart = 0
            var runReports = 0
            var stop = false
            func flush() throws {
                guard runReports > 0 else { return }
                let run = UnsafeRawBufferPointer(start: buffer + runStart * slotSize, count: (slot - runStart) * slotSize)
                do {
                    try sink.writeBatch(
                        ring: UInt32(truncatingIfNeeded: index), firstPosition: position &+ UInt64(runStart),
                        count: runReports, first: run, second: UnsafeRawBufferPointer(start: nil, count: 0))
                } catch {
                    throw SegmentRecovery.Failure(description: "\(error)")
                }
                outcome.reports += runReports
                runReports = 0
            }
            while slot < count {
                let header = UnsafeRawPointer(buffer + slot * slotSize)
                if shared && header.load(fromByteOffset: ReportField.kind, as: UInt8.self) == 0 {
                    stop = true
                    break
                }
                guard let slots = ReportLayout.validatedSlotCount(header: header, availableSlots: remaining - slot) else {
                    outcome.damaged = true
                    stop = true
                    break
                }
                // A report past the end of this copy (but before the head): copy again from it.
                if slot + slots > count { break }
                if Self.contentsAreValid(header) {
                    runReports += 1
                } else {
                    try flush()
                    outcome.invalid += 1
                    runStart = slot + slots
                }
                slot += slots
            }
            try flush()
            position &+= UInt64(slot)
            outcome.end = position
            if stop || slot == 0 {
                outcome.damaged = outcome.damaged || (slot == 0 && !stop)
                break
            }
        }
        return outcome
    }

    /// Whether a report whose header slot is `header` (followed in the same buffer by the slots
    /// `ReportLayout.validatedSlotCount` counted) holds what the log reader accepts: its
    /// attachment decodes. (The header fields themselves were checked by `validatedSlotCount`;
    /// every other field may hold any value.)
    static func contentsAreValid(_ header: UnsafeRawPointer) -> Bool {
        let parents = Int(header.load(fromByteOffset: ReportField.parentCount, as: UInt32.self))
        let attachLength = Int(header.load(fromByteOffset: ReportField.attachLength, as: UInt16.self))
        guard attachLength > 0 else { return true }
        let attachment = header + ReportLayout.slotSize + (parents > 1 ? (parents - 1) * 8 : 0)
        return ReportLayout.decodeAttachment(UnsafeRawBufferPointer(start: attachment, count: attachLength)) != nil
    }
}

/// The directory recovery writes into, held open so that the path it was validated under
/// cannot be swapped for another (a rename, a symbolic link) before the files are created.
struct OpenDirectory {
    let descriptor: Int32
    /// The path to show the user.
    let displayPath: String

    /// A path that reaches exactly the opened directory (the kernel resolves it to the open
    /// descriptor, whatever happens to the original path).
    var accessPath: String { "/proc/self/fd/\(descriptor)" }

    /// `--out`: the caller's own choice, created if needed.
    static func output(_ path: String) throws -> OpenDirectory {
        try LogWriter.makeDirectories(path)
        let fd = open(path, O_DIRECTORY | O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw SegmentRecovery.Failure(description: "cannot open \(path): \(errnoText(errno))") }
        return OpenDirectory(descriptor: fd, displayPath: path)
    }

    /// The run directory recorded in a segment, validated as `SegmentRecovery` describes.
    static func recorded(_ path: String, ownerUID: uid_t, ownerPID: UInt32, runID: UInt64, segment: String) throws -> OpenDirectory {
        func refuse(_ why: String) -> SegmentRecovery.Failure {
            SegmentRecovery.Failure(description: "\(segment) records the run directory '\(path)', which \(why); pass --out to choose one")
        }
        guard !path.isEmpty else { throw SegmentRecovery.Failure(description: "\(segment) records no run directory; pass --out") }
        guard path.hasPrefix("/") else { throw refuse("is not an absolute path") }
        let components = path.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false).dropFirst()
        guard !components.isEmpty, components.allSatisfy({ !$0.isEmpty && !$0.elementsEqual(".".utf8) && !$0.elementsEqual("..".utf8) })
        else { throw refuse("is not a normalised path (an empty, '.' or '..' component)") }
        let runSuffix = "-\(ownerPID)-\(hex64(runID).suffix(8))"
        guard let last = components.last, String(decoding: last, as: UTF8.self).hasSuffix(runSuffix) else {
            throw refuse("does not end with this run's '\(runSuffix)'")
        }
        var fd = open("/", O_DIRECTORY | O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw refuse("cannot be opened: /: \(errnoText(errno))") }
        var prefix = ""
        for component in components {
            let name = String(decoding: component, as: UTF8.self)
            prefix += "/" + name
            let next = openat(fd, name, O_DIRECTORY | O_NOFOLLOW | O_RDONLY | O_CLOEXEC)
            let code = errno
            _ = close(fd)
            guard next >= 0 else {
                throw refuse(code == ELOOP || code == ENOTDIR
                    ? "passes through \(prefix), a symbolic link or not a directory"
                    : "cannot be opened: \(prefix): \(errnoText(code))")
            }
            fd = next
        }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_uid == ownerUID else {
            let found = info.st_uid
            _ = close(fd)
            throw refuse("belongs to uid \(found), not to the segment's owner (uid \(ownerUID))")
        }
        return OpenDirectory(descriptor: fd, displayPath: path)
    }

    /// Gives every log segment numbered `first` or later that does not yet belong to `uid` to
    /// `uid`:`gid` (when the caller may: root).
    func giveCreatedFiles(from first: UInt32, to uid: uid_t, _ gid: gid_t) {
        guard let entries = opendir(accessPath) else { return }
        defer { closedir(entries) }
        while let entry = readdir(entries) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
            guard let index = LogFormat.segmentIndex(ofFileName: name), index >= first else { continue }
            var info = stat()
            guard fstatat(descriptor, name, &info, AT_SYMLINK_NOFOLLOW) == 0, info.st_mode & S_IFMT == S_IFREG,
                  info.st_uid != uid || info.st_gid != gid
            else { continue }
            _ = fchownat(descriptor, name, uid, gid, AT_SYMLINK_NOFOLLOW)
        }
    }
}

/// The calling thread's file-system identity (Linux `setfsuid`/`setfsgid`: per thread, affects
/// only permission checks and the owner of new files). Switched to a segment's owner only when
/// the caller is root and the owner is not; otherwise a no-op.
struct FileIdentity {
    let previousUID: uid_t?
    let previousGID: gid_t?

    static func become(uid: uid_t, gid: gid_t) -> FileIdentity {
        guard geteuid() == 0, uid != 0 else { return FileIdentity(previousUID: nil, previousGID: nil) }
        // The group first: with fsuid no longer 0, setfsgid would be refused.
        let oldGID = gid_t(truncatingIfNeeded: spoorint_setfsgid(gid))
        let oldUID = uid_t(truncatingIfNeeded: spoorint_setfsuid(uid))
        return FileIdentity(previousUID: oldUID, previousGID: oldGID)
    }

    func restore() {
        if let previousUID { _ = spoorint_setfsuid(previousUID) }
        if let previousGID { _ = spoorint_setfsgid(previousGID) }
    }
}

// MARK: - Sweeping a log root

/// What `SegmentRecovery.recoverDead(under:)` did.
public struct SweepSummary: Sendable {
    /// Segments recovered: their owners had died without shutting down.
    public var segments = 0
    /// Reports recovered from them.
    public var reports = 0
    /// Segments under the log root that could not be recovered, with the reason.
    public var failures: [String] = []
}

extension SegmentRecovery {
    /// Recovers every segment in /dev/shm that belongs to the caller, still says RUNNING, whose
    /// recorded run directory lies under `logRoot`, and whose owner is dead (no process with its
    /// pid, or one that does not map the segment: the pid was reused). Each is drained into its
    /// own run directory, exactly as `spoor recover NAME` would, and unlinked. This is how a
    /// worker killed with SIGKILL loses nothing it committed: the next `spoor_init` or
    /// `spoor_shutdown` of a process logging under the same root, `spoor_recover_dead`, or the
    /// next `spoor dump`/`spoor stats` over the directory drains it. Live owners, closed and
    /// recovered segments, other users' segments and segments of other log roots are left alone.
    public static func recoverDead(under logRoot: String) -> SweepSummary {
        var summary = SweepSummary()
        guard let resolved = realpath(logRoot, nil) else { return summary }
        let root = String(cString: resolved)
        free(resolved)
        let prefix = root.hasSuffix("/") ? root : root + "/"
        guard let names = try? LogReader.listDirectory("/dev/shm") else { return summary }
        let me = geteuid()
        for entry in names.sorted() {
            guard let header = candidateHeader(entry, owner: me) else { continue }
            let runDirectory = withUnsafeBytes(of: header.run_dir) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            guard runDirectory == root || runDirectory.hasPrefix(prefix) else { continue }
            let pid = pid_t(bitPattern: header.owner_pid)
            guard !ownerAlive(pid, mapping: entry) else { continue }
            do {
                let recovered = try recover(name: "/" + entry, outputDirectory: nil, force: true, keepSegment: false)
                summary.segments += 1
                summary.reports += recovered.reports
            } catch {
                summary.failures.append("/\(entry): \(error)")
            }
        }
        return summary
    }

    /// The header of /dev/shm/`entry` if it is a regular file owned by `owner` that holds a
    /// running spoor segment of this layout; nil otherwise. Reads 4096 bytes, maps nothing.
    static func candidateHeader(_ entry: String, owner: uid_t) -> spoorint_shm_header? {
        let fd = open("/dev/shm/" + entry, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG, info.st_uid == owner,
              info.st_size >= off_t(SPOORINT_HEADER_SIZE)
        else { return nil }
        var header = spoorint_shm_header()
        guard ForeignSegment.readAll(fd, into: &header, count: MemoryLayout<spoorint_shm_header>.size, at: 0),
              header.magic == SPOORINT_SHM_MAGIC, header.layout_version == SPOORINT_SHM_LAYOUT_VERSION,
              header.state == UInt64(SPOORINT_SEGMENT_RUNNING)
        else { return nil }
        return header
    }

    /// Whether process `pid` is alive and maps /dev/shm/`entry` (a live pid that does not map it
    /// is a reused pid: the segment's owner is dead).
    static func ownerAlive(_ pid: pid_t, mapping entry: String) -> Bool {
        guard pid > 0 else { return false }
        if pid == getpid() { return true }
        guard kill(pid, 0) == 0 || errno == EPERM else { return false }
        let fd = open("/proc/\(pid)/maps", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return true } // cannot tell: leave it alone
        defer { close(fd) }
        var contents: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let got = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if got < 0 && errno == EINTR { continue }
            guard got > 0 else { break }
            contents += chunk[0..<got]
        }
        let needle = Array(("/dev/shm/" + entry + "\n").utf8)
        let deleted = Array(("/dev/shm/" + entry + " (deleted)").utf8)
        return contents.withUnsafeBufferPointer { haystack in
            contains(haystack, needle) || contains(haystack, deleted)
        }
    }

    private static func contains(_ haystack: UnsafeBufferPointer<UInt8>, _ needle: [UInt8]) -> Bool {
        guard needle.count <= haystack.count, let first = needle.first else { return false }
        var index = 0
        while index <= haystack.count - needle.count {
            if haystack[index] == first && Array(haystack[index..<(index + needle.count)]) == needle { return true }
            index += 1
        }
        return false
    }
}

