import CSpoor

/// Whole slots drained from a ring: `first`, then `second` (the part after the ring wrapped).
/// A report may straddle the two.
public struct SlotSpans {
    /// Slots up to the end of the ring.
    public var first: UnsafeRawBufferPointer
    /// Slots from the start of the ring, if the range wrapped.
    public var second: UnsafeRawBufferPointer

    let firstBase: UnsafeRawPointer
    let secondBase: UnsafeRawPointer
    let firstSlots: Int

    /// Creates spans.
    public init(first: UnsafeRawBufferPointer, second: UnsafeRawBufferPointer) {
        self.first = first
        self.second = second
        let fallback = UnsafeRawPointer(emptySlot)
        self.firstBase = first.baseAddress ?? second.baseAddress ?? fallback
        self.secondBase = second.baseAddress ?? firstBase
        self.firstSlots = first.count / ReportLayout.slotSize
    }

    /// Number of slots.
    public var slotCount: Int { (first.count + second.count) / ReportLayout.slotSize }

    /// Address of slot `index`.
    @inline(__always)
    func slot(_ index: Int) -> UnsafeRawPointer {
        index < firstSlots
            ? firstBase + index * ReportLayout.slotSize
            : secondBase + (index - firstSlots) * ReportLayout.slotSize
    }

    /// Loads a 64-bit word at `offset` bytes into the extension area of the report whose header
    /// is slot `header` (offset a multiple of 8).
    @inline(__always)
    func extensionWord(header: Int, offset: Int) -> UInt64 {
        slot(header + 1 + offset >> 6).load(fromByteOffset: offset & 63, as: UInt64.self)
    }

    /// Copies `count` extension bytes starting at `offset` to `target`.
    @inline(__always)
    func copyExtension(header: Int, offset: Int, count: Int, to target: UnsafeMutableRawPointer) {
        var done = 0
        while done < count {
            let at = offset + done
            let chunk = min(64 - (at & 63), count - done)
            (target + done).copyMemory(from: slot(header + 1 + at >> 6) + (at & 63), byteCount: chunk)
            done += chunk
        }
    }
}

/// A zeroed slot standing in for the base of an empty span.
nonisolated(unsafe) let emptySlot = UnsafeMutableRawPointer.allocate(byteCount: 64, alignment: 64).initializeMemory(as: UInt8.self, repeating: 0, count: 64)

/// The compact encoding of reports in log records (docs/log-format.md, "Report records").
///
/// Rings hold fixed 64-byte slots so that producers write with plain stores; on disk the same
/// reports take a fraction of that: each report is a control byte saying which fields differ
/// from the previous report of the record, then LEB128 varints of zig-zag deltas (ids, parents
/// and times of consecutive reports are close) and the attachment bytes. Writing to the page
/// cache, not encoding, is what limits the drain rate, so fewer bytes is faster.
///
/// Control byte: bits 0-1 kind; bit 2 thread follows; bit 3 partition + 1 follows (0 = none);
/// bit 4 op follows; bit 5 eight raw key-hash bytes follow (key != 0); bit 6 aux follows
/// (aux != 1); bit 7 the flags byte follows (flags != 0). Then: zigzag(id - expected id),
/// where the expected id is the previous report's id plus its fan-out; parent count; each
/// parent as zigzag(parent - previous parent); zigzag(start - previous start);
/// zigzag(end - start); attachment length; attachment bytes. Every record starts from zero
/// state (previous id, parent, start, thread, op = 0, partition = none, fan-out = 0).
public enum CompactReports {
    /// An upper bound of one report's encoded size.
    @inlinable
    public static func maxEncodedSize(parentCount: Int, attachmentLength: Int) -> Int {
        1 + 6 * 10 + 8 + 1 + 10 + parentCount * 10 + 10 + attachmentLength
    }

    /// The fewest bytes one encoded report takes.
    static let minimumEncodedSize = 6

    struct State {
        var id: UInt64 = 0
        var fanout: UInt64 = 0
        var parent: UInt64 = 0
        var start: UInt64 = 0
        var thread: UInt32 = 0
        var op: UInt32 = 0
        var partition: UInt32 = UInt32.max
    }

    @inline(__always)
    static func zigzag(_ delta: UInt64) -> UInt64 {
        let signed = Int64(bitPattern: delta)
        return UInt64(bitPattern: (signed << 1) ^ (signed >> 63))
    }

    @inline(__always)
    static func unzigzag(_ value: UInt64) -> UInt64 {
        (value >> 1) ^ (0 &- (value & 1))
    }

