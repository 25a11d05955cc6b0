// libFuzzer target "context": the context decoders of the C ABI (spoor_context_decode and
// spoor_context_decode_bytes). Built by scripts/fuzz-recover.
//
// Input: byte 0 even: the rest is a text context; odd: a binary context. A decoded context must
// encode back to the same text (hex digits compared case-insensitively) or the same bytes.
import CSpoor
@testable import SpoorRuntime

@_cdecl("LLVMFuzzerTestOneInput")
public func spoorFuzzContext(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    guard let data, size >= 1 else { return 0 }
    let input = UnsafeBufferPointer(start: data + 1, count: size - 1)
    // An owned copy, so that the decoder cannot read the fuzzer's bytes past `count`.
    let copy = UnsafeMutablePointer<UInt8>.allocate(capacity: max(input.count, 1))
    defer { copy.deallocate() }
    if let base = input.baseAddress { copy.initialize(from: base, count: input.count) }
    var id: UInt64 = 0
    var flags: UInt32 = 0
    if data[0] & 1 == 0 {
        let status = copy.withMemoryRebound(to: CChar.self, capacity: max(input.count, 1)) {
            spoor_context_decode($0, input.count, &id, &flags)
        }
        guard status == SPOOR_OK else { return 0 }
        var text = [CChar](repeating: 0, count: 32)
        let length = spoor_context_encode(id, flags, &text, text.count)
        precondition(Int(length) == input.count, "a decoded context re-encodes to another length")
        for index in 0..<input.count {
            let original = input[index] >= 0x41 && input[index] <= 0x46 ? input[index] + 0x20 : input[index]
            precondition(UInt8(bitPattern: text[index]) == original, "a decoded context re-encodes differently")
        }
    } else {
        guard spoor_context_decode_bytes(copy, input.count, &id, &flags) == SPOOR_OK else { return 0 }
        var bytes = [UInt8](repeating: 0, count: 16)
        let length = spoor_context_encode_bytes(id, flags, &bytes, bytes.count)
        precondition(Int(length) == input.count && Array(input) == Array(bytes.prefix(Int(length))),
                     "a decoded binary context re-encodes differently")
    }
    return 0
}
