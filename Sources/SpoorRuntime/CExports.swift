#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CSpoor
import SpoorSupport
import SpoorLog
import SpoorPartitioning

// The C ABI of include/spoor.h. `@c @implementation` makes the compiler check every signature
// against the header. None of these functions may trap: every pointer is checked, every size
// bounded, and arithmetic on caller values wraps.

/// A C `size_t` argument: Swift imports it as `Int`, so a value of 2^63 or more arrives
/// negative. Every size is compared as the unsigned value the caller passed.
@inline(__always)
func cSize(_ value: Int) -> UInt { UInt(bitPattern: value) }

@inline(__always)
private func cString(_ text: StaticString) -> UnsafePointer<CChar> {
    UnsafeRawPointer(text.utf8Start).assumingMemoryBound(to: CChar.self)
}

// MARK: - Errors and versions

@c @implementation
public func spoor_strerror(_ code: Int32) -> UnsafePointer<CChar> {
    cString(Status.description(of: code))
}

@c @implementation
public func spoor_error_detail() -> UnsafePointer<CChar> {
    spoorint_error_detail()
}

@c @implementation
public func spoor_event_name(_ event: UInt32) -> UnsafePointer<CChar> {
    cString(PokeEvent.baseName(of: event) ?? "unknown")
}

@c @implementation
public func spoor_version() -> UnsafePointer<CChar> {
    cString("0.1.0")
}

@c @implementation
public func spoor_abi_version() -> UInt32 {
    SPOOR_ABI_VERSION
}

// MARK: - Lifecycle

@c @implementation
public func spoor_init_abi(_ abiVersion: UInt32, _ config: UnsafePointer<spoor_config>?) -> Int32 {
    let status = Lifecycle.initialize(abiVersion: abiVersion, config: config)
    if status == Status.ok, let root = Lifecycle.logRootToSweep() { _ = SegmentRecovery.recoverDead(under: root) }
    return status
}

@c @implementation
public func spoor_shutdown() -> Int32 {
    let root = Lifecycle.logRootToSweep()
    let status = Lifecycle.shutdown()
    if let root { _ = SegmentRecovery.recoverDead(under: root) }
    return status
}

@c @implementation
public func spoor_recover_dead(_ logRoot: UnsafePointer<CChar>?, _ length: Int, _ outReports: UnsafeMutablePointer<UInt64>?) -> Int32 {
    outReports?.pointee = 0
    let root: String
    if let logRoot {
        guard length > 0, cSize(length) < 4096 else { return fail(Status.invalidArgument, "log_root_len \(cSize(length)) is not in [1, 4095]") }
        let bytes = UnsafeRawBufferPointer(start: logRoot, count: length)
        guard !bytes.contains(0) else { return fail(Status.invalidArgument, "log_root contains a NUL byte") }
        root = String(decoding: bytes, as: UTF8.self)
    } else {
        guard length == 0 else { return fail(Status.invalidArgument, "log_root is NULL with a length") }
        root = Lifecycle.logRootToSweep() ?? RuntimeConfiguration.defaultLogRoot
    }
    let summary = SegmentRecovery.recoverDead(under: root)
    outReports?.pointee = UInt64(summary.reports)
    return Int32(clamping: summary.segments)
}

@c @implementation
public func spoor_flush(_ timeoutMillis: UInt32) -> Int32 {
    var collector: Collector?
    let status = Lifecycle.withRuntime { runtime in
        collector = runtime.collector
        return Status.ok
    }
    guard status == Status.ok, let collector else { return status }
    let millis = UInt64(timeoutMillis == 0 ? 10_000 : timeoutMillis)
    return collector.flush(timeoutNanos: millis * 1_000_000)
}

private func copyString(_ text: String, into buffer: UnsafeMutablePointer<CChar>?, capacity: Int) -> Int32 {
    guard let buffer else { return fail(Status.invalidArgument, "buf is NULL") }
    let bytes = Array(text.utf8)
    guard UInt(bytes.count) < cSize(capacity) else {
        return fail(Status.bufferTooSmall, "need \(bytes.count + 1) bytes, have \(capacity)")
    }
    for (index, byte) in bytes.enumerated() { buffer[index] = CChar(bitPattern: byte) }
    buffer[bytes.count] = 0
    return Int32(bytes.count)
}

