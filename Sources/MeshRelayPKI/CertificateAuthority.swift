public import Foundation
import Crypto
import MeshRelayModel
import MeshRelayTransport
import SwiftASN1
public import X509

/// A certificate and its private key, as PEM text (what goes into `NAME.crt` and `NAME.key`).
public struct IssuedCertificate: Sendable {
    public let certificate: Certificate
    public let certificatePEM: String
    public let privateKeyPEM: String
}

/// What a leaf certificate is for.
public enum LeafProfile: Sendable, Equatable {
    /// The management server: `serverAuth`, DNS and IP subject alternative names.
    case server(names: [String])
    /// The agent of a workload cluster: `clientAuth`, the identity URI SAN
    /// `spiffe://meshrelay/cluster/NAME` the relay reads (docs/protocol.md).
    case agent(cluster: String)
}

/// The meshrelay certificate authority: an ECDSA P-256 self-signed CA that issues the server's and
/// the agents' certificates (docs/operations.md, certificates).
///
/// Defaults: CA 10 years, leaves 90 days, random 20-byte serial numbers, `notBefore` one hour in
/// the past (clock skew between clusters).
public struct CertificateAuthority: Sendable {
    public static let defaultCADays = 3650
    public static let defaultLeafDays = 90
    static let backdate: TimeInterval = 3600

    public let certificate: Certificate
    let key: Certificate.PrivateKey

    /// Makes a new CA.
    ///
    /// - Throws: ``PKIError`` `.invalidValidity` or `.signing`.
    public static func create(commonName: String = "meshrelay CA", days: Int = defaultCADays, now: Date = Date()) throws(PKIError) -> CertificateAuthority {
        try checkDays(days)
        let key = Certificate.PrivateKey(P256.Signing.PrivateKey())
        do {
            let name = try DistinguishedName {
                OrganizationName("meshrelay")
                CommonName(commonName)
            }
            let certificate = try Certificate(
                version: .v3,
                serialNumber: Certificate.SerialNumber(),
                publicKey: key.publicKey,
                notValidBefore: now - backdate,
                notValidAfter: now + TimeInterval(days) * 86400,
                issuer: name,
                subject: name,
                signatureAlgorithm: .ecdsaWithSHA256,
                extensions: try Certificate.Extensions {
                    Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                    Critical(KeyUsage(keyCertSign: true, cRLSign: true))
                    SubjectKeyIdentifier(hash: key.publicKey)
                },
                issuerPrivateKey: key
            )
            return CertificateAuthority(certificate: certificate, key: key)
        } catch {
            throw PKIError(.signing, "cannot create the CA certificate: \(error)")
        }
    }

    /// Loads a CA from its PEM certificate and key.
    ///
    /// - Throws: ``PKIError`` `.invalidPEM` when either does not parse, the certificate is not a
    ///   CA, or the key does not belong to it.
    public init(certificatePEM: String, privateKeyPEM: String) throws(PKIError) {
        let certificates: [Certificate]
        let key: Certificate.PrivateKey
        do {
            certificates = try PEMDocument.parseMultiple(pemString: certificatePEM).map { try Certificate(pemDocument: $0) }
        } catch {
            throw PKIError(.invalidPEM, "the CA certificate is not a PEM certificate: \(error)")
        }
        do {
            key = try Certificate.PrivateKey(pemEncoded: privateKeyPEM)
        } catch {
            throw PKIError(.invalidPEM, "the CA key is not a PEM private key: \(error)")
        }
        // During a CA rotation ca.crt is a bundle (old and new CA): the signing CA is the one of the key.
        guard let certificate = certificates.first(where: { $0.publicKey == key.publicKey }) else {
            throw PKIError(.invalidPEM, "the CA key does not belong to the CA certificate (or to any certificate of the bundle): public keys differ")
        }
        guard case .isCertificateAuthority = (try? certificate.extensions.basicConstraints) ?? .notCertificateAuthority else {
            throw PKIError(.invalidPEM, "the CA certificate (subject \(certificate.subject)) is not a CA (basicConstraints CA:FALSE or missing)")
        }
        self.init(certificate: certificate, key: key)
    }

    init(certificate: Certificate, key: Certificate.PrivateKey) {
        self.certificate = certificate
        self.key = key
    }

    /// The CA certificate as PEM.
    public var certificatePEM: String {
        get throws(PKIError) { try Self.pem(certificate) }
    }

    /// The CA key as PEM (SEC1 "EC PRIVATE KEY").
    public var privateKeyPEM: String {
        get throws(PKIError) {
            do {
                return try key.serializeAsPEM().pemString + "\n"
            } catch {
                throw PKIError(.signing, "cannot encode the CA key: \(error)")
            }
        }
    }

