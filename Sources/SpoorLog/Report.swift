import CSpoor

/// The kind of a report, as stored in the first slot of every report.
public enum ReportKind: UInt8, Sendable, Hashable {
    /// A record entered the traced topology (sampled at an entry checkpoint).
    case entry = 1
    /// A UDF produced an output record from one or more parents.
    case checkpoint = 2
    /// An engine event on a record, with no mutation.
    case poke = 3

    /// The name used in JSON output.
    public var name: String {
        switch self {
        case .entry: "entry"
        case .checkpoint: "checkpoint"
        case .poke: "poke"
        }
    }
}

/// Engine events a record can be poked with: the codes are `spoor_event` in the C header (the
/// one definition); this is the one table of their names, which `spoor_event_name` exports.
public enum PokeEvent {
    /// The name of an event code (`shuffle_write`, ...), "custom" for engine-specific codes
    /// (1000 to 65535), nil for a code that is neither.
    public static func baseName(of code: UInt32) -> StaticString? {
        switch code {
        case SPOOR_EVENT_SHUFFLE_WRITE.rawValue: "shuffle_write"
        case SPOOR_EVENT_SHUFFLE_READ.rawValue: "shuffle_read"
        case SPOOR_EVENT_SERIALIZE.rawValue: "serialize"
        case SPOOR_EVENT_DESERIALIZE.rawValue: "deserialize"
        case SPOOR_EVENT_BUFFER_ENTER.rawValue: "buffer_enter"
        case SPOOR_EVENT_BUFFER_LEAVE.rawValue: "buffer_leave"
        case SPOOR_EVENT_NETWORK_SEND.rawValue: "network_send"
        case SPOOR_EVENT_NETWORK_RECEIVE.rawValue: "network_receive"
        case SPOOR_EVENT_FILTERED.rawValue: "filtered"
        case SPOOR_EVENT_EXIT.rawValue: "exit"
        case SPOOR_EVENT_ERROR.rawValue: "error"
        case SPOOR_EVENT_CUSTOM.rawValue...65_535: "custom"
        default: nil
        }
    }

    /// The JSON name of an event code; custom and unknown codes read `custom:N`.
    public static func name(of code: UInt32) -> String {
        switch baseName(of: code) {
        case let name? where code < SPOOR_EVENT_CUSTOM.rawValue: name.description
        default: "custom:\(code)"
        }
    }
}

/// One key/value pair of a report's attachment.
public struct Attribute: Sendable, Hashable {
    /// The key bytes (1 to 255).
    public var key: [UInt8]
    /// The value bytes.
    public var value: [UInt8]

    /// Creates an attribute from raw bytes.
    public init(key: [UInt8], value: [UInt8]) {
        self.key = key
        self.value = value
    }
}

/// A decoded report.
public struct Report: Sendable, Hashable {
    /// Entry, checkpoint or poke.
    public var kind: ReportKind
    /// The output record id (the first of `fanout` consecutive ids), or the poked record.
    public var id: UInt64
    /// Output records minted by this report (consecutive ids starting at `id`).
    public var fanout: UInt32
    /// Tracked parents (empty for entries and pokes).
    public var parents: [UInt64]
    /// The operator id.
    public var op: UInt32
    /// The key hash of the output record, or 0.
    public var keyHash: UInt64
    /// UDF start in CLOCK_MONOTONIC nanoseconds, or 0 if not measured.
    public var startNanos: UInt64
    /// UDF end, or the event time of entries and pokes.
    public var endNanos: UInt64
    /// The OS thread id of the writer.
    public var thread: UInt32
    /// The partition the writer worked on, if it set one.
    public var partition: UInt32?
    /// The event code of a poke.
    public var event: UInt32?
    /// `spoorint_report_header.flags` bits.
    public var flags: UInt8
    /// The attachment pairs.
    public var attachment: [Attribute]
    /// The ring the report was drained from.
    public var ring: UInt32
    /// The ring position (in slots) of the report's first slot.
    public var position: UInt64

    /// Creates a report.
    public init(
        kind: ReportKind, id: UInt64, fanout: UInt32, parents: [UInt64], op: UInt32, keyHash: UInt64,
        startNanos: UInt64, endNanos: UInt64, thread: UInt32, partition: UInt32?, event: UInt32?, flags: UInt8,
        attachment: [Attribute], ring: UInt32, position: UInt64
    ) {
        self.kind = kind
        self.id = id
        self.fanout = fanout
        self.parents = parents
        self.op = op
        self.keyHash = keyHash
        self.startNanos = startNanos
        self.endNanos = endNanos
        self.thread = thread
        self.partition = partition
        self.event = event
        self.flags = flags
        self.attachment = attachment
        self.ring = ring
        self.position = position
    }

