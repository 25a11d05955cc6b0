#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CSpoor
import SpoorSupport
import SpoorLog

/// The producer side of a thread's ring: mint ids, reserve slots, encode a report, publish it.
///
/// Every function here receives the caller's `spoor__thread` pointer (computed by the inline
/// code in the caller's image, where a thread-local access is cheap) and touches only that
/// state, the thread's own ring and two process globals: no locks, no allocation, no
/// reference counting, no system call except a clock read when the caller passed no time.
/// A report becomes visible to the collector whole, by one release store of the ring head
/// after all of its slots are written (single producer, single consumer).
enum RingProducer {
    /// Flag bit in `spoor__thread.state_flags`: block (instead of drop) when the ring is full.
    static let blockWhenFull: UInt32 = 0x100
    /// Flag bit in `spoor__thread.state_flags`: the thread writes into a shared ring.
    static let sharedRing: UInt32 = 0x200
    /// Flag bit in `spoor__thread.state_flags`: free the oldest reports of a full private ring
    /// instead of dropping the new one (`SPOOR_FULL_OVERWRITE`).
    static let overwriteWhenFull: UInt32 = 0x400

    /// The `state_flags` bits of a full policy.
    static func policyFlags(_ policy: FullPolicy) -> UInt32 {
        switch policy {
        case .drop: 0
        case .block: blockWhenFull
        case .overwrite: overwriteWhenFull
        }
    }
    /// Ids per id block: the low 16 bits of an id count within a block.
    static let idBlockSize: UInt64 = 1 << 16

    /// Makes sure the thread owns a ring of the running generation. Returns `Status.ok`,
    /// `Status.dropped` (no free ring: counted) or `Status.notInitialized`.
    @inline(__always)
    static func ready(_ thread: UnsafeMutablePointer<spoor__thread>) -> Int32 {
        let generation = spoorint_load_relaxed(spoorint_generation_ptr())
        if _fastPath(thread.pointee.generation == generation && thread.pointee.ring != nil && generation != 0) {
            return Status.ok
        }
        return Lifecycle.attach(thread, generation: generation)
    }

    /// Mints `count` consecutive ids (count in 1...65536).
    @inline(__always)
    static func mint(_ thread: UnsafeMutablePointer<spoor__thread>, count: UInt64) -> UInt64 {
        let id = thread.pointee.next_id
        if _fastPath(id != 0 && id &+ count <= thread.pointee.id_block_end) {
            thread.pointee.next_id = id &+ count
            return id
        }
        return mintFromNewBlock(thread, count: count)
    }

    /// Starts a fresh random id block: 48 random high bits (never 0, never all ones, so ids are
    /// non-zero and the block end does not overflow) and a 16-bit counter.
    @inline(never)
    static func mintFromNewBlock(_ thread: UnsafeMutablePointer<spoor__thread>, count: UInt64) -> UInt64 {
        var state = thread.pointee.id_rng
        if state == 0 { state = randomWord() | 1 }
        let prefix = (splitMix64(&state) >> 16) % ((1 << 48) - 2) + 1
        thread.pointee.id_rng = state
        let first = prefix << 16
        thread.pointee.next_id = first &+ count
        thread.pointee.id_block_end = first &+ idBlockSize
        return first
    }

    /// Whether `slots` slots are free, refreshing the cached consumer position if needed and,
    /// under the blocking policy, waiting for the collector up to the configured timeout. On a
    /// shared ring this also claims them: `thread.head` is then the first claimed position.
    @inline(__always)
    static func reserve(_ thread: UnsafeMutablePointer<spoor__thread>, slots: UInt64, shared: Bool) -> Bool {
        if shared { return reserveShared(thread, slots: slots) }
        if _fastPath(thread.pointee.head &- thread.pointee.tail_cache &+ slots <= thread.pointee.mask &+ 1) {
            return true
        }
        return reserveAfterRefresh(thread, slots: slots)
    }

