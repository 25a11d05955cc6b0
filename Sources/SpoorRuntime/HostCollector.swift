#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CSpoor
import SpoorSupport
import SpoorLog

/// The collector process (`spoor collect`): finds the segments of every traced process of this
/// user on the host, takes each one's rings over through its consumer lease and drains them into
/// that run's log, in place, as fast as the owner's own collector thread would.
///
/// For each segment in `/dev/shm` with the magic `SPOORSHM`:
/// - another user's segment, or one of an unknown layout version, is refused (an event says so);
/// - a segment whose owner died is drained by `SegmentRecovery` (nothing committed is lost; the
///   event records the producer as dead);
/// - otherwise the collector asks for the rings (`consumer_request`) and the owner's collector
///   thread hands them over at its next pass, or the collector takes them over at once from a
///   collector process that died holding them (after moving each ring past what that one had
///   logged, so that nothing is logged twice).
///
/// While it holds a segment's rings it drains them on every `step`; it hands them back when the
/// owner asks (at `spoor_shutdown`), when the owner dies (then it finishes the run), and at
/// `shutdown`. Not thread-safe: one thread calls `step` and `shutdown`.
public final class HostCollector {
    /// Settings of a collector process.
    public struct Options: Sendable {
        /// Where POSIX shared memory appears.
        public var sharedMemoryDirectory = "/dev/shm"
        /// How often to look for new segments and dead owners, in milliseconds.
        public var scanIntervalMillis = 200
        /// Only segments whose name (without the leading `/`) starts with this.
        public var namePrefix = ""
        /// Creates the defaults.
        public init() {}
    }

    /// Something that happened to a segment, for the status output.
    public enum Event: Sendable, CustomStringConvertible {
        /// The collector took a segment's rings over (`takenOver`: from a collector process that
        /// died holding them, rather than from the owner).
        case attached(segment: String, pid: UInt32, takenOver: Bool)
        /// The collector handed a segment's rings back to its owner.
        case handedBack(segment: String, pid: UInt32)
        /// The owner keeps its rings (it logs nothing, or it is shutting down).
        case declined(segment: String, pid: UInt32)
        /// A segment that is not this collector's to drain, and why.
        case refused(segment: String, reason: String)
        /// The owner died; its segment was drained to the end (`reports` by the recovery).
        case producerDied(segment: String, pid: UInt32, reports: Int)
        /// Something failed (a recovery, a log that cannot be written).
        case failed(segment: String, reason: String)

        /// One line for the user.
        public var description: String {
            switch self {
            case .attached(let segment, let pid, let takenOver):
                "attached \(segment) (pid \(pid))\(takenOver ? ", taken over from a collector that died" : "")"
            case .handedBack(let segment, let pid): "handed \(segment) back to pid \(pid)"
            case .declined(let segment, let pid): "pid \(pid) keeps the rings of \(segment)"
            case .refused(let segment, let reason): "refused \(segment): \(reason)"
            case .producerDied(let segment, let pid, let reports):
                "producer pid \(pid) of \(segment) is dead: drained, \(reports) reports recovered after the last pass"
            case .failed(let segment, let reason): "\(segment): \(reason)"
            }
        }
    }

    /// Totals since the collector started.
    public struct Totals: Sendable {
        /// Segments whose rings this process holds now.
        public var attached = 0
        /// Reports written to the logs by this process's passes.
        public var reports: UInt64 = 0
        /// Reports the producers of the attached segments lost so far (full rings and the like).
        public var dropped: UInt64 = 0
        /// Producers found dead.
        public var deadProducers = 0
    }

    /// Receives every batch after it reached the log: the run it belongs to, the ring, the
    /// whole reports in `first` then `second` (valid only during the call), and their count.
    public typealias BatchObserver = (_ run: RunIdentity, _ ring: UInt32, _ first: UnsafeRawBufferPointer, _ second: UnsafeRawBufferPointer, _ count: Int) -> Void
    /// Receives the operators of a run as they appear.
    public typealias OperatorObserver = (_ run: RunIdentity, _ operators: [OperatorRecord]) -> Void

    let options: Options
    let holder = ConsumerLease.ourselves
    private var segments: [String: Tracked] = [:]
    /// Names never to look at again (refused, declined, finished), each reported once.
    private var settled: Set<String> = []
    private var nextScan: UInt64 = 0
    private var events: [Event] = []
    private var totals = Totals()
    private let onBatch: BatchObserver?
    private let onOperators: OperatorObserver?

    /// Creates a collector; nothing is attached before the first `step`.
    public init(options: Options = Options(), onOperators: OperatorObserver? = nil, onBatch: BatchObserver? = nil) {
        self.options = options
        self.onBatch = onBatch
        self.onOperators = onOperators
    }

