import X509

/// The cluster identity of an agent, read from its verified client certificate — never from
/// what the agent says.
///
/// The identity is the URI subject alternative name `spiffe://meshrelay/cluster/<name>`, where
/// `<name>` is a DNS-1123 label (the `metadata.name` of the cluster's `KubernetesCluster`). A
/// certificate with no such URI, or with two different ones, carries no identity and is refused.
public enum ClusterIdentity {
    /// The URI prefix of a cluster identity.
    public static let uriPrefix = "spiffe://meshrelay/cluster/"

    /// The identity URI for a cluster name.
    public static func uri(for cluster: String) -> String { uriPrefix + cluster }

    /// Reads the cluster name from a DER-encoded certificate.
    /// - Throws: ``TransportError`` `.invalidCertificate` or `.noIdentity`.
    public static func cluster(fromDER der: [UInt8]) throws(TransportError) -> String {
        let certificate: Certificate
        do {
            certificate = try Certificate(derEncoded: der)
        } catch {
            throw TransportError(.invalidCertificate, "the peer certificate cannot be parsed: \(error)")
        }
        let names: SubjectAlternativeNames?
        do {
            names = try certificate.extensions.subjectAlternativeNames
        } catch {
            throw TransportError(.invalidCertificate, "the peer certificate's subjectAltName extension cannot be parsed: \(error)")
        }
        var clusters = Set<String>()
        for name in names ?? SubjectAlternativeNames([]) {
            if case .uniformResourceIdentifier(let uri) = name, uri.hasPrefix(uriPrefix) {
                clusters.insert(String(uri.dropFirst(uriPrefix.count)))
            }
        }
        guard clusters.count == 1, let cluster = clusters.first else {
            let found = clusters.isEmpty ? "none" : clusters.sorted().joined(separator: ", ")
            throw TransportError(
                .noIdentity,
                "the client certificate (subject \(certificate.subject)) must carry exactly one URI SAN \(uriPrefix)<cluster>; found: \(found)"
            )
        }
        guard isDNSLabel(cluster) else {
            throw TransportError(.noIdentity, "the certificate's cluster identity \"\(cluster)\" is not a DNS-1123 label")
        }
        return cluster
    }

    public static func isDNSLabel(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard (1...63).contains(bytes.count) else { return false }
        func alnum(_ byte: UInt8) -> Bool { (byte >= 97 && byte <= 122) || (byte >= 48 && byte <= 57) }
        guard let first = bytes.first, let last = bytes.last, alnum(first), alnum(last) else { return false }
        return bytes.allSatisfy { alnum($0) || $0 == UInt8(ascii: "-") }
    }
}