@c @implementation
public func spoor_run_dir(_ buffer: UnsafeMutablePointer<CChar>?, _ capacity: Int) -> Int32 {
    Lifecycle.withRuntime { runtime in
        copyString(runtime.configuration.sink == .log ? runtime.runDirectory : "", into: buffer, capacity: capacity)
    }
}

@c @implementation
public func spoor_shm_name(_ buffer: UnsafeMutablePointer<CChar>?, _ capacity: Int) -> Int32 {
    Lifecycle.withRuntime { runtime in copyString(runtime.segment.name, into: buffer, capacity: capacity) }
}

@c @implementation
public func spoor_set_sampling(_ sampling: UnsafePointer<spoor_sampling>?) -> Int32 {
    guard let sampling else { return fail(Status.invalidArgument, "sampling is NULL") }
    let strategy: SamplingStrategy
    do {
        strategy = try SamplingStrategy(sampling.pointee)
    } catch {
        return fail(Status.invalidConfig, error.message)
    }
    return Lifecycle.withRuntime { runtime in
        runtime.sampling = strategy
        Lifecycle.bumpSamplerEpoch()
        return Status.ok
    }
}

@c @implementation
public func spoor_get_sampling(_ out: UnsafeMutablePointer<spoor_sampling>?) -> Int32 {
    guard let out else { return fail(Status.invalidArgument, "out is NULL") }
    return Lifecycle.withRuntime { runtime in
        out.pointee = runtime.sampling.cValue
        return Status.ok
    }
}

@c @implementation
public func spoor_now() -> UInt64 {
    Clock.now()
}

// MARK: - Operators

@c @implementation
public func spoor_register_operator(
    _ name: UnsafePointer<CChar>?, _ nameLength: Int, _ callSite: UnsafePointer<CChar>?, _ callSiteLength: Int,
    _ outOp: UnsafeMutablePointer<UInt32>?
) -> Int32 {
    guard let name, let outOp else { return fail(Status.invalidArgument, "name or out_op is NULL") }
    guard cSize(nameLength) > 0, cSize(nameLength) <= UInt(SPOOR_MAX_NAME_LEN) else {
        return fail(Status.invalidArgument, "name_len \(nameLength) is not in [1, \(SPOOR_MAX_NAME_LEN)]")
    }
    guard callSite != nil || callSiteLength == 0 else {
        return fail(Status.invalidArgument, "call_site is NULL with length \(cSize(callSiteLength))")
    }
    guard cSize(callSiteLength) <= 1 << 20 else {
        return fail(Status.invalidArgument, "call_site_len \(cSize(callSiteLength)) is not a string length")
    }
    let nameBytes = Array(UnsafeRawBufferPointer(start: name, count: nameLength))
    var siteBytes: [UInt8] = []
    if let callSite, callSiteLength > 0 {
        let kept = min(callSiteLength, Int(SPOOR_MAX_NAME_LEN))
        siteBytes = Array(UnsafeRawBufferPointer(start: callSite + (callSiteLength - kept), count: kept))
    }
    return Lifecycle.withRuntime { runtime in
        let result = runtime.registerOperator(name: nameBytes, site: siteBytes)
        guard result > 0 else { return fail(Int32(result), "operator table holds \(SPOOR_MAX_OPERATORS) operators") }
        outOp.pointee = UInt32(result)
        return Status.ok
    }
}

// MARK: - Reports

/// Brings the thread's sampler state up to date; false if the library is not running.
@inline(__always)
private func samplerCurrent(_ thread: UnsafeMutablePointer<spoor__thread>) -> Bool {
    if _fastPath(thread.pointee.sampler_epoch == spoorint_load_relaxed(spoorint_sampler_epoch_ptr())) { return true }
    return Lifecycle.refreshSampler(thread)
}

@c @implementation
public func spoor__entry_slow(
    _ thread: UnsafeMutablePointer<spoor__thread>, _ op: UInt32, _ keyHash: UInt64,
    _ attrs: UnsafePointer<spoor_attr>?, _ attributeCount: Int, _ outID: UnsafeMutablePointer<UInt64>?
) -> Int32 {
    guard let outID else { return fail(Status.invalidArgument, "out_id is NULL") }
    outID.pointee = 0
    guard samplerCurrent(thread) else { return fail(Status.notInitialized, "spoor is not initialized") }
    guard SamplingStrategy.decide(thread, keyHash: keyHash) else { return Status.ok }
    let attachLength = RingProducer.attachmentLength(attrs, count: attributeCount)
    guard attachLength >= 0 else { return Int32(attachLength) }
    let ready = RingProducer.ready(thread)
    if ready == Status.notInitialized { return ready }
    if let ring = thread.pointee.ring {
        RingProducer.countSampled(thread, ring: ring)
    } else {
        _ = spoorint_fetch_add(spoorint_no_ring_sampled_ptr(), 1)
    }
    if ready == Status.dropped { return RingProducer.drop(thread) }
    let id = RingProducer.mint(thread, count: 1)
    let status = writeEntry(thread, id: id, op: op, keyHash: keyHash, attrs: attrs, attributeCount: attributeCount, attachLength: attachLength)
    if status == Status.ok { outID.pointee = id }
    return status
}

