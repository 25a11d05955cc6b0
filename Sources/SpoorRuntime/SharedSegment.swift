#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CSpoor
import SpoorLog
import SpoorSupport

/// Where the parts of a segment with `ringCount` rings of `ringSlots` slots lie
/// (docs/shm-layout.md): the one definition, for the segment's creator and for its readers.
struct SegmentLayout {
    let ringTableOffset: Int
    let operatorTableOffset: Int
    let sharerTableOffset: Int
    let ringDataOffset: Int
    let totalSize: Int

    init(ringCount: Int, ringSlots: Int) {
        ringTableOffset = Int(SPOORINT_HEADER_SIZE)
        operatorTableOffset = ringTableOffset
            + SharedSegment.roundUp(ringCount * SharedSegment.ringDescriptorSize, SharedSegment.pageSize)
        sharerTableOffset = SharedSegment.roundUp(
            operatorTableOffset + Int(SPOOR_MAX_OPERATORS) * SharedSegment.operatorEntrySize, SharedSegment.pageSize)
        ringDataOffset = sharerTableOffset + Int(SPOORINT_SHARER_CAPACITY) * SharedSegment.sharerEntrySize
        totalSize = ringDataOffset + ringCount * ringSlots * Int(SPOORINT_SLOT_SIZE)
    }
}

/// A failure to create, map or attach a segment.
struct SegmentError: Error {
    var message: String
    init(_ message: String) { self.message = message }
}

/// The POSIX shared-memory segment of one process: a header, a table of ring descriptors, the
/// operator table and the ring slots (docs/shm-layout.md).
///
/// The owner creates it with mode 0600 and `O_EXCL` and maps it; this class is that owner's view.
/// Another process drains it after the owner died (`spoor recover`) through `ForeignSegment`,
/// which never maps it and validates private copies of everything it reads.
final class SharedSegment: @unchecked Sendable {
    let name: String
    let base: UnsafeMutableRawPointer
    let size: Int
    let ringCount: Int
    let ringSlots: Int
    let ringTableOffset: Int
    let operatorTableOffset: Int
    let sharerTableOffset: Int
    let ringDataOffset: Int
    private(set) var descriptor: Int32
    private let owner: Bool

    var header: UnsafeMutablePointer<spoorint_shm_header> {
        base.assumingMemoryBound(to: spoorint_shm_header.self)
    }

    static let ringDescriptorSize = MemoryLayout<spoorint_shm_ring>.size
    static let operatorEntrySize = MemoryLayout<spoorint_shm_operator>.size
    static let sharerEntrySize = MemoryLayout<spoorint_shm_sharer>.size
    static let pageSize = 4096

    static func roundUp(_ value: Int, _ multiple: Int) -> Int { (value + multiple - 1) / multiple * multiple }

    /// Checks a shm name: "/name", one slash, at most 255 bytes, no NUL.
    static func validateName(_ name: String) throws(SegmentError) {
        let bytes = Array(name.utf8)
        guard bytes.count >= 2, bytes.count <= 255, bytes[0] == UInt8(ascii: "/"),
              !bytes.dropFirst().contains(UInt8(ascii: "/")), !bytes.contains(0)
        else {
            throw SegmentError("shm name '\(name)' must be '/' followed by 1 to 254 bytes with no other '/'")
        }
    }

    private init(
        name: String, base: UnsafeMutableRawPointer, size: Int, ringCount: Int, ringSlots: Int,
        descriptor: Int32, owner: Bool
    ) {
        self.name = name
        self.base = base
        self.size = size
        self.ringCount = ringCount
        self.ringSlots = ringSlots
        let layout = SegmentLayout(ringCount: ringCount, ringSlots: ringSlots)
        self.ringTableOffset = layout.ringTableOffset
        self.operatorTableOffset = layout.operatorTableOffset
        self.sharerTableOffset = layout.sharerTableOffset
        self.ringDataOffset = layout.ringDataOffset
        self.descriptor = descriptor
        self.owner = owner
    }

    static func layoutSize(ringCount: Int, ringSlots: Int) -> (metadata: Int, total: Int) {
        let layout = SegmentLayout(ringCount: ringCount, ringSlots: ringSlots)
        return (layout.ringDataOffset, layout.totalSize)
    }

