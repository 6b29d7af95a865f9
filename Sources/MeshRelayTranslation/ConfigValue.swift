/// A JSON-shaped value whose objects keep their keys in the order they were built, so that the
/// generated Envoy and Istio documents are byte-identical for equal input and read in a natural
/// order (`name` before `type`, `@type` first). Written as indented JSON (``jsonBytes()``) or as
/// block YAML (``yamlText()``).
public enum ConfigValue: Sendable, Hashable {
    case string(String)
    case int(Int)
    case bool(Bool)
    case array([ConfigValue])
    /// Keys in output order; a key appears once.
    case object([(String, ConfigValue)])

    public static func == (lhs: ConfigValue, rhs: ConfigValue) -> Bool {
        switch (lhs, rhs) {
        case (.string(let a), .string(let b)): return a == b
        case (.int(let a), .int(let b)): return a == b
        case (.bool(let a), .bool(let b)): return a == b
        case (.array(let a), .array(let b)): return a == b
        case (.object(let a), .object(let b)):
            return a.count == b.count && zip(a, b).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: return false
        }
    }

    public func hash(into hasher: inout Hasher) {
        switch self {
        case .string(let value): hasher.combine(0); hasher.combine(value)
        case .int(let value): hasher.combine(1); hasher.combine(value)
        case .bool(let value): hasher.combine(2); hasher.combine(value)
        case .array(let value): hasher.combine(3); hasher.combine(value)
        case .object(let pairs):
            hasher.combine(4)
            for (key, value) in pairs {
                hasher.combine(key)
                hasher.combine(value)
            }
        }
    }

    /// The value of `key` in an object (`nil` for other values or a missing key).
    public subscript(key: String) -> ConfigValue? {
        guard case .object(let pairs) = self else { return nil }
        return pairs.first { $0.0 == key }?.1
    }

    /// The elements of an array (`[]` for other values).
    public var elements: [ConfigValue] {
        guard case .array(let values) = self else { return [] }
        return values
    }

    /// The text of a string value.
    public var stringValue: String? {
        guard case .string(let value) = self else { return nil }
        return value
    }

    // MARK: JSON

