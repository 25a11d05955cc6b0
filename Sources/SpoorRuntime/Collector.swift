#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CSpoor
import SpoorSupport
import SpoorLog

/// The consumer side of a ring: find the whole reports between a tail and a head and hand
/// them to a sink as one batch, straight from the ring memory (no copy).
enum RingConsumer {
    struct Outcome {
        /// Reports handed to the sink.
        var reports = 0
        /// The position after the last whole report.
        var end: UInt64
        /// A malformed report was found (the rest of the range is unusable).
        var damaged = false
        /// The sink failed (the batch is lost).
        var sinkError: String?
    }

    /// Drains a private ring whose producer may free and write over its oldest reports
    /// (`SPOOR_FULL_OVERWRITE`): copies `[tail, head)` into `scratch` (a ring's size), reads the
    /// tail again, and keeps the part of the copy from there on, which was not freed, hence not
    /// written over, while it was copied. It claims that part by compare-and-swap of the tail
    /// (on failure the producer freed more: it keeps less and tries again) and only then hands
    /// it to the sink, so a report is either delivered or counted as overwritten, never both.
    /// The tail is published here: at the outcome's `end`, or at `head` if the range held a
    /// malformed report.
    static func drainCopying(
        segment: SharedSegment, ring index: Int, to head: UInt64, scratch: UnsafeMutableRawPointer, into sink: any ReportSink
    ) -> Outcome {
        let tailWord = RingField.word(segment.ring(index), RingField.tail)
        let capacity = UInt64(segment.ringSlots)
        let mask = capacity - 1
        let slots = segment.slots(index)
        let slotSize = Int(SPOORINT_SLOT_SIZE)
        let copiedFrom = spoorint_load_acquire(tailWord)
        // The producer may already have freed past the head this pass saw.
        guard head &- copiedFrom <= capacity, head != copiedFrom else { return Outcome(end: copiedFrom) }
        let total = Int(head &- copiedFrom)
        let start = Int(copiedFrom & mask)
        let firstCount = min(total, Int(capacity) - start)
        let wordsPerSlot = slotSize / 8
        spoorint_copy_racing_words(scratch, slots + start * slotSize, firstCount * wordsPerSlot)
        if total > firstCount {
            spoorint_copy_racing_words(scratch + firstCount * slotSize, slots, (total - firstCount) * wordsPerSlot)
        }
        // Start at the tail as it is now (the claim below alone decides what is kept; this only
        // saves a claim bound to fail).
        var from = spoorint_load_acquire(tailWord)
        var outcome: Outcome
        while true {
            // Everything was freed (and possibly written over) while it was copied.
            guard from &- copiedFrom < UInt64(total) else { return Outcome(end: from) }
            outcome = walk(from: from, to: head, committedOnly: false) {
                UnsafeRawPointer(scratch + Int($0 &- copiedFrom) * slotSize)
            }
            // A malformed report cannot come from this library's producer: skip to the head.
            var observed = from
            if spoorint_cas_observe(tailWord, &observed, outcome.damaged ? head : outcome.end) { break }
            from = observed
        }
        guard outcome.reports > 0 else { return outcome }
        let batch = UnsafeRawBufferPointer(start: scratch + Int(from &- copiedFrom) * slotSize, count: Int(outcome.end &- from) * slotSize)
        do {
            try sink.writeBatch(ring: UInt32(index), firstPosition: from, count: outcome.reports, first: batch,
                                second: UnsafeRawBufferPointer(start: nil, count: 0))
        } catch {
            outcome.sinkError = "\(error)"
        }
        return outcome
    }

    /// Walks the whole reports from `start` up to `head`: how many there are, where they end,
    /// and whether a malformed header stopped the walk (`sinkError` is left nil). `header(p)` is
    /// the address of position p's slot. With `committedOnly` (a shared ring) the walk also
    /// stops at the first header whose kind byte is still 0: a shared ring's report is committed
    /// once its kind byte is set (release-stored last), and from there on everything was
    /// reserved by a producer still writing it.
    @inline(__always)
    static func walk(
        from start: UInt64, to head: UInt64, committedOnly: Bool, header: (UInt64) -> UnsafeRawPointer
    ) -> Outcome {
        var outcome = Outcome(end: start)
        var position = start
        while position != head {
            let slot = header(position)
            if committedOnly && spoorint_load_acquire_u8((slot + ReportField.kind).assumingMemoryBound(to: UInt8.self)) == 0 { break }
            guard let count = ReportLayout.validatedSlotCount(header: slot, availableSlots: Int(head &- position)) else {
                outcome.damaged = true
                break
            }
            position &+= UInt64(count)
            outcome.reports += 1
        }
        outcome.end = position
        return outcome
    }

