import Crypto
import Foundation
import MeshRelayTransport
import NIOSSL
import SwiftASN1
import X509

/// The certificates of one run, made in process (EC P-256, like `scripts/dev-certs.sh`): a CA, the
/// server's certificate (SANs `localhost` and `127.0.0.1`, serverAuth) written to a folder in the
/// layout `meshrelay server --certs-dir` reads, and one client certificate per cluster (URI SAN
/// `spiffe://meshrelay/cluster/NAME`, clientAuth) kept in memory.
struct BenchCertificates {
    /// The folder holding `ca.crt`, `server.crt` and `server.key`.
    let directory: String
    private let caKey: Certificate.PrivateKey
    private let caName: DistinguishedName
    private let caCertificate: NIOSSLCertificate

    /// Makes the CA and the server certificate and writes them to `directory` (created if needed).
    ///
    /// - Throws: When signing or writing fails.
    init(directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let now = Date()
        let caKey = Certificate.PrivateKey(P256.Signing.PrivateKey())
        let caName = try DistinguishedName { CommonName("meshrelay bench CA") }
        let ca = try Certificate(
            version: .v3,
            serialNumber: Certificate.SerialNumber(),
            publicKey: caKey.publicKey,
            notValidBefore: now - 3600,
            notValidAfter: now + 7 * 86400,
            issuer: caName,
            subject: caName,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
            },
            issuerPrivateKey: caKey
        )
        let serverKey = P256.Signing.PrivateKey()
        let server = try Self.leaf(
            commonName: "meshrelay server",
            names: [.dnsName("localhost"), .ipAddress(ASN1OctetString(contentBytes: [127, 0, 0, 1]))],
            usage: .serverAuth,
            key: serverKey,
            caKey: caKey,
            caName: caName,
            now: now
        )
        let caPEM = try ca.serializeAsPEM().pemString + "\n"
        try Self.write(caPEM, to: directory + "/ca.crt")
        try Self.write(try server.serializeAsPEM().pemString + "\n", to: directory + "/server.crt")
        try Self.write(serverKey.pemRepresentation + "\n", to: directory + "/server.key")

        self.directory = directory
        self.caKey = caKey
        self.caName = caName
        self.caCertificate = try NIOSSLCertificate(bytes: Array(caPEM.utf8), format: .pem)
    }

    /// The client TLS context of the agent of `cluster`: a fresh key and certificate carrying the
    /// cluster identity, trusting only the run's CA.
    func clientContext(cluster: String) throws -> NIOSSLContext {
        let key = P256.Signing.PrivateKey()
        let certificate = try Self.leaf(
            commonName: cluster,
            names: [.uniformResourceIdentifier(ClusterIdentity.uri(for: cluster))],
            usage: .clientAuth,
            key: key,
            caKey: self.caKey,
            caName: self.caName,
            now: Date()
        )
        var serializer = DER.Serializer()
        try serializer.serialize(certificate)
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        configuration.trustRoots = .certificates([self.caCertificate])
        configuration.certificateChain = [.certificate(try NIOSSLCertificate(bytes: serializer.serializedBytes, format: .der))]
        configuration.privateKey = .privateKey(try NIOSSLPrivateKey(bytes: Array(key.pemRepresentation.utf8), format: .pem))
        configuration.certificateVerification = .fullVerification
        configuration.renegotiationSupport = .none
        return try NIOSSLContext(configuration: configuration)
    }

    /// The client TLS context of `cluster` from an existing folder (`ca.crt`, `NAME.crt`,
    /// `NAME.key`, as made by `scripts/dev-certs.sh`), for a server the harness did not start.
    static func existingClientContext(directory: String, cluster: String) throws -> NIOSSLContext {
        let configuration = try RelayTLS.clientConfiguration(certificatesDirectory: directory, cluster: cluster)
        return try NIOSSLContext(configuration: configuration)
    }

    private static func leaf(
        commonName: String,
        names: [GeneralName],
        usage: ExtendedKeyUsage.Usage,
        key: P256.Signing.PrivateKey,
        caKey: Certificate.PrivateKey,
        caName: DistinguishedName,
        now: Date
    ) throws -> Certificate {
        try Certificate(
            version: .v3,
            serialNumber: Certificate.SerialNumber(),
            publicKey: Certificate.PublicKey(key.publicKey),
            notValidBefore: now - 3600,
            notValidAfter: now + 7 * 86400,
            issuer: caName,
            subject: try DistinguishedName { CommonName(commonName) },
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                try ExtendedKeyUsage([usage])
                SubjectAlternativeNames(names)
            },
            issuerPrivateKey: caKey
        )
    }

    private static func write(_ text: String, to path: String) throws {
        guard FileManager.default.createFile(atPath: path, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600])
        else {
            throw BenchError("cannot write \(path)")
        }
    }
}
