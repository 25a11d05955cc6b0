#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CSpoor
import SpoorSupport
import SpoorLog

/// One initialised instance of the library: its segment, run directory, collector, operator
/// table and sampling strategy. Mutable fields are guarded by `Lifecycle.lock`.
final class Runtime: @unchecked Sendable {
    let configuration: RuntimeConfiguration
    let generation: UInt64
    let runID: UInt64
    let runDirectory: String
    let segment: SharedSegment
    let collector: Collector
    var sampling: SamplingStrategy
    var operatorIDs: [OperatorKey: UInt32] = [:]

    struct OperatorKey: Hashable {
        var name: [UInt8]
        var site: [UInt8]
    }

    init(
        configuration: RuntimeConfiguration, generation: UInt64, runID: UInt64, runDirectory: String,
        segment: SharedSegment, collector: Collector
    ) {
        self.configuration = configuration
        self.generation = generation
        self.runID = runID
        self.runDirectory = runDirectory
        self.segment = segment
        self.collector = collector
        self.sampling = configuration.sampling
    }

    /// The private rings come first, the shared ones last.
    var privateRingCount: Int { configuration.maxThreads }

    /// Takes a free private ring for `thread`, or attaches it to a shared ring if none is free.
    /// Caller holds `Lifecycle.lock`.
    func takeRing(for thread: UnsafeMutablePointer<spoor__thread>) {
        for index in 0..<privateRingCount {
            let ring = segment.ring(index)
            let state = RingField.word(ring, RingField.state)
            guard spoorint_load_acquire(state) == UInt64(SPOORINT_RING_FREE) else { continue }
            let firstUse = spoorint_load_relaxed(RingField.word(ring, RingField.takes)) == 0
            if firstUse && !segment.prepareRing(index) { break }
            guard spoorint_cas(state, UInt64(SPOORINT_RING_FREE), UInt64(SPOORINT_RING_OWNED)) else { continue }
            spoorint_store_relaxed(RingField.word(ring, RingField.ownerTID), UInt64(thread.pointee.tid))
            spoorint_bump(RingField.word(ring, RingField.takes), 1)
            install(index, into: thread)
            thread.pointee.state_flags &= ~RingProducer.sharedRing
            thread.pointee.sharer = nil
            thread.pointee.base_committed = spoorint_load_relaxed(RingField.word(ring, RingField.committed))
            thread.pointee.base_dropped = spoorint_load_relaxed(RingField.word(ring, RingField.dropped))
            thread.pointee.base_sampled = spoorint_load_relaxed(RingField.word(ring, RingField.sampled))
            thread.pointee.base_drained = spoorint_load_relaxed(RingField.word(ring, RingField.drained))
            thread.pointee.base_written = thread.pointee.base_committed &+ thread.pointee.base_dropped
            return
        }
        attachShared(thread)
    }

    /// Attaches `thread` to the shared ring of the CPU it runs on (threads that move on keep
    /// their ring: any number of producers may write into one). Caller holds `Lifecycle.lock`.
    func attachShared(_ thread: UnsafeMutablePointer<spoor__thread>) {
        let shared = configuration.sharedRings
        let cpu = Int(spoorint_getcpu())
        let index = privateRingCount + cpu % shared
        let ring = segment.ring(index)
        if spoorint_load_relaxed(RingField.word(ring, RingField.takes)) == 0 {
            guard segment.prepareRing(index) else { return }
            spoorint_store_relaxed(RingField.word(ring, RingField.ownerTID), UInt64(thread.pointee.tid))
            spoorint_store_release(RingField.word(ring, RingField.state), UInt64(SPOORINT_RING_OWNED))
        }
        spoorint_add_relaxed(RingField.word(ring, RingField.takes), 1)
        spoorint_add_relaxed(RingField.word(ring, RingField.sharers), 1)
        install(index, into: thread)
        thread.pointee.state_flags |= RingProducer.sharedRing
        thread.pointee.own_committed = 0
        thread.pointee.own_dropped = 0
        thread.pointee.own_sampled = 0
        thread.pointee.sharer = claimSharer(tid: thread.pointee.tid, ring: index)
    }

