// libFuzzer target: the lineage index reader over one index file's bytes (scripts/fuzz
// lineageindex).
//
// The input is a whole index file (seeds: Tests/fuzz/lineageindex, indexes `spoor index` wrote).
// Opening must throw or succeed, never crash; on an opened index, queries backward and forward
// from ids found in the input must return: the root first, at most the limit, every edge
// between returned records; the DOT rendering must return too.
//
// The header CRC stops almost every mutation at the header check. So that mutations also reach
// the tables, an input whose reserved header byte 120 is odd has its CRC recomputed first.

#if canImport(Glibc)
import Glibc
#endif

private let path = "/dev/shm/spoor-fuzz-lineageindex-\(getpid())"

@_cdecl("LLVMFuzzerTestOneInput")
public func spoorFuzzLineageIndex(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    var input = Array(UnsafeBufferPointer(start: data, count: data == nil ? 0 : size))
    if input.count >= IndexFormat.headerSize && input[120] & 1 == 1 {
        input.withUnsafeMutableBytes { raw in
            let crc = crc32c(0, UnsafeRawBufferPointer(rebasing: raw[0..<IndexFormat.headerCRCOffset]))
            raw.storeBytes(of: crc.littleEndian, toByteOffset: IndexFormat.headerCRCOffset, as: UInt32.self)
        }
    }
    // A fresh file each time: the previous index was unmapped when it was released.
    unlink(path)
    let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
    guard descriptor >= 0 else { fuzzFail("cannot create \(path)") }
    let written = input.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
    close(descriptor)
    guard written == input.count else { fuzzFail("short write") }
    defer { unlink(path) }
    guard let index = try? LineageIndex(path: path) else { return 0 }
    var ids: [UInt64] = [1, UInt64.max]
    var offset = IndexFormat.headerSize
    while offset + 8 <= input.count && ids.count < 6 {
        ids.append(input.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: UInt64.self) })
        offset += 56
    }
    for id in ids {
        for direction in LineageQuery.Direction.allCases {
            let query = index.query(id, direction, limit: 64)
            guard query.records.first?.id == id else { fuzzFail("the root is not first") }
            if query.records.count > 64 { fuzzFail("\(query.records.count) records past the limit") }
            let returned = Set(query.records.map(\.id))
            for edge in query.edges where !returned.contains(edge.parent) || !returned.contains(edge.child) {
                fuzzFail("an edge to a record not returned")
            }
            if id == ids[0] { _ = query.dot(operators: index.operators) }
        }
    }
    _ = index.isCurrent(for: [])
    return 0
}