    /// Creates and maps a new segment whose last `sharedRings` rings are shared
    /// (multi-producer, `SPOORINT_RING_SHARED`).
    static func create(
        name: String, ringCount: Int, sharedRings: Int = 0, ringSlots: Int, runID: UInt64, runDirectory: String
    ) throws(SegmentError) -> SharedSegment {
        try validateName(name)
        let (metadata, total) = layoutSize(ringCount: ringCount, ringSlots: ringSlots)
        let fd = shm_open(name, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw SegmentError("shm_open(\(name)): \(errnoText(errno))") }
        func abandon(_ message: String) -> SegmentError {
            _ = close(fd)
            _ = shm_unlink(name)
            return SegmentError(message)
        }
        guard ftruncate(fd, off_t(total)) == 0 else { throw abandon("ftruncate(\(name), \(total)): \(errnoText(errno))") }
        let reserved = posix_fallocate(fd, 0, off_t(metadata))
        guard reserved == 0 else { throw abandon("posix_fallocate(\(name)): \(errnoText(reserved))") }
        guard let mapped = mmap(nil, total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), mapped != MAP_FAILED else {
            throw abandon("mmap(\(name), \(total)): \(errnoText(errno))")
        }
        let segment = SharedSegment(
            name: name, base: mapped, size: total, ringCount: ringCount, ringSlots: ringSlots,
            descriptor: fd, owner: true)
        let header = segment.header
        header.pointee.layout_version = SPOORINT_SHM_LAYOUT_VERSION
        header.pointee.header_size = SPOORINT_HEADER_SIZE
        header.pointee.total_size = UInt64(total)
        header.pointee.ring_count = UInt32(ringCount)
        header.pointee.ring_slots = UInt32(ringSlots)
        header.pointee.slot_size = SPOORINT_SLOT_SIZE
        header.pointee.owner_pid = UInt32(bitPattern: getpid())
        header.pointee.ring_table_offset = UInt64(segment.ringTableOffset)
        header.pointee.ring_data_offset = UInt64(segment.ringDataOffset)
        header.pointee.operator_table_offset = UInt64(segment.operatorTableOffset)
        header.pointee.operator_capacity = SPOOR_MAX_OPERATORS
        header.pointee.operator_entry_size = UInt32(operatorEntrySize)
        header.pointee.sharer_table_offset = UInt64(segment.sharerTableOffset)
        header.pointee.sharer_capacity = SPOORINT_SHARER_CAPACITY
        header.pointee.sharer_entry_size = UInt32(sharerEntrySize)
        header.pointee.created_realtime_ns = realtimeNanos()
        header.pointee.created_monotonic_ns = monotonicNanos()
        header.pointee.run_id = runID
        header.pointee.state = UInt64(SPOORINT_SEGMENT_RUNNING)
        let runDirBytes = Array(absoluteRunDirectory(runDirectory).utf8.prefix(Int(SPOORINT_RUN_DIR_CAPACITY) - 1))
        let runDirField = mapped + HeaderField.runDirectory
        runDirBytes.withUnsafeBytes { runDirField.copyMemory(from: $0.baseAddress ?? UnsafeRawPointer(runDirField), byteCount: $0.count) }
        runDirField.storeBytes(of: 0, toByteOffset: runDirBytes.count, as: UInt8.self)
        for index in max(ringCount - sharedRings, 0)..<ringCount {
            spoorint_store_relaxed(RingField.word(segment.ring(index), RingField.flags), UInt64(SPOORINT_RING_SHARED))
        }
        // The magic goes last: a reader that sees it sees a complete header.
        spoorint_store_release(mapped.assumingMemoryBound(to: UInt64.self), SPOORINT_SHM_MAGIC)
        return segment
    }

    /// Maps the live segment of another process of this user, validated by `ForeignSegment`,
    /// so that `spoor collect` can drain it in place once it holds the consumer lease
    /// (docs/shm-layout.md, "The consumer lease"). The mapping uses the validated sizes, never
    /// values read from the mapping later. Takes the descriptor over from `foreign`.
    ///
    /// Trust: only segments of the caller's own user are mapped (the caller checks), and ring
    /// contents are validated report by report as for the owner's collector. A process of the
    /// same user that truncates the file under the mapping makes the collector fault (SIGBUS);
    /// such a process can signal the collector anyway, so this adds no power it lacks.
    static func map(foreign: ForeignSegment) throws(SegmentError) -> SharedSegment {
        let fd = dup(foreign.descriptor)
        guard fd >= 0 else { throw SegmentError("dup(\(foreign.name)): \(errnoText(errno))") }
        guard let mapped = mmap(nil, foreign.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), mapped != MAP_FAILED else {
            let error = errno
            _ = close(fd)
            throw SegmentError("mmap(\(foreign.name), \(foreign.size)): \(errnoText(error))")
        }
        return SharedSegment(
            name: foreign.name, base: mapped, size: foreign.size, ringCount: foreign.ringCount,
            ringSlots: foreign.ringSlots, descriptor: fd, owner: false)
    }

