import Foundation
import SpoorLog
import SpoorSupport

/// Writes JSON text as UTF-8 bytes into a buffer: the one JSON encoder of the tool.
///
/// Appends bytes directly (a dump is millions of lines; building `String`s per field would
/// dominate its time). Commas are placed automatically: a member or element that does not
/// directly follow `{` or `[` is preceded by one. Field names are literals of this tool and are
/// written unescaped; every optional value is written as `null` when absent.
struct JSONWriter {
    /// The text written so far.
    var bytes: [UInt8] = []

    private static let hexDigits = Array("0123456789abcdef".utf8)

    private mutating func separate() {
        // No comma at the start of the buffer or of a line, after an opening bracket, or after a key.
        if let last = bytes.last, last != UInt8(ascii: "{"), last != UInt8(ascii: "["), last != UInt8(ascii: ":"),
           last != 0x0a {
            bytes.append(UInt8(ascii: ","))
        }
    }

    /// Starts an object (as a value: after `key`, as an array element, or at the top level).
    mutating func beginObject() {
        separate()
        bytes.append(UInt8(ascii: "{"))
    }

    /// Ends the innermost object.
    mutating func endObject() { bytes.append(UInt8(ascii: "}")) }

    /// Starts an array.
    mutating func beginArray() {
        separate()
        bytes.append(UInt8(ascii: "["))
    }

    /// Ends the innermost array.
    mutating func endArray() { bytes.append(UInt8(ascii: "]")) }

    /// Writes a member name; the value follows.
    mutating func key(_ name: StaticString) {
        separate()
        bytes.append(UInt8(ascii: "\""))
        name.withUTF8Buffer { bytes.append(contentsOf: $0) }
        bytes.append(contentsOf: [UInt8(ascii: "\""), UInt8(ascii: ":")])
    }

    /// Writes `null`.
    mutating func null() {
        separate()
        bytes.append(contentsOf: [0x6e, 0x75, 0x6c, 0x6c])
    }

    /// Writes a string literal, or `null`. Escapes `"`, `\` and U+0000-U+001F (`\n`, `\r`, `\t`
    /// by name, the others as `\u00XX`); everything else is copied as UTF-8 (a `String` holds
    /// valid Unicode, and bytes of a multi-byte UTF-8 sequence are all at least 0x80).
    mutating func string(_ text: String?) {
        guard var text else { return null() }
        separate()
        bytes.append(UInt8(ascii: "\""))
        text.withUTF8 { utf8 in
            var runStart = 0
            for index in 0..<utf8.count {
                let byte = utf8[index]
                guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
                bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart..<index]))
                runStart = index + 1
                bytes.append(UInt8(ascii: "\\"))
                switch byte {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"): bytes.append(byte)
                case 0x0a: bytes.append(UInt8(ascii: "n"))
                case 0x0d: bytes.append(UInt8(ascii: "r"))
                case 0x09: bytes.append(UInt8(ascii: "t"))
                default:
                    bytes.append(contentsOf: Array("u00".utf8))
                    bytes.append(Self.hexDigits[Int(byte >> 4)])
                    bytes.append(Self.hexDigits[Int(byte & 0xf)])
                }
            }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart...]))
        }
        bytes.append(UInt8(ascii: "\""))
    }

    /// Writes an unsigned integer in decimal, or `null`.
    mutating func number<T: BinaryInteger>(_ value: T?) {
        guard let value else { return null() }
        separate()
        appendDecimal(UInt64(truncatingIfNeeded: value), width: 1)
    }

    /// Writes `true` or `false`.
    mutating func bool(_ value: Bool) {
        separate()
        bytes.append(contentsOf: value ? [0x74, 0x72, 0x75, 0x65] : [0x66, 0x61, 0x6c, 0x73, 0x65])
    }

    /// Writes a 64-bit id as a string of 16 lowercase hex digits (`hex64`), or `null`.
    mutating func hex(_ value: UInt64?) {
        guard let value else { return null() }
        separate()
        bytes.append(UInt8(ascii: "\""))
        for shift in stride(from: 60, through: 0, by: -4) {
            bytes.append(Self.hexDigits[Int((value >> UInt64(shift)) & 0xf)])
        }
        bytes.append(UInt8(ascii: "\""))
    }

    /// Writes `data` as a string of lowercase hex digits, two per byte.
    mutating func hexString(_ data: [UInt8]) {
        separate()
        bytes.append(UInt8(ascii: "\""))
        for byte in data {
            bytes.append(Self.hexDigits[Int(byte >> 4)])
            bytes.append(Self.hexDigits[Int(byte & 0xf)])
        }
        bytes.append(UInt8(ascii: "\""))
    }

    /// Appends `value` in decimal, zero-padded to at least `width` digits (at most 20), with no
    /// separator.
    mutating func appendDecimal(_ value: UInt64, width: Int) {
        var divisor: UInt64 = 1
        var digits = 1
        // 10^19 is the largest power of ten below 2^64: 20 digits at most.
        while digits < 20 && (value / divisor >= 10 || digits < width) {
            divisor *= 10
            digits += 1
        }
        var rest = value
        while true {
            bytes.append(0x30 + UInt8(truncatingIfNeeded: rest / divisor))
            rest %= divisor
            if divisor == 1 { break }
            divisor /= 10
        }
    }

    // Members, for brevity at the call sites.

    mutating func string(_ name: StaticString, _ value: String?) { key(name); string(value) }
    mutating func number<T: BinaryInteger>(_ name: StaticString, _ value: T?) { key(name); number(value) }
    mutating func bool(_ name: StaticString, _ value: Bool) { key(name); bool(value) }
    mutating func double(_ name: StaticString, _ value: Double?) { key(name); double(value) }

    /// Writes a finite number with up to `digits` significant digits, or `null` (also for NaN
    /// and infinities, which JSON cannot hold).
    mutating func double(_ value: Double?, digits: Int = 6) {
        guard let value, value.isFinite else { return null() }
        separate()
        var text = String(format: "%.\(digits)g", value)
        if text.hasPrefix(".") { text = "0" + text }
        bytes.append(contentsOf: text.utf8)
    }
    mutating func hex(_ name: StaticString, _ value: UInt64?) { key(name); hex(value) }
}

/// A JSON string literal of `text`, as a `String` (for one-off output; uses `JSONWriter`).
func jsonString(_ text: String) -> String {
    var writer = JSONWriter()
    writer.string(text)
    return String(decoding: writer.bytes, as: UTF8.self)
}

extension JSONWriter {
    /// One attachment pair as `{"key": ..., "value": ..., "encoding": "utf8" | "hex"}`: the value
    /// as text if its bytes are valid UTF-8, otherwise as lowercase hex digits. The key is decoded
    /// as UTF-8 with invalid bytes replaced by U+FFFD.
    mutating func attribute(_ attribute: Attribute) {
        beginObject()
        string("key", String(decoding: attribute.key, as: UTF8.self))
        if let text = String(validating: attribute.value, as: UTF8.self) {
            string("value", text)
            string("encoding", "utf8")
        } else {
            key("value")
            hexString(attribute.value)
            string("encoding", "hex")
        }
        endObject()
    }

    /// An ISO-8601 UTC timestamp (`appendUTC`) of `nanoseconds` since the epoch, or `null`.
    mutating func utc(_ name: StaticString, _ nanoseconds: Int64?) {
        key(name)
        guard let nanoseconds else { return null() }
        bytes.append(UInt8(ascii: "\""))
        appendUTC(nanoseconds)
        bytes.append(UInt8(ascii: "\""))
    }
}