/// Writes the entry report of record `id` (spoor_entry's and spoor_mint's). An entry is an
/// instant: its time is both its start and its end.
@inline(__always)
private func writeEntry(
    _ thread: UnsafeMutablePointer<spoor__thread>, id: UInt64, op: UInt32, keyHash: UInt64,
    attrs: UnsafePointer<spoor_attr>?, attributeCount: Int, attachLength: Int
) -> Int32 {
    let now = Clock.now()
    return attachLength == 0
        ? RingProducer.writeSingleSlot(
            thread, id: id, parent: 0, keyHash: keyHash, start: now, end: now, op: op, parentCount: 0,
            kind: SPOORINT_KIND_ENTRY, aux: 1)
        : RingProducer.writeGeneral(
            thread, kind: SPOORINT_KIND_ENTRY, flags: 0, id: id, parents: nil, parentCount: 0, trackedParents: 0,
            keyHash: keyHash, start: now, end: now, op: op, aux: 1, attributes: attrs, attributeCount: attributeCount,
            attachLength: attachLength)
}

@c @implementation
public func spoor_mint(
    _ op: UInt32, _ keyHash: UInt64, _ attrs: UnsafePointer<spoor_attr>?, _ attributeCount: Int,
    _ outID: UnsafeMutablePointer<UInt64>?
) -> Int32 {
    guard let outID else { return fail(Status.invalidArgument, "out_id is NULL") }
    outID.pointee = 0
    let attachLength = RingProducer.attachmentLength(attrs, count: attributeCount)
    guard attachLength >= 0 else { return Int32(attachLength) }
    let thread = spoorint_thread_state()
    let ready = RingProducer.ready(thread)
    if ready == Status.notInitialized { return ready }
    // The record exists whether or not its report finds room: its id is returned either way, so
    // that what follows it (checkpoints, pokes) still names it.
    let id = RingProducer.mint(thread, count: 1)
    outID.pointee = id
    if ready == Status.dropped { return RingProducer.drop(thread) }
    return writeEntry(thread, id: id, op: op, keyHash: keyHash, attrs: attrs, attributeCount: attributeCount, attachLength: attachLength)
}

@c @implementation
public func spoor__checkpoint1_slow(
    _ thread: UnsafeMutablePointer<spoor__thread>, _ parent: UInt64, _ op: UInt32, _ keyHash: UInt64,
    _ startNanos: UInt64, _ endNanos: UInt64, _ outID: UnsafeMutablePointer<UInt64>?
) -> Int32 {
    guard let outID else { return fail(Status.invalidArgument, "out_id is NULL") }
    guard parent != 0 else {
        outID.pointee = 0
        return Status.ok
    }
    let ready = RingProducer.ready(thread)
    guard ready != Status.notInitialized else {
        outID.pointee = 0
        return ready
    }
    let id = RingProducer.mint(thread, count: 1)
    outID.pointee = id
    if ready == Status.dropped { return RingProducer.drop(thread) }
    return RingProducer.writeSingleSlot(
        thread, id: id, parent: parent, keyHash: keyHash, start: startNanos,
        end: endNanos != 0 ? endNanos : Clock.now(), op: op, parentCount: 1, kind: SPOORINT_KIND_CHECKPOINT, aux: 1)
}