    /// Unmaps a segment mapped with `map(foreign:)` (no thread of this process writes into it).
    func unmapForeign() {
        guard !owner, !released else { return }
        released = true
        _ = munmap(base, size)
        if descriptor >= 0 { _ = close(descriptor) }
        descriptor = -1
    }

    /// A 64-bit word of the header, at a `HeaderField` offset.
    @inline(__always)
    func headerWord(_ offset: Int) -> UnsafeMutablePointer<UInt64> {
        (base + offset).assumingMemoryBound(to: UInt64.self)
    }

    /// Entry `index` of the sharer table.
    @inline(__always)
    func sharer(_ index: Int) -> UnsafeMutableRawPointer {
        base + sharerTableOffset + index * Self.sharerEntrySize
    }

    /// Sharer entries ever claimed (the collector scans only these).
    var sharerCount: Int {
        let word = (UnsafeMutableRawPointer(header) + HeaderField.sharerCount).assumingMemoryBound(to: UInt64.self)
        return Int(min(spoorint_load_acquire(word), UInt64(SPOORINT_SHARER_CAPACITY)))
    }

    /// Descriptor of ring `index`.
    @inline(__always)
    func ring(_ index: Int) -> UnsafeMutableRawPointer {
        base + ringTableOffset + index * Self.ringDescriptorSize
    }

    /// Whether ring `index` is shared (multi-producer).
    func isShared(_ index: Int) -> Bool {
        spoorint_load_relaxed(RingField.word(ring(index), RingField.flags)) & UInt64(SPOORINT_RING_SHARED) != 0
    }

    /// First slot of ring `index`.
    @inline(__always)
    func slots(_ index: Int) -> UnsafeMutableRawPointer {
        base + ringDataOffset + index * ringSlots * Int(SPOORINT_SLOT_SIZE)
    }

    /// Operator table entry `index` (0-based; operator id = index + 1).
    func operatorEntry(_ index: Int) -> UnsafeMutablePointer<spoorint_shm_operator> {
        (base + operatorTableOffset + index * Self.operatorEntrySize).assumingMemoryBound(to: spoorint_shm_operator.self)
    }

    /// Reserves and faults in the memory of ring `index` before its first use, so that neither
    /// the first writes (about 1 µs per fresh page) nor a full /dev/shm (SIGBUS) reach the hot path.
    func prepareRing(_ index: Int) -> Bool {
        let bytes = ringSlots * Int(SPOORINT_SLOT_SIZE)
        let offset = ringDataOffset + index * bytes
        guard posix_fallocate(descriptor, off_t(offset), off_t(bytes)) == 0 else { return false }
        _ = spoorint_prefault(base + offset, bytes)
        return true
    }

    /// Whether `retire` or `discard` ran (each segment is released once).
    private var released = false

    /// How many retired mappings stay reserved (as anonymous memory) before the oldest is
    /// unmapped.
    ///
    /// Why a retired mapping is kept at all: a producer writes into a segment only between its
    /// check that its thread's generation equals `spoorint_generation` (`RingProducer.ready`) and
    /// the end of that one report; shutdown clears the generation before it retires the segment,
    /// so a thread that passed the check just before may still store a few words into it. Those
    /// stores must land in memory we own, not in an unmapped hole (SIGSEGV) nor in whatever
    /// `mmap` put at the same address since. Why only two: for a store to reach a mapping retired
    /// two shutdowns ago, its thread must have stayed between that check and its last store of
    /// one report (a few hundred nanoseconds of straight-line code, no lock, no system call
    /// except a clock read) while two further complete `spoor_init`/`spoor_shutdown` cycles ran,
    /// each of which starts and joins the collector thread. This bounds the address space a
    /// process that cycles init/shutdown holds to (1 + depth) segments, instead of one more
    /// segment (about 66 MB with the default rings) per cycle: before, 56 cycles exhausted a
    /// 4 GiB address-space limit.
    static let quarantineDepth = 2