    /// Claims `slots` slots of a shared ring by compare-and-swap on its head (the reservation
    /// counter), after checking against the consumer's tail like a private ring does.
    @inline(never)
    static func reserveShared(_ thread: UnsafeMutablePointer<spoor__thread>, slots: UInt64) -> Bool {
        guard let ring = thread.pointee.ring else { return false }
        let headWord = RingField.word(ring, RingField.head)
        let tailWord = RingField.word(ring, RingField.tail)
        let capacity = thread.pointee.mask &+ 1
        var head = spoorint_load_relaxed(headWord)
        var deadline: UInt64 = 0
        var spins = 0
        while true {
            if head &- thread.pointee.tail_cache &+ slots > capacity {
                thread.pointee.tail_cache = spoorint_load_acquire(tailWord)
                if head &- thread.pointee.tail_cache &+ slots > capacity {
                    // Full: drop, or wait for the collector under the blocking policy.
                    guard thread.pointee.state_flags & blockWhenFull != 0,
                          spoorint_load_relaxed(spoorint_generation_ptr()) == thread.pointee.generation
                    else { return false }
                    if deadline == 0 { deadline = monotonicNanos() &+ spoorint_load_relaxed(spoorint_block_timeout_ptr()) }
                    spins += 1
                    if spins >= 64 {
                        if monotonicNanos() > deadline { return false }
                        pauseForCollector(spins - 64)
                    }
                    head = spoorint_load_relaxed(headWord)
                    continue
                }
            }
            if spoorint_cas_observe(headWord, &head, head &+ slots) {
                thread.pointee.head = head
                return true
            }
        }
    }

    @inline(never)
    static func reserveAfterRefresh(_ thread: UnsafeMutablePointer<spoor__thread>, slots: UInt64) -> Bool {
        guard let ring = thread.pointee.ring else { return false }
        let tail = RingField.word(ring, RingField.tail)
        let capacity = thread.pointee.mask &+ 1
        thread.pointee.tail_cache = spoorint_load_acquire(tail)
        if thread.pointee.head &- thread.pointee.tail_cache &+ slots <= capacity { return true }
        if thread.pointee.state_flags & overwriteWhenFull != 0 {
            return overwriteOldest(thread, ring: ring, slots: slots)
        }
        guard thread.pointee.state_flags & blockWhenFull != 0 else { return false }
        let deadline = monotonicNanos() &+ spoorint_load_relaxed(spoorint_block_timeout_ptr())
        var spins = 0
        while true {
            thread.pointee.tail_cache = spoorint_load_acquire(tail)
            if thread.pointee.head &- thread.pointee.tail_cache &+ slots <= capacity { return true }
            // Stop waiting if the library shut down meanwhile.
            if spoorint_load_relaxed(spoorint_generation_ptr()) != thread.pointee.generation { return false }
            spins += 1
            if spins < 64 { continue }
            if monotonicNanos() > deadline { return false }
            pauseForCollector(spins - 64)
        }
    }

    /// How a producer waits for room under the blocking policy once 64 spins did not find it:
    /// it sleeps, 8 µs at first and twice as long each time up to 512 µs, so that its CPU goes
    /// to the collector. (A `sched_yield` leaves it runnable: with more producers than cores the
    /// collector then gets a fraction of a core: 4 producers x 10 M reports on this 2-core
    /// machine took 3.4 s and 4.8 CPU-seconds with the yield, 2.3 s and 2.1 with the sleep,
    /// paired in `bench --saturate`.) The wait is bounded by
    /// block_timeout_ms all the same; a 512 µs sleep costs at most a few thousand reports of
    /// latency on a 16384-slot ring.
    @inline(never)
    static func pauseForCollector(_ round: Int) {
        let micros = 8 << min(round, 6)
        var pause = timespec(tv_sec: 0, tv_nsec: micros * 1000)
        _ = nanosleep(&pause, nil) // EINTR: a shorter pause, then the ring is checked again
    }