/// The shared body of spoor_checkpoint and spoor_fold_finish.
@inline(__always)
private func checkpointMany(
    _ thread: UnsafeMutablePointer<spoor__thread>, parents: UnsafePointer<UInt64>, count: Int, tracked: Int,
    flags: UInt8, info: UnsafePointer<spoor_report_info>?, outID: UnsafeMutablePointer<UInt64>
) -> Int32 {
    // One copy of the caller's description (NULL: operator 0, no key, the library's clock).
    let described = info?.pointee ?? spoor_report_info()
    let fanout = described.fanout == 0 ? 1 : described.fanout
    guard fanout <= 65_536 else { return fail(Status.invalidArgument, "fanout \(fanout) exceeds 65536") }
    let attrs = described.attrs
    let attributeCount = described.n_attrs
    let attachLength = RingProducer.attachmentLength(attrs, count: attributeCount)
    guard attachLength >= 0 else { return Int32(attachLength) }
    let ready = RingProducer.ready(thread)
    guard ready != Status.notInitialized else { return ready }
    let id = RingProducer.mint(thread, count: UInt64(fanout))
    outID.pointee = id
    if ready == Status.dropped { return RingProducer.drop(thread) }
    let status = RingProducer.writeGeneral(
        thread, kind: SPOORINT_KIND_CHECKPOINT, flags: flags, id: id, parents: parents, parentCount: count,
        trackedParents: tracked, keyHash: described.key_hash, start: described.start_ns,
        end: described.end_ns != 0 ? described.end_ns : Clock.now(), op: described.op,
        aux: fanout, attributes: attrs, attributeCount: attributeCount, attachLength: attachLength)
    if status < 0 { outID.pointee = 0 }
    return status
}

/// spoor_checkpoint and spoor_fold_report: validate a caller's parent array, then report.
@inline(__always)
private func checkpointArray(
    _ thread: UnsafeMutablePointer<spoor__thread>, _ parents: UnsafePointer<UInt64>?, _ parentCount: Int,
    _ info: UnsafePointer<spoor_report_info>?, _ outID: UnsafeMutablePointer<UInt64>?, flags: UInt8
) -> Int32 {
    guard let outID else { return fail(Status.invalidArgument, "out_id is NULL") }
    outID.pointee = 0
    guard cSize(parentCount) <= UInt(SPOOR_MAX_PARENTS) else {
        return fail(Status.tooManyParents, "n_parents \(cSize(parentCount)) exceeds \(SPOOR_MAX_PARENTS)")
    }
    guard let parents else { return fail(Status.invalidArgument, "parents is NULL") }
    guard parentCount > 0 else { return fail(Status.invalidArgument, "n_parents is 0") }
    // Branch-free count (parentCount <= SPOOR_MAX_PARENTS, so no overflow).
    var tracked = 0
    for index in 0..<parentCount { tracked &+= parents[index] != 0 ? 1 : 0 }
    guard tracked > 0 else { return Status.ok }
    return checkpointMany(thread, parents: parents, count: parentCount, tracked: tracked, flags: flags, info: info, outID: outID)
}

@c @implementation
public func spoor__checkpoint_slow(
    _ thread: UnsafeMutablePointer<spoor__thread>, _ parents: UnsafePointer<UInt64>?, _ parentCount: Int,
    _ info: UnsafePointer<spoor_report_info>?, _ outID: UnsafeMutablePointer<UInt64>?
) -> Int32 {
    checkpointArray(thread, parents, parentCount, info, outID, flags: 0)
}

@c @implementation
public func spoor__poke_slow(
    _ thread: UnsafeMutablePointer<spoor__thread>, _ id: UInt64, _ op: UInt32, _ event: UInt32, _ timestamp: UInt64
) -> Int32 {
    guard id != 0 else { return Status.ok }
    guard event >= 1, event <= 65_535 else { return fail(Status.invalidArgument, "event \(event) is not in [1, 65535]") }
    let ready = RingProducer.ready(thread)
    guard ready == Status.ok else { return ready == Status.dropped ? RingProducer.drop(thread) : ready }
    return RingProducer.writeSingleSlot(
        thread, id: id, parent: 0, keyHash: 0, start: 0, end: timestamp != 0 ? timestamp : Clock.now(), op: op,
        parentCount: 0, kind: SPOORINT_KIND_POKE, aux: event)
}