    /// `quarantineDepth` words holding retired segments (an `Unmanaged<SharedSegment>` pointer
    /// as a word, 0 for none), then a word counting retirements (the next word to use). Lock-free
    /// (compare-and-swap), because `retire` runs in a fork child, where a lock that another
    /// thread of the parent held would never be released. Allocated once, never freed.
    nonisolated(unsafe) private static let quarantine: UnsafeMutablePointer<UInt64> = {
        let words = UnsafeMutablePointer<UInt64>.allocate(capacity: quarantineDepth + 1)
        words.initialize(repeating: 0, count: quarantineDepth + 1)
        return words
    }()

    /// Retires a segment that threads may still hold ring pointers into: removes the name (if
    /// `unlink`), replaces the mapping with anonymous memory at the same address so that a late
    /// store lands harmlessly and the shared pages are released, and keeps that memory reserved
    /// until `quarantineDepth` later retirements, when it is unmapped (see `quarantineDepth`).
    func retire(unlink: Bool) {
        guard !released else { return }
        released = true
        if unlink && owner { _ = shm_unlink(name) }
        let replaced = mmap(base, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0)
        if descriptor >= 0 { _ = close(descriptor) }
        descriptor = -1
        guard replaced == base else {
            // The replacement failed and the shared mapping is still there: unmapping it would
            // expose the range, keeping it keeps a late store inside the (unlinked) segment.
            return
        }
        let counter = Self.quarantine + Self.quarantineDepth
        let word = Self.quarantine + Int(spoorint_fetch_add(counter, 1) % UInt64(Self.quarantineDepth))
        let mine = UInt64(UInt(bitPattern: Unmanaged.passRetained(self).toOpaque()))
        var previous = spoorint_load_acquire(word)
        while !spoorint_cas(word, previous, mine) { previous = spoorint_load_acquire(word) }
        if let raw = UnsafeMutableRawPointer(bitPattern: UInt(previous)) {
            let oldest = Unmanaged<SharedSegment>.fromOpaque(raw).takeRetainedValue()
            _ = munmap(oldest.base, oldest.size)
        }
    }

    /// Releases a segment no thread was ever given (a failed `spoor_init`): unlinks the name and
    /// unmaps everything at once.
    func discard() {
        guard !released else { return }
        released = true
        if owner { _ = shm_unlink(name) }
        _ = munmap(base, size)
        if descriptor >= 0 { _ = close(descriptor) }
        descriptor = -1
    }

    /// The absolute form of `path` for the segment header, so that `spoor recover` run from
    /// another directory finds the same run directory: a relative path is taken from the current
    /// directory, and the parent (the log root) is resolved with `realpath` when it exists, so
    /// that the stored path holds no symbolic link (recovery refuses one).
    static func absoluteRunDirectory(_ path: String) -> String {
        var absolute = path
        if !path.hasPrefix("/") {
            var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            guard getcwd(&buffer, buffer.count) != nil else { return path }
            let cwd = String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
            absolute = cwd + (cwd.hasSuffix("/") ? "" : "/") + path
        }
        guard let slash = absolute.lastIndex(of: "/"), slash != absolute.startIndex else { return absolute }
        let parent = String(absolute[..<slash])
        let last = absolute[absolute.index(after: slash)...]
        guard let resolved = realpath(parent, nil) else { return absolute }
        defer { free(resolved) }
        return String(cString: resolved) + "/" + last
    }
}

/// The segment of another (normally dead) process, for `spoor recover`: never mapped, read and
/// written with `pread`/`pwrite` on its descriptor.
///
/// Everything in it may change under the reader (a live writer, a crafted file) and the file
/// may even shrink (which would raise SIGBUS in a mapping), so every value is read once into
/// private memory and validated there: the header at `init`, a ring descriptor or an operator
/// entry when asked for, ring slots into the caller's buffer. Callers validate and use those
/// copies and never read the same bytes twice.
final class ForeignSegment {
    let name: String
    /// The private copy of the header, validated (docs/shm-layout.md, "What a reader must validate").
    let header: spoorint_shm_header
    let size: Int
    let ringCount: Int
    let ringSlots: Int
    let ringTableOffset: Int
    let operatorTableOffset: Int
    let ringDataOffset: Int
    /// Owner and group of the file.
    let ownerUID: uid_t
    let ownerGID: gid_t
    private(set) var descriptor: Int32

