// libFuzzer target: the log reader over one segment's bytes (scripts/fuzz logreader).
//
// The input is a whole segment file. The reader must not crash, hang or read out of bounds on
// any bytes, and what it delivers must be consistent: report positions ascend within their
// record's range, and reading the same bytes again with the same state delivers no report a
// second time (every report is a duplicate of itself).

//
// Checksums stop almost every mutation at the frame check. So that mutations also reach the
// record decoders, an input whose reserved header byte 52 is odd has its checksums recomputed
// first: the segment header's, then each record's, following the record lengths.

/// Recomputes the header and record checksums of `bytes` where the frames allow.
func fixChecksums(_ bytes: inout [UInt8]) {
    guard bytes.count >= LogFormat.segmentHeaderSize else { return }
    bytes.withUnsafeMutableBytes { raw in
        let crc = crc32c(0, UnsafeRawBufferPointer(rebasing: raw[0..<60]))
        raw.storeBytes(of: crc.littleEndian, toByteOffset: 60, as: UInt32.self)
        var offset = LogFormat.segmentHeaderSize
        while offset + LogFormat.recordHeaderSize <= raw.count {
            let length = Int(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: offset + 8, as: UInt32.self)))
            let end = offset + LogFormat.recordHeaderSize + length
            guard end <= raw.count else { return }
            var crc = crc32c(0, UnsafeRawBufferPointer(rebasing: raw[offset..<(offset + 28)]))
            crc = crc32c(crc, UnsafeRawBufferPointer(rebasing: raw[(offset + LogFormat.recordHeaderSize)..<end]))
            raw.storeBytes(of: crc.littleEndian, toByteOffset: offset + 28, as: UInt32.self)
            offset = end
        }
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func spoorFuzzLogReader(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    var input = Array(UnsafeBufferPointer(start: data, count: data == nil ? 0 : size))
    if input.count > 52 && input[52] & 1 == 1 { fixChecksums(&input) }
    return input.withUnsafeBytes { readSegmentInput($0) }
}

func readSegmentInput(_ bytes: UnsafeRawBufferPointer) -> Int32 {
    let size = bytes.count
    var state = LogReader.ReadState()
    var delivered = 0
    for pass in 0..<2 {
        var source = MemorySource(bytes)
        // A small window, so that the refill and growth paths run on small inputs too.
        do {
            try LogReader.readSegment(
                &source, path: "fuzz", isLast: pass == 1, nextIndex: nil, state: &state, windowBytes: 96,
                issues: { issue in
                    if issue.bytes < 0 || issue.offset < 0 || issue.offset > size { fuzzFail("issue out of range: \(issue)") }
                }
            ) { entry in
                guard case .reports(let ring, let first, let end, let reports) = entry else { return }
                if pass == 1 && !reports.isEmpty { fuzzFail("\(reports.count) reports delivered twice") }
                var previous: UInt64?
                for report in reports {
                    if report.ring != ring || report.position < first || report.position >= end {
                        fuzzFail("report position \(report.position) outside \(first)..<\(end)")
                    }
                    if let previous, report.position <= previous { fuzzFail("positions do not ascend") }
                    previous = report.position
                }
                delivered += reports.count
            }
        } catch {
            fuzzFail("the reader threw \(error)")
        }
    }
    return 0
}