    /// Whether `spoor_fold_finish` wrote this report.
    public var isFold: Bool { flags & UInt8(SPOORINT_FLAG_FOLD) != 0 }
    /// Whether parents past the per-report maximum were left out.
    public var isTruncated: Bool { flags & UInt8(SPOORINT_FLAG_TRUNCATED) != 0 }
}

/// The wire layout of reports in ring slots and log batches (`spoorint_report_header`).
public enum ReportLayout {
    /// Bytes per slot.
    public static let slotSize = Int(SPOORINT_SLOT_SIZE)

    /// Extra bytes after the header slot for `parentCount` parents and `attachmentLength` bytes.
    /// Both are at most what their header fields hold (a UInt32 and a UInt16), so the wrapping
    /// arithmetic cannot wrap (the producer's hot path pays no overflow checks for it).
    @inlinable
    public static func extensionBytes(parentCount: Int, attachmentLength: Int) -> Int {
        (parentCount > 1 ? (parentCount &- 1) &* 8 : 0) &+ attachmentLength
    }

    /// Slots a report occupies (arguments as for `extensionBytes`).
    @inlinable
    public static func slotCount(parentCount: Int, attachmentLength: Int) -> Int {
        1 &+ (extensionBytes(parentCount: parentCount, attachmentLength: attachmentLength) &+ 63) >> 6
    }

    /// Lays `report` out in ring slots exactly as a producer does (`spoorint_report_header`, its
    /// field offsets from spoor_internal.h, then the parents after the first and the attachment
    /// in the extension slots): the inverse of `decode`, for tests, fuzzing and tools that write
    /// logs of their own.
    public static func slots(of report: Report) -> [UInt8] {
        var attachment: [UInt8] = []
        for attribute in report.attachment {
            attachment.append(UInt8(truncatingIfNeeded: attribute.key.count))
            attachment.append(UInt8(truncatingIfNeeded: attribute.value.count))
            attachment.append(UInt8(truncatingIfNeeded: attribute.value.count >> 8))
            attachment += attribute.key + attribute.value
        }
        let count = slotCount(parentCount: report.parents.count, attachmentLength: attachment.count)
        var bytes = [UInt8](repeating: 0, count: count * slotSize)
        func put<T: FixedWidthInteger>(_ value: T, _ offset: Int) {
            withUnsafeBytes(of: value.littleEndian) { raw in
                for (index, byte) in raw.enumerated() { bytes[offset + index] = byte }
            }
        }
        put(report.id, SPOORINT_REPORT_ID)
        put(report.parents.first ?? 0, SPOORINT_REPORT_PARENT0)
        put(report.keyHash, SPOORINT_REPORT_KEY_HASH)
        put(report.startNanos, SPOORINT_REPORT_START_NS)
        put(report.endNanos, SPOORINT_REPORT_END_NS)
        put(report.op, SPOORINT_REPORT_OP)
        put(report.partition ?? UInt32.max, SPOORINT_REPORT_PARTITION)
        put(report.thread, SPOORINT_REPORT_THREAD)
        put(UInt32(truncatingIfNeeded: report.parents.count), SPOORINT_REPORT_N_PARENTS)
        put(UInt16(truncatingIfNeeded: attachment.count), SPOORINT_REPORT_ATTACH_LEN)
        bytes[SPOORINT_REPORT_KIND] = report.kind.rawValue
        bytes[SPOORINT_REPORT_FLAGS] = report.flags
        put(report.kind == .poke ? (report.event ?? 1) : report.fanout, SPOORINT_REPORT_AUX)
        var offset = slotSize
        for parent in report.parents.dropFirst() {
            put(parent, offset)
            offset += 8
        }
        for (index, byte) in attachment.enumerated() { bytes[offset + index] = byte }
        return bytes
    }

