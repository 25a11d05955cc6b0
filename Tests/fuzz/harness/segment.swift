// libFuzzer target "segment": the validation and drain of a shared-memory segment by
// `spoor recover` (ForeignSegment, ForeignDrain). Built by scripts/fuzz-recover.
//
// The input describes a segment file, which the harness writes into an unlinked shm file and opens as
// `spoor recover` does, then drains into a sink that encodes every batch as the log writer does
// and decodes it again as the log reader does: every batch must decode, to the same reports as
// decoding the slots directly. Input (docs in Tests/fuzz/README.md):
//   byte 0 bit 0 set: the rest of the input is the whole file (header validation only);
//   otherwise: byte 1 ring count (1 + b % 4), byte 2 ring slots (64 << (b % 5)), bytes 3-18 four
//   (offset, xor) pairs applied to the first 128 header bytes, then per ring 26 bytes (tail u64,
//   head - tail u16, drained u64, committed u64), one byte of operator count (& 15), then slot bytes
//   written into ring 0 from its tail's slot (wrapping) and, repeated, into every other ring.
#if canImport(Glibc)
import Glibc
#endif
import CSpoor
@testable import SpoorRuntime
import SpoorLog

/// Checks each batch the drain hands over (see the file comment).
final class RoundTripSink: ReportSink {
    var reports = 0
    var buffer = [UInt8](repeating: 0, count: 1 << 16)

    func writeOperators(_ operators: [OperatorRecord]) throws {
        precondition(operators.count <= Int(SPOOR_MAX_OPERATORS))
    }

    func writeBatch(ring: UInt32, firstPosition: UInt64, count: Int, first: UnsafeRawBufferPointer, second: UnsafeRawBufferPointer) throws {
        let spans = SlotSpans(first: first, second: second)
        let total = spans.slotCount
        precondition(second.isEmpty && first.count == total * 64, "recovery hands over one contiguous private copy")
        var expected: [Report] = []
        var slot = 0
        var encoder = CompactReports.Encoder()
        var used = 0
        while slot < total {
            guard let (report, slots) = ReportLayout.decode(first, slot: slot, ring: ring, position: firstPosition &+ UInt64(slot)) else {
                preconditionFailure("recovery handed over a report its reader rejects")
            }
            expected.append(report)
            let need = used + CompactReports.maxEncodedSize(parentCount: report.parents.count, attachmentLength: Int(first.load(fromByteOffset: slot * 64 + 56, as: UInt16.self)))
            if need > buffer.count { buffer += [UInt8](repeating: 0, count: need - buffer.count) }
            let consumed = buffer.withUnsafeMutableBytes { out in encoder.encode(spans, header: slot, into: out.baseAddress!, offset: &used) }
            precondition(consumed == slots)
            slot += slots
        }
        precondition(expected.count == count, "the batch count matches its reports")
        buffer.withUnsafeBytes { raw in
            let payload = UnsafeRawBufferPointer(rebasing: raw[0..<used])
            guard let (decoded, end) = CompactReports.decode(payload, count: count, ring: ring, firstPosition: firstPosition) else {
                preconditionFailure("the log reader rejects a recovered batch")
            }
            precondition(decoded == expected, "a recovered batch reads back different reports")
            precondition(end == firstPosition &+ UInt64(total))
        }
        reports += count
    }

    func writeLoss(ring: UInt32, _ loss: LossRecord) throws {}
    func close(_ statistics: CloseStatistics) throws {}
}

/// The segment file, reused by every input.
nonisolated(unsafe) var spoorFuzzMemfd: Int32 = -1