@c @implementation
public func spoor_poke_ex(
    _ id: UInt64, _ op: UInt32, _ event: UInt32, _ timestamp: UInt64,
    _ attrs: UnsafePointer<spoor_attr>?, _ attributeCount: Int
) -> Int32 {
    guard id != 0 else { return Status.ok }
    guard event >= 1, event <= 65_535 else { return fail(Status.invalidArgument, "event \(event) is not in [1, 65535]") }
    let attachLength = RingProducer.attachmentLength(attrs, count: attributeCount)
    guard attachLength >= 0 else { return Int32(attachLength) }
    let thread = spoorint_thread_state()
    let ready = RingProducer.ready(thread)
    guard ready == Status.ok else { return ready == Status.dropped ? RingProducer.drop(thread) : ready }
    let end = timestamp != 0 ? timestamp : Clock.now()
    guard attachLength > 0 else {
        return RingProducer.writeSingleSlot(
            thread, id: id, parent: 0, keyHash: 0, start: 0, end: end, op: op, parentCount: 0, kind: SPOORINT_KIND_POKE, aux: event)
    }
    return RingProducer.writeGeneral(
        thread, kind: SPOORINT_KIND_POKE, flags: 0, id: id, parents: nil, parentCount: 0, trackedParents: 0,
        keyHash: 0, start: 0, end: end, op: op, aux: event, attributes: attrs, attributeCount: attributeCount,
        attachLength: attachLength)
}

// MARK: - Folds

private enum Fold {
    static let inlineCapacity = Int(SPOOR_FOLD_INLINE)

    static func inlineIDs(_ fold: UnsafeMutablePointer<spoor_fold>) -> UnsafeMutablePointer<UInt64> {
        (UnsafeMutableRawPointer(fold) + 8).assumingMemoryBound(to: UInt64.self)
    }

    /// A per-process secret that tags the library's heap buffers: `heap_capacity` holds the
    /// capacity in its low 32 bits and `tag(heap)` in its high 32, so a fold whose bytes were not
    /// written by this library (never initialised, stack garbage) fails `valid` (but for a
    /// 2^-32 chance) and its `heap` is never dereferenced, reallocated or freed.
    static let secret = randomWord() | 1

    static func tag(_ heap: UnsafeMutablePointer<UInt64>) -> UInt64 {
        let mixed = spoor__mix64(UInt64(UInt(bitPattern: heap)) ^ secret)
        return (mixed >> 32) | 1
    }

    static func capacity(_ fold: UnsafeMutablePointer<spoor_fold>) -> Int {
        Int(truncatingIfNeeded: fold.pointee.heap_capacity & 0xffff_ffff)
    }

    /// Whether the fold is one this library initialised or left: zero-initialised and used
    /// inline, or with a heap buffer whose tag matches (see `secret`).
    static func valid(_ fold: UnsafeMutablePointer<spoor_fold>) -> Bool {
        guard let heap = fold.pointee.heap else {
            return fold.pointee.count <= UInt64(inlineCapacity) && fold.pointee.heap_capacity == 0
        }
        let capacity = fold.pointee.heap_capacity & 0xffff_ffff
        return fold.pointee.heap_capacity >> 32 == tag(heap) && capacity <= UInt64(SPOOR_MAX_PARENTS)
            && fold.pointee.count <= capacity
    }

    /// Ensures room for `needed` ids in total, moving to (or growing) the heap buffer.
    static func reserve(_ fold: UnsafeMutablePointer<spoor_fold>, _ needed: Int) -> Bool {
        if fold.pointee.heap == nil && needed <= inlineCapacity { return true }
        if fold.pointee.heap != nil, needed <= capacity(fold) { return true }
        var capacity = max(capacity(fold), 16)
        while capacity < needed { capacity *= 2 }
        capacity = min(capacity, Int(SPOOR_MAX_PARENTS))
        guard let grown = realloc(fold.pointee.heap, capacity * 8)?.assumingMemoryBound(to: UInt64.self) else {
            return false
        }
        if fold.pointee.heap == nil {
            grown.update(from: inlineIDs(fold), count: Int(fold.pointee.count))
        }
        fold.pointee.heap = grown
        fold.pointee.heap_capacity = tag(grown) << 32 | UInt64(capacity)
        return true
    }

    static func ids(_ fold: UnsafeMutablePointer<spoor_fold>) -> UnsafeMutablePointer<UInt64> {
        fold.pointee.heap ?? inlineIDs(fold)
    }

    static func reset(_ fold: UnsafeMutablePointer<spoor_fold>) {
        free(fold.pointee.heap)
        fold.pointee = spoor_fold()
    }
}

