import CSpoor

/// Context propagation: a record id and its sampling flag as a short string
/// (`00-<16 hex id>-<2 hex flags>`) or as 10 bytes (version 0, flags, id big-endian), so that
/// lineage continues across processes and languages.
package enum ContextCodec {
    static let stringLength = Int(SPOOR_CONTEXT_STRING_LEN)
    static let byteLength = Int(SPOOR_CONTEXT_BYTES_LEN)

    /// The flags and id are consistent: the sampled flag is set iff the id is non-zero.
    static func consistent(id: UInt64, flags: UInt32) -> Bool {
        flags <= 0xff && ((flags & SPOOR_CONTEXT_SAMPLED != 0) == (id != 0))
    }

    static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    static func encode(id: UInt64, flags: UInt32, into buffer: UnsafeMutablePointer<CChar>) {
        buffer[0] = 0x30
        buffer[1] = 0x30
        buffer[2] = 0x2d
        for index in 0..<16 {
            let nibble = Int((id >> (60 - 4 * UInt64(index))) & 0xf)
            buffer[3 + index] = CChar(bitPattern: hexDigits[nibble])
        }
        buffer[19] = 0x2d
        buffer[20] = CChar(bitPattern: hexDigits[Int((flags >> 4) & 0xf)])
        buffer[21] = CChar(bitPattern: hexDigits[Int(flags & 0xf)])
        buffer[22] = 0
    }

    static func hexValue(_ character: CChar) -> UInt64? {
        switch UInt8(bitPattern: character) {
        case 0x30...0x39: UInt64(UInt8(bitPattern: character) - 0x30)
        case 0x61...0x66: UInt64(UInt8(bitPattern: character) - 0x61 + 10)
        case 0x41...0x46: UInt64(UInt8(bitPattern: character) - 0x41 + 10)
        default: nil
        }
    }

    /// The id and flags of a context string (`spoor_context_decode`), nil if it is not one.
    package static func decode(_ text: UnsafePointer<CChar>, length: Int) -> (id: UInt64, flags: UInt32)? {
        guard length == stringLength, text[0] == 0x30, text[1] == 0x30, text[2] == 0x2d,
              text[19] == 0x2d
        else { return nil }
        var id: UInt64 = 0
        for index in 3..<19 {
            guard let digit = hexValue(text[index]) else { return nil }
            id = id << 4 | digit
        }
        guard let high = hexValue(text[20]), let low = hexValue(text[21]) else { return nil }
        let flags = UInt32(high << 4 | low)
        return consistent(id: id, flags: flags) ? (id, flags) : nil
    }
}