    /// Frees the oldest whole reports of the thread's full private ring until `slots` slots
    /// are free (`SPOOR_FULL_OVERWRITE`). Each report is freed by a compare-and-swap of the
    /// tail, so that the collector, which claims its batches the same way, never delivers a
    /// report that was freed, nor loses one it claimed. The freed reports move from the ring's
    /// committed count to its dropped count and are counted as overwritten. Returns false
    /// (drop the new report) only if the ring's oldest header is not one this library wrote.
    @inline(never)
    static func overwriteOldest(_ thread: UnsafeMutablePointer<spoor__thread>, ring: UnsafeMutableRawPointer, slots: UInt64) -> Bool {
        guard let base = thread.pointee.slots else { return false }
        let tailWord = RingField.word(ring, RingField.tail)
        let capacity = thread.pointee.mask &+ 1
        let head = thread.pointee.head
        var tail = thread.pointee.tail_cache
        var freed: UInt64 = 0
        var fits = true
        while head &- tail &+ slots > capacity {
            // The producer's own committed report: the consumer never writes a private ring.
            guard let count = ReportLayout.validatedSlotCount(
                header: UnsafeRawPointer(slot(base, thread, tail)), availableSlots: Int(truncatingIfNeeded: head &- tail))
            else {
                fits = false
                break
            }
            var observed = tail
            if spoorint_cas_observe(tailWord, &observed, tail &+ UInt64(count)) {
                tail &+= UInt64(count)
                freed &+= 1
            } else {
                tail = observed // the collector claimed a batch meanwhile
            }
        }
        thread.pointee.tail_cache = tail
        if freed != 0 {
            // Overwritten first: the collector reads dropped, then overwritten, so the ring-full
            // part (dropped - overwritten) it derives never counts an overwritten report.
            spoorint_bump(RingField.word(ring, RingField.overwritten), freed)
            spoorint_bump(RingField.word(ring, RingField.committed), 0 &- freed)
            spoorint_bump(RingField.word(ring, RingField.dropped), freed)
        }
        return fits
    }

    /// Counts a lost report, names its cause for `spoor_error_detail`, and returns
    /// `Status.dropped`.
    @inline(never)
    static func drop(_ thread: UnsafeMutablePointer<spoor__thread>) -> Int32 {
        let cause: StaticString
        if let ring = thread.pointee.ring {
            if thread.pointee.state_flags & sharedRing != 0 {
                // The thread's own count in the sharer table first (the log's per-thread loss
                // records come from it), then the ring's, which every sharer adds to.
                if let sharer = thread.pointee.sharer {
                    spoorint_bump(RingField.word(sharer, SharerField.dropped), 1)
                } else {
                    spoorint_add_relaxed(RingField.word(ring, RingField.unlistedDropped), 1)
                }
                spoorint_add_relaxed(RingField.word(ring, RingField.dropped), 1)
                thread.pointee.own_dropped &+= 1
                cause = "report dropped: the shared ring this thread writes into was full (threads beyond max_threads share rings; raise max_threads or ring_slots)"
            } else {
                spoorint_bump(RingField.word(ring, RingField.dropped), 1)
                if spoorint_load_relaxed(spoorint_generation_ptr()) != thread.pointee.generation {
                    cause = "report dropped: the library shut down while the thread waited for room in its ring"
                } else if thread.pointee.state_flags & blockWhenFull != 0 {
                    cause = "report dropped: the thread's ring stayed full for block_timeout_ms (SPOOR_FULL_BLOCK)"
                } else if thread.pointee.state_flags & overwriteWhenFull != 0 {
                    cause = "report dropped: the oldest report in the thread's ring could not be overwritten (the ring holds a malformed header)"
                } else {
                    cause = "report dropped: the thread's ring was full (SPOOR_FULL_DROP; raise ring_slots or choose block or overwrite)"
                }
            }
        } else {
            thread.pointee.lost_no_ring &+= 1
            _ = spoorint_fetch_add(spoorint_no_ring_dropped_ptr(), 1)
            cause = "report dropped: the thread has no ring (its shared-memory pages could not be reserved)"
        }
        spoorint_set_error_static(UnsafeRawPointer(cause.utf8Start).assumingMemoryBound(to: CChar.self))
        return Status.dropped
    }

    /// Address of ring slot `position`.
    @inline(__always)
    static func slot(_ slots: UnsafeMutableRawPointer, _ thread: UnsafeMutablePointer<spoor__thread>, _ position: UInt64) -> UnsafeMutableRawPointer {
        slots + Int(truncatingIfNeeded: (position & thread.pointee.mask) << 6)
    }

