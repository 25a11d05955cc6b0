/// A malformed line or report in an input: where it was and what was wrong. Readers report it
/// and go on with the rest of the stream.
public struct IngestError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The source (a file path, `tcp:HOST:PORT`, ...).
    public var source: String
    /// The 1-based line number.
    public var line: Int
    /// What was wrong.
    public var message: String

    /// Creates an error.
    public init(source: String, line: Int, message: String) {
        self.source = source
        self.line = line
        self.message = message
    }

    /// `source:line: message`.
    public var description: String { "\(source):\(line): \(message)" }
}

/// Parsing helpers shared by the readers.
enum Parse {
    /// A hexadecimal number of 1 to 16 digits.
    static func hex64<S: StringProtocol>(_ text: S) -> UInt64? {
        guard !text.isEmpty, text.utf8.count <= 16 else { return nil }
        return UInt64(text, radix: 16)
    }

    /// A decimal unsigned integer.
    static func decimal<S: StringProtocol>(_ text: S) -> UInt64? {
        guard !text.isEmpty, text.utf8.count <= 20 else { return nil }
        return UInt64(text)
    }

    /// Splits a CSV line into at most `limit` fields (the last takes the rest of the line,
    /// commas included). Fields may be quoted with `"` (a doubled quote inside is one quote).
    /// nil if a quoted field is not closed.
    static func csvFields(_ line: Substring, limit: Int) -> [Substring]? {
        var fields: [Substring] = []
        var rest = line
        while fields.count < limit - 1 {
            if rest.first == "\"" {
                var value = ""
                var index = rest.index(after: rest.startIndex)
                var closed = false
                while index < rest.endIndex {
                    let c = rest[index]
                    if c == "\"" {
                        let after = rest.index(after: index)
                        if after < rest.endIndex && rest[after] == "\"" {
                            value.append("\"")
                            index = rest.index(after: after)
                            continue
                        }
                        closed = true
                        index = after
                        break
                    }
                    value.append(c)
                    index = rest.index(after: index)
                }
                guard closed else { return nil }
                fields.append(Substring(value))
                if index == rest.endIndex { return fields }
                guard rest[index] == "," else { return nil }
                rest = rest[rest.index(after: index)...]
            } else if let comma = rest.firstIndex(of: ",") {
                fields.append(rest[..<comma])
                rest = rest[rest.index(after: comma)...]
            } else {
                fields.append(rest)
                return fields
            }
        }
        fields.append(rest)
        return fields
    }
}