    @inline(__always)
    static func putVarint(_ value: UInt64, _ out: UnsafeMutableRawPointer, _ offset: inout Int) {
        var v = value
        while v >= 0x80 {
            out.storeBytes(of: UInt8(truncatingIfNeeded: v) | 0x80, toByteOffset: offset, as: UInt8.self)
            offset += 1
            v >>= 7
        }
        out.storeBytes(of: UInt8(truncatingIfNeeded: v), toByteOffset: offset, as: UInt8.self)
        offset += 1
    }

    /// An encoder of one record's reports into a caller-owned buffer.
    public struct Encoder {
        var state = State()

        /// Creates an encoder with zero state (the start of a record).
        public init() {}

        /// Encodes the report whose header is slot `header` of `spans` at `offset` of `out` (which
        /// must have `maxEncodedSize` bytes free) and returns the slots it occupies.
        @inline(__always)
        public mutating func encode(_ spans: SlotSpans, header: Int, into out: UnsafeMutableRawPointer, offset: inout Int) -> Int {
            let h = spans.slot(header)
            let id = h.load(fromByteOffset: SPOORINT_REPORT_ID, as: UInt64.self)
            let parent0 = h.load(fromByteOffset: SPOORINT_REPORT_PARENT0, as: UInt64.self)
            let key = h.load(fromByteOffset: SPOORINT_REPORT_KEY_HASH, as: UInt64.self)
            let start = h.load(fromByteOffset: SPOORINT_REPORT_START_NS, as: UInt64.self)
            let end = h.load(fromByteOffset: SPOORINT_REPORT_END_NS, as: UInt64.self)
            let op = h.load(fromByteOffset: SPOORINT_REPORT_OP, as: UInt32.self)
            let partition = h.load(fromByteOffset: SPOORINT_REPORT_PARTITION, as: UInt32.self)
            let thread = h.load(fromByteOffset: SPOORINT_REPORT_THREAD, as: UInt32.self)
            let parents = Int(h.load(fromByteOffset: SPOORINT_REPORT_N_PARENTS, as: UInt32.self))
            let attachLength = Int(h.load(fromByteOffset: SPOORINT_REPORT_ATTACH_LEN, as: UInt16.self))
            let kind = h.load(fromByteOffset: SPOORINT_REPORT_KIND, as: UInt8.self)
            let flags = h.load(fromByteOffset: SPOORINT_REPORT_FLAGS, as: UInt8.self)
            let aux = h.load(fromByteOffset: SPOORINT_REPORT_AUX, as: UInt32.self)

            var control = kind & 3
            if thread != state.thread { control |= 1 << 2 }
            if partition != state.partition { control |= 1 << 3 }
            if op != state.op { control |= 1 << 4 }
            if key != 0 { control |= 1 << 5 }
            if aux != 1 { control |= 1 << 6 }
            if flags != 0 { control |= 1 << 7 }
            out.storeBytes(of: control, toByteOffset: offset, as: UInt8.self)
            offset += 1
            if thread != state.thread { putVarint(UInt64(thread), out, &offset); state.thread = thread }
            if partition != state.partition { putVarint(UInt64(partition &+ 1), out, &offset); state.partition = partition }
            if op != state.op { putVarint(UInt64(op), out, &offset); state.op = op }
            if key != 0 {
                out.storeBytes(of: key.littleEndian, toByteOffset: offset, as: UInt64.self)
                offset += 8
            }
            if aux != 1 { putVarint(UInt64(aux), out, &offset) }
            if flags != 0 {
                out.storeBytes(of: flags, toByteOffset: offset, as: UInt8.self)
                offset += 1
            }
            putVarint(zigzag(id &- (state.id &+ state.fanout)), out, &offset)
            state.id = id
            state.fanout = kind == 2 ? UInt64(max(aux, 1)) : 1
            putVarint(UInt64(parents), out, &offset)
            if parents > 0 {
                putVarint(zigzag(parent0 &- state.parent), out, &offset)
                var previous = parent0
                for index in 0..<(parents - 1) {
                    let parent = spans.extensionWord(header: header, offset: index * 8)
                    putVarint(zigzag(parent &- previous), out, &offset)
                    previous = parent
                }
                state.parent = parent0
            }
            putVarint(zigzag(start &- state.start), out, &offset)
            state.start = start
            putVarint(zigzag(end &- start), out, &offset)
            putVarint(UInt64(attachLength), out, &offset)
            if attachLength > 0 {
                spans.copyExtension(
                    header: header, offset: parents > 1 ? (parents - 1) * 8 : 0, count: attachLength, to: out + offset)
                offset += attachLength
            }
            return ReportLayout.slotCount(parentCount: parents, attachmentLength: attachLength)
        }
    }