    /// Writes the fixed header slot of a report at the current head.
    @inline(__always)
    static func writeHeader(
        _ header: UnsafeMutableRawPointer, _ thread: UnsafeMutablePointer<spoor__thread>,
        id: UInt64, parent0: UInt64, keyHash: UInt64, start: UInt64, end: UInt64, op: UInt32,
        parentCount: UInt32, attachLength: UInt16, kind: UInt32, flags: UInt8, aux: UInt32
    ) {
        header.storeBytes(of: id, toByteOffset: ReportField.id, as: UInt64.self)
        header.storeBytes(of: parent0, toByteOffset: ReportField.parent0, as: UInt64.self)
        header.storeBytes(of: keyHash, toByteOffset: ReportField.keyHash, as: UInt64.self)
        header.storeBytes(of: start, toByteOffset: ReportField.start, as: UInt64.self)
        header.storeBytes(of: end, toByteOffset: ReportField.end, as: UInt64.self)
        header.storeBytes(of: op, toByteOffset: ReportField.op, as: UInt32.self)
        header.storeBytes(of: thread.pointee.partition_plus_one &- 1, toByteOffset: ReportField.partition, as: UInt32.self)
        header.storeBytes(of: thread.pointee.tid, toByteOffset: ReportField.thread, as: UInt32.self)
        header.storeBytes(of: parentCount, toByteOffset: ReportField.parentCount, as: UInt32.self)
        header.storeBytes(of: attachLength, toByteOffset: ReportField.attachLength, as: UInt16.self)
        header.storeBytes(of: UInt8(truncatingIfNeeded: kind), toByteOffset: ReportField.kind, as: UInt8.self)
        header.storeBytes(of: flags, toByteOffset: ReportField.flags, as: UInt8.self)
        header.storeBytes(of: aux, toByteOffset: ReportField.aux, as: UInt32.self)
    }

    /// The kind byte `writeHeader` stores: the report's kind on a private ring; 0 on a shared
    /// ring, where `publish` stores the kind last, as the commit.
    @inline(__always)
    static func headerKind(_ kind: UInt32, shared: Bool) -> UInt32 {
        shared ? 0 : kind
    }

    /// Whether the thread writes into a shared ring. The report writers test it once and then
    /// run a copy of their body specialised for the answer (`shared` is a constant in each), so
    /// the private path costs one test-and-branch more than it did before shared rings existed.
    @inline(__always)
    static func onSharedRing(_ thread: UnsafeMutablePointer<spoor__thread>) -> Bool {
        thread.pointee.state_flags & sharedRing != 0
    }

    /// Publishes `slots` slots written at the head: one release store the collector pairs with
    /// an acquire load, then the committed counter (single writer: no locked instruction). On a
    /// shared ring: the release store of the header's kind byte, then an atomic add.
    ///
    /// With `prefetch` (the multi-slot writer) a private ring's producer then asks for the line
    /// 16 slots ahead for writing, so that the next reports' lines are on their way: paired and
    /// interleaved against the library without it and without the overflow-free slot arithmetic
    /// of `ReportLayout` (12 pairs of 400 x 4096 calls), a four-parent checkpoint with a 32-byte
    /// attachment went from 26.8 to 23.9 ns (median ratio 0.89, faster in 11 of 12 pairs). The
    /// one-slot writer does not prefetch: there it cost 0.8 ns (ratio 1.10, 10 of 12 slower).
    @inline(__always)
    static func publish(
        _ thread: UnsafeMutablePointer<spoor__thread>, ring: UnsafeMutableRawPointer, slots: UInt64,
        header: UnsafeMutableRawPointer, kind: UInt32, shared: Bool, prefetch: Bool
    ) {
        if shared {
            spoorint_store_release_u8((header + ReportField.kind).assumingMemoryBound(to: UInt8.self), UInt8(truncatingIfNeeded: kind))
            spoorint_add_relaxed(RingField.word(ring, RingField.committed), 1)
            thread.pointee.own_committed &+= 1
            return
        }
        let head = thread.pointee.head &+ slots
        thread.pointee.head = head
        spoorint_store_release(RingField.word(ring, RingField.head), head)
        if prefetch, let base = thread.pointee.slots {
            spoorint_prefetch_write(slot(UnsafeMutableRawPointer(base), thread, head &+ 16))
        }
        spoorint_bump(RingField.word(ring, RingField.committed), 1)
    }

