#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CSpoor
import SpoorSupport

/// A failure to create, map or attach a segment.
struct SegmentError: Error {
    var message: String
    init(_ message: String) { self.message = message }
}

/// The POSIX shared-memory segment of one process: a header, a table of ring descriptors, the
/// operator table and the ring slots (docs/shm-layout.md).
///
/// The owner creates it with mode 0600 and `O_EXCL`. Another process attaches to it by name to
/// drain it after the owner died (`spoor recover`). All offsets and sizes read from an attached
/// segment are checked against the file size before use.
final class SharedSegment: @unchecked Sendable {
    let name: String
    let base: UnsafeMutableRawPointer
    let size: Int
    let ringCount: Int
    let ringSlots: Int
    let ringTableOffset: Int
    let operatorTableOffset: Int
    let ringDataOffset: Int
    private(set) var descriptor: Int32
    private let owner: Bool

    var header: UnsafeMutablePointer<spoorint_shm_header> {
        base.assumingMemoryBound(to: spoorint_shm_header.self)
    }

    static let ringDescriptorSize = MemoryLayout<spoorint_shm_ring>.size
    static let operatorEntrySize = MemoryLayout<spoorint_shm_operator>.size
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
        self.ringTableOffset = Int(SPOORINT_HEADER_SIZE)
        self.operatorTableOffset = ringTableOffset + Self.roundUp(ringCount * Self.ringDescriptorSize, Self.pageSize)
        self.ringDataOffset = operatorTableOffset + Int(SPOOR_MAX_OPERATORS) * Self.operatorEntrySize
        self.descriptor = descriptor
        self.owner = owner
    }

    static func layoutSize(ringCount: Int, ringSlots: Int) -> (metadata: Int, total: Int) {
        let metadata = Int(SPOORINT_HEADER_SIZE) + roundUp(ringCount * ringDescriptorSize, pageSize)
            + Int(SPOOR_MAX_OPERATORS) * operatorEntrySize
        return (metadata, metadata + ringCount * ringSlots * Int(SPOORINT_SLOT_SIZE))
    }

    /// Creates and maps a new segment.
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
        header.pointee.created_realtime_ns = realtimeNanos()
        header.pointee.created_monotonic_ns = monotonicNanos()
        header.pointee.run_id = runID
        header.pointee.state = UInt64(SPOORINT_SEGMENT_RUNNING)
        let runDirBytes = Array(runDirectory.utf8.prefix(Int(SPOORINT_RUN_DIR_CAPACITY) - 1))
        let runDirField = mapped + 1024
        runDirBytes.withUnsafeBytes { runDirField.copyMemory(from: $0.baseAddress ?? UnsafeRawPointer(runDirField), byteCount: $0.count) }
        runDirField.storeBytes(of: 0, toByteOffset: runDirBytes.count, as: UInt8.self)
        for index in max(ringCount - sharedRings, 0)..<ringCount {
            spoorint_store_relaxed(RingField.word(segment.ring(index), RingField.flags), UInt64(SPOORINT_RING_SHARED))
        }
        // The magic goes last: a reader that sees it sees a complete header.
        spoorint_store_release(mapped.assumingMemoryBound(to: UInt64.self), SPOORINT_SHM_MAGIC)
        return segment
    }

    /// Maps an existing segment read-write (for recovery), validating its header.
    static func attach(name: String) throws(SegmentError) -> SharedSegment {
        try validateName(name)
        let fd = shm_open(name, O_RDWR | O_CLOEXEC, 0)
        guard fd >= 0 else { throw SegmentError("shm_open(\(name)): \(errnoText(errno))") }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_size >= Int(SPOORINT_HEADER_SIZE) else {
            _ = close(fd)
            throw SegmentError("\(name) is smaller than a segment header")
        }
        let fileSize = Int(info.st_size)
        guard let mapped = mmap(nil, fileSize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), mapped != MAP_FAILED else {
            _ = close(fd)
            throw SegmentError("mmap(\(name)): \(errnoText(errno))")
        }
        let header = mapped.assumingMemoryBound(to: spoorint_shm_header.self).pointee
        let ringCount = Int(header.ring_count)
        let ringSlots = Int(header.ring_slots)
        let expected = (1...(4096 + 64)).contains(ringCount) && ringSlots >= 64 && ringSlots <= 1 << 24
            && ringSlots & (ringSlots - 1) == 0
            ? layoutSize(ringCount: ringCount, ringSlots: ringSlots).total : -1
        guard header.magic == SPOORINT_SHM_MAGIC, header.layout_version == SPOORINT_SHM_LAYOUT_VERSION,
              header.slot_size == SPOORINT_SLOT_SIZE, header.header_size == SPOORINT_HEADER_SIZE,
              expected == fileSize, header.total_size == UInt64(fileSize)
        else {
            munmap(mapped, fileSize)
            _ = close(fd)
            throw SegmentError("\(name) is not a spoor segment of layout version \(SPOORINT_SHM_LAYOUT_VERSION)")
        }
        let segment = SharedSegment(
            name: name, base: mapped, size: fileSize, ringCount: ringCount, ringSlots: ringSlots,
            descriptor: fd, owner: false)
        guard segment.ringTableOffset == Int(header.ring_table_offset),
              segment.operatorTableOffset == Int(header.operator_table_offset),
              segment.ringDataOffset == Int(header.ring_data_offset)
        else {
            segment.unmap()
            throw SegmentError("\(name) has inconsistent table offsets")
        }
        return segment
    }

    /// The run directory recorded in the header.
    var runDirectory: String {
        let field = UnsafeRawBufferPointer(start: base + 1024, count: Int(SPOORINT_RUN_DIR_CAPACITY))
        return String(decoding: field.prefix(while: { $0 != 0 }), as: UTF8.self)
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

    /// Removes the name (owner only) and replaces the mapping with anonymous memory, so that a
    /// thread still holding ring pointers writes harmlessly and the shared pages are released.
    func retire(unlink: Bool) {
        if unlink && owner { _ = shm_unlink(name) }
        _ = mmap(base, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0)
        if descriptor >= 0 { _ = close(descriptor) }
        descriptor = -1
    }

    /// Unmaps an attached segment.
    func unmap() {
        munmap(base, size)
        if descriptor >= 0 { _ = close(descriptor) }
        descriptor = -1
    }
}

/// Byte offsets of `spoorint_shm_ring` fields (asserted in spoor_internal.h).
enum RingField {
    static let state = 0
    static let ownerTID = 8
    static let takes = 16
    static let flags = 24
    static let sharers = 32
    static let head = 64
    static let committed = 72
    static let dropped = 80
    static let sampled = 88
    static let tail = 128
    static let drained = 136
    static let batches = 144
    static let sinkErrors = 152

    @inline(__always)
    static func word(_ ring: UnsafeMutableRawPointer, _ offset: Int) -> UnsafeMutablePointer<UInt64> {
        (ring + offset).assumingMemoryBound(to: UInt64.self)
    }
}