    /// Claims the lowest free entry of the sharer table for a thread attaching to shared ring
    /// `ring`, or returns nil if all SPOORINT_SHARER_CAPACITY are held (the thread's drops are
    /// then counted in the ring's `unlisted_dropped`). Only the collector frees an entry, and only
    /// once it has logged the drops of the thread that held it. Caller holds `Lifecycle.lock`.
    private func claimSharer(tid: UInt32, ring: Int) -> UnsafeMutableRawPointer? {
        let countWord = (UnsafeMutableRawPointer(segment.header) + HeaderField.sharerCount).assumingMemoryBound(to: UInt64.self)
        let used = segment.sharerCount
        for index in 0..<min(used + 1, Int(SPOORINT_SHARER_CAPACITY)) {
            let entry = segment.sharer(index)
            let state = RingField.word(entry, SharerField.state)
            guard spoorint_load_acquire(state) == UInt64(SPOORINT_SHARER_FREE) else { continue }
            spoorint_store_relaxed(RingField.word(entry, SharerField.tid), UInt64(tid))
            spoorint_store_relaxed(RingField.word(entry, SharerField.ring), UInt64(ring))
            spoorint_store_relaxed(RingField.word(entry, SharerField.dropped), 0)
            spoorint_bump(RingField.word(entry, SharerField.claims), 1)
            spoorint_store_release(state, UInt64(SPOORINT_SHARER_ATTACHED))
            if index == used { spoorint_store_release(countWord, UInt64(used + 1)) }
            return entry
        }
        return nil
    }

    private func install(_ index: Int, into thread: UnsafeMutablePointer<spoor__thread>) {
        let ring = segment.ring(index)
        thread.pointee.ring = ring
        thread.pointee.slots = segment.slots(index).assumingMemoryBound(to: UInt8.self)
        thread.pointee.mask = UInt64(segment.ringSlots - 1)
        thread.pointee.head = spoorint_load_relaxed(RingField.word(ring, RingField.head))
        thread.pointee.tail_cache = spoorint_load_acquire(RingField.word(ring, RingField.tail))
        thread.pointee.ring_index = UInt32(index)
    }

    /// Registers or looks up an operator. Caller holds `Lifecycle.lock`.
    func registerOperator(name: [UInt8], site: [UInt8]) -> Int64 {
        let key = OperatorKey(name: name, site: site)
        if let id = operatorIDs[key] { return Int64(id) }
        let index = operatorIDs.count
        guard index < Int(SPOOR_MAX_OPERATORS) else { return Int64(Status.tooManyOperators) }
        let entry = segment.operatorEntry(index)
        entry.pointee.name_len = UInt16(name.count)
        entry.pointee.site_len = UInt16(site.count)
        entry.pointee.id = UInt32(index + 1)
        let raw = UnsafeMutableRawPointer(entry)
        name.withUnsafeBytes { if let source = $0.baseAddress { (raw + 8).copyMemory(from: source, byteCount: $0.count) } }
        site.withUnsafeBytes { if let source = $0.baseAddress { (raw + 8 + Int(SPOOR_MAX_NAME_LEN)).copyMemory(from: source, byteCount: $0.count) } }
        let count = UnsafeMutableRawPointer(segment.header) + HeaderField.operatorCount
        spoorint_store_release(count.assumingMemoryBound(to: UInt64.self), UInt64(index + 1))
        operatorIDs[key] = UInt32(index + 1)
        return Int64(index + 1)
    }