    static func drain(
        segment: SharedSegment, ring index: Int, from tail: UInt64, to head: UInt64, into sink: any ReportSink
    ) -> Outcome {
        let capacity = UInt64(segment.ringSlots)
        guard head &- tail <= capacity else { return Outcome(end: tail, damaged: true) }
        let slots = segment.slots(index)
        let mask = capacity - 1
        let shared = segment.isShared(index)
        var outcome = walk(from: tail, to: head, committedOnly: shared) { UnsafeRawPointer(slots + Int(($0 & mask) << 6)) }
        let position = outcome.end
        guard position != tail else { return outcome }
        defer {
            // Before the tail moves on, no consumed slot may keep a kind byte that the next
            // producer's reservation would find looking committed.
            if shared {
                var cleared = tail
                while cleared != position {
                    (slots + Int((cleared & mask) << 6) + ReportField.kind).storeBytes(of: 0, as: UInt8.self)
                    cleared &+= 1
                }
            }
        }
        let start = Int(tail & mask)
        let total = Int(position &- tail)
        let firstCount = min(total, Int(capacity) - start)
        let slotSize = Int(SPOORINT_SLOT_SIZE)
        let first = UnsafeRawBufferPointer(start: slots + start * slotSize, count: firstCount * slotSize)
        let second = UnsafeRawBufferPointer(start: slots, count: (total - firstCount) * slotSize)
        do {
            try sink.writeBatch(ring: UInt32(index), firstPosition: tail, count: outcome.reports, first: first, second: second)
        } catch {
            outcome.sinkError = "\(error)"
        }
        return outcome
    }

    /// The operator in table entry `index` of a segment.
    static func operatorRecord(_ segment: SharedSegment, _ index: Int) -> OperatorRecord {
        let entry = UnsafeRawPointer(segment.operatorEntry(index))
        let nameLength = min(Int(entry.load(fromByteOffset: 0, as: UInt16.self)), Int(SPOOR_MAX_NAME_LEN))
        let siteLength = min(Int(entry.load(fromByteOffset: 2, as: UInt16.self)), Int(SPOOR_MAX_NAME_LEN))
        let name = String(decoding: UnsafeRawBufferPointer(start: entry + 8, count: nameLength), as: UTF8.self)
        let site = String(decoding: UnsafeRawBufferPointer(start: entry + 8 + Int(SPOOR_MAX_NAME_LEN), count: siteLength), as: UTF8.self)
        return OperatorRecord(id: UInt32(index + 1), name: name, callSite: site)
    }
}

/// The collector thread: drains every ring in batches on a timer, and again at once while any
/// ring was at least a quarter full (the watermark), so producers never wake it per report.
/// `flush` requests a pass and waits for it.
final class Collector: @unchecked Sendable {
    let segment: SharedSegment
    let sink: any ReportSink
    let intervalNanos: UInt64
    private let condition = MonotonicCondition()
    // Guarded by condition.mutex:
    private var requested: UInt64 = 0
    private var completed: UInt64 = 0
    private var stopping = false
    private var exited = false
    private var lastSinkError: String?
    // Collector thread only (or, for a collector process, the thread that calls `pass`):
    private var thread: OSThread?
    private var heads: [UInt64]
    private var knownOperators = 0
    /// Reports lost by threads without a ring and reports refused as too large, and what the
    /// log accounts for (loss records with ring `LossRecord.noRing`). These counters live in
    /// the owner's memory, not in the segment: only the owner's collector logs them.
    private var loggedNoRing: UInt64 = 0
    private var loggedTooLarge: UInt64 = 0
    /// Per ring: its `dropped` at the previous pass (new drops make the collector busy).
    /// What the log's loss records account for is kept in the segment (the ring's `logged_*`
    /// words and the sharer entries' `logged`), so that it survives a handoff.
    private var seenDropped: [UInt64]

