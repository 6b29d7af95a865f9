import Crypto
public import Foundation
import MeshRelayModel
import MeshRelayTransport
import SwiftASN1
public import X509

/// What `meshrelay certs inspect` shows of a certificate, in meshrelay's terms: which role it
/// plays (CA, server, the agent of a cluster), the names it covers, when it expires.
public struct CertificateSummary: Sendable, Equatable {
    public enum Role: Sendable, Equatable {
        case authority
        case server
        case agent(cluster: String)
        /// A leaf without meshrelay's identity (or with an unreadable one, `reason` says why).
        case other(reason: String)
    }

    public let subject: String
    public let issuer: String
    public let serial: String
    public let notBefore: Date
    public let notAfter: Date
    public let names: [String]
    public let role: Role
    public let keyAlgorithm: String
    public let usages: [String]
    public let sha256Fingerprint: String

    /// Reads every certificate of a PEM file (a bundle gives one summary each).
    ///
    /// - Throws: ``PKIError`` `.invalidPEM` when the text holds no certificate or one that does not parse.
    public static func read(pem: String) throws(PKIError) -> [CertificateSummary] {
        let documents: [PEMDocument]
        do {
            documents = try PEMDocument.parseMultiple(pemString: pem).filter { $0.discriminator == "CERTIFICATE" }
        } catch {
            throw PKIError(.invalidPEM, "not a PEM file: \(error)")
        }
        guard !documents.isEmpty else {
            throw PKIError(.invalidPEM, "no \"BEGIN CERTIFICATE\" block found (a key or CSR is not a certificate)")
        }
        var summaries: [CertificateSummary] = []
        for document in documents {
            do {
                summaries.append(CertificateSummary(try Certificate(pemDocument: document), der: document.derBytes))
            } catch {
                throw PKIError(.invalidPEM, "a certificate in the file does not parse: \(error)")
            }
        }
        return summaries
    }

    public init(_ certificate: Certificate, der: [UInt8]) {
        subject = certificate.subject.description
        issuer = certificate.issuer.description
        serial = certificate.serialNumber.bytes.map { String($0, radix: 16, uppercase: true).leftPadded(2) }.joined(separator: ":")
        notBefore = certificate.notValidBefore
        notAfter = certificate.notValidAfter
        var names: [String] = []
        for name in (try? certificate.extensions.subjectAlternativeNames) ?? SubjectAlternativeNames([]) {
            switch name {
            case .dnsName(let value): names.append("DNS:\(value)")
            case .uniformResourceIdentifier(let value): names.append("URI:\(value)")
            case .ipAddress(let octets):
                names.append("IP:" + (IPAddress(bytes: Array(octets.bytes))?.description ?? "\(Array(octets.bytes))"))
            case .rfc822Name(let value): names.append("email:\(value)")
            default: names.append("\(name)")
            }
        }
        self.names = names
        let usage = (try? certificate.extensions.extendedKeyUsage).map { Array($0) } ?? []
        usages = usage.map { usage in
            switch usage {
            case .serverAuth: "serverAuth"
            case .clientAuth: "clientAuth"
            default: "\(usage)"
            }
        }
        if case .isCertificateAuthority = (try? certificate.extensions.basicConstraints) ?? .notCertificateAuthority {
            role = .authority
        } else if usage.contains(.clientAuth), names.contains(where: { $0.hasPrefix("URI:" + ClusterIdentity.uriPrefix) }) {
            do {
                role = .agent(cluster: try ClusterIdentity.cluster(fromDER: der))
            } catch {
                role = .other(reason: error.message)
            }
        } else if usage.contains(.serverAuth) {
            role = .server
        } else {
            role = .other(reason: "no meshrelay identity: neither a CA, a serverAuth certificate, nor a clientAuth certificate with URI SAN \(ClusterIdentity.uriPrefix)<cluster>")
        }
        let key = certificate.publicKey
        keyAlgorithm =
            P256.Signing.PublicKey(key) != nil ? "ECDSA P-256"
            : P384.Signing.PublicKey(key) != nil ? "ECDSA P-384"
            : P521.Signing.PublicKey(key) != nil ? "ECDSA P-521"
            : "other (\(certificate.signatureAlgorithm))"
        sha256Fingerprint = SHA256.hash(data: der).map { String($0, radix: 16, uppercase: true).leftPadded(2) }.joined(separator: ":")
    }

    /// Days until `notAfter` (negative once expired).
    public func daysLeft(now: Date = Date()) -> Int { Int((notAfter.timeIntervalSince(now) / 86400).rounded(.down)) }

    /// The human form, one `key: value` line each.
    public func render(now: Date = Date()) -> String {
        let identity: String =
            switch role {
            case .authority: "certificate authority (signs server and agent certificates)"
            case .server: "management server (serverAuth)"
            case .agent(let cluster): "agent of cluster \"\(cluster)\" (clientAuth, \(ClusterIdentity.uri(for: cluster)))"
            case .other(let reason): "none: \(reason)"
            }
        let left = daysLeft(now: now)
        let validity =
            now < notBefore ? "not yet valid" : left < 0 ? "EXPIRED \(-left) days ago" : left < 30 ? "expires in \(left) days (renew soon)" : "valid, \(left) days left"
        var lines = [
            "Subject:      \(subject)",
            "Identity:     \(identity)",
            "Names (SAN):  \(names.isEmpty ? "none" : names.joined(separator: ", "))",
            "Issuer:       \(issuer)",
            "Not before:   \(RFC3339.string(from: notBefore))",
            "Not after:    \(RFC3339.string(from: notAfter))",
            "Status:       \(validity)",
            "Key:          \(keyAlgorithm)",
        ]
        if !usages.isEmpty { lines.append("Usage:        \(usages.joined(separator: ", "))") }
        lines.append("Serial:       \(serial)")
        lines.append("SHA-256:      \(sha256Fingerprint)")
        return lines.joined(separator: "\n")
    }
}

extension String {
    fileprivate func leftPadded(_ width: Int) -> String { count >= width ? self : String(repeating: "0", count: width - count) + self }
}
