// libFuzzer target: the compact report decoder (scripts/fuzz compactreports).
//
// Input: [u16 count][u32 ring][u64 first position][payload], little-endian. The decoder must
// not crash on any payload; when it accepts one, the reports must re-encode (through ring slots
// and the writer's encoder) into a payload that decodes to the same reports.

@_cdecl("LLVMFuzzerTestOneInput")
public func spoorFuzzCompactReports(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    guard let data, size >= 14 else { return 0 }
    let input = UnsafeRawBufferPointer(start: data, count: size)
    let count = Int(loadLittleEndian(UInt16.self, from: input, at: 0))
    let ring = loadLittleEndian(UInt32.self, from: input, at: 2)
    let firstPosition = loadLittleEndian(UInt64.self, from: input, at: 6)
    let payload = UnsafeRawBufferPointer(rebasing: input[14...])
    guard let (reports, end) = CompactReports.decode(payload, count: count, ring: ring, firstPosition: firstPosition)
    else { return 0 }
    if reports.count != count { fuzzFail("\(reports.count) reports decoded, \(count) announced") }

    var slots: [UInt8] = []
    for report in reports { slots += fuzzSlots(report) }
    if UInt64(slots.count / ReportLayout.slotSize) != end &- firstPosition { fuzzFail("end position disagrees with the slots") }
    var encoded = [UInt8](repeating: 0, count: reports.reduce(0) { total, report in
        total + CompactReports.maxEncodedSize(
            parentCount: report.parents.count,
            attachmentLength: report.attachment.reduce(0) { $0 + 3 + $1.key.count + $1.value.count })
    })
    var used = 0
    slots.withUnsafeBytes { raw in
        let spans = SlotSpans(first: raw, second: UnsafeRawBufferPointer(start: nil, count: 0))
        var encoder = CompactReports.Encoder()
        var slot = 0
        encoded.withUnsafeMutableBytes { out in
            guard let base = out.baseAddress else { return }
            while slot < spans.slotCount { slot += encoder.encode(spans, header: slot, into: base, offset: &used) }
        }
    }
    let again = encoded.withUnsafeBytes { raw in
        CompactReports.decode(
            UnsafeRawBufferPointer(rebasing: raw[0..<used]), count: count, ring: ring, firstPosition: firstPosition)
    }
    guard let again else { fuzzFail("re-encoded reports do not decode") }
    if again.reports != reports || again.end != end { fuzzFail("re-encoded reports decode differently") }
    return 0
}