    /// Under `SPOOR_FULL_OVERWRITE`: a ring's worth of memory that private rings' batches are
    /// copied into before they are delivered (producers may write over the ring meanwhile).
    private let overwriteScratch: UnsafeMutableRawPointer?

    /// Who this collector is in the segment's consumer lease (docs/shm-layout.md, "The consumer
    /// lease").
    enum Role {
        /// The owner's collector thread: drains while `consumer` is 0, hands the rings to a
        /// collector process that asks for them, and takes them back when it lets go or dies.
        /// `runDirectory` and `runID` find what a dead collector process logged.
        case owner(runDirectory: String, runID: UInt64)
        /// A collector process that holds the lease as `holder`.
        case foreign(holder: UInt64)
    }
    let role: Role
    /// Owner role: the collector process holding the rings, 0 while this thread drains them.
    private var handedTo: UInt64 = 0
    /// Owner role: set by `stop` when the collector process did not hand the rings back in time.
    private var reclaimFailed = false

    init(segment: SharedSegment, sink: any ReportSink, intervalMillis: Int, overwrite: Bool, role: Role) {
        self.overwriteScratch = overwrite
            ? UnsafeMutableRawPointer.allocate(byteCount: segment.ringSlots * Int(SPOORINT_SLOT_SIZE), alignment: 64)
            : nil
        self.segment = segment
        self.sink = sink
        self.role = role
        self.intervalNanos = UInt64(intervalMillis) * 1_000_000
        self.heads = Array(repeating: 0, count: segment.ringCount)
        self.seenDropped = Array(repeating: 0, count: segment.ringCount)
    }

    deinit {
        overwriteScratch?.deallocate()
    }

    /// Starts the collector thread; the error if it could not start.
    func start() -> SystemCallError? {
        switch OSThread.start(name: "spoor-collector", { self.run() }) {
        case .success(let started):
            thread = started
            return nil
        case .failure(let error):
            return error
        }
    }

    /// Drains everything committed so far, then stops the thread. If a collector process holds
    /// the rings, asks for them back first (`consumer_reclaim`) and waits up to
    /// `reclaimTimeoutNanos` for it to let go. Returns false if it did not: the rings stay with
    /// it, and the run must be left open (not closed, not unlinked) for it to finish.
    @discardableResult
    func stop() -> Bool {
        condition.mutex.lock()
        stopping = true
        condition.broadcast()
        condition.mutex.unlock()
        thread?.join()
        return !reclaimFailed
    }

    /// How long `stop` waits for a collector process to hand the rings back: 5 s.
    static let reclaimTimeoutNanos: UInt64 = 5_000_000_000

    // MARK: The consumer lease

    /// Owner role, before each pass: takes the rings back from a collector process that let go
    /// of them or died, and hands them to one that asks (unless the owner is shutting down).
    /// True if this thread drains in this pass.
    private func settleLease() -> Bool {
        guard case .owner(let directory, let runID) = role else { return true }
        let consumerWord = segment.headerWord(HeaderField.consumer)
        let requestWord = segment.headerWord(HeaderField.consumerRequest)
        let consumer = spoorint_load_acquire(consumerWord)
        if consumer != 0 {
            handedTo = consumer
            if ConsumerLease.isAlive(consumer) { return false }
            // It died holding the rings: take them back, unless a collector process that
            // started since takes them over first (one compare-and-swap wins).
            guard spoorint_cas(consumerWord, consumer, 0) else { return false }
            _ = spoorint_cas(requestWord, consumer, 0)
            spoorint_fetch_add(segment.headerWord(HeaderField.consumerHandoffs), 1)
            resume(at: ConsumerLease.adopt(segment: segment, directory: directory, runID: runID))
        } else if handedTo != 0 {
            // It let go: it stored where its log ends before it released `consumer`.
            resume(at: UInt32(truncatingIfNeeded: spoorint_load_acquire(segment.headerWord(HeaderField.consumerLogSegment))))
        }
        let request = spoorint_load_acquire(requestWord)
        guard request != 0 else { return true }
        // Under SPOOR_FULL_OVERWRITE producers move the tail too, which only this process's
        // copying drain is written for: such a process keeps its rings.
        guard overwriteScratch == nil, spoorint_load_acquire(segment.headerWord(HeaderField.consumerReclaim)) == 0,
              ConsumerLease.isAlive(request) else {
            _ = spoorint_cas(requestWord, request, 0)
            return true
        }
        let next: UInt32?
        do {
            next = try sink.handOff()
        } catch {
            recordSinkError("\(error)")
            return true
        }
        guard let next else {
            // This sink keeps its reports in this process (SPOOR_SINK_NONE): refuse.
            _ = spoorint_cas(requestWord, request, 0)
            return true
        }
        spoorint_store_release(segment.headerWord(HeaderField.consumerLogSegment), UInt64(next))
        spoorint_fetch_add(segment.headerWord(HeaderField.consumerHandoffs), 1)
        spoorint_store_release(consumerWord, request)
        handedTo = request
        return false
    }