    /// Indented JSON (two spaces), UTF-8, ending with a newline.
    public func jsonBytes() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(4096)
        writeJSON(into: &out, indent: 0)
        out.append(UInt8(ascii: "\n"))
        return out
    }

    private func writeJSON(into out: inout [UInt8], indent: Int) {
        switch self {
        case .string(let value):
            Self.writeQuoted(value, into: &out)
        case .int(let value):
            out.append(contentsOf: String(value).utf8)
        case .bool(let value):
            out.append(contentsOf: (value ? "true" : "false").utf8)
        case .array(let values):
            if values.isEmpty {
                out.append(contentsOf: "[]".utf8)
                return
            }
            out.append(UInt8(ascii: "["))
            for (index, value) in values.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                Self.newline(into: &out, indent: indent + 1)
                value.writeJSON(into: &out, indent: indent + 1)
            }
            Self.newline(into: &out, indent: indent)
            out.append(UInt8(ascii: "]"))
        case .object(let pairs):
            if pairs.isEmpty {
                out.append(contentsOf: "{}".utf8)
                return
            }
            out.append(UInt8(ascii: "{"))
            for (index, (key, value)) in pairs.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                Self.newline(into: &out, indent: indent + 1)
                Self.writeQuoted(key, into: &out)
                out.append(contentsOf: ": ".utf8)
                value.writeJSON(into: &out, indent: indent + 1)
            }
            Self.newline(into: &out, indent: indent)
            out.append(UInt8(ascii: "}"))
        }
    }

    /// A newline and two spaces per level (from one prepared run of spaces, not byte by byte).
    private static func newline(into out: inout [UInt8], indent: Int) {
        let width = indent * 2 + 1
        if width <= newlineAndSpaces.count {
            out.append(contentsOf: newlineAndSpaces[..<width])
        } else {
            out.append(contentsOf: newlineAndSpaces)
            out.append(contentsOf: repeatElement(UInt8(ascii: " "), count: width - newlineAndSpaces.count))
        }
    }

    private static let newlineAndSpaces: [UInt8] = [UInt8(ascii: "\n")] + Array(repeating: UInt8(ascii: " "), count: 64)

    /// A JSON string literal (also a valid YAML double-quoted scalar).
    static func writeQuoted(_ text: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        var text = text
        text.withUTF8 { bytes in
            // Almost every string (names, hosts, type URLs) needs no escape: copy it whole.
            if !bytes.contains(where: { $0 < 0x20 || $0 == 0x7f || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) {
                out.append(contentsOf: bytes)
                return
            }
            for byte in bytes {
                switch byte {
                case UInt8(ascii: "\""): out.append(contentsOf: "\\\"".utf8)
                case UInt8(ascii: "\\"): out.append(contentsOf: "\\\\".utf8)
                case UInt8(ascii: "\n"): out.append(contentsOf: "\\n".utf8)
                case UInt8(ascii: "\r"): out.append(contentsOf: "\\r".utf8)
                case UInt8(ascii: "\t"): out.append(contentsOf: "\\t".utf8)
                case 0..<0x20, 0x7f:
                    let hex = Array("0123456789abcdef".utf8)
                    out.append(contentsOf: "\\u00".utf8)
                    out.append(hex[Int(byte >> 4)])
                    out.append(hex[Int(byte & 0xf)])
                default: out.append(byte)
                }
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    // MARK: YAML

    /// Block-style YAML: strings double-quoted (JSON escapes), plain keys where they are simple.
    public func yamlText() -> String {
        var out: [UInt8] = []
        switch self {
        case .object(let pairs) where !pairs.isEmpty:
            Self.writeYAMLPairs(pairs, into: &out, indent: 0)
        case .array(let values) where !values.isEmpty:
            Self.writeYAMLItems(values, into: &out, indent: 0)
        default:
            writeYAMLScalar(into: &out)
            out.append(UInt8(ascii: "\n"))
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func writeYAMLPairs(_ pairs: [(String, ConfigValue)], into out: inout [UInt8], indent: Int) {
        for (key, value) in pairs {
            out.append(contentsOf: repeatElement(UInt8(ascii: " "), count: indent))
            writeYAMLKey(key, into: &out)
            out.append(UInt8(ascii: ":"))
            value.writeYAMLValue(into: &out, indent: indent, inSequence: false)
        }
    }

    private static func writeYAMLItems(_ values: [ConfigValue], into out: inout [UInt8], indent: Int) {
        for value in values {
            out.append(contentsOf: repeatElement(UInt8(ascii: " "), count: indent))
            out.append(UInt8(ascii: "-"))
            value.writeYAMLValue(into: &out, indent: indent, inSequence: true)
        }
    }

    /// Writes what follows `key:` or `-`, including the line end.
    private func writeYAMLValue(into out: inout [UInt8], indent: Int, inSequence: Bool) {
        switch self {
        case .object(let pairs) where !pairs.isEmpty:
            if inSequence {
                // `- key: value` with the following keys aligned under the first.
                out.append(UInt8(ascii: " "))
                var first = true
                for (key, value) in pairs {
                    if !first { out.append(contentsOf: repeatElement(UInt8(ascii: " "), count: indent + 2)) }
                    first = false
                    Self.writeYAMLKey(key, into: &out)
                    out.append(UInt8(ascii: ":"))
                    value.writeYAMLValue(into: &out, indent: indent + 2, inSequence: false)
                }
            } else {
                out.append(UInt8(ascii: "\n"))
                Self.writeYAMLPairs(pairs, into: &out, indent: indent + 2)
            }
        case .array(let values) where !values.isEmpty:
            out.append(UInt8(ascii: "\n"))
            Self.writeYAMLItems(values, into: &out, indent: inSequence ? indent + 2 : indent)
        default:
            out.append(UInt8(ascii: " "))
            writeYAMLScalar(into: &out)
            out.append(UInt8(ascii: "\n"))
        }
    }

    private func writeYAMLScalar(into out: inout [UInt8]) {
        switch self {
        case .string(let value): Self.writeQuoted(value, into: &out)
        case .int(let value): out.append(contentsOf: String(value).utf8)
        case .bool(let value): out.append(contentsOf: (value ? "true" : "false").utf8)
        case .array: out.append(contentsOf: "[]".utf8)
        case .object: out.append(contentsOf: "{}".utf8)
        }
    }

    private static func writeYAMLKey(_ key: String, into out: inout [UInt8]) {
        let simple = !key.isEmpty && key.utf8.allSatisfy { byte in
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: "-")
                || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "/")
        }
        if simple {
            out.append(contentsOf: key.utf8)
        } else {
            writeQuoted(key, into: &out)
        }
    }
}
