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
        let (status, reply) = try await post(body, to: server, tls: tls, timeout: timeout)
        let object = (try? JSONSerialization.jsonObject(with: Data(reply))) as? [String: String]
        guard status == 200, let certificate = object?["certificate"], let ca = object?["ca"] else {
            let message = object?["message"] ?? String(decoding: reply.prefix(500), as: UTF8.self)
            throw AgentError(.enrollment, "enrolment at \(server) refused (HTTP \(status)): \(message)")
        }
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw AgentError(.configuration, "cannot create \(directory): \(error)")
        }
        // The key first, the certificate last: a folder with NAME.crt is a complete one.
        try DurableFile.replace(directory + "/\(cluster).key", with: Array((key.pemRepresentation + "\n").utf8), code: .enrollment, mode: 0o600)
        try DurableFile.replace(directory + "/ca.crt", with: Array(ca.utf8), code: .enrollment)
        try DurableFile.replace(directory + "/\(cluster).crt", with: Array(certificate.utf8), code: .enrollment)
    }

    private static func post(_ body: [UInt8], to server: RelayAddress, tls: NIOSSLContext, timeout: Duration) async throws(AgentError) -> (Int, [UInt8]) {
        do {
            return try await withThrowingTaskGroup(of: (Int, [UInt8])?.self) { group in
                group.addTask { try await exchange(body, server: server, tls: tls) }
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

    private static func exchange(_ body: [UInt8], server: RelayAddress, tls: NIOSSLContext) async throws -> (Int, [UInt8]) {
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
        let head = HTTPRequestHead(version: .http1_1, method: .POST, uri: "/enroll", headers: headers)
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