    /// Owner role: a collector process asks for the rings, or holds them (the lease must be
    /// checked: it may have let go or died).
    private var leaseNeedsAttention: Bool {
        guard case .owner = role else { return false }
        return spoorint_load_relaxed(segment.headerWord(HeaderField.consumerRequest)) != 0
            || spoorint_load_relaxed(segment.headerWord(HeaderField.consumer)) != 0 || handedTo != 0
    }

    /// Owner role: drains again from log segment `segment` on.
    private func resume(at segmentIndex: UInt32) {
        handedTo = 0
        knownOperators = 0
        do { try sink.resume(atSegment: segmentIndex) } catch { recordSinkError("\(error)") }
    }

    /// Owner role, at stop: asks the collector process holding the rings to hand them back,
    /// and waits (a pass every millisecond) until it has, or died, or the timeout passed.
    private func reclaim() {
        guard case .owner = role, handedTo != 0 || spoorint_load_acquire(segment.headerWord(HeaderField.consumer)) != 0 else { return }
        spoorint_store_release(segment.headerWord(HeaderField.consumerReclaim), 1)
        let deadline = monotonicNanos() &+ Self.reclaimTimeoutNanos
        while !settleLease() {
            if monotonicNanos() >= deadline {
                reclaimFailed = true
                return
            }
            condition.mutex.lock()
            condition.wait(untilNanos: monotonicNanos() &+ 1_000_000)
            condition.mutex.unlock()
        }
    }

    /// Foreign role: one pass over the rings, if this process still holds the lease; false if
    /// it does not (it never drains then).
    func pass() -> (holding: Bool, pass: Pass) {
        guard case .foreign(let holder) = role,
              spoorint_load_acquire(segment.headerWord(HeaderField.consumer)) == holder else { return (false, Pass()) }
        return (true, drainAll())
    }

    /// Foreign role: whether the owner asked for its rings back.
    var reclaimRequested: Bool {
        spoorint_load_acquire(segment.headerWord(HeaderField.consumerReclaim)) != 0
    }

    /// Foreign role: hands the rings back to the owner's collector (after a last pass): seals
    /// this process's log, stores where it ends, clears the request and then `consumer`.
    func release() {
        guard case .foreign(let holder) = role else { return }
        let consumerWord = segment.headerWord(HeaderField.consumer)
        guard spoorint_load_acquire(consumerWord) == holder else { return }
        let next = (try? sink.handOff()) ?? nil
        if let next { spoorint_store_release(segment.headerWord(HeaderField.consumerLogSegment), UInt64(next)) }
        _ = spoorint_cas(segment.headerWord(HeaderField.consumerRequest), holder, 0)
        spoorint_fetch_add(segment.headerWord(HeaderField.consumerHandoffs), 1)
        spoorint_store_release(consumerWord, 0)
    }