    /// Counts a sampled entry on the thread's ring.
    @inline(__always)
    static func countSampled(_ thread: UnsafeMutablePointer<spoor__thread>, ring: UnsafeMutableRawPointer) {
        if thread.pointee.state_flags & sharedRing != 0 {
            spoorint_add_relaxed(RingField.word(ring, RingField.sampled), 1)
            thread.pointee.own_sampled &+= 1
        } else {
            spoorint_bump(RingField.word(ring, RingField.sampled), 1)
        }
    }

    // MARK: - Report kinds

    /// One header-only report (entries without attachment, one-parent checkpoints, pokes).
    @inline(__always)
    static func writeSingleSlot(
        _ thread: UnsafeMutablePointer<spoor__thread>, id: UInt64, parent: UInt64, keyHash: UInt64,
        start: UInt64, end: UInt64, op: UInt32, parentCount: UInt32, kind: UInt32, aux: UInt32
    ) -> Int32 {
        if _slowPath(onSharedRing(thread)) {
            return writeSingleSlotShared(
                thread, id: id, parent: parent, keyHash: keyHash, start: start, end: end, op: op,
                parentCount: parentCount, kind: kind, aux: aux)
        }
        return writeSingleSlot(
            thread, id: id, parent: parent, keyHash: keyHash, start: start, end: end, op: op,
            parentCount: parentCount, kind: kind, aux: aux, shared: false)
    }

    @inline(never)
    static func writeSingleSlotShared(
        _ thread: UnsafeMutablePointer<spoor__thread>, id: UInt64, parent: UInt64, keyHash: UInt64,
        start: UInt64, end: UInt64, op: UInt32, parentCount: UInt32, kind: UInt32, aux: UInt32
    ) -> Int32 {
        writeSingleSlot(
            thread, id: id, parent: parent, keyHash: keyHash, start: start, end: end, op: op,
            parentCount: parentCount, kind: kind, aux: aux, shared: true)
    }

    @inline(__always)
    static func writeSingleSlot(
        _ thread: UnsafeMutablePointer<spoor__thread>, id: UInt64, parent: UInt64, keyHash: UInt64,
        start: UInt64, end: UInt64, op: UInt32, parentCount: UInt32, kind: UInt32, aux: UInt32, shared: Bool
    ) -> Int32 {
        guard let ring = thread.pointee.ring, let slots = UnsafeMutableRawPointer(thread.pointee.slots),
              reserve(thread, slots: 1, shared: shared)
        else { return drop(thread) }
        let header = slot(slots, thread, thread.pointee.head)
        writeHeader(
            header, thread, id: id, parent0: parent, keyHash: keyHash,
            start: start, end: end, op: op, parentCount: parentCount, attachLength: 0,
            kind: headerKind(kind, shared: shared), flags: 0, aux: aux)
        publish(thread, ring: ring, slots: 1, header: header, kind: kind, shared: shared, prefetch: false)
        return Status.ok
    }

    /// The encoded attachment length of `attributes`, or a negative status.
    @inline(__always)
    static func attachmentLength(_ attributes: UnsafePointer<spoor_attr>?, count: Int) -> Int {
        guard count != 0 else { return 0 }
        guard let attributes else { return Int(fail(Status.invalidArgument, "attrs is NULL but n_attrs is \(cSize(count))")) }
        guard cSize(count) <= UInt(SPOOR_MAX_ATTACHMENT) / 4 else {
            return Int(fail(Status.attachmentTooLarge, "\(cSize(count)) attributes cannot fit in \(SPOOR_MAX_ATTACHMENT) bytes"))
        }
        var total = 0
        for index in 0..<count {
            let attribute = attributes + index
            let keyLength = attribute.pointee.key_len
            let valueLength = attribute.pointee.value_len
            if _slowPath(attribute.pointee.key == nil || keyLength == 0 || cSize(keyLength) > 255
                || (attribute.pointee.value == nil && valueLength != 0) || cSize(valueLength) > UInt(SPOOR_MAX_ATTACHMENT)) {
                return attributeProblem(attribute.pointee, index: index)
            }
            total &+= 3 &+ keyLength &+ valueLength
            if _slowPath(total > Int(SPOOR_MAX_ATTACHMENT)) { return attachmentTooLarge() }
        }
        return total
    }