@c @implementation
public func spoor__fold_grow(_ fold: UnsafeMutablePointer<spoor_fold>, _ id: UInt64) -> Int32 {
    guard id != 0 else { return Status.ok }
    guard Fold.valid(fold) else { return fail(Status.invalidArgument, "fold is not initialised (use SPOOR_FOLD_INIT)") }
    let count = Int(fold.pointee.count)
    guard count < Int(SPOOR_MAX_PARENTS) else {
        fold.pointee.truncated &+= 1
        return Status.ok
    }
    guard Fold.reserve(fold, count + 1) else { return fail(Status.noMemory, "cannot grow the fold to \(count + 1) parents") }
    Fold.ids(fold)[count] = id
    fold.pointee.count = UInt64(count + 1)
    return Status.ok
}

@c @implementation
public func spoor_fold_merge(_ destination: UnsafeMutablePointer<spoor_fold>?, _ source: UnsafeMutablePointer<spoor_fold>?) -> Int32 {
    guard let destination, let source, destination != source else {
        return fail(Status.invalidArgument, "dst or src is NULL, or they are the same fold")
    }
    guard Fold.valid(destination), Fold.valid(source) else {
        return fail(Status.invalidArgument, "fold is not initialised (use SPOOR_FOLD_INIT)")
    }
    let have = Int(destination.pointee.count)
    let adding = Int(source.pointee.count)
    let kept = min(adding, Int(SPOOR_MAX_PARENTS) - have)
    guard Fold.reserve(destination, have + kept) else { return fail(Status.noMemory, "cannot grow the fold") }
    (Fold.ids(destination) + have).update(from: Fold.ids(source), count: kept)
    destination.pointee.count = UInt64(have + kept)
    destination.pointee.truncated &+= source.pointee.truncated &+ UInt64(adding - kept)
    Fold.reset(source)
    return Status.ok
}

@c @implementation
public func spoor__fold_finish_slow(
    _ thread: UnsafeMutablePointer<spoor__thread>, _ fold: UnsafeMutablePointer<spoor_fold>?,
    _ info: UnsafePointer<spoor_report_info>?, _ outID: UnsafeMutablePointer<UInt64>?
) -> Int32 {
    guard let fold, let outID else { return fail(Status.invalidArgument, "fold or out_id is NULL") }
    outID.pointee = 0
    guard Fold.valid(fold) else { return fail(Status.invalidArgument, "fold is not initialised (use SPOOR_FOLD_INIT)") }
    // Invalid report details leave the fold intact, so the caller can correct them and retry.
    guard (info?.pointee.fanout ?? 1) <= 65_536 else {
        return fail(Status.invalidArgument, "fanout \(info?.pointee.fanout ?? 0) exceeds 65536")
    }
    let attachLength = RingProducer.attachmentLength(info?.pointee.attrs, count: info?.pointee.n_attrs ?? 0)
    guard attachLength >= 0 else { return Int32(attachLength) }
    defer { Fold.reset(fold) }
    let count = Int(fold.pointee.count)
    guard count > 0 else { return Status.ok }
    let flags = UInt8(SPOORINT_FLAG_FOLD) | (fold.pointee.truncated > 0 ? UInt8(SPOORINT_FLAG_TRUNCATED) : 0)
    return checkpointMany(thread, parents: Fold.ids(fold), count: count, tracked: count, flags: flags, info: info, outID: outID)
}

@c @implementation
public func spoor_fold_report(
    _ parents: UnsafePointer<UInt64>?, _ parentCount: Int, _ info: UnsafePointer<spoor_report_info>?,
    _ outID: UnsafeMutablePointer<UInt64>?
) -> Int32 {
    checkpointArray(spoorint_thread_state(), parents, parentCount, info, outID, flags: UInt8(SPOORINT_FLAG_FOLD))
}

@c @implementation
public func spoor_fold_discard(_ fold: UnsafeMutablePointer<spoor_fold>?) {
    guard let fold else { return }
    // A fold that fails validation was never the library's: zero it, free nothing.
    guard Fold.valid(fold) else {
        fold.pointee = spoor_fold()
        return
    }
    Fold.reset(fold)
}

// MARK: - Context

@c @implementation
public func spoor_context_encode(_ id: UInt64, _ flags: UInt32, _ buffer: UnsafeMutablePointer<CChar>?, _ capacity: Int) -> Int32 {
    guard let buffer else { return fail(Status.invalidArgument, "buf is NULL") }
    guard ContextCodec.consistent(id: id, flags: flags) else {
        return fail(Status.invalidArgument, "flags must be <= 255 and carry SPOOR_CONTEXT_SAMPLED iff id != 0")
    }
    guard cSize(capacity) > UInt(ContextCodec.stringLength) else {
        return fail(Status.bufferTooSmall, "need \(ContextCodec.stringLength + 1) bytes")
    }
    ContextCodec.encode(id: id, flags: flags, into: buffer)
    return Int32(ContextCodec.stringLength)
}

