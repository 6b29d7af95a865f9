import Yams

/// The YAML 1.2 core schema's resolution of plain scalars (Yams' default is YAML 1.1, where `yes`,
/// `on` and `off` are booleans, `010` is octal and `1:30` a sexagesimal number). Hand-written
/// rather than Yams' regular expressions, which dominate parse time.
enum CoreSchema {
    /// The tag of a plain (unquoted, untagged) scalar: null, bool, int, float or str.
    static func tag(ofPlain text: String) -> String {
        switch text {
        case "", "~", "null", "Null", "NULL":
            return Tag.Name.null.rawValue
        case "true", "True", "TRUE", "false", "False", "FALSE":
            return Tag.Name.bool.rawValue
        default:
            break
        }
        // Numbers start with a digit, a sign or a dot; everything else is a string.
        guard let first = text.utf8.first, isDigit(first) || isSign(first) || first == UInt8(ascii: ".") else {
            return Tag.Name.str.rawValue
        }
        let bytes = Array(text.utf8)
        if isInteger(bytes) { return Tag.Name.int.rawValue }
        if isFloat(bytes) { return Tag.Name.float.rawValue }
        return Tag.Name.str.rawValue
    }

    /// `[-+]?[0-9]+ | 0o[0-7]+ | 0x[0-9a-fA-F]+`
    static func isInteger(_ bytes: [UInt8]) -> Bool {
        if bytes.count > 2, bytes[0] == UInt8(ascii: "0") {
            if bytes[1] == UInt8(ascii: "o") { return bytes.dropFirst(2).allSatisfy(isOctalDigit) }
            if bytes[1] == UInt8(ascii: "x") { return bytes.dropFirst(2).allSatisfy(isHexDigit) }
        }
        let digits = bytes.first.map(isSign) == true ? bytes.dropFirst() : bytes[...]
        return !digits.isEmpty && digits.allSatisfy(isDigit)
    }

    /// `[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? | [-+]?\.(inf|Inf|INF) | \.(nan|NaN|NAN)`
    static func isFloat(_ bytes: [UInt8]) -> Bool {
        let text = String(decoding: bytes, as: UTF8.self)
        if [".nan", ".NaN", ".NAN"].contains(text) { return true }
        var rest = bytes[...]
        if let first = rest.first, isSign(first) { rest = rest.dropFirst() }
        if [".inf", ".Inf", ".INF"].contains(String(decoding: rest, as: UTF8.self)) { return true }
        let integerPart = rest.prefix(while: isDigit)
        rest = rest.dropFirst(integerPart.count)
        var fractionPart = rest.prefix(0)
        if rest.first == UInt8(ascii: ".") {
            rest = rest.dropFirst()
            fractionPart = rest.prefix(while: isDigit)
            rest = rest.dropFirst(fractionPart.count)
        } else if integerPart.isEmpty {
            return false
        }
        // `.5` and `5.` are floats; `.` alone is not.
        guard !integerPart.isEmpty || !fractionPart.isEmpty else { return false }
        if let marker = rest.first, marker == UInt8(ascii: "e") || marker == UInt8(ascii: "E") {
            rest = rest.dropFirst()
            if let sign = rest.first, isSign(sign) { rest = rest.dropFirst() }
            let exponent = rest.prefix(while: isDigit)
            guard !exponent.isEmpty else { return false }
            rest = rest.dropFirst(exponent.count)
        }
        return rest.isEmpty
    }

    private static func isSign(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: "+") || byte == UInt8(ascii: "-")
    }

    private static func isDigit(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
    }

    private static func isOctalDigit(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "7")).contains(byte)
    }

    private static func isHexDigit(_ byte: UInt8) -> Bool {
        isDigit(byte) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte)
            || (UInt8(ascii: "A")...UInt8(ascii: "F")).contains(byte)
    }
}