    /// Waits until a full pass that started after this call has completed.
    func flush(timeoutNanos: UInt64) -> Int32 {
        let deadline = monotonicNanos() &+ timeoutNanos
        condition.mutex.lock()
        defer { condition.mutex.unlock() }
        requested &+= 1
        let target = requested
        condition.broadcast()
        while completed < target {
            if exited { return fail(Status.notInitialized, "spoor shut down during spoor_flush") }
            if monotonicNanos() >= deadline { return fail(Status.timeout, "spoor_flush timed out") }
            condition.wait(untilNanos: deadline)
        }
        if let error = lastSinkError {
            lastSinkError = nil
            return fail(Status.io, error)
        }
        // While a collector process holds the rings, the pass above drained nothing: wait until
        // that process has consumed everything committed before the call (each ring's tail has
        // reached the head seen here).
        if case .owner = role, spoorint_load_acquire(segment.headerWord(HeaderField.consumer)) != 0 {
            for index in 0..<segment.ringCount {
                let ring = segment.ring(index)
                let target = spoorint_load_acquire(RingField.word(ring, RingField.head))
                while true {
                    let behind = target &- spoorint_load_acquire(RingField.word(ring, RingField.tail))
                    // 0: caught up; past 2^63: the tail is beyond the target.
                    if behind == 0 || behind > UInt64.max / 2 { break }
                    if spoorint_load_acquire(segment.headerWord(HeaderField.consumer)) == 0 { break }
                    if monotonicNanos() >= deadline { return fail(Status.timeout, "spoor_flush timed out waiting for the spoor collect process that holds the rings") }
                    condition.wait(untilNanos: monotonicNanos() &+ 500_000)
                }
            }
        }
        return Status.ok
    }

    /// Writes the close record and closes the sink; returns the error text, if any.
    func closeSink(_ stats: spoor_stats) -> String? {
        do {
            try sink.close(CloseStatistics(stats))
            return nil
        } catch {
            return "\(error)"
        }
    }

    private func run() {
        condition.mutex.lock()
        var backlog = false
        var nextDrain = monotonicNanos() &+ intervalNanos
        while true {
            if !stopping && requested == completed && !backlog {
                // Wake for the next drain, or sooner to re-calibrate the clock.
                let now = monotonicNanos()
                if now < nextDrain {
                    condition.wait(untilNanos: min(nextDrain, now &+ Clock.period))
                    // A collector process asking for the rings (or holding them: is it still
                    // alive?) is answered within a clock period, not at the next drain.
                    if !stopping && requested == completed && monotonicNanos() < nextDrain && !leaseNeedsAttention {
                        condition.mutex.unlock()
                        Clock.maintain()
                        condition.mutex.lock()
                        continue
                    }
                }
            }
            let target = requested
            let stop = stopping
            // A pass that spoor_flush asked for is followed by the schedule, never by an
            // immediate pass: the caller gets the collector back only when it asks or when the
            // period (or the busy period) says so, not at a moment that depends on timing.
            let asked = target != completed
            condition.mutex.unlock()
            Clock.maintain()
            if stop { reclaim() }
            let pass = reclaimFailed ? Pass() : drainAll()
            backlog = pass.backlog && !asked
            nextDrain = monotonicNanos() &+ (pass.busy ? busyIntervalNanos : intervalNanos)
            condition.mutex.lock()
            if target > completed { completed = target }
            condition.broadcast()
            if stop { break }
        }
        exited = true
        condition.broadcast()
        condition.mutex.unlock()
    }

    private func recordSinkError(_ message: String) {
        condition.mutex.lock()
        lastSinkError = message
        condition.mutex.unlock()
    }

    /// The collector's period while producers keep it busy: a pass that found a ring at least
    /// 1/16 full, or reports lost to a full ring, is followed by the next one after a tenth of
    /// the configured period, at least 1 ms (the period applies again once a pass finds little to
    /// do). A 16384-slot ring fills in about 1 ms at the rate one thread writes one-parent
    /// checkpoints here, so the default 10 ms between passes of a loaded collector left every
    /// ring full for 9 ms of 10: under 4 saturating producers the loss went from 92% at a fixed
    /// 10 ms to 78% (`bench --saturate`; docs/architecture.md, "A saturating producer"). An idle
    /// process still wakes only every flush_interval_ms.
    var busyIntervalNanos: UInt64 { max(intervalNanos / 10, 1_000_000) }

    /// What a pass found: a ring past the watermark (drain again at once), or enough work or
    /// losses that the next pass should come soon.
    struct Pass {
        var backlog = false
        var busy = false
    }

