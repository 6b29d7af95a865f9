/// The Kubernetes name and label formats meshrelay checks, as pure predicates.
public enum NameFormat {
    /// The longest DNS-1123 label, and the longest label name or value.
    public static let maximumLabelLength = 63
    /// The longest DNS-1123 subdomain.
    public static let maximumSubdomainLength = 253

    /// Whether `text` is a DNS-1123 label: lowercase letters, digits and `-`, starting and ending
    /// with a letter or digit, 1 to 63 characters (`google`, `cluster-1`).
    public static func isDNS1123Label(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard !bytes.isEmpty, bytes.count <= maximumLabelLength else { return false }
        guard let first = bytes.first, let last = bytes.last,
            isLowerAlphanumeric(first), isLowerAlphanumeric(last)
        else { return false }
        return bytes.allSatisfy { isLowerAlphanumeric($0) || $0 == UInt8(ascii: "-") }
    }

    /// Whether `text` is a DNS-1123 subdomain: DNS-1123 labels joined by `.`, at most 253
    /// characters (`www.google.com`).
    public static func isDNS1123Subdomain(_ text: String) -> Bool {
        guard !text.isEmpty, text.utf8.count <= maximumSubdomainLength else { return false }
        return text.split(separator: ".", omittingEmptySubsequences: false).allSatisfy {
            isDNS1123Label(String($0))
        }
    }

    /// Whether `text` is a Kubernetes label (or annotation) key: an optional DNS-1123 subdomain
    /// prefix and `/`, then a name of 1 to 63 characters matching
    /// `[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?` (`app`, `app.kubernetes.io/name`).
    public static func isLabelKey(_ text: String) -> Bool {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        switch parts.count {
        case 1:
            return isQualifiedNamePart(parts[0])
        case 2:
            return isDNS1123Subdomain(String(parts[0])) && isQualifiedNamePart(parts[1])
        default:
            return false
        }
    }

    /// Whether `text` is a Kubernetes label value: empty, or 1 to 63 characters matching
    /// `[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?`.
    public static func isLabelValue(_ text: String) -> Bool {
        text.isEmpty || isQualifiedNamePart(Substring(text))
    }

    /// Whether `text` is a host an ExternalService may name: a DNS name (see ``isDNSName(_:)``)
    /// with an optional leading `*.` (`www.google.com`, `*.google.com`).
    public static func isServiceHost(_ text: String) -> Bool {
        isDNSName(text.hasPrefix("*.") ? String(text.dropFirst(2)) : text)
    }

    /// Whether `text` is a DNS name that is not, and does not look like, an IP address: a DNS-1123
    /// subdomain whose last label is not all digits (no top-level domain is, so `300.1.1.1` and
    /// `010.0.0.1` are mistyped addresses, not names).
    public static func isDNSName(_ text: String) -> Bool {
        guard isDNS1123Subdomain(text), let last = text.split(separator: ".").last else { return false }
        return !last.utf8.allSatisfy { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }
    }

    private static func isQualifiedNamePart(_ text: Substring) -> Bool {
        let bytes = Array(text.utf8)
        guard !bytes.isEmpty, bytes.count <= maximumLabelLength else { return false }
        guard let first = bytes.first, let last = bytes.last, isAlphanumeric(first), isAlphanumeric(last) else {
            return false
        }
        return bytes.allSatisfy {
            isAlphanumeric($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".")
        }
    }

    private static func isLowerAlphanumeric(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
    }

    private static func isAlphanumeric(_ byte: UInt8) -> Bool {
        isLowerAlphanumeric(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
    }
}