    @inline(never)
    static func attachmentTooLarge() -> Int {
        Int(fail(Status.attachmentTooLarge, "attachment exceeds \(SPOOR_MAX_ATTACHMENT) bytes"))
    }

    /// The status (negative) and detail of an invalid attribute.
    @inline(never)
    static func attributeProblem(_ attribute: spoor_attr, index: Int) -> Int {
        if attribute.key == nil || attribute.key_len == 0 {
            return Int(fail(Status.invalidArgument, "attrs[\(index)] has an empty or NULL key"))
        }
        if cSize(attribute.key_len) > 255 {
            return Int(fail(Status.attachmentTooLarge, "attrs[\(index)] key is \(cSize(attribute.key_len)) bytes (max 255)"))
        }
        if attribute.value == nil && attribute.value_len != 0 {
            return Int(fail(Status.invalidArgument, "attrs[\(index)] value is NULL with length \(cSize(attribute.value_len))"))
        }
        return Int(fail(Status.attachmentTooLarge, "attrs[\(index)] value is \(cSize(attribute.value_len)) bytes"))
    }

    /// Copies bytes into the extension area that starts after the header slot at `head`,
    /// splitting at slot boundaries (the ring may wrap between slots).
    @inline(__always)
    static func copyToExtension(
        _ slots: UnsafeMutableRawPointer, _ thread: UnsafeMutablePointer<spoor__thread>, head: UInt64,
        offset: Int, from source: UnsafeRawPointer, count: Int
    ) {
        var written = 0
        while written < count {
            let at = offset + written
            let room = 64 - (at & 63)
            let chunk = min(room, count - written)
            let target = slot(slots, thread, head &+ 1 &+ UInt64(at >> 6)) + (at & 63)
            target.copyMemory(from: source + written, byteCount: chunk)
            written += chunk
        }
    }

    /// Copies a few bytes without a library call (attachment keys and values are small):
    /// 8-byte moves with an overlapping last one, 4-byte moves below 8 bytes.
    @inline(__always)
    static func copySmall(_ target: UnsafeMutableRawPointer, _ source: UnsafeRawPointer, _ count: Int) {
        if count > 64 {
            target.copyMemory(from: source, byteCount: count)
        } else if count >= 8 {
            var index = 0
            while index &+ 8 < count {
                target.storeBytes(of: source.loadUnaligned(fromByteOffset: index, as: UInt64.self), toByteOffset: index, as: UInt64.self)
                index &+= 8
            }
            let last = count &- 8
            target.storeBytes(of: source.loadUnaligned(fromByteOffset: last, as: UInt64.self), toByteOffset: last, as: UInt64.self)
        } else if count >= 4 {
            let last = count &- 4
            let head = source.loadUnaligned(fromByteOffset: 0, as: UInt32.self)
            let tail = source.loadUnaligned(fromByteOffset: last, as: UInt32.self)
            target.storeBytes(of: head, toByteOffset: 0, as: UInt32.self)
            target.storeBytes(of: tail, toByteOffset: last, as: UInt32.self)
        } else if count > 0 {
            // 1 to 3 bytes: first, middle and last (some of them the same byte).
            let middle = count >> 1
            let last = count &- 1
            target.storeBytes(of: source.load(fromByteOffset: 0, as: UInt8.self), as: UInt8.self)
            target.storeBytes(of: source.load(fromByteOffset: middle, as: UInt8.self), toByteOffset: middle, as: UInt8.self)
            target.storeBytes(of: source.load(fromByteOffset: last, as: UInt8.self), toByteOffset: last, as: UInt8.self)
        }
    }