    /// One segment the collector is dealing with.
    final class Tracked {
        let entry: String
        let header: spoorint_shm_header
        let mapped: SharedSegment
        let directory: OpenDirectory
        let identity: RunIdentity
        var collector: Collector?
        var sink: CountingSink?
        /// Rings whose pages this process has mapped in (`populate`).
        var populated: [Bool]
        /// This process stored its request in the segment.
        var requested = false

        init(entry: String, header: spoorint_shm_header, mapped: SharedSegment, directory: OpenDirectory) {
            self.entry = entry
            self.header = header
            self.mapped = mapped
            self.directory = directory
            self.populated = Array(repeating: false, count: mapped.ringCount)
            self.identity = RunIdentity(
                runID: header.run_id, pid: header.owner_pid,
                realtimeNanos: header.created_realtime_ns, monotonicNanos: header.created_monotonic_ns)
        }

        var pid: UInt32 { header.owner_pid }
        var name: String { "/" + entry }
    }

    /// A log sink that counts what it wrote and shows it to the observers.
    final class CountingSink: ReportSink {
        let log: LogSink
        let run: RunIdentity
        let onBatch: BatchObserver?
        let onOperators: OperatorObserver?
        var reports: UInt64 = 0
        var batches: UInt64 = 0

        init(log: LogSink, run: RunIdentity, onBatch: BatchObserver?, onOperators: OperatorObserver?) {
            self.log = log
            self.run = run
            self.onBatch = onBatch
            self.onOperators = onOperators
        }

        func writeOperators(_ operators: [OperatorRecord]) throws {
            try log.writeOperators(operators)
            onOperators?(run, operators)
        }

        func writeBatch(ring: UInt32, firstPosition: UInt64, count: Int, first: UnsafeRawBufferPointer, second: UnsafeRawBufferPointer) throws {
            try log.writeBatch(ring: ring, firstPosition: firstPosition, count: count, first: first, second: second)
            reports &+= UInt64(count)
            batches &+= 1
            onBatch?(run, ring, first, second, count)
        }

        func writeLoss(ring: UInt32, _ loss: LossRecord) throws { try log.writeLoss(ring: ring, loss) }
        func close(_ statistics: CloseStatistics) throws { try log.close(statistics) }
        func handOff() throws -> UInt32? { try log.handOff() }
        func resume(atSegment segment: UInt32) throws { try log.resume(atSegment: segment) }
    }

    /// What a `step` did.
    public struct Step: Sendable {
        /// Reports drained in this step.
        public var reports: UInt64 = 0
        /// Some ring was a quarter full or more: step again at once.
        public var backlog = false
    }

    /// Looks for segments (every `scanIntervalMillis`), settles leases, and drains every ring
    /// this process holds once.
    @discardableResult
    public func step() -> Step {
        let now = monotonicNanos()
        if now >= nextScan {
            scan()
            nextScan = now &+ UInt64(options.scanIntervalMillis) * 1_000_000
        }
        var result = Step()
        for (entry, tracked) in segments {
            guard let collector = tracked.collector else {
                acquire(tracked)
                continue
            }
            populate(tracked)
            let before = tracked.sink?.reports ?? 0
            let (holding, pass) = collector.pass()
            guard holding else {
                // Another process judged this one dead and took the rings over.
                events.append(.failed(segment: tracked.name, reason: "lost the consumer lease to another process"))
                forget(entry)
                continue
            }
            let drained = (tracked.sink?.reports ?? 0) &- before
            result.reports &+= drained
            totals.reports &+= drained
            if pass.backlog { result.backlog = true }
            if collector.reclaimRequested {
                _ = collector.pass()
                collector.release()
                events.append(.handedBack(segment: tracked.name, pid: tracked.pid))
                forget(entry, settle: true)
            }
        }
        return result
    }

    /// Hands every ring back (after a last pass over each) and unmaps everything.
    public func shutdown() {
        for (entry, tracked) in segments {
            if let collector = tracked.collector {
                let before = tracked.sink?.reports ?? 0
                _ = collector.pass()
                totals.reports &+= (tracked.sink?.reports ?? 0) &- before
                collector.release()
                events.append(.handedBack(segment: tracked.name, pid: tracked.pid))
            } else {
                // Withdraw a request not yet granted.
                _ = spoorint_cas(tracked.mapped.headerWord(HeaderField.consumerRequest), holder, 0)
            }
            forget(entry)
        }
    }

    /// The events since the last call.
    public func takeEvents() -> [Event] {
        defer { events = [] }
        return events
    }

