/// An IPv4 or IPv6 address parsed strictly from text: dotted-quad IPv4 without leading zeros
/// (`010.0.0.1` is refused: some parsers read it as octal), and RFC 4291 IPv6 text with at most one
/// `::` and an optional trailing dotted quad, without zone (`%eth0`) or brackets.
public struct IPAddress: Sendable, Hashable, CustomStringConvertible {
    /// The address family.
    public enum Family: Sendable, Hashable {
        /// 4 bytes.
        case v4
        /// 16 bytes.
        case v6
    }

    /// The address family.
    public let family: Family
    /// The address in network order: 4 bytes for IPv4, 16 for IPv6.
    public let bytes: [UInt8]

    /// Parses an IPv4 or IPv6 address.
    /// - Parameter text: `192.168.0.1`, `::1`, `2001:db8::8a2e:370:7334`, `::ffff:10.0.0.1`.
    /// - Returns: `nil` when `text` is not exactly an address.
    public init?(_ text: String) {
        if let bytes = Self.parseIPv4(Substring(text)) {
            family = .v4
            self.bytes = bytes
        } else if let bytes = Self.parseIPv6(text) {
            family = .v6
            self.bytes = bytes
        } else {
            return nil
        }
    }

    /// An address from its bytes in network order (4 or 16 of them; `nil` otherwise).
    public init?(bytes: [UInt8]) {
        switch bytes.count {
        case 4: family = .v4
        case 16: family = .v6
        default: return nil
        }
        self.bytes = bytes
    }

    /// The number of bits: 32 or 128.
    public var bitWidth: Int { family == .v4 ? 32 : 128 }

    /// The canonical text: dotted quad, or RFC 5952 IPv6 (lowercase, longest zero run as `::`).
    public var description: String {
        switch family {
        case .v4:
            return bytes.map(String.init).joined(separator: ".")
        case .v6:
            var groups: [UInt16] = []
            for index in stride(from: 0, to: 16, by: 2) {
                groups.append(UInt16(bytes[index]) << 8 | UInt16(bytes[index + 1]))
            }
            // The longest run of at least two zero groups (the first one on a tie).
            var best: (start: Int, length: Int) = (-1, 0)
            var current: (start: Int, length: Int) = (-1, 0)
            for (index, group) in groups.enumerated() {
                if group == 0 {
                    current = current.start < 0 ? (index, 1) : (current.start, current.length + 1)
                    if current.length > best.length { best = current }
                } else {
                    current = (-1, 0)
                }
            }
            let hex = groups.map { String($0, radix: 16) }
            guard best.length >= 2 else { return hex.joined(separator: ":") }
            let head = hex[..<best.start].joined(separator: ":")
            let tail = hex[(best.start + best.length)...].joined(separator: ":")
            return head + "::" + tail
        }
    }

    static func parseIPv4(_ text: Substring) -> [UInt8]? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var bytes: [UInt8] = []
        for part in parts {
            guard let value = decimal(part, maximumDigits: 3), value <= 255 else { return nil }
            bytes.append(UInt8(value))
        }
        return bytes
    }

    private static func parseIPv6(_ text: String) -> [UInt8]? {
        guard text.contains(":") else { return nil }
        let head: Substring
        let tail: Substring?
        if let gap = text.firstRange(of: "::") {
            head = text[..<gap.lowerBound]
            let rest = text[gap.upperBound...]
            guard rest.firstRange(of: "::") == nil else { return nil }
            tail = rest
        } else {
            head = Substring(text)
            tail = nil
        }
        // The dotted quad may only end the address (the tail when `::` is present).
        guard var headGroups = groups(head, mayEndWithIPv4: tail == nil) else { return nil }
        if let tail {
            guard let tailGroups = groups(tail, mayEndWithIPv4: true), headGroups.count + tailGroups.count <= 7 else {
                return nil
            }
            headGroups += Array(repeating: 0, count: 8 - headGroups.count - tailGroups.count) + tailGroups
        }
        guard headGroups.count == 8 else { return nil }
        return headGroups.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xff)] }
    }

    /// The 16-bit groups of one side of `::` (or of the whole address); `[]` for an empty side.
    private static func groups(_ text: Substring, mayEndWithIPv4: Bool) -> [UInt16]? {
        if text.isEmpty { return [] }
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        var result: [UInt16] = []
        for (index, part) in parts.enumerated() {
            if index == parts.count - 1, mayEndWithIPv4, part.contains(".") {
                guard let quad = parseIPv4(part) else { return nil }
                result.append(UInt16(quad[0]) << 8 | UInt16(quad[1]))
                result.append(UInt16(quad[2]) << 8 | UInt16(quad[3]))
                continue
            }
            guard (1...4).contains(part.utf8.count), part.utf8.allSatisfy(isHexDigit),
                let value = UInt16(part, radix: 16)
            else { return nil }
            result.append(value)
        }
        return result
    }

    /// A decimal number of 1 to `maximumDigits` ASCII digits, without leading zeros.
    static func decimal(_ text: Substring, maximumDigits: Int) -> Int? {
        let utf8 = text.utf8
        guard (1...maximumDigits).contains(utf8.count),
            utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) })
        else { return nil }
        if utf8.count > 1, utf8.first == UInt8(ascii: "0") { return nil }
        return Int(text)
    }

    private static func isHexDigit(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte)
            || (UInt8(ascii: "A")...UInt8(ascii: "F")).contains(byte)
    }
}

/// An IP address with a prefix length: a CIDR range (`10.0.0.0/8`, `2001:db8::/32`), or a single
/// address when written without `/`.
public struct CIDRRange: Sendable, Hashable, CustomStringConvertible {
    /// The address as written (host bits are kept, as Envoy and Istio accept them).
    public let address: IPAddress
    /// The prefix length: 0–32 for IPv4, 0–128 for IPv6.
    public let prefixLength: Int

    /// Parses `address` or `address/prefix`.
    /// - Parameter text: `10.0.0.0/8`, `::1`, `2001:db8::/32`.
    /// - Returns: `nil` when the address is invalid or the prefix is out of range or has leading
    ///   zeros.
    public init?(_ text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2, let address = IPAddress(String(parts[0])) else { return nil }
        if parts.count == 2 {
            guard let prefix = IPAddress.decimal(parts[1], maximumDigits: 3), prefix <= address.bitWidth else {
                return nil
            }
            prefixLength = prefix
        } else {
            prefixLength = address.bitWidth
        }
        self.address = address
    }

    /// Whether the range holds exactly one address (`/32` or `/128`).
    public var isSingleAddress: Bool { prefixLength == address.bitWidth }

    /// `address/prefix` with the address in canonical form.
    public var description: String { "\(address)/\(prefixLength)" }
}
