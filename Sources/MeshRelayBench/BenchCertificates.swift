import Foundation
import MeshRelayPKI
import MeshRelayTransport
import NIOSSL

/// The certificates of one run, made in process by ``CertificateAuthority`` (as `meshrelay certs`
/// does): the CA and the server's certificate written to a folder in the layout
/// `meshrelay server --certs-dir` reads, and one client certificate per cluster kept in memory.
struct BenchCertificates {
    /// The folder holding `ca.crt`, `server.crt` and `server.key`.
    let directory: String
    private let authority: CertificateAuthority
    private let caCertificate: NIOSSLCertificate

    /// Makes the CA and the server certificate and writes them to `directory` (created if needed).
    ///
    /// - Throws: When signing or writing fails.
    init(directory: String) throws {
        let authority = try CertificateDirectory(path: directory).initialize(caDays: 7, serverDays: 7, force: true)
        self.directory = directory
        self.authority = authority
        self.caCertificate = try NIOSSLCertificate(bytes: Array(try authority.certificatePEM.utf8), format: .pem)
    }

    /// The client TLS context of the agent of `cluster`: a fresh key and certificate carrying the
    /// cluster identity, trusting only the run's CA.
    func clientContext(cluster: String) throws -> NIOSSLContext {
        let issued = try authority.issue(.agent(cluster: cluster), days: 7)
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        configuration.trustRoots = .certificates([self.caCertificate])
        configuration.certificateChain = [.certificate(try NIOSSLCertificate(bytes: Array(issued.certificatePEM.utf8), format: .pem))]
        configuration.privateKey = .privateKey(try NIOSSLPrivateKey(bytes: Array(issued.privateKeyPEM.utf8), format: .pem))
        configuration.certificateVerification = .fullVerification
        configuration.renegotiationSupport = .none
        return try NIOSSLContext(configuration: configuration)
    }

    /// Writes `NAME.crt` and `NAME.key` for a real `meshrelay agent --certs-dir` process.
    func writeAgent(cluster: String) throws {
        try CertificateDirectory(path: directory).issueAgent(cluster: cluster, days: 7, force: true)
    }

    /// The client TLS context of `cluster` from an existing folder (`ca.crt`, `NAME.crt`,
    /// `NAME.key`, as made by `meshrelay certs issue`), for a server the harness did not start.
    static func existingClientContext(directory: String, cluster: String) throws -> NIOSSLContext {
        let configuration = try RelayTLS.clientConfiguration(certificatesDirectory: directory, cluster: cluster)
        return try NIOSSLContext(configuration: configuration)
    }
}