    /// Totals over all rings plus the reports of threads that had none.
    func statistics() -> spoor_stats {
        var stats = spoor_stats()
        for index in 0..<segment.ringCount {
            let ring = segment.ring(index)
            stats.committed &+= spoorint_load_relaxed(RingField.word(ring, RingField.committed))
            stats.dropped &+= spoorint_load_relaxed(RingField.word(ring, RingField.dropped))
            stats.sampled &+= spoorint_load_relaxed(RingField.word(ring, RingField.sampled))
            stats.drained &+= spoorint_load_relaxed(RingField.word(ring, RingField.drained))
            stats.batches &+= spoorint_load_relaxed(RingField.word(ring, RingField.batches))
            stats.sink_errors &+= spoorint_load_relaxed(RingField.word(ring, RingField.sinkErrors))
            if segment.isShared(index) {
                stats.threads &+= spoorint_load_relaxed(RingField.word(ring, RingField.sharers))
            } else if spoorint_load_relaxed(RingField.word(ring, RingField.state)) == UInt64(SPOORINT_RING_OWNED) {
                stats.threads &+= 1
            }
        }
        stats.dropped &+= spoorint_load_relaxed(spoorint_no_ring_dropped_ptr())
        stats.sampled &+= spoorint_load_relaxed(spoorint_no_ring_sampled_ptr())
        stats.written = stats.committed &+ stats.dropped
        return stats
    }
}

/// Process-wide lifecycle: init, shutdown, fork, exit, and attaching threads to rings.
enum Lifecycle {
    /// Guards `current` and every mutable field of the current runtime. Never taken on the hot
    /// path; held across fork so the child inherits it in a known state.
    static let lock = PosixMutex()
    nonisolated(unsafe) static var current: Runtime?
    nonisolated(unsafe) static var generations: UInt64 = 0
    nonisolated(unsafe) static var processHooksInstalled = false
    nonisolated(unsafe) static var threadExitKey = pthread_key_t()

    static func bumpSamplerEpoch() {
        _ = spoorint_fetch_add(spoorint_sampler_epoch_ptr(), 1)
    }

    /// Installs the fork handlers, the exit handler and the thread-exit key, once per process.
    /// Caller holds `lock`.
    static func installProcessHooks() {
        guard !processHooksInstalled else { return }
        processHooksInstalled = true
        pthread_key_create(&threadExitKey) { value in
            guard let value else { return }
            Lifecycle.threadExited(value.assumingMemoryBound(to: spoor__thread.self))
        }
        pthread_atfork(
            { Lifecycle.lock.lock() },
            { Lifecycle.lock.unlock() },
            { Lifecycle.forkedChild() })
        atexit { _ = Lifecycle.shutdown() }
    }

    /// In a forked child: forget the parent's instance without touching its collector or files,
    /// and make its rings unreachable, so the child can never write into them.
    static func forkedChild() {
        if let runtime = current {
            _ = Unmanaged.passRetained(runtime)  // its threads and locks belong to the parent
            runtime.segment.retire(unlink: false)
            current = nil
        }
        spoorint_store_release(spoorint_generation_ptr(), 0)
        bumpSamplerEpoch()
        // The parent's collector does not exist here: nothing would re-calibrate the mapping.
        Clock.stop()
        lock.unlock()
    }