@c @implementation
public func spoor_context_decode(
    _ text: UnsafePointer<CChar>?, _ length: Int, _ outID: UnsafeMutablePointer<UInt64>?, _ outFlags: UnsafeMutablePointer<UInt32>?
) -> Int32 {
    guard let text, let outID, let outFlags else { return fail(Status.invalidArgument, "a pointer is NULL") }
    guard let (id, flags) = ContextCodec.decode(text, length: length) else {
        return fail(Status.parse, "not a spoor context of the form 00-<16 hex>-<2 hex>")
    }
    outID.pointee = id
    outFlags.pointee = flags
    return Status.ok
}

@c @implementation
public func spoor_context_encode_bytes(_ id: UInt64, _ flags: UInt32, _ buffer: UnsafeMutablePointer<UInt8>?, _ capacity: Int) -> Int32 {
    guard let buffer else { return fail(Status.invalidArgument, "buf is NULL") }
    guard ContextCodec.consistent(id: id, flags: flags) else {
        return fail(Status.invalidArgument, "flags must be <= 255 and carry SPOOR_CONTEXT_SAMPLED iff id != 0")
    }
    guard cSize(capacity) >= UInt(ContextCodec.byteLength) else { return fail(Status.bufferTooSmall, "need \(ContextCodec.byteLength) bytes") }
    buffer[0] = 0
    buffer[1] = UInt8(flags)
    for index in 0..<8 { buffer[2 + index] = UInt8(truncatingIfNeeded: id >> (56 - 8 * UInt64(index))) }
    return Int32(ContextCodec.byteLength)
}

@c @implementation
public func spoor_context_decode_bytes(
    _ bytes: UnsafePointer<UInt8>?, _ length: Int, _ outID: UnsafeMutablePointer<UInt64>?, _ outFlags: UnsafeMutablePointer<UInt32>?
) -> Int32 {
    guard let bytes, let outID, let outFlags else { return fail(Status.invalidArgument, "a pointer is NULL") }
    guard length == ContextCodec.byteLength, bytes[0] == 0 else {
        return fail(Status.parse, "a binary context is \(ContextCodec.byteLength) bytes starting with version 0")
    }
    var id: UInt64 = 0
    for index in 0..<8 { id = id << 8 | UInt64(bytes[2 + index]) }
    let flags = UInt32(bytes[1])
    guard ContextCodec.consistent(id: id, flags: flags) else { return fail(Status.parse, "sampled flag and id disagree") }
    outID.pointee = id
    outFlags.pointee = flags
    return Status.ok
}

// MARK: - Keys

@c @implementation
public func spoor_hash_bytes(_ data: UnsafeRawPointer?, _ length: Int) -> UInt64 {
    guard let data else { return length == 0 ? 0xcbf2_9ce4_8422_2325 : 0 }
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for index in 0..<max(length, 0) {
        hash = (hash ^ UInt64(data.load(fromByteOffset: index, as: UInt8.self))) &* 0x100_0000_01b3
    }
    return hash
}

@c @implementation
public func spoor_key_sampled(_ keyHash: UInt64, _ probability: Double) -> Int32 {
    if probability >= 1 { return 1 }
    return spoor__mix64(keyHash) < keyThreshold(probability) ? 1 : 0
}

// MARK: - Partitioners

/// A caller's partitioner pointer as a table, or nil (and the thread's error detail set) for NULL
/// or a pointer without the table's magic word.
@inline(__always)
private func partitionerTable(_ partitioner: OpaquePointer?) -> UnsafeRawPointer? {
    guard let partitioner else {
        fail(Status.invalidArgument, "partitioner is NULL")
        return nil
    }
    let table = UnsafeRawPointer(partitioner)
    guard PartitionerTable.isValid(table) else {
        fail(Status.invalidArgument, "not a live spoor_partitioner (freed, or never loaded)")
        return nil
    }
    return table
}