@_cdecl("LLVMFuzzerTestOneInput")
public func spoorFuzzSegment(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    guard let data, size >= 1 else { return 0 }
    let input = UnsafeBufferPointer(start: data, count: size)
    if spoorFuzzMemfd < 0 {
        // An unnamed shm file (memfd_create is not in the Glibc module): open, then unlink.
        let name = "/spoor-fuzz-segment-\(getpid())"
        spoorFuzzMemfd = shm_open(name, O_CREAT | O_EXCL | O_RDWR, 0o600)
        _ = shm_unlink(name)
    }
    let fd = spoorFuzzMemfd
    precondition(fd >= 0)
    precondition(ftruncate(fd, 0) == 0)
    func put(_ bytes: UnsafeRawBufferPointer, at offset: Int) {
        guard !bytes.isEmpty else { return }
        precondition(pwrite(fd, bytes.baseAddress, bytes.count, off_t(offset)) == bytes.count)
    }
    if input[0] & 1 != 0 {
        put(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(input)[1...]), at: 0)
    } else {
        var reader = ByteReader(input.dropFirst())
        let ringCount = 1 + Int(reader.byte() % 4)
        let ringSlots = 64 << Int(reader.byte() % 5)
        let (_, total) = SharedSegment.layoutSize(ringCount: ringCount, ringSlots: ringSlots)
        precondition(ftruncate(fd, off_t(total)) == 0)
        let layout = SegmentLayout(ringCount: ringCount, ringSlots: ringSlots)
        let (ringTableOffset, operatorTableOffset, ringDataOffset) = (layout.ringTableOffset, layout.operatorTableOffset, layout.ringDataOffset)
        var header = spoorint_shm_header()
        header.magic = SPOORINT_SHM_MAGIC
        header.layout_version = SPOORINT_SHM_LAYOUT_VERSION
        header.header_size = SPOORINT_HEADER_SIZE
        header.total_size = UInt64(total)
        header.ring_count = UInt32(ringCount)
        header.ring_slots = UInt32(ringSlots)
        header.slot_size = SPOORINT_SLOT_SIZE
        header.owner_pid = 0x7fff_fff0
        header.ring_table_offset = UInt64(ringTableOffset)
        header.ring_data_offset = UInt64(ringDataOffset)
        header.operator_table_offset = UInt64(operatorTableOffset)
        header.operator_capacity = SPOOR_MAX_OPERATORS
        header.operator_entry_size = UInt32(SharedSegment.operatorEntrySize)
        header.sharer_table_offset = UInt64(layout.sharerTableOffset)
        header.sharer_capacity = SPOORINT_SHARER_CAPACITY
        header.sharer_entry_size = UInt32(SharedSegment.sharerEntrySize)
        header.run_id = 0x1234_5678_9abc_def0
        header.state = UInt64(SPOORINT_SEGMENT_RUNNING)
        var patches: [(Int, UInt8)] = []
        for _ in 0..<4 { patches.append((Int(reader.byte() & 127), reader.byte())) }
        var tails: [UInt64] = []
        for index in 0..<ringCount {
            var ring = spoorint_shm_ring()
            ring.tail = reader.word()
            ring.head = ring.tail &+ UInt64(reader.half())
            ring.drained = reader.word()
            ring.committed = reader.word()
            tails.append(ring.tail)
            withUnsafeBytes(of: &ring) { put($0, at: ringTableOffset + index * SharedSegment.ringDescriptorSize) }
        }
        header.operator_count = UInt64(reader.byte() & 15)
        withUnsafeMutableBytes(of: &header) { raw in
            for (offset, value) in patches { raw[offset] ^= value }
            put(UnsafeRawBufferPointer(raw), at: 0)
        }
        // Operator 1 with a name length from the data (clamped by the reader).
        var entry = [UInt8](repeating: 0x61, count: SharedSegment.operatorEntrySize)
        entry[0] = reader.peek(0); entry[1] = reader.peek(1); entry[2] = reader.peek(2); entry[3] = 0
        entry.withUnsafeBytes { put($0, at: operatorTableOffset) }
        let slotBytes = Array(reader.rest.prefix(ringSlots * 64))
        for index in 0..<ringCount {
            let ringBase = ringDataOffset + index * ringSlots * 64
            let start = Int(tails[index] & UInt64(ringSlots - 1)) * 64
            let firstPart = min(slotBytes.count, ringSlots * 64 - start)
            slotBytes.withUnsafeBytes { raw in
                put(UnsafeRawBufferPointer(rebasing: raw[0..<firstPart]), at: ringBase + start)
                put(UnsafeRawBufferPointer(rebasing: raw[firstPart...]), at: ringBase)
            }
        }
    }
    let descriptor = dup(fd)
    precondition(descriptor >= 0)
    guard let segment = try? ForeignSegment(descriptor: descriptor, name: "/fuzz") else { return 0 }
    let sink = RoundTripSink()
    guard let outcome = try? ForeignDrain(segment: segment).drainAll(after: [:], into: sink, writeBack: true) else {
        preconditionFailure("the in-memory sink never fails")
    }
    precondition(outcome.reports == sink.reports)
    precondition(outcome.damagedRings.count <= segment.ringCount)
    return 0
}

/// Reads the fuzzer's bytes as fields, with zeros past the end.
struct ByteReader {
    var bytes: ArraySlice<UInt8>
    init(_ bytes: Slice<UnsafeBufferPointer<UInt8>>) { self.bytes = ArraySlice(bytes) }
    mutating func byte() -> UInt8 { bytes.popFirst() ?? 0 }
    mutating func half() -> UInt16 { UInt16(byte()) | UInt16(byte()) << 8 }
    mutating func word() -> UInt64 { (0..<8).reduce(UInt64(0)) { $0 | UInt64(byte()) << (8 * UInt64($1)) } }
    func peek(_ index: Int) -> UInt8 { bytes.dropFirst(index).first ?? 0 }
    var rest: ArraySlice<UInt8> { bytes }
}
