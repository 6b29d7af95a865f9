import Crypto
import Foundation
import MeshRelayPKI
import MeshRelayTransport
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// An agent's enrolment (docs/security.md): a P-256 key made here (it never leaves the state
/// directory), a CSR for the cluster identity, the bootstrap token, sent over TLS that verifies the
/// server against `--ca-file`; the certificate comes back and the folder then has the layout the
/// relay reads (`ca.crt`, `NAME.crt`, `NAME.key`).
public enum EnrollmentClient {
    /// Whether `directory` already holds this cluster's certificate and key.
    public static func isEnrolled(cluster: String, directory: String) -> Bool {
        let files = FileManager.default
        return ["ca.crt", "\(cluster).crt", "\(cluster).key"].allSatisfy { files.fileExists(atPath: directory + "/" + $0) }
    }

    /// Enrols once.
    ///
    /// - Throws: ``AgentError`` `.enrollment` with the server's message (a refusal) or why it
    ///   could not be reached; `.configuration` for unusable files.
    public static func enroll(
        cluster: String, token: String, caFile: String, server: RelayAddress, directory: String, timeout: Duration = .seconds(10)
    ) async throws(AgentError) {
        let tls: NIOSSLContext
        do {
            tls = try NIOSSLContext(configuration: try RelayTLS.enrollmentClientConfiguration(caFile: caFile))
        } catch {
            throw AgentError(.configuration, "cannot use --ca-file \(caFile): \(error)")
        }
        let key = P256.Signing.PrivateKey()
        let csr: String
        do {
            csr = try EnrollmentRequest.make(cluster: cluster, key: key)
        } catch {
            throw AgentError(.enrollment, error.message)
        }
        let body: [UInt8]
        do {
            body = Array(try JSONSerialization.data(withJSONObject: ["cluster": cluster, "token": token, "csr": csr]))
        } catch {
            throw AgentError(.enrollment, "cannot encode the enrolment request: \(error)")
        }
        let (status, reply) = try await post(body, path: "/enroll", to: server, tls: tls, timeout: timeout)
        let object = (try? JSONSerialization.jsonObject(with: Data(reply))) as? [String: String]
        guard status == 200, let certificate = object?["certificate"], let ca = object?["ca"] else {
            let message = object?["message"] ?? String(decoding: reply.prefix(500), as: UTF8.self)
            throw AgentError(.enrollment, "enrolment at \(server) refused (HTTP \(status)): \(message)")
        }
        try store(cluster: cluster, certificate: certificate, key: key.pemRepresentation + "\n", ca: ca, directory: directory)
    }

    /// Renews with the current certificate (no token): a new key, the current key's signature over
    /// its CSR; the answer replaces key, certificate and trust bundle (crash-safe, see
    /// ``completeInterruptedRenewal(cluster:directory:)``). Returns the new certificate's expiry.
    ///
    /// - Throws: ``AgentError`` `.enrollment` (refused, unreachable), `.configuration` (files).
    @discardableResult
    public static func renew(cluster: String, server: RelayAddress, directory: String, timeout: Duration = .seconds(10)) async throws(AgentError) -> String {
        let files = FileManager.default
        guard let certificate = files.contents(atPath: directory + "/\(cluster).crt"), let key = files.contents(atPath: directory + "/\(cluster).key") else {
            throw AgentError(.configuration, "\(directory) has no \(cluster).crt/\(cluster).key to renew")
        }
        let tls: NIOSSLContext
        do {
            tls = try NIOSSLContext(configuration: try RelayTLS.enrollmentClientConfiguration(caFile: directory + "/ca.crt"))
        } catch {
            throw AgentError(.configuration, "cannot use \(directory)/ca.crt: \(error)")
        }
        let made: (request: RenewalRequest, key: String)
        do {
            made = try RenewalRequest.make(
                cluster: cluster, certificatePEM: String(decoding: certificate, as: UTF8.self), currentKeyPEM: String(decoding: key, as: UTF8.self))
        } catch {
            throw AgentError(.enrollment, error.message)
        }
        let body: [UInt8]
        do {
            body = Array(try JSONEncoder().encode(made.request))
        } catch {
            throw AgentError(.enrollment, "cannot encode the renewal request: \(error)")
        }
        let (status, reply) = try await post(body, path: "/renew", to: server, tls: tls, timeout: timeout)
        let object = (try? JSONSerialization.jsonObject(with: Data(reply))) as? [String: String]
        guard status == 200, let renewed = object?["certificate"], let ca = object?["ca"] else {
            let message = object?["message"] ?? String(decoding: reply.prefix(500), as: UTF8.self)
            throw AgentError(.enrollment, "renewal at \(server) refused (HTTP \(status)): \(message)")
        }
        try store(cluster: cluster, certificate: renewed, key: made.key, ca: ca, directory: directory)
        return object?["notAfter"] ?? ""
    }