@c @implementation
public func spoor_partitioner_load(_ json: UnsafeRawPointer?, _ length: Int, _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    guard let out else { return fail(Status.invalidArgument, "out is NULL") }
    let size = cSize(length)
    guard size <= UInt(PartitionerDescription.maximumBytes) else {
        return fail(Status.parse, "partitioner file: larger than \(PartitionerDescription.maximumBytes) bytes")
    }
    guard json != nil || size == 0 else { return fail(Status.invalidArgument, "json is NULL with len \(size)") }
    let bytes = UnsafeBufferPointer(start: json?.assumingMemoryBound(to: UInt8.self), count: Int(size))
    let description: PartitionerDescription
    do {
        description = try PartitionerDescription.decode(bytes)
    } catch {
        return fail(Status.parse, "partitioner file: \(error.description)")
    }
    guard let table = PartitionerTable.make(
        partitions: description.partitions,
        explicit: description.keys.map { (key: $0.keyHash, partition: $0.partition, salts: $0.salts) },
        keep: description.keep, spill: description.spill)
    else { return fail(Status.noMemory, "no memory for a partitioner of \(description.partitions) partitions") }
    out.pointee = OpaquePointer(table)
    return Status.ok
}

@c @implementation
public func spoor_partitioner_free(_ partitioner: OpaquePointer?) {
    guard let partitioner else { return }
    PartitionerTable.free(UnsafeMutableRawPointer(partitioner))
}

@c @implementation
public func spoor_partitioner_partitions(_ partitioner: OpaquePointer?) -> Int32 {
    guard let table = partitionerTable(partitioner) else { return Status.invalidArgument }
    return Int32(PartitionerTable.partitions(table))
}

@c @implementation
public func spoor_partitioner_partition(_ partitioner: OpaquePointer?, _ keyHash: UInt64) -> Int32 {
    guard let table = partitionerTable(partitioner) else { return Status.invalidArgument }
    return Int32(truncatingIfNeeded: PartitionerTable.partition(table, keyHash))
}

@c @implementation
public func spoor_partitioner_salts(_ partitioner: OpaquePointer?, _ keyHash: UInt64) -> Int32 {
    guard let table = partitionerTable(partitioner) else { return Status.invalidArgument }
    return Int32(truncatingIfNeeded: PartitionerTable.salts(table, keyHash))
}

@c @implementation
public func spoor_partitioner_keys(_ partitioner: OpaquePointer?) -> Int32 {
    guard let table = partitionerTable(partitioner) else { return Status.invalidArgument }
    return Int32(truncatingIfNeeded: PartitionerTable.keyCount(table))
}

// MARK: - Statistics

@c @implementation
public func spoor_get_stats(_ out: UnsafeMutablePointer<spoor_stats>?) -> Int32 {
    guard let out else { return fail(Status.invalidArgument, "out is NULL") }
    return Lifecycle.withRuntime { runtime in
        out.pointee = runtime.statistics()
        return Status.ok
    }
}

@c @implementation
public func spoor_get_thread_stats(_ out: UnsafeMutablePointer<spoor_stats>?) -> Int32 {
    guard let out else { return fail(Status.invalidArgument, "out is NULL") }
    return Lifecycle.withRuntime { runtime in
        let thread = spoorint_thread_state()
        var stats = spoor_stats()
        if thread.pointee.generation == runtime.generation {
            if thread.pointee.ring != nil, thread.pointee.state_flags & RingProducer.sharedRing != 0 {
                // A shared ring's counters are everyone's: the thread counts its own. What the
                // collector drained of it is known only per ring (the log has it per thread).
                stats.committed = thread.pointee.own_committed
                stats.dropped = thread.pointee.own_dropped
                stats.sampled = thread.pointee.own_sampled
                stats.drained = 0
                stats.threads = 1
            } else if let ring = thread.pointee.ring {
                stats.committed = spoorint_load_relaxed(RingField.word(ring, RingField.committed)) &- thread.pointee.base_committed
                stats.dropped = spoorint_load_relaxed(RingField.word(ring, RingField.dropped)) &- thread.pointee.base_dropped
                stats.sampled = spoorint_load_relaxed(RingField.word(ring, RingField.sampled)) &- thread.pointee.base_sampled
                stats.drained = spoorint_load_relaxed(RingField.word(ring, RingField.drained)) &- thread.pointee.base_drained
                stats.batches = spoorint_load_relaxed(RingField.word(ring, RingField.batches))
                stats.sink_errors = spoorint_load_relaxed(RingField.word(ring, RingField.sinkErrors))
                stats.threads = 1
            }
            stats.dropped &+= thread.pointee.lost_no_ring
        }
        stats.written = stats.committed &+ stats.dropped
        out.pointee = stats
        return Status.ok
    }
}