    /// Writes the extension area (parents after the first, then the attachment) linearly at
    /// `extensionStart`, which has room for all of it (the report does not wrap the ring end).
    /// Returns the first parent.
    @inline(__always)
    static func writeExtensionContiguous(
        _ extensionStart: UnsafeMutableRawPointer, parents: UnsafePointer<UInt64>?, parentCount: Int, trackedParents: Int,
        attributes: UnsafePointer<spoor_attr>?, attributeCount: Int
    ) -> UInt64 {
        var cursor = extensionStart
        var parent0: UInt64 = 0
        if let parents, trackedParents == parentCount {
            // No untracked parent to skip (the usual case): the first goes in the header, the
            // rest are copied as they are.
            parent0 = parents[0]
            var index = 1
            while index < parentCount {
                cursor.storeBytes(of: parents[index], as: UInt64.self)
                cursor += 8
                index &+= 1
            }
        } else if let parents, trackedParents > 0 {
            var kept = 0
            var index = 0
            while index < parentCount && kept < trackedParents {
                let parent = parents[index]
                index &+= 1
                if parent == 0 { continue }
                if kept == 0 {
                    parent0 = parent
                } else {
                    cursor.storeBytes(of: parent, as: UInt64.self)
                    cursor += 8
                }
                kept &+= 1
            }
        }
        if let attributes {
            for index in 0..<attributeCount {
                let attribute = attributes + index
                let keyLength = attribute.pointee.key_len
                let valueLength = attribute.pointee.value_len
                cursor.storeBytes(of: UInt8(truncatingIfNeeded: keyLength), as: UInt8.self)
                cursor.storeBytes(of: UInt16(truncatingIfNeeded: valueLength), toByteOffset: 1, as: UInt16.self)
                cursor += 3
                if let key = attribute.pointee.key { copySmall(cursor, key, keyLength) }
                cursor += keyLength
                if let value = attribute.pointee.value { copySmall(cursor, value, valueLength) }
                cursor += valueLength
            }
        }
        return parent0
    }

    /// As `writeExtensionContiguous`, for a report whose extension wraps the ring end: each
    /// piece is split at slot boundaries.
    @inline(never)
    static func writeExtensionWrapping(
        _ slots: UnsafeMutableRawPointer, _ thread: UnsafeMutablePointer<spoor__thread>, head: UInt64,
        parents: UnsafePointer<UInt64>?, parentCount: Int, trackedParents: Int,
        attributes: UnsafePointer<spoor_attr>?, attributeCount: Int
    ) -> UInt64 {
        var parent0: UInt64 = 0
        var offset = 0
        if let parents, trackedParents > 0 {
            var kept = 0
            for index in 0..<parentCount where kept < trackedParents {
                let parent = parents[index]
                if parent == 0 { continue }
                if kept == 0 {
                    parent0 = parent
                } else {
                    slot(slots, thread, head &+ 1 &+ UInt64(offset >> 6)).storeBytes(of: parent, toByteOffset: offset & 63, as: UInt64.self)
                    offset += 8
                }
                kept += 1
            }
        }
        if let attributes {
            for index in 0..<attributeCount {
                let attribute = attributes[index]
                var prefix: (UInt8, UInt8, UInt8) = (
                    UInt8(truncatingIfNeeded: attribute.key_len),
                    UInt8(truncatingIfNeeded: attribute.value_len),
                    UInt8(truncatingIfNeeded: attribute.value_len >> 8))
                withUnsafeBytes(of: &prefix) { raw in
                    if let base = raw.baseAddress {
                        copyToExtension(slots, thread, head: head, offset: offset, from: base, count: 3)
                    }
                }
                offset += 3
                if let key = attribute.key {
                    copyToExtension(slots, thread, head: head, offset: offset, from: key, count: attribute.key_len)
                }
                offset += attribute.key_len
                if let value = attribute.value, attribute.value_len > 0 {
                    copyToExtension(slots, thread, head: head, offset: offset, from: value, count: attribute.value_len)
                }
                offset += attribute.value_len
            }
        }
        return parent0
    }