    /// One pass: snapshot every head, then emit new operators (a report visible at the snapshot
    /// was written after its operator was registered), then drain each ring to its snapshot.
    private func drainAll() -> Pass {
        guard settleLease() else { return Pass() }
        let ringCount = segment.ringCount
        for index in 0..<ringCount {
            heads[index] = spoorint_load_acquire(RingField.word(segment.ring(index), RingField.head))
        }
        let operatorCountWord = (UnsafeMutableRawPointer(segment.header) + HeaderField.operatorCount).assumingMemoryBound(to: UInt64.self)
        let operatorCount = Int(min(spoorint_load_acquire(operatorCountWord), UInt64(SPOOR_MAX_OPERATORS)))
        if operatorCount > knownOperators {
            let records = (knownOperators..<operatorCount).map { RingConsumer.operatorRecord(segment, $0) }
            do { try sink.writeOperators(records) } catch { recordSinkError("\(error)") }
            knownOperators = operatorCount
        }
        var pass = Pass()
        let now = Clock.now()
        if case .owner = role {
            logLoss(ring: LossRecord.noRing, .noRing, total: spoorint_load_relaxed(spoorint_no_ring_dropped_ptr()), logged: &loggedNoRing, thread: 0, now: now)
            logLoss(ring: LossRecord.noRing, .tooLarge, total: spoorint_load_relaxed(spoorint_too_large_ptr()), logged: &loggedTooLarge, thread: 0, now: now)
        }
        logSharerLosses(now: now)
        for index in 0..<ringCount {
            let ring = segment.ring(index)
            // Losses first, so that the log says what a ring lost before the batch after it.
            let shared = segment.isShared(index)
            let owner = shared ? 0 : UInt32(truncatingIfNeeded: spoorint_load_relaxed(RingField.word(ring, RingField.ownerTID)))
            // dropped, then overwritten: the producer counts in the other order, so the ring-full
            // part derived here never includes an overwritten report.
            let dropped = spoorint_load_acquire(RingField.word(ring, RingField.dropped))
            let overwritten = spoorint_load_acquire(RingField.word(ring, RingField.overwritten))
            if dropped != seenDropped[index] { pass.busy = true }
            seenDropped[index] = dropped
            // A shared ring's drops are logged per thread from the sharer table; what is left
            // here is those of threads that found the table full (logged with no thread).
            let full = shared
                ? spoorint_load_acquire(RingField.word(ring, RingField.unlistedDropped))
                : (dropped > overwritten ? dropped &- overwritten : 0)
            let sinkLost = RingField.word(ring, RingField.sinkLost)
            logLoss(ring: UInt32(index), .ringFull, total: full, logged: RingField.word(ring, RingField.loggedFull), thread: owner, now: now)
            logLoss(ring: UInt32(index), .overwritten, total: overwritten, logged: RingField.word(ring, RingField.loggedOverwritten), thread: owner, now: now)
            logLoss(ring: UInt32(index), .sinkError, total: sinkLost.pointee, logged: RingField.word(ring, RingField.loggedSink), thread: owner, now: now)
            let tailWord = RingField.word(ring, RingField.tail)
            let tail = spoorint_load_acquire(tailWord)
            let head = heads[index]
            let copying = overwriteScratch != nil && !segment.isShared(index)
            // (Under the overwrite policy the producer may have moved the tail past this head.)
            if head != tail && (!copying || head &- tail <= UInt64(segment.ringSlots)) {
                if (head &- tail) &* 4 >= UInt64(segment.ringSlots) { pass.backlog = true }
                if (head &- tail) &* 16 >= UInt64(segment.ringSlots) { pass.busy = true }
                let outcome = if let scratch = overwriteScratch, copying {
                    RingConsumer.drainCopying(segment: segment, ring: index, to: head, scratch: scratch, into: sink)
                } else {
                    RingConsumer.drain(segment: segment, ring: index, from: tail, to: head, into: sink)
                }
                spoorint_bump(RingField.word(ring, RingField.drained), UInt64(outcome.reports))
                spoorint_bump(RingField.word(ring, RingField.batches), outcome.reports > 0 ? 1 : 0)
                if let error = outcome.sinkError {
                    spoorint_bump(RingField.word(ring, RingField.sinkErrors), 1)
                    sinkLost.pointee &+= UInt64(outcome.reports)
                    recordSinkError(error)
                }
                // A malformed report cannot come from this library's producer; skip the range
                // (on a shared ring, only to the last committed position: producers still own
                // what lies beyond it).
                var newTail = outcome.damaged ? head : outcome.end
                if outcome.damaged && segment.isShared(index) {
                    // Step over the one bad header slot (its kind is non-zero, so no producer is
                    // still writing it) and clear it like every consumed slot.
                    let mask = UInt64(segment.ringSlots - 1)
                    (segment.slots(index) + Int((outcome.end & mask) << 6) + ReportField.kind).storeBytes(of: 0, as: UInt8.self)
                    newTail = outcome.end &+ 1
                }
                if outcome.damaged {
                    spoorint_bump(RingField.word(ring, RingField.sinkErrors), 1)
                    recordSinkError("ring \(index) held a malformed report at position \(outcome.end)")
                }
                if !copying { spoorint_store_release(tailWord, newTail) }
            }
            let state = RingField.word(ring, RingField.state)
            if spoorint_load_acquire(state) == UInt64(SPOORINT_RING_ORPHANED),
               spoorint_load_acquire(RingField.word(ring, RingField.head)) == spoorint_load_relaxed(tailWord) {
                _ = spoorint_cas(state, UInt64(SPOORINT_RING_ORPHANED), UInt64(SPOORINT_RING_FREE))
            }
        }
        return pass
    }