    static func initialize(abiVersion: UInt32, config: UnsafePointer<spoor_config>?) -> Int32 {
        guard abiVersion == SPOOR_ABI_VERSION else {
            return fail(Status.abiMismatch, "caller ABI \(abiVersion), library ABI \(SPOOR_ABI_VERSION)")
        }
        lock.lock()
        defer { lock.unlock() }
        guard current == nil else { return fail(Status.alreadyInitialized, "spoor_init called twice without spoor_shutdown") }
        let configuration: RuntimeConfiguration
        do {
            configuration = try RuntimeConfiguration(config)
        } catch {
            return fail(Status.invalidConfig, error.message)
        }
        installProcessHooks()
        let runID = randomWord()
        let pid = UInt32(bitPattern: getpid())
        let shmName = configuration.sharedMemoryName ?? "/spoor.\(pid).\(hex64(runID).suffix(8))"
        let runDirectory = configuration.logRoot + "/" + runDirectoryName(pid: pid, runID: runID)
        let segment: SharedSegment
        do {
            segment = try SharedSegment.create(
                name: shmName, ringCount: configuration.maxThreads + configuration.sharedRings,
                sharedRings: configuration.sharedRings, ringSlots: configuration.ringSlots,
                runID: runID, runDirectory: runDirectory)
        } catch {
            return fail(Status.sharedMemory, error.message)
        }
        let sink: any ReportSink
        switch configuration.sink {
        case .discard:
            sink = DiscardSink()
        case .log:
            do {
                let identity = RunIdentity(
                    runID: runID, pid: pid, realtimeNanos: segment.header.pointee.created_realtime_ns,
                    monotonicNanos: segment.header.pointee.created_monotonic_ns)
                sink = LogSink(writer: try LogWriter(directory: runDirectory, identity: identity, segmentBytes: configuration.segmentBytes))
            } catch {
                segment.discard()  // never published to a thread: unmap at once
                return fail(Status.io, "\(error)")
            }
        }
        // The clock is calibrated before the collector (its next writer) starts.
        Clock.start(configuration.clock)
        let collector = Collector(segment: segment, sink: sink, intervalMillis: configuration.flushIntervalMillis,
                                  overwrite: configuration.fullPolicy == .overwrite,
                                  role: .owner(runDirectory: runDirectory, runID: runID))
        generations &+= 1
        let runtime = Runtime(
            configuration: configuration, generation: generations, runID: runID, runDirectory: runDirectory,
            segment: segment, collector: collector)
        if let error = collector.start() {
            segment.discard()  // never published to a thread: unmap at once
            if configuration.sink == .log {
                _ = unlink(runDirectory + "/" + LogFormat.segmentFileName(0))
                _ = rmdir(runDirectory)
            }
            Clock.stop()
            return fail(Status.noMemory, "could not start the collector thread: \(error)")
        }
        spoorint_store_relaxed(spoorint_block_timeout_ptr(), UInt64(configuration.blockTimeoutMillis) * 1_000_000)
        spoorint_store_relaxed(spoorint_no_ring_dropped_ptr(), 0)
        spoorint_store_relaxed(spoorint_no_ring_sampled_ptr(), 0)
        spoorint_store_relaxed(spoorint_too_large_ptr(), 0)
        spoorint_store_relaxed(spoorint_rate_window_ptr(), 0)
        current = runtime
        spoorint_store_release(spoorint_generation_ptr(), runtime.generation)
        bumpSamplerEpoch()
        return Status.ok
    }