    /// Decodes a record payload of `count` reports drained from `ring` starting at ring position
    /// `firstPosition`. Returns the reports and the ring position after the last, or nil if the
    /// payload is malformed.
    public static func decode(
        _ payload: UnsafeRawBufferPointer, count: Int, ring: UInt32, firstPosition: UInt64
    ) -> (reports: [Report], end: UInt64)? {
        var state = State()
        var offset = 0
        var position = firstPosition
        var reports: [Report] = []
        // A report takes at least 6 bytes (control, id, parent count, start, duration,
        // attachment length), so a lying `count` cannot make this reserve more than the payload holds.
        reports.reserveCapacity(min(count, payload.count / CompactReports.minimumEncodedSize))

        func byte() -> UInt8? {
            guard offset < payload.count else { return nil }
            defer { offset += 1 }
            return payload[offset]
        }
        func varint() -> UInt64? {
            var result: UInt64 = 0
            var shift: UInt64 = 0
            while shift < 64 {
                guard let b = byte() else { return nil }
                result |= UInt64(b & 0x7f) << shift
                if b & 0x80 == 0 { return result }
                shift += 7
            }
            return nil
        }
        func varint32() -> UInt32? {
            guard let value = varint(), value <= UInt64(UInt32.max) else { return nil }
            return UInt32(value)
        }

        for _ in 0..<count {
            guard let control = byte() else { return nil }
            guard let kind = ReportKind(rawValue: control & 3) else { return nil }
            if control & (1 << 2) != 0 { guard let v = varint32() else { return nil }; state.thread = v }
            if control & (1 << 3) != 0 {
                guard let v = varint(), v <= UInt64(UInt32.max) + 1 else { return nil }
                state.partition = UInt32(truncatingIfNeeded: v &- 1)
            }
            if control & (1 << 4) != 0 { guard let v = varint32() else { return nil }; state.op = v }
            var key: UInt64 = 0
            if control & (1 << 5) != 0 {
                guard offset + 8 <= payload.count else { return nil }
                key = UInt64(littleEndian: payload.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
                offset += 8
            }
            var aux: UInt32 = 1
            if control & (1 << 6) != 0 { guard let v = varint32() else { return nil }; aux = v }
            var flags: UInt8 = 0
            if control & (1 << 7) != 0 { guard let v = byte() else { return nil }; flags = v }
            guard let idDelta = varint() else { return nil }
            let id = (state.id &+ state.fanout) &+ unzigzag(idDelta)
            state.id = id
            state.fanout = kind == .checkpoint ? UInt64(max(aux, 1)) : 1
            guard let parentCount = varint(), parentCount <= UInt64(SPOOR_MAX_PARENTS) else { return nil }
            guard kind == .checkpoint || parentCount == 0 else { return nil }
            var parents: [UInt64] = []
            if parentCount > 0 {
                parents.reserveCapacity(Int(parentCount))
                guard let first = varint() else { return nil }
                var previous = state.parent &+ unzigzag(first)
                state.parent = previous
                parents.append(previous)
                for _ in 1..<Int(parentCount) {
                    guard let delta = varint() else { return nil }
                    previous = previous &+ unzigzag(delta)
                    parents.append(previous)
                }
            }
            guard let startDelta = varint(), let durationDelta = varint(), let attachLength = varint(),
                  attachLength <= UInt64(SPOOR_MAX_ATTACHMENT), offset + Int(attachLength) <= payload.count
            else { return nil }
            let start = state.start &+ unzigzag(startDelta)
            state.start = start
            let end = start &+ unzigzag(durationDelta)
            let attachBytes = UnsafeRawBufferPointer(rebasing: payload[offset..<(offset + Int(attachLength))])
            offset += Int(attachLength)
            guard let attachment = ReportLayout.decodeAttachment(attachBytes) else { return nil }
            reports.append(Report(
                kind: kind, id: id, fanout: kind == .checkpoint ? max(aux, 1) : 1, parents: parents, op: state.op,
                keyHash: key, startNanos: start, endNanos: end, thread: state.thread,
                partition: state.partition == UInt32.max ? nil : state.partition,
                event: kind == .poke ? aux : nil, flags: flags, attachment: attachment, ring: ring, position: position))
            position &+= UInt64(ReportLayout.slotCount(parentCount: Int(parentCount), attachmentLength: Int(attachLength)))
        }
        guard offset == payload.count else { return nil }
        return (reports, position)
    }
}