    /// Reads the header at `offset` of `slots` (which holds whole slots) and returns the number of
    /// slots the report occupies, or nil if the header is not a valid report or the report
    /// extends past `availableSlots`.
    @inlinable
    public static func validatedSlotCount(header: UnsafeRawPointer, availableSlots: Int) -> Int? {
        let kind = header.load(fromByteOffset: SPOORINT_REPORT_KIND, as: UInt8.self)
        guard kind >= 1 && kind <= 3 else { return nil }
        let parents = Int(header.load(fromByteOffset: SPOORINT_REPORT_N_PARENTS, as: UInt32.self))
        let attach = Int(header.load(fromByteOffset: SPOORINT_REPORT_ATTACH_LEN, as: UInt16.self))
        guard parents <= Int(SPOOR_MAX_PARENTS), attach <= Int(SPOOR_MAX_ATTACHMENT) else { return nil }
        if kind != 2 && parents != 0 { return nil }
        let count = slotCount(parentCount: parents, attachmentLength: attach)
        return count <= availableSlots ? count : nil
    }

    /// Decodes the report whose first slot is `slot` in a run of contiguous slots `buffer`
    /// (indices in slots). Returns nil if it is malformed or runs past the buffer.
    public static func decode(
        _ buffer: UnsafeRawBufferPointer, slot: Int, ring: UInt32, position: UInt64
    ) -> (report: Report, slots: Int)? {
        let totalSlots = buffer.count / slotSize
        guard slot >= 0, slot < totalSlots, let base = buffer.baseAddress else { return nil }
        let header = base + slot * slotSize
        guard let count = validatedSlotCount(header: header, availableSlots: totalSlots - slot) else {
            return nil
        }
        let kindRaw = header.load(fromByteOffset: SPOORINT_REPORT_KIND, as: UInt8.self)
        guard let kind = ReportKind(rawValue: kindRaw) else { return nil }
        let parentCount = Int(header.load(fromByteOffset: SPOORINT_REPORT_N_PARENTS, as: UInt32.self))
        let attachLength = Int(header.load(fromByteOffset: SPOORINT_REPORT_ATTACH_LEN, as: UInt16.self))
        let partitionRaw = header.load(fromByteOffset: SPOORINT_REPORT_PARTITION, as: UInt32.self)
        let aux = header.load(fromByteOffset: SPOORINT_REPORT_AUX, as: UInt32.self)
        var parents: [UInt64] = []
        if parentCount > 0 {
            parents.reserveCapacity(parentCount)
            parents.append(header.load(fromByteOffset: SPOORINT_REPORT_PARENT0, as: UInt64.self))
            let ext = header + slotSize
            for index in 0..<(parentCount - 1) {
                parents.append(ext.loadUnaligned(fromByteOffset: index * 8, as: UInt64.self))
            }
        }
        let attachStart = header + slotSize + (parentCount > 1 ? (parentCount - 1) * 8 : 0)
        guard let attachment = decodeAttachment(UnsafeRawBufferPointer(start: attachStart, count: attachLength))
        else { return nil }
        let report = Report(
            kind: kind,
            id: header.load(fromByteOffset: SPOORINT_REPORT_ID, as: UInt64.self),
            fanout: kind == .checkpoint ? max(aux, 1) : 1,
            parents: parents,
            op: header.load(fromByteOffset: SPOORINT_REPORT_OP, as: UInt32.self),
            keyHash: header.load(fromByteOffset: SPOORINT_REPORT_KEY_HASH, as: UInt64.self),
            startNanos: header.load(fromByteOffset: SPOORINT_REPORT_START_NS, as: UInt64.self),
            endNanos: header.load(fromByteOffset: SPOORINT_REPORT_END_NS, as: UInt64.self),
            thread: header.load(fromByteOffset: SPOORINT_REPORT_THREAD, as: UInt32.self),
            partition: partitionRaw == UInt32.max ? nil : partitionRaw,
            event: kind == .poke ? aux : nil,
            flags: header.load(fromByteOffset: SPOORINT_REPORT_FLAGS, as: UInt8.self),
            attachment: attachment,
            ring: ring,
            position: position
        )
        return (report, count)
    }

    /// Decodes attachment bytes: repeated `[u8 key length][u16 value length, little-endian][key][value]`.
    public static func decodeAttachment(_ bytes: UnsafeRawBufferPointer) -> [Attribute]? {
        var result: [Attribute] = []
        var offset = 0
        while offset < bytes.count {
            guard offset + 3 <= bytes.count else { return nil }
            let keyLength = Int(bytes[offset])
            let valueLength = Int(bytes[offset + 1]) | Int(bytes[offset + 2]) << 8
            offset += 3
            guard keyLength > 0, offset + keyLength + valueLength <= bytes.count else { return nil }
            let key = Array(bytes[offset..<(offset + keyLength)])
            offset += keyLength
            let value = Array(bytes[offset..<(offset + valueLength)])
            offset += valueLength
            result.append(Attribute(key: key, value: value))
        }
        return result
    }
}
