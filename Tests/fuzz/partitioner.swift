// libFuzzer target: the JSON reader and the partitioner file decoder that
// `spoor_partitioner_load` runs in libspoor.so (scripts/fuzz partitioner).
//
// Input: the file's bytes. Oracles besides "no crash, no sanitizer report": a value the JSON
// reader accepts, written out again, parses to the same value; a file the decoder accepts compiles
// to a table that routes every listed key to its partition with its salts, and routes 512
// pseudo-random keys as a plain Dictionary-and-array implementation of the documented algorithm
// (written here, independently of `PartitionerTable`) does.

/// Minimal JSON writer for the round trip (numbers as Swift's shortest round-tripping text).
func fuzzJSONText(_ value: JSONValue, into out: inout String) {
    switch value {
    case .null: out += "null"
    case let .bool(flag): out += flag ? "true" : "false"
    case let .number(number): out += "\(number)"
    case let .string(text):
        out += "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case _ where scalar.value < 0x20: out += "\\u00" + String(scalar.value, radix: 16).leftPadded(2)
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    case let .array(elements):
        out += "["
        for (i, element) in elements.enumerated() {
            if i > 0 { out += "," }
            fuzzJSONText(element, into: &out)
        }
        out += "]"
    case let .object(members):
        out += "{"
        for (i, member) in members.enumerated() {
            if i > 0 { out += "," }
            fuzzJSONText(.string(member.key), into: &out)
            out += ":"
            fuzzJSONText(member.value, into: &out)
        }
        out += "}"
    }
}

extension String {
    func leftPadded(_ width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}

/// The documented routing, written plainly.
func fuzzReferencePartition(_ d: PartitionerDescription, _ key: UInt64) -> Int {
    for placed in d.keys where placed.keyHash == key { return placed.partition }
    let p = HybridPartitioner.hashPartition(key, partitions: d.partitions)
    guard let keep = d.keep, let spill = d.spill, keep.contains(where: { $0 < 1 }) else { return p }
    if keep[p] >= 1 || HybridPartitioner.unit(key, salt: HybridPartitioner.staySalt) < keep[p] { return p }
    let total = spill.reduce(0, +)
    let point = HybridPartitioner.unit(key, salt: HybridPartitioner.spillSalt)
    var end = 0.0
    for q in 0..<d.partitions {
        end += spill[q] / total
        if point < end { return spill[q] > 0 ? q : (spill.lastIndex { $0 > 0 } ?? p) }
    }
    return spill.lastIndex { $0 > 0 } ?? p
}

@_cdecl("LLVMFuzzerTestOneInput")
public func spoorFuzzPartitioner(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let input = UnsafeBufferPointer(start: data, count: data == nil ? 0 : size)
    if let value = try? JSONReader.parse(input) {
        var text = ""
        fuzzJSONText(value, into: &text)
        guard let again = try? JSONReader.parse(Array(text.utf8)) else { fuzzFail("written JSON does not parse: \(text)") }
        if again != value { fuzzFail("JSON round trip changed the value: \(text)") }
    }
    guard let description = try? PartitionerDescription.decode(input) else { return 0 }
    guard let table = PartitionerTable.make(
        partitions: description.partitions,
        explicit: description.keys.map { (key: $0.keyHash, partition: $0.partition, salts: $0.salts) },
        keep: description.keep, spill: description.spill)
    else { fuzzFail("no table for an accepted file") }
    defer { PartitionerTable.free(table) }
    let view = UnsafeRawPointer(table)
    if PartitionerTable.partitions(view) != description.partitions { fuzzFail("partition count") }
    if PartitionerTable.keyCount(view) != description.keys.count { fuzzFail("key count") }
    for key in description.keys {
        if PartitionerTable.partition(view, key.keyHash) != key.partition { fuzzFail("placed key \(key.keyHash) moved") }
        if PartitionerTable.salts(view, key.keyHash) != key.salts { fuzzFail("salts of \(key.keyHash)") }
    }
    var state = UInt64(truncatingIfNeeded: size) &* 0x2545_f491_4f6c_dd1d
    for _ in 0..<512 {
        let key = splitMix64(&state)
        let got = PartitionerTable.partition(view, key)
        if got < 0 || got >= description.partitions { fuzzFail("partition \(got) out of range") }
        if got != fuzzReferencePartition(description, key) { fuzzFail("key \(key): \(got), reference \(fuzzReferencePartition(description, key))") }
    }
    return 0
}