    /// The totals now (`dropped` read from the attached segments).
    public func currentTotals() -> Totals {
        var current = totals
        current.attached = segments.values.filter { $0.collector != nil }.count
        current.dropped = 0
        for tracked in segments.values where tracked.collector != nil {
            for index in 0..<tracked.mapped.ringCount {
                current.dropped &+= spoorint_load_relaxed(RingField.word(tracked.mapped.ring(index), RingField.dropped))
            }
        }
        return current
    }

    /// Whether every ring this process holds is empty (for `spoor collect --once`).
    public var drainedEverything: Bool {
        for tracked in segments.values {
            guard tracked.collector != nil else { return false }
            for index in 0..<tracked.mapped.ringCount {
                let ring = tracked.mapped.ring(index)
                if spoorint_load_acquire(RingField.word(ring, RingField.head)) != spoorint_load_acquire(RingField.word(ring, RingField.tail)) {
                    return false
                }
            }
        }
        return true
    }

    /// Segments found but whose rings are not (yet) held.
    public var pending: Int { segments.values.filter { $0.collector == nil }.count }

    // MARK: Finding segments

    private func scan() {
        // Owners that died, among the segments already known.
        for (entry, tracked) in segments where !SegmentRecovery.ownerAlive(pid_t(bitPattern: tracked.pid), mapping: entry) {
            finishDead(entry, tracked)
        }
        guard let names = try? LogReader.listDirectory(options.sharedMemoryDirectory) else { return }
        for entry in names where entry.hasPrefix(options.namePrefix) && segments[entry] == nil && !settled.contains(entry) {
            consider(entry)
        }
    }

    /// Looks at `/dev/shm/entry` for the first time.
    private func consider(_ entry: String) {
        let path = options.sharedMemoryDirectory + "/" + entry
        var info = stat()
        guard lstat(path, &info) == 0, info.st_mode & S_IFMT == S_IFREG else { return }
        let me = geteuid()
        if info.st_uid != me {
            // Its contents cannot be read (0600); a name of ours says it is a segment.
            if entry.hasPrefix("spoor.") {
                settle(entry, .refused(segment: "/" + entry, reason: "owned by uid \(info.st_uid), not by this user (uid \(me))"))
            }
            return
        }
        guard Self.hasMagic(path) else { return }  // not a spoor segment: none of our business
        let foreign: ForeignSegment
        do {
            foreign = try ForeignSegment(name: "/" + entry)
        } catch {
            settle(entry, .refused(segment: "/" + entry, reason: error.message))
            return
        }
        guard foreign.ownerUID == me else {
            settle(entry, .refused(segment: "/" + entry, reason: "owned by uid \(foreign.ownerUID), not by this user (uid \(me))"))
            return
        }
        guard foreign.header.state == UInt64(SPOORINT_SEGMENT_RUNNING) else { return }
        let owner = pid_t(bitPattern: foreign.header.owner_pid)
        // This process's own segments are drained by its own collector thread.
        guard owner != getpid() else {
            settled.insert(entry)
            return
        }
        guard SegmentRecovery.ownerAlive(owner, mapping: entry) else {
            foreign.closeDescriptor()
            recoverDead(entry, pid: foreign.header.owner_pid)
            return
        }
        let directory: OpenDirectory
        do {
            directory = try OpenDirectory.recorded(
                foreign.runDirectory, ownerUID: me, ownerPID: foreign.header.owner_pid, runID: foreign.header.run_id, segment: "/" + entry)
        } catch {
            // No log directory (SPOOR_SINK_NONE never creates one): the owner keeps its rings.
            settle(entry, .declined(segment: "/" + entry, pid: foreign.header.owner_pid))
            return
        }
        let mapped: SharedSegment
        do {
            mapped = try SharedSegment.map(foreign: foreign)
        } catch {
            _ = close(directory.descriptor)
            settle(entry, .failed(segment: "/" + entry, reason: error.message))
            return
        }
        segments[entry] = Tracked(entry: entry, header: foreign.header, mapped: mapped, directory: directory)
    }