    /// UTC start time, pid and run id: sortable, unique.
    static func runDirectoryName(pid: UInt32, runID: UInt64) -> String {
        var seconds = time_t(realtimeNanos() / 1_000_000_000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let date = "\(parts.tm_year + 1900)\(two(parts.tm_mon + 1))\(two(parts.tm_mday))"
        let time = "\(two(parts.tm_hour))\(two(parts.tm_min))\(two(parts.tm_sec))"
        return "\(date)T\(time)Z-\(pid)-\(hex64(runID).suffix(8))"
    }

    /// The log root of the running instance, if it logs (the directory whose dead processes'
    /// segments init and shutdown drain: `SegmentRecovery.recoverDead(under:)`).
    static func logRootToSweep() -> String? {
        lock.lock()
        defer { lock.unlock() }
        guard let runtime = current, runtime.configuration.sink == .log else { return nil }
        return runtime.configuration.logRoot
    }

    static func shutdown() -> Int32 {
        lock.lock()
        guard let runtime = current else {
            lock.unlock()
            return fail(Status.notInitialized, "spoor_shutdown without a running spoor_init")
        }
        current = nil
        spoorint_store_release(spoorint_generation_ptr(), 0)
        bumpSamplerEpoch()
        lock.unlock()
        let ringsBack = runtime.collector.stop()
        Clock.stop()
        guard ringsBack else {
            // A collector process holds the rings and did not hand them back: it drains the
            // rest and finishes the run once this process exits (docs/shm-layout.md, "The
            // consumer lease"), so the segment stays, open.
            runtime.segment.retire(unlink: false)
            return fail(Status.timeout, "the spoor collect process holding this run's rings did not hand them back; it finishes the run")
        }
        var stats = runtime.statistics()
        stats.threads = 0
        let closeError = runtime.collector.closeSink(stats)
        spoorint_store_release(
            (UnsafeMutableRawPointer(runtime.segment.header) + HeaderField.state).assumingMemoryBound(to: UInt64.self),
            UInt64(SPOORINT_SEGMENT_CLOSED))
        runtime.segment.retire(unlink: true)
        if let closeError { return fail(Status.io, closeError) }
        return Status.ok
    }

    /// Runs `body` with the current runtime under the lock, or fails with NOT_INITIALIZED.
    static func withRuntime(_ body: (Runtime) -> Int32) -> Int32 {
        lock.lock()
        defer { lock.unlock() }
        guard let runtime = current else { return fail(Status.notInitialized, "spoor is not initialized") }
        return body(runtime)
    }

    /// Slow path of `RingProducer.ready`: (re)attach the thread to the running generation.
    @inline(never)
    static func attach(_ thread: UnsafeMutablePointer<spoor__thread>, generation: UInt64) -> Int32 {
        guard generation != 0 else { return fail(Status.notInitialized, "spoor is not initialized") }
        // A thread that found no free ring retries only every 1024 reports.
        if thread.pointee.generation == generation && thread.pointee.ring == nil
            && thread.pointee.lost_no_ring & 1023 != 0 {
            return Status.dropped
        }
        lock.lock()
        defer { lock.unlock() }
        guard let runtime = current, runtime.generation == generation else {
            return fail(Status.notInitialized, "spoor is not initialized")
        }
        if thread.pointee.generation != generation {
            thread.pointee.generation = generation
            thread.pointee.ring = nil
            thread.pointee.slots = nil
            thread.pointee.sharer = nil
            thread.pointee.ring_index = UInt32.max
            thread.pointee.lost_no_ring = 0
            thread.pointee.tid = spoorint_gettid()
            thread.pointee.next_id = 0
            thread.pointee.id_rng = randomWord() | 1
            thread.pointee.state_flags = (thread.pointee.state_flags & 0xff)
                | RingProducer.policyFlags(runtime.configuration.fullPolicy)
            pthread_setspecific(threadExitKey, UnsafeRawPointer(thread))
        }
        runtime.takeRing(for: thread)
        return thread.pointee.ring != nil ? Status.ok : Status.dropped
    }

    /// Refreshes the thread's sampler state after an epoch change. Returns false if the
    /// library is not running.
    @inline(never)
    static func refreshSampler(_ thread: UnsafeMutablePointer<spoor__thread>) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        guard let runtime = current else { return false }
        let epoch = spoorint_load_acquire(spoorint_sampler_epoch_ptr())
        if thread.pointee.tid == 0 { thread.pointee.tid = spoorint_gettid() }
        // The sampler owns the low byte; the ring bits survive its install.
        let block = thread.pointee.state_flags & ~0xff
        // A thread's first sampler install of each run draws from that run's seed.
        if thread.pointee.generation != runtime.generation { thread.pointee.rng = 0 }
        runtime.sampling.install(into: thread, epoch: epoch, seed: runtime.configuration.seed)
        thread.pointee.state_flags |= block
        return true
    }

    /// Thread-exit destructor: hand the ring back (the collector frees it once drained).
    static func threadExited(_ thread: UnsafeMutablePointer<spoor__thread>) {
        lock.lock()
        defer { lock.unlock() }
        if let runtime = current, runtime.generation == thread.pointee.generation, let ring = thread.pointee.ring {
            if thread.pointee.state_flags & RingProducer.sharedRing != 0 {
                spoorint_sub_relaxed(RingField.word(ring, RingField.sharers), 1)
                if let sharer = thread.pointee.sharer {
                    // The release orders the thread's last drop count before the collector's
                    // acquire of the state, which then logs it and frees the entry.
                    spoorint_store_release(RingField.word(sharer, SharerField.state), UInt64(SPOORINT_SHARER_DETACHED))
                }
            } else {
                spoorint_store_release(RingField.word(ring, RingField.state), UInt64(SPOORINT_RING_ORPHANED))
            }
        }
        thread.pointee.ring = nil
        thread.pointee.slots = nil
        thread.pointee.sharer = nil
        thread.pointee.generation = 0
    }
}