    /// Logs the new drops of every thread in the sharer table (threads on shared rings) as
    /// ring-full losses of its ring with its thread id, and frees the entries of threads that
    /// exited once their last drops are in the log.
    private func logSharerLosses(now: UInt64) {
        let used = segment.sharerCount
        for index in 0..<used {
            let entry = segment.sharer(index)
            let stateWord = RingField.word(entry, SharerField.state)
            let state = spoorint_load_acquire(stateWord)
            guard state == UInt64(SPOORINT_SHARER_ATTACHED) || state == UInt64(SPOORINT_SHARER_DETACHED) else { continue }
            let claims = spoorint_load_relaxed(RingField.word(entry, SharerField.claims))
            let logged = RingField.word(entry, SharerField.logged)
            let loggedClaims = RingField.word(entry, SharerField.loggedClaims)
            if claims != loggedClaims.pointee {
                loggedClaims.pointee = claims
                logged.pointee = 0
            }
            let ring = spoorint_load_relaxed(RingField.word(entry, SharerField.ring))
            let dropped = spoorint_load_acquire(RingField.word(entry, SharerField.dropped))
            if ring < UInt64(segment.ringCount) {
                let tid = UInt32(truncatingIfNeeded: spoorint_load_relaxed(RingField.word(entry, SharerField.tid)))
                logLoss(ring: UInt32(ring), .ringFull, total: dropped, logged: logged, thread: tid, now: now)
            }
            if state == UInt64(SPOORINT_SHARER_DETACHED) && (logged.pointee == dropped || ring >= UInt64(segment.ringCount)) {
                _ = spoorint_cas(stateWord, UInt64(SPOORINT_SHARER_DETACHED), UInt64(SPOORINT_SHARER_FREE))
            }
        }
    }

    /// Writes a loss record if `total` moved past what the log accounts for.
    private func logLoss(ring: UInt32, _ reason: LossReason, total: UInt64, logged: inout UInt64, thread: UInt32, now: UInt64) {
        guard total > logged else { return }
        let loss = LossRecord(reason: reason, thread: thread, reports: total &- logged, total: total, monotonicNanos: now)
        do {
            try sink.writeLoss(ring: ring, loss)
            logged = total
        } catch {
            recordSinkError("\(error)")
        }
    }

    /// `logLoss` with the logged count in a word of the segment (the consumer is its only writer).
    private func logLoss(ring: UInt32, _ reason: LossReason, total: UInt64, logged: UnsafeMutablePointer<UInt64>, thread: UInt32, now: UInt64) {
        var value = logged.pointee
        logLoss(ring: ring, reason, total: total, logged: &value, thread: thread, now: now)
        logged.pointee = value
    }
}
