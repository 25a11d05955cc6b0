// Shared by the fuzz harnesses and the seed generator (compiled into one module with the
// Sources/SpoorLog files, so internal declarations are visible).

/// Lays `report` out in ring slots exactly as a producer does (`spoorint_report_header`, then
/// the extra parents and the attachment in the extension slots).
func fuzzSlots(_ report: Report) -> [UInt8] {
    var attachment: [UInt8] = []
    for attribute in report.attachment {
        attachment.append(UInt8(truncatingIfNeeded: attribute.key.count))
        attachment.append(UInt8(truncatingIfNeeded: attribute.value.count))
        attachment.append(UInt8(truncatingIfNeeded: attribute.value.count >> 8))
        attachment += attribute.key + attribute.value
    }
    let count = ReportLayout.slotCount(parentCount: report.parents.count, attachmentLength: attachment.count)
    var bytes = [UInt8](repeating: 0, count: count * ReportLayout.slotSize)
    func put<T: FixedWidthInteger>(_ value: T, _ offset: Int) {
        withUnsafeBytes(of: value.littleEndian) { raw in
            for (index, byte) in raw.enumerated() { bytes[offset + index] = byte }
        }
    }
    put(report.id, 0)
    put(report.parents.first ?? 0, 8)
    put(report.keyHash, 16)
    put(report.startNanos, 24)
    put(report.endNanos, 32)
    put(report.op, 40)
    put(report.partition ?? UInt32.max, 44)
    put(report.thread, 48)
    put(UInt32(report.parents.count), 52)
    put(UInt16(attachment.count), 56)
    bytes[58] = report.kind.rawValue
    bytes[59] = report.flags
    put(report.kind == .poke ? (report.event ?? 1) : report.fanout, 60)
    var offset = ReportLayout.slotSize
    for parent in report.parents.dropFirst() {
        put(parent, offset)
        offset += 8
    }
    for (index, byte) in attachment.enumerated() { bytes[offset + index] = byte }
    return bytes
}

/// Stops the fuzzer with a message (libFuzzer reports the input as a crash).
func fuzzFail(_ message: String) -> Never {
    fatalError("fuzz invariant violated: \(message)")
}
