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
    // Collector thread only:
    private var thread: OSThread?
    private var heads: [UInt64]
    private var knownOperators = 0
    /// Per ring: reports lost to full rings and to sink errors, and how many of each the log's
    /// loss records account for so far (a loss record that itself failed is written again).
    private var sinkLost: [UInt64]
    private var loggedFull: [UInt64]
    private var loggedSink: [UInt64]
    private var loggedOverwritten: [UInt64]
    /// Reports lost by threads without a ring and reports refused as too large, and what the
    /// log accounts for (loss records with ring `LossRecord.noRing`).
    private var loggedNoRing: UInt64 = 0
    private var loggedTooLarge: UInt64 = 0
    /// Per ring: its `dropped` at the previous pass (new drops make the collector busy).
    private var seenDropped: [UInt64]
    /// Per sharer-table entry: the holder it was last seen with (its `claims`) and how many of
    /// that holder's drops the log accounts for.
    private var sharerClaims: [UInt64] = []
    private var loggedSharer: [UInt64] = []

    /// Under `SPOOR_FULL_OVERWRITE`: a ring's worth of memory that private rings' batches are
    /// copied into before they are delivered (producers may write over the ring meanwhile).
    private let overwriteScratch: UnsafeMutableRawPointer?

    init(segment: SharedSegment, sink: any ReportSink, intervalMillis: Int, overwrite: Bool) {
        self.overwriteScratch = overwrite
            ? UnsafeMutableRawPointer.allocate(byteCount: segment.ringSlots * Int(SPOORINT_SLOT_SIZE), alignment: 64)
            : nil
        self.segment = segment
        self.sink = sink
        self.intervalNanos = UInt64(intervalMillis) * 1_000_000
        self.heads = Array(repeating: 0, count: segment.ringCount)
        self.sinkLost = Array(repeating: 0, count: segment.ringCount)
        self.loggedFull = Array(repeating: 0, count: segment.ringCount)
        self.loggedSink = Array(repeating: 0, count: segment.ringCount)
        self.loggedOverwritten = Array(repeating: 0, count: segment.ringCount)
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

    /// Drains everything committed so far, then stops the thread.
    func stop() {
        condition.mutex.lock()
        stopping = true
        condition.broadcast()
        condition.mutex.unlock()
        thread?.join()
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
                    if !stopping && requested == completed && monotonicNanos() < nextDrain {
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
            let pass = drainAll()
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
        logLoss(ring: LossRecord.noRing, .noRing, total: spoorint_load_relaxed(spoorint_no_ring_dropped_ptr()), logged: &loggedNoRing, thread: 0, now: now)
        logLoss(ring: LossRecord.noRing, .tooLarge, total: spoorint_load_relaxed(spoorint_too_large_ptr()), logged: &loggedTooLarge, thread: 0, now: now)
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
            logLoss(ring: UInt32(index), .ringFull, total: full, logged: &loggedFull[index], thread: owner, now: now)
            logLoss(ring: UInt32(index), .overwritten, total: overwritten, logged: &loggedOverwritten[index], thread: owner, now: now)
            logLoss(ring: UInt32(index), .sinkError, total: sinkLost[index], logged: &loggedSink[index], thread: owner, now: now)
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
                    sinkLost[index] &+= UInt64(outcome.reports)
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
        if sharerClaims.count < used {
            sharerClaims += Array(repeating: 0, count: used - sharerClaims.count)
            loggedSharer += Array(repeating: 0, count: used - loggedSharer.count)
        }
        for index in 0..<used {
            let entry = segment.sharer(index)
            let stateWord = RingField.word(entry, SharerField.state)
            let state = spoorint_load_acquire(stateWord)
            guard state == UInt64(SPOORINT_SHARER_ATTACHED) || state == UInt64(SPOORINT_SHARER_DETACHED) else { continue }
            let claims = spoorint_load_relaxed(RingField.word(entry, SharerField.claims))
            if claims != sharerClaims[index] {
                sharerClaims[index] = claims
                loggedSharer[index] = 0
            }
            let ring = spoorint_load_relaxed(RingField.word(entry, SharerField.ring))
            let dropped = spoorint_load_acquire(RingField.word(entry, SharerField.dropped))
            if ring < UInt64(segment.ringCount) {
                let tid = UInt32(truncatingIfNeeded: spoorint_load_relaxed(RingField.word(entry, SharerField.tid)))
                logLoss(ring: UInt32(ring), .ringFull, total: dropped, logged: &loggedSharer[index], thread: tid, now: now)
            }
            if state == UInt64(SPOORINT_SHARER_DETACHED) && (loggedSharer[index] == dropped || ring >= UInt64(segment.ringCount)) {
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
}