    /// Any report: parents (zeros skipped, at most `trackedParents` kept), attachment, fan-out.
    /// Arguments are validated by the caller; `trackedParents` is the count of non-zero parents.
    @inline(__always)
    static func writeGeneral(
        _ thread: UnsafeMutablePointer<spoor__thread>, kind: UInt32, flags: UInt8, id: UInt64,
        parents: UnsafePointer<UInt64>?, parentCount: Int, trackedParents: Int, keyHash: UInt64,
        start: UInt64, end: UInt64, op: UInt32, aux: UInt32,
        attributes: UnsafePointer<spoor_attr>?, attributeCount: Int, attachLength: Int
    ) -> Int32 {
        if _slowPath(onSharedRing(thread)) {
            return writeGeneralShared(
                thread, kind: kind, flags: flags, id: id, parents: parents, parentCount: parentCount,
                trackedParents: trackedParents, keyHash: keyHash, start: start, end: end, op: op, aux: aux,
                attributes: attributes, attributeCount: attributeCount, attachLength: attachLength)
        }
        return writeGeneral(
            thread, kind: kind, flags: flags, id: id, parents: parents, parentCount: parentCount,
            trackedParents: trackedParents, keyHash: keyHash, start: start, end: end, op: op, aux: aux,
            attributes: attributes, attributeCount: attributeCount, attachLength: attachLength, shared: false)
    }

    @inline(never)
    static func writeGeneralShared(
        _ thread: UnsafeMutablePointer<spoor__thread>, kind: UInt32, flags: UInt8, id: UInt64,
        parents: UnsafePointer<UInt64>?, parentCount: Int, trackedParents: Int, keyHash: UInt64,
        start: UInt64, end: UInt64, op: UInt32, aux: UInt32,
        attributes: UnsafePointer<spoor_attr>?, attributeCount: Int, attachLength: Int
    ) -> Int32 {
        writeGeneral(
            thread, kind: kind, flags: flags, id: id, parents: parents, parentCount: parentCount,
            trackedParents: trackedParents, keyHash: keyHash, start: start, end: end, op: op, aux: aux,
            attributes: attributes, attributeCount: attributeCount, attachLength: attachLength, shared: true)
    }

    @inline(__always)
    static func writeGeneral(
        _ thread: UnsafeMutablePointer<spoor__thread>, kind: UInt32, flags: UInt8, id: UInt64,
        parents: UnsafePointer<UInt64>?, parentCount: Int, trackedParents: Int, keyHash: UInt64,
        start: UInt64, end: UInt64, op: UInt32, aux: UInt32,
        attributes: UnsafePointer<spoor_attr>?, attributeCount: Int, attachLength: Int, shared: Bool
    ) -> Int32 {
        let slotCount = UInt64(ReportLayout.slotCount(parentCount: trackedParents, attachmentLength: attachLength))
        guard let ring = thread.pointee.ring, let slots = UnsafeMutableRawPointer(thread.pointee.slots) else {
            return drop(thread)
        }
        guard slotCount <= (thread.pointee.mask &+ 1) / 4 else {
            _ = spoorint_fetch_add(spoorint_too_large_ptr(), 1)
            return fail(Status.reportTooLarge, "report needs \(slotCount) slots; a ring of \(thread.pointee.mask &+ 1) takes at most a quarter")
        }
        guard reserve(thread, slots: slotCount, shared: shared) else { return drop(thread) }
        let head = thread.pointee.head
        let header = slot(slots, thread, head)
        let parent0: UInt64
        if (head & thread.pointee.mask) &+ slotCount <= thread.pointee.mask &+ 1 {
            parent0 = writeExtensionContiguous(
                header + 64, parents: parents, parentCount: parentCount, trackedParents: trackedParents,
                attributes: attachLength > 0 ? attributes : nil, attributeCount: attributeCount)
        } else {
            parent0 = writeExtensionWrapping(
                slots, thread, head: head, parents: parents, parentCount: parentCount, trackedParents: trackedParents,
                attributes: attachLength > 0 ? attributes : nil, attributeCount: attributeCount)
        }
        writeHeader(
            header, thread, id: id, parent0: parent0, keyHash: keyHash, start: start,
            end: end, op: op, parentCount: UInt32(trackedParents), attachLength: UInt16(attachLength),
            kind: headerKind(kind, shared: shared), flags: flags, aux: aux)
        publish(thread, ring: ring, slots: slotCount, header: header, kind: kind, shared: shared, prefetch: true)
        return Status.ok
    }
}