    /// Opens segment `name` read-write and validates its header.
    convenience init(name: String) throws(SegmentError) {
        try SharedSegment.validateName(name)
        let fd = shm_open(name, O_RDWR | O_CLOEXEC | O_NOFOLLOW, 0)
        guard fd >= 0 else { throw SegmentError("shm_open(\(name)): \(errnoText(errno))") }
        try self.init(descriptor: fd, name: name)
    }

    /// Validates the segment open at `descriptor` (which it then owns, and closes on failure).
    init(descriptor fd: Int32, name: String) throws(SegmentError) {
        func refuse(_ message: String) -> SegmentError {
            _ = close(fd)
            return SegmentError(message)
        }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw refuse("fstat(\(name)): \(errnoText(errno))") }
        guard info.st_mode & S_IFMT == S_IFREG else { throw refuse("\(name) is not a regular file") }
        guard info.st_size >= off_t(SPOORINT_HEADER_SIZE), info.st_size <= off_t(1) << 41 else {
            throw refuse("\(name) is not a spoor segment (size \(info.st_size))")
        }
        var copy = spoorint_shm_header()
        guard Self.readAll(fd, into: &copy, count: MemoryLayout<spoorint_shm_header>.size, at: 0) else {
            throw refuse("\(name): cannot read the segment header")
        }
        let fileSize = Int(info.st_size)
        let ringCount = Int(copy.ring_count)
        let ringSlots = Int(copy.ring_slots)
        let expected = (1...(4096 + 64)).contains(ringCount) && ringSlots >= 64 && ringSlots <= 1 << 24
            && ringSlots & (ringSlots - 1) == 0
            ? SharedSegment.layoutSize(ringCount: ringCount, ringSlots: ringSlots).total : -1
        guard copy.magic == SPOORINT_SHM_MAGIC, copy.layout_version == SPOORINT_SHM_LAYOUT_VERSION,
              copy.slot_size == SPOORINT_SLOT_SIZE, copy.header_size == SPOORINT_HEADER_SIZE,
              expected == fileSize, copy.total_size == UInt64(fileSize)
        else {
            throw refuse("\(name) is not a spoor segment of layout version \(SPOORINT_SHM_LAYOUT_VERSION)")
        }
        let layout = SegmentLayout(ringCount: ringCount, ringSlots: ringSlots)
        let (ringTableOffset, operatorTableOffset, ringDataOffset) =
            (layout.ringTableOffset, layout.operatorTableOffset, layout.ringDataOffset)
        guard copy.ring_table_offset == UInt64(ringTableOffset),
              copy.operator_table_offset == UInt64(operatorTableOffset),
              copy.sharer_table_offset == UInt64(layout.sharerTableOffset),
              copy.sharer_capacity == SPOORINT_SHARER_CAPACITY,
              copy.sharer_entry_size == UInt32(SharedSegment.sharerEntrySize),
              copy.ring_data_offset == UInt64(ringDataOffset)
        else {
            throw refuse("\(name) has inconsistent table offsets")
        }
        self.name = name
        self.header = copy
        self.size = fileSize
        self.ringCount = ringCount
        self.ringSlots = ringSlots
        self.ringTableOffset = ringTableOffset
        self.operatorTableOffset = operatorTableOffset
        self.ringDataOffset = ringDataOffset
        self.ownerUID = info.st_uid
        self.ownerGID = info.st_gid
        self.descriptor = fd
    }

    deinit { closeDescriptor() }

    /// Closes the descriptor.
    func closeDescriptor() {
        if descriptor >= 0 { _ = close(descriptor) }
        descriptor = -1
    }

    /// Reads exactly `count` bytes at `offset` (retrying short reads and EINTR); false on an
    /// error or at the end of the file.
    static func readAll(_ fd: Int32, into buffer: UnsafeMutableRawPointer, count: Int, at offset: Int) -> Bool {
        var done = 0
        while done < count {
            guard let got = try? syscall("pread", { pread(fd, buffer + done, count - done, off_t(offset + done)) }),
                  got > 0
            else { return false }
            done += got
        }
        return true
    }

    /// Copies `count` bytes at `offset` of the segment, which must lie inside it.
    func read(into buffer: UnsafeMutableRawPointer, count: Int, at offset: Int) -> Bool {
        guard offset >= 0, count >= 0, count <= size, offset <= size - count else { return false }
        return Self.readAll(descriptor, into: buffer, count: count, at: offset)
    }

    /// Stores one 64-bit word at `offset` (8-byte aligned, inside the segment).
    @discardableResult
    func write(word: UInt64, at offset: Int) -> Bool {
        guard offset >= 0, offset & 7 == 0, offset <= size - 8 else { return false }
        var value = word
        return (try? syscall("pwrite", { pwrite(descriptor, &value, 8, off_t(offset)) })) == 8
    }

    /// The run directory recorded in the header copy.
    var runDirectory: String {
        withUnsafeBytes(of: header.run_dir) { field in
            String(decoding: field.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
    }

    /// Byte offset of ring `index`'s descriptor.
    func ringOffset(_ index: Int) -> Int { ringTableOffset + index * SharedSegment.ringDescriptorSize }

    /// A copy of ring `index`'s descriptor, or nil if it cannot be read.
    func ringDescriptor(_ index: Int) -> spoorint_shm_ring? {
        guard index >= 0, index < ringCount else { return nil }
        var copy = spoorint_shm_ring()
        return read(into: &copy, count: MemoryLayout<spoorint_shm_ring>.size, at: ringOffset(index)) ? copy : nil
    }

    /// Copies the slots of ring `index` at positions `position ..< position + count` (wrapping
    /// at the ring's end) into `buffer`, which holds at least `count * 64` bytes.
    func readSlots(ring index: Int, from position: UInt64, count: Int, into buffer: UnsafeMutableRawPointer) -> Bool {
        guard index >= 0, index < ringCount, count >= 0, count <= ringSlots else { return false }
        let slotSize = Int(SPOORINT_SLOT_SIZE)
        let ringBase = ringDataOffset + index * ringSlots * slotSize
        let start = Int(position & UInt64(ringSlots - 1))
        let first = min(count, ringSlots - start)
        guard read(into: buffer, count: first * slotSize, at: ringBase + start * slotSize) else { return false }
        guard count > first else { return true }
        return read(into: buffer + first * slotSize, count: (count - first) * slotSize, at: ringBase)
    }

    /// The number of operators, clamped to the table's capacity.
    func operatorCount() -> Int {
        var count: UInt64 = 0
        guard read(into: &count, count: 8, at: 72) else { return 0 }
        return Int(min(count, UInt64(SPOOR_MAX_OPERATORS)))
    }

    /// Operator table entry `index` (operator id `index + 1`), decoded from a private copy.
    func operatorRecord(_ index: Int) -> OperatorRecord? {
        guard index >= 0, index < Int(SPOOR_MAX_OPERATORS) else { return nil }
        var entry = [UInt8](repeating: 0, count: SharedSegment.operatorEntrySize)
        let entrySize = SharedSegment.operatorEntrySize
        let offset = operatorTableOffset + index * entrySize
        guard entry.withUnsafeMutableBytes({ bytes in
            guard let base = bytes.baseAddress else { return false }
            return read(into: base, count: entrySize, at: offset)
        }) else { return nil }
        let capacity = Int(SPOOR_MAX_NAME_LEN)
        let nameLength = min(Int(entry[0]) | Int(entry[1]) << 8, capacity)
        let siteLength = min(Int(entry[2]) | Int(entry[3]) << 8, capacity)
        let name = String(decoding: entry[8..<(8 + nameLength)], as: UTF8.self)
        let site = String(decoding: entry[(8 + capacity)..<(8 + capacity + siteLength)], as: UTF8.self)
        return OperatorRecord(id: UInt32(index + 1), name: name, callSite: site)
    }
}

/// Byte offsets of `spoorint_report_header` fields (`offsetof` in spoor_internal.h).
enum ReportField {
    static var id: Int { SPOORINT_REPORT_ID }
    static var parent0: Int { SPOORINT_REPORT_PARENT0 }
    static var keyHash: Int { SPOORINT_REPORT_KEY_HASH }
    static var start: Int { SPOORINT_REPORT_START_NS }
    static var end: Int { SPOORINT_REPORT_END_NS }
    static var op: Int { SPOORINT_REPORT_OP }
    static var partition: Int { SPOORINT_REPORT_PARTITION }
    static var thread: Int { SPOORINT_REPORT_THREAD }
    static var parentCount: Int { SPOORINT_REPORT_N_PARENTS }
    static var attachLength: Int { SPOORINT_REPORT_ATTACH_LEN }
    static var kind: Int { SPOORINT_REPORT_KIND }
    static var flags: Int { SPOORINT_REPORT_FLAGS }
    static var aux: Int { SPOORINT_REPORT_AUX }
}

/// Byte offsets of the segment header's shared words (`offsetof` in spoor_internal.h).
enum HeaderField {
    static var operatorCount: Int { SPOORINT_SHM_OPERATOR_COUNT_OFFSET }
    static var state: Int { SPOORINT_SHM_STATE_OFFSET }
    static var sharerCount: Int { SPOORINT_SHM_SHARER_COUNT_OFFSET }
    static var runDirectory: Int { SPOORINT_SHM_RUN_DIR_OFFSET }
    static var consumer: Int { SPOORINT_SHM_CONSUMER_OFFSET }
    static var consumerRequest: Int { SPOORINT_SHM_CONSUMER_REQUEST_OFFSET }
    static var consumerLogSegment: Int { SPOORINT_SHM_CONSUMER_LOG_SEGMENT_OFFSET }
    static var consumerReclaim: Int { SPOORINT_SHM_CONSUMER_RECLAIM_OFFSET }
    static var consumerHandoffs: Int { SPOORINT_SHM_CONSUMER_HANDOFFS_OFFSET }
}

/// Byte offsets of `spoorint_shm_sharer` fields (`offsetof` in spoor_internal.h).
enum SharerField {
    static var state: Int { SPOORINT_SHARER_STATE_OFFSET }
    static var tid: Int { SPOORINT_SHARER_TID_OFFSET }
    static var ring: Int { SPOORINT_SHARER_RING_OFFSET }
    static var claims: Int { SPOORINT_SHARER_CLAIMS_OFFSET }
    static var dropped: Int { SPOORINT_SHARER_DROPPED_OFFSET }
    static var loggedClaims: Int { SPOORINT_SHARER_LOGGED_CLAIMS_OFFSET }
    static var logged: Int { SPOORINT_SHARER_LOGGED_OFFSET }
}

/// Byte offsets of `spoorint_shm_ring` fields: `offsetof` in spoor_internal.h, imported as
/// constants (so the hot paths fold them).
enum RingField {
    static var state: Int { SPOORINT_RING_STATE_OFFSET }
    static var ownerTID: Int { SPOORINT_RING_OWNER_TID_OFFSET }
    static var takes: Int { SPOORINT_RING_TAKES_OFFSET }
    static var flags: Int { SPOORINT_RING_FLAGS_OFFSET }
    static var sharers: Int { SPOORINT_RING_SHARERS_OFFSET }
    static var head: Int { SPOORINT_RING_HEAD_OFFSET }
    static var committed: Int { SPOORINT_RING_COMMITTED_OFFSET }
    static var dropped: Int { SPOORINT_RING_DROPPED_OFFSET }
    static var sampled: Int { SPOORINT_RING_SAMPLED_OFFSET }
    static var overwritten: Int { SPOORINT_RING_OVERWRITTEN_OFFSET }
    static var unlistedDropped: Int { SPOORINT_RING_UNLISTED_DROPPED_OFFSET }
    static var tail: Int { SPOORINT_RING_TAIL_OFFSET }
    static var drained: Int { SPOORINT_RING_DRAINED_OFFSET }
    static var batches: Int { SPOORINT_RING_BATCHES_OFFSET }
    static var sinkErrors: Int { SPOORINT_RING_SINK_ERRORS_OFFSET }
    static var sinkLost: Int { SPOORINT_RING_SINK_LOST_OFFSET }
    static var loggedFull: Int { SPOORINT_RING_LOGGED_FULL_OFFSET }
    static var loggedOverwritten: Int { SPOORINT_RING_LOGGED_OVERWRITTEN_OFFSET }
    static var loggedSink: Int { SPOORINT_RING_LOGGED_SINK_OFFSET }

    @inline(__always)
    static func word(_ ring: UnsafeMutableRawPointer, _ offset: Int) -> UnsafeMutablePointer<UInt64> {
        (ring + offset).assumingMemoryBound(to: UInt64.self)
    }
}
