import Foundation
public import NIOSSL

/// TLS configurations of the relay, from a certificate folder with the layout of
/// `meshrelay certs` (and `scripts/dev-certs.sh`): `ca.crt`, `server.crt`, `server.key` for the
/// server; `ca.crt`, `NAME.crt`, `NAME.key` for the agent of cluster NAME.
public enum RelayTLS {
    /// The server side: TLS 1.2 minimum (1.3 preferred by negotiation), a client certificate is
    /// required and verified against `ca.crt` (no hostname check: identity comes from the URI SAN),
    /// no renegotiation.
    public static func serverConfiguration(certificatesDirectory: String) throws(TransportError) -> TLSConfiguration {
        let ca = try certificates(at: path(certificatesDirectory, "ca.crt"), what: "the CA certificate")
        let chain = try certificates(at: path(certificatesDirectory, "server.crt"), what: "the server certificate")
        let key = try privateKey(at: path(certificatesDirectory, "server.key"), what: "the server key")
        var configuration = TLSConfiguration.makeServerConfigurationWithMTLS(
            certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key), trustRoots: .certificates(ca)
        )
        configuration.minimumTLSVersion = .tlsv12
        configuration.certificateVerification = .noHostnameVerification
        configuration.renegotiationSupport = .none
        return configuration
    }

    /// The agent side: presents `NAME.crt`/`NAME.key`, trusts `ca.crt`, verifies the server's
    /// certificate including its name (`serverName`, or the address it dials).
    public static func clientConfiguration(certificatesDirectory: String, cluster: String) throws(TransportError) -> TLSConfiguration {
        let ca = try certificates(at: path(certificatesDirectory, "ca.crt"), what: "the CA certificate")
        let chain = try certificates(at: path(certificatesDirectory, "\(cluster).crt"), what: "the agent certificate of cluster \(cluster)")
        let key = try privateKey(at: path(certificatesDirectory, "\(cluster).key"), what: "the agent key of cluster \(cluster)")
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        configuration.trustRoots = .certificates(ca)
        configuration.certificateChain = chain.map { .certificate($0) }
        configuration.privateKey = .privateKey(key)
        configuration.certificateVerification = .fullVerification
        configuration.renegotiationSupport = .none
        return configuration
    }

    /// The enrolment listener: the server certificate, no client certificate (the bootstrap token
    /// authenticates the agent), TLS 1.2 minimum, no renegotiation.
    public static func enrollmentServerConfiguration(certificatesDirectory: String) throws(TransportError) -> TLSConfiguration {
        let chain = try certificates(at: path(certificatesDirectory, "server.crt"), what: "the server certificate")
        let key = try privateKey(at: path(certificatesDirectory, "server.key"), what: "the server key")
        var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        configuration.minimumTLSVersion = .tlsv12
        configuration.renegotiationSupport = .none
        return configuration
    }

    /// An enrolling agent: trusts only `caFile`, verifies the server's certificate and name, sends
    /// no certificate.
    public static func enrollmentClientConfiguration(caFile: String) throws(TransportError) -> TLSConfiguration {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        configuration.trustRoots = .certificates(try certificates(at: caFile, what: "the CA certificate (--ca-file)"))
        configuration.certificateVerification = .fullVerification
        configuration.renegotiationSupport = .none
        return configuration
    }

    private static func path(_ directory: String, _ file: String) -> String {
        URL(fileURLWithPath: directory).appendingPathComponent(file).path
    }

    private static func certificates(at path: String, what: String) throws(TransportError) -> [NIOSSLCertificate] {
        guard FileManager.default.fileExists(atPath: path) else {
            throw TransportError(.missingFile, "\(what) is missing: \(path); create the certificate folder with `meshrelay certs init --dir DIR` and `meshrelay certs issue --dir DIR --cluster NAME`")
        }
        do {
            let certificates = try NIOSSLCertificate.fromPEMFile(path)
            guard !certificates.isEmpty else {
                throw TransportError(.invalidCertificate, "\(path) holds no PEM certificate")
            }
            return certificates
        } catch let error as TransportError {
            throw error
        } catch {
            throw TransportError(.invalidCertificate, "\(what) at \(path) cannot be read: \(error)")
        }
    }

    private static func privateKey(at path: String, what: String) throws(TransportError) -> NIOSSLPrivateKey {
        guard FileManager.default.fileExists(atPath: path) else {
            throw TransportError(.missingFile, "\(what) is missing: \(path); create the certificate folder with `meshrelay certs init --dir DIR` and `meshrelay certs issue --dir DIR --cluster NAME`")
        }
        do {
            return try NIOSSLPrivateKey(file: path, format: .pem)
        } catch {
            throw TransportError(.invalidCertificate, "\(what) at \(path) cannot be read: \(error)")
        }
    }
}