    /// Writes a new key and certificate as a pair: both as `.next` files first, then the key and
    /// the certificate renamed into place. A crash in between is finished by
    /// ``completeInterruptedRenewal(cluster:directory:)`` at the next start.
    static func store(cluster: String, certificate: String, key: String, ca: String, directory: String) throws(AgentError) {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw AgentError(.configuration, "cannot create \(directory): \(error)")
        }
        let keyPath = directory + "/\(cluster).key"
        let certificatePath = directory + "/\(cluster).crt"
        try DurableFile.replace(keyPath + ".next", with: Array(key.utf8), code: .enrollment, mode: 0o600)
        try DurableFile.replace(certificatePath + ".next", with: Array(certificate.utf8), code: .enrollment)
        if !ca.isEmpty { try DurableFile.replace(directory + "/ca.crt", with: Array(ca.utf8), code: .enrollment) }
        try completeInterruptedRenewal(cluster: cluster, directory: directory)
    }

    /// Finishes or undoes a pair replacement a crash interrupted; harmless when nothing is
    /// pending. Both `.next` files: rename the key, then the certificate. Only the certificate's:
    /// the key was already renamed, rename the certificate. Only the key's: the certificate never
    /// got written, drop it (the old pair is intact). Call it before loading the certificate.
    public static func completeInterruptedRenewal(cluster: String, directory: String) throws(AgentError) {
        let key = directory + "/\(cluster).key"
        let certificate = directory + "/\(cluster).crt"
        let files = FileManager.default
        let keyPending = files.fileExists(atPath: key + ".next")
        let certificatePending = files.fileExists(atPath: certificate + ".next")
        if keyPending && !certificatePending {
            unlink(key + ".next")
            return
        }
        for path in (keyPending ? [key, certificate] : certificatePending ? [certificate] : []) {
            guard rename(path + ".next", path) == 0 else {
                throw AgentError(.configuration, "cannot rename \(path).next onto \(path): errno \(errno)")
            }
        }
        let descriptor = open(directory, O_RDONLY)
        if descriptor >= 0 {
            _ = fsync(descriptor)
            close(descriptor)
        }
    }

    private static func post(_ body: [UInt8], path: String, to server: RelayAddress, tls: NIOSSLContext, timeout: Duration) async throws(AgentError) -> (Int, [UInt8]) {
        do {
            return try await withThrowingTaskGroup(of: (Int, [UInt8])?.self) { group in
                group.addTask { try await exchange(body, path: path, server: server, tls: tls) }
                group.addTask {
                    try await Task.sleep(for: timeout)
                    return nil
                }
                defer { group.cancelAll() }
                guard let first = try await group.next(), let reply = first else {
                    throw AgentError(.enrollment, "the enrolment server \(server) did not answer within \(timeout)")
                }
                return reply
            }
        } catch let error as AgentError {
            throw error
        } catch {
            throw AgentError(.enrollment, "cannot reach the enrolment server \(server): \(error)")
        }
    }

    private static func exchange(_ body: [UInt8], path: String, server: RelayAddress, tls: NIOSSLContext) async throws -> (Int, [UInt8]) {
        let serverName = server.tlsServerName
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.seconds(10))
            .connect(host: server.host, port: server.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: tls, serverHostname: serverName))
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(wrappingChannelSynchronously: channel)
                }
            }
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: "\(server)")
        headers.add(name: "Content-Type", value: "application/json")
        headers.add(name: "Content-Length", value: String(body.count))
        headers.add(name: "Connection", value: "close")
        let head = HTTPRequestHead(version: .http1_1, method: .POST, uri: path, headers: headers)
        return try await channel.executeThenClose { inbound, outbound in
            try await outbound.write(contentsOf: [.head(head), .body(.byteBuffer(ByteBuffer(bytes: body))), .end(nil)])
            var status = 0
            var collected: [UInt8] = []
            loop: for try await part in inbound {
                switch part {
                case .head(let response): status = Int(response.status.code)
                case .body(let buffer): collected.append(contentsOf: buffer.readableBytesView)
                case .end: break loop
                }
            }
            return (status, collected)
        }
    }
}