    /// Issues a leaf certificate with a fresh P-256 key made here.
    ///
    /// - Throws: ``PKIError`` `.invalidName` (a SAN that is neither a DNS name nor an IP address,
    ///   a cluster name that is not a DNS-1123 label), `.invalidValidity`, `.signing`.
    public func issue(_ profile: LeafProfile, days: Int = defaultLeafDays, now: Date = Date()) throws(PKIError) -> IssuedCertificate {
        let key = P256.Signing.PrivateKey()
        let certificate = try sign(profile, publicKey: Certificate.PublicKey(key.publicKey), days: days, now: now)
        return IssuedCertificate(certificate: certificate, certificatePEM: try Self.pem(certificate), privateKeyPEM: key.pemRepresentation + "\n")
    }

    /// Signs a certificate for a public key made elsewhere (an agent's enrolment request).
    ///
    /// - Throws: as ``issue(_:days:now:)``.
    public func sign(_ profile: LeafProfile, publicKey: Certificate.PublicKey, days: Int = defaultLeafDays, now: Date = Date()) throws(PKIError) -> Certificate {
        try Self.checkDays(days)
        let commonName: String
        let names: [GeneralName]
        let usage: ExtendedKeyUsage.Usage
        switch profile {
        case .server(let requested):
            let requested = requested.isEmpty ? ["localhost", "127.0.0.1"] : requested
            names = try requested.map { (name) throws(PKIError) in try Self.generalName(name) }
            commonName = requested[0]
            usage = .serverAuth
        case .agent(let cluster):
            guard ClusterIdentity.isDNSLabel(cluster) else {
                throw PKIError(.invalidName, "cluster \"\(cluster)\" is not a DNS-1123 label (lower-case letters, digits, '-', at most 63); use the metadata.name of its KubernetesCluster")
            }
            names = [.uniformResourceIdentifier(ClusterIdentity.uri(for: cluster))]
            commonName = cluster
            usage = .clientAuth
        }
        do {
            return try Certificate(
                version: .v3,
                serialNumber: Certificate.SerialNumber(),
                publicKey: publicKey,
                notValidBefore: now - Self.backdate,
                notValidAfter: now + TimeInterval(days) * 86400,
                issuer: certificate.subject,
                subject: try DistinguishedName {
                    OrganizationName("meshrelay")
                    CommonName(commonName)
                },
                signatureAlgorithm: .ecdsaWithSHA256,
                extensions: try Certificate.Extensions {
                    Critical(BasicConstraints.notCertificateAuthority)
                    Critical(KeyUsage(digitalSignature: true))
                    try ExtendedKeyUsage([usage])
                    SubjectAlternativeNames(names)
                    SubjectKeyIdentifier(hash: publicKey)
                    if let authority = try certificate.extensions.subjectKeyIdentifier {
                        AuthorityKeyIdentifier(keyIdentifier: authority.keyIdentifier)
                    }
                },
                issuerPrivateKey: key
            )
        } catch {
            throw PKIError(.signing, "cannot sign the certificate for \(profile): \(error)")
        }
    }

    /// A server SAN: an IP address (v4 or v6) or a DNS name (`*.` wildcard allowed).
    static func generalName(_ text: String) throws(PKIError) -> GeneralName {
        if let address = IPAddress(text) {
            return .ipAddress(ASN1OctetString(contentBytes: ArraySlice(address.bytes)))
        }
        let labels = (text.hasPrefix("*.") ? String(text.dropFirst(2)) : text).split(separator: ".", omittingEmptySubsequences: false)
        let valid =
            !labels.isEmpty && text.utf8.count <= 253
            && labels.allSatisfy { label in
                let bytes = Array(label.utf8)
                guard (1...63).contains(bytes.count), bytes.first != UInt8(ascii: "-"), bytes.last != UInt8(ascii: "-") else { return false }
                return bytes.allSatisfy { ($0 >= 97 && $0 <= 122) || ($0 >= 65 && $0 <= 90) || ($0 >= 48 && $0 <= 57) || $0 == UInt8(ascii: "-") }
            }
        guard valid else {
            throw PKIError(.invalidName, "server name \"\(text)\" is neither an IP address nor a DNS name (e.g. localhost, relay.example.com, 10.0.0.5)")
        }
        return .dnsName(text.lowercased())
    }

    static func checkDays(_ days: Int) throws(PKIError) {
        guard (1...36500).contains(days) else {
            throw PKIError(.invalidValidity, "validity \(days) days is out of range; give 1…36500 days")
        }
    }

    static func pem(_ certificate: Certificate) throws(PKIError) -> String {
        do {
            return try certificate.serializeAsPEM().pemString + "\n"
        } catch {
            throw PKIError(.signing, "cannot encode the certificate: \(error)")
        }
    }
}
