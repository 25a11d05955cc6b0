import SpoorLog

/// A JSON string literal of `text`: the one JSON string escaper of the tool.
///
/// Escapes `"`, `\` and the control characters U+0000-U+001F; everything else is written as
/// UTF-8 (a `String` holds only valid Unicode scalars, so the output is valid JSON text).
func jsonString(_ text: String) -> String {
    var out = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        case _ where scalar.value < 0x20:
            let digits = String(scalar.value, radix: 16)
            out += "\\u" + String(repeating: "0", count: 4 - digits.count) + digits
        default: out.unicodeScalars.append(scalar)
        }
    }
    return out + "\""
}

/// Lowercase hex digits of `bytes`, two per byte.
func hexDigits(_ bytes: [UInt8]) -> String {
    var hex = ""
    hex.reserveCapacity(bytes.count * 2)
    for byte in bytes {
        let digits = String(byte, radix: 16)
        hex += digits.count == 1 ? "0" + digits : digits
    }
    return hex
}

/// Builds one JSON object, field by field, in the order the fields are added.
///
/// Every optional value is written as `null` when absent, so a field has the same name and
/// position in every line; field names are literals of this tool and are written unescaped.
struct JSONObject {
    private(set) var text = "{"
    private var empty = true

    private mutating func name(_ name: StaticString) {
        text += empty ? "\"" : ",\""
        empty = false
        text += name.description
        text += "\":"
    }

    /// A field whose value is already JSON text.
    mutating func raw(_ field: StaticString, _ json: String) {
        name(field)
        text += json
    }

    /// A string field, `null` if absent.
    mutating func string(_ field: StaticString, _ value: String?) {
        raw(field, value.map(jsonString) ?? "null")
    }

    /// An integer field, `null` if absent.
    mutating func number<T: BinaryInteger>(_ field: StaticString, _ value: T?) {
        raw(field, value.map { String($0) } ?? "null")
    }

    /// A boolean field.
    mutating func bool(_ field: StaticString, _ value: Bool) {
        raw(field, value ? "true" : "false")
    }

    /// A 64-bit id as a string of 16 hex digits, `null` if absent.
    mutating func hex(_ field: StaticString, _ value: UInt64?) {
        raw(field, value.map { "\"\(hex64($0))\"" } ?? "null")
    }

    /// The object's text, closed.
    var json: String { text + "}" }
}

/// A JSON array of already encoded elements.
func jsonArray<S: Sequence>(_ elements: S, _ encode: (S.Element) -> String) -> String {
    var out = "["
    var first = true
    for element in elements {
        if !first { out += "," }
        first = false
        out += encode(element)
    }
    return out + "]"
}

/// One attachment pair as `{"key": ..., "value": ..., "encoding": "utf8" | "hex"}`: the value as
/// text if its bytes are valid UTF-8, otherwise as lowercase hex digits. The key is decoded as
/// UTF-8 with invalid bytes replaced by U+FFFD.
func jsonAttribute(_ attribute: Attribute) -> String {
    var object = JSONObject()
    object.string("key", String(decoding: attribute.key, as: UTF8.self))
    if let text = String(validating: attribute.value, as: UTF8.self) {
        object.string("value", text)
        object.string("encoding", "utf8")
    } else {
        object.string("value", hexDigits(attribute.value))
        object.string("encoding", "hex")
    }
    return object.json
}
