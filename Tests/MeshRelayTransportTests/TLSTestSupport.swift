import Foundation
import MeshRelayTesting
import MeshRelayTransport
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS
import Testing

struct TransportTestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// After the TLS handshake, writes the client's cluster identity (or `error: …`) and closes.
final class IdentityEchoHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case TLSUserEvent.handshakeCompleted = event {
            let answer: String
            do {
                guard let certificate = try context.pipeline.syncOperations.nioSSL_peerCertificate() else {
                    throw TransportTestFailure("no peer certificate")
                }
                answer = try ClusterIdentity.cluster(fromDER: certificate.toDERBytes())
            } catch {
                answer = "error: \(error)"
            }
            context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: answer + "\n")), promise: nil)
            context.close(promise: nil)
        }
        context.fireUserInboundEventTriggered(event)
    }
}

/// A TLS server on 127.0.0.1 (kernel-picked port) with the relay's server configuration.
struct IdentityServer {
    let channel: any Channel
    var port: Int { channel.localAddress?.port ?? 0 }

    static func start(certificates: String) async throws -> IdentityServer {
        let context = try NIOSSLContext(configuration: RelayTLS.serverConfiguration(certificatesDirectory: certificates))
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: context))
                    try channel.pipeline.syncOperations.addHandler(IdentityEchoHandler())
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return IdentityServer(channel: channel)
    }

    func stop() async {
        try? await channel.close()
    }
}

/// Connects with a TLS configuration and returns everything the server sent (or the error).
func exchange(port: Int, configuration: TLSConfiguration, serverName: String = "localhost") async -> Result<String, any Error> {
    do {
        let context = try NIOSSLContext(configuration: configuration)
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: context, serverHostname: serverName))
                    return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        return try await channel.executeThenClose { inbound, _ in
            var text = ""
            for try await buffer in inbound {
                text += String(buffer: buffer)
            }
            return .success(text)
        }
    } catch {
        return .failure(error)
    }
}

/// Runs `openssl s_client` against the server and returns its standard output and exit status.
func openSSLClient(port: Int, arguments: [String]) throws -> (output: String, status: Int32) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
    process.arguments = ["s_client", "-connect", "127.0.0.1:\(port)", "-quiet", "-verify_return_error"] + arguments
    let output = Pipe()
    process.standardOutput = output
    process.standardError = Pipe()
    process.standardInput = Pipe()
    try process.run()
    let deadline = Date().addingTimeInterval(30)
    while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
    if process.isRunning { process.terminate() }
    process.waitUntilExit()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    return (String(decoding: data, as: UTF8.self), process.terminationStatus)
}