    /// Whether the file starts with the segment magic.
    static func hasMagic(_ path: String) -> Bool {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)
        guard fd >= 0 else { return false }
        defer { _ = close(fd) }
        var magic: UInt64 = 0
        return ForeignSegment.readAll(fd, into: &magic, count: 8, at: 0) && magic == SPOORINT_SHM_MAGIC
    }

    // MARK: The lease

    /// Asks for a segment's rings, or takes them: from the owner (which grants a request at its
    /// next pass) or from a collector process that died holding them.
    private func acquire(_ tracked: Tracked) {
        let segment = tracked.mapped
        let consumerWord = segment.headerWord(HeaderField.consumer)
        let requestWord = segment.headerWord(HeaderField.consumerRequest)
        let consumer = spoorint_load_acquire(consumerWord)
        if consumer == holder {
            let start = UInt32(truncatingIfNeeded: spoorint_load_acquire(segment.headerWord(HeaderField.consumerLogSegment)))
            attach(tracked, logSegment: start, takenOver: false)
        } else if consumer != 0 {
            guard !ConsumerLease.isAlive(consumer) else { return }  // another collector process holds it
            guard spoorint_cas(consumerWord, consumer, holder) else { return }
            _ = spoorint_cas(requestWord, consumer, 0)
            spoorint_fetch_add(segment.headerWord(HeaderField.consumerHandoffs), 1)
            let next = ConsumerLease.adopt(segment: segment, directory: tracked.directory.accessPath, runID: tracked.header.run_id)
            attach(tracked, logSegment: next, takenOver: true)
        } else {
            let request = spoorint_load_acquire(requestWord)
            if request == holder { return }  // asked; the owner answers at its next pass
            if request == 0 && tracked.requested {
                // The owner cleared this process's request without granting it.
                settle(tracked.entry, .declined(segment: tracked.name, pid: tracked.pid))
                forget(tracked.entry, settle: true)
                return
            }
            guard request == 0 || !ConsumerLease.isAlive(request) else { return }  // another collector asked first
            if spoorint_cas(requestWord, request, holder) { tracked.requested = true }
        }
    }

    /// Maps in the pages of every ring its producers have taken (`takes` > 0: its memory is
    /// reserved) and this process has not mapped yet, so that draining a fresh mapping does not
    /// fault once per 4 KiB (a quarter of the drain time of a full 64 MiB ring).
    private func populate(_ tracked: Tracked) {
        let segment = tracked.mapped
        let bytes = segment.ringSlots * Int(SPOORINT_SLOT_SIZE)
        for index in 0..<segment.ringCount where !tracked.populated[index] {
            guard spoorint_load_acquire(RingField.word(segment.ring(index), RingField.takes)) > 0 else { continue }
            _ = spoorint_populate_read(segment.slots(index), bytes)
            tracked.populated[index] = true
        }
    }

    private func attach(_ tracked: Tracked, logSegment: UInt32, takenOver: Bool) {
        do {
            let writer = try LogWriter(
                directory: tracked.directory.accessPath, identity: tracked.identity, segmentBytes: 64 << 20, firstSegment: logSegment)
            let sink = CountingSink(log: LogSink(writer: writer), run: tracked.identity, onBatch: onBatch, onOperators: onOperators)
            tracked.sink = sink
            tracked.collector = Collector(
                segment: tracked.mapped, sink: sink, intervalMillis: 0, overwrite: false, role: .foreign(holder: holder))
            populate(tracked)
            events.append(.attached(segment: tracked.name, pid: tracked.pid, takenOver: takenOver))
        } catch {
            // Without a log the rings go back to the owner at once.
            spoorint_store_release(tracked.mapped.headerWord(HeaderField.consumerLogSegment), UInt64(logSegment))
            _ = spoorint_cas(tracked.mapped.headerWord(HeaderField.consumerRequest), holder, 0)
            spoorint_store_release(tracked.mapped.headerWord(HeaderField.consumer), 0)
            events.append(.failed(segment: tracked.name, reason: "cannot write its log: \(error)"))
            forget(tracked.entry, settle: true)
        }
    }

    // MARK: Dead owners

    /// The owner of a tracked segment died: drain what is left, hand the lease back, and let the
    /// recovery finish the run (close record, state RECOVERED, name unlinked).
    private func finishDead(_ entry: String, _ tracked: Tracked) {
        if let collector = tracked.collector {
            let before = tracked.sink?.reports ?? 0
            _ = collector.pass()
            totals.reports &+= (tracked.sink?.reports ?? 0) &- before
            collector.release()
        } else {
            _ = spoorint_cas(tracked.mapped.headerWord(HeaderField.consumerRequest), holder, 0)
        }
        forget(entry)
        recoverDead(entry, pid: tracked.pid)
    }

    private func recoverDead(_ entry: String, pid: UInt32) {
        do {
            let summary = try SegmentRecovery.recover(name: "/" + entry, outputDirectory: nil, force: false, keepSegment: false)
            totals.deadProducers += 1
            settle(entry, .producerDied(segment: "/" + entry, pid: pid, reports: summary.reports))
        } catch {
            // Another process (a sweep, `spoor recover`) may be at it: look again at the next scan.
            events.append(.failed(segment: "/" + entry, reason: "\(error)"))
        }
    }

    private func settle(_ entry: String, _ event: Event) {
        settled.insert(entry)
        events.append(event)
    }

    private func forget(_ entry: String, settle: Bool = false) {
        if let tracked = segments.removeValue(forKey: entry) {
            tracked.mapped.unmapForeign()
            _ = close(tracked.directory.descriptor)
        }
        if settle { settled.insert(entry) }
    }
}
