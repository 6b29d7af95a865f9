import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// One HTTP/1.1 request on its own connection (`Connection: close`), the whole reply collected,
/// bounded by a timeout: the API client's transport, and the demo's requests through Envoy.
enum HTTPExchange {
    struct Reply: Sendable {
        var status: Int
        var headers: HTTPHeaders
        var body: [UInt8]
        var text: String { String(decoding: body, as: UTF8.self) }
    }

    enum Failure: Error {
        /// No complete answer within the timeout.
        case timedOut
        /// The peer closed the connection before a response head.
        case noAnswer
        /// Connecting or exchanging failed (refused, reset…).
        case failed(String)
    }

    /// Sends `head` (plus `Content-Length` and `Connection: close`) and `body` to HOST:PORT.
    /// - Parameter tls: For https: the client context (trust roots) — the server name checked is
    ///   `host` (an IP literal is checked against the certificate's IP SANs).
    static func perform(host: String, port: Int, head: HTTPRequestHead, body: [UInt8]?, timeout: Duration, tls: NIOSSLContext? = nil) async throws(Failure) -> Reply {
        var head = head
        head.headers.replaceOrAdd(name: "Connection", value: "close")
        if let body { head.headers.replaceOrAdd(name: "Content-Length", value: String(body.count)) }
        let request = head
        do {
            return try await withThrowingTaskGroup(of: Reply?.self) { group in
                group.addTask { try await exchange(host: host, port: port, head: request, body: body, tls: tls) }
                group.addTask {
                    try await Task.sleep(for: timeout)
                    return nil
                }
                defer { group.cancelAll() }
                guard let first = try await group.next(), let reply = first else { throw Failure.timedOut }
                return reply
            }
        } catch let failure as Failure {
            throw failure
        } catch let connect as NIOConnectionError {
            throw .failed(connect.connectionErrors.first.map { "\($0.error)" } ?? "\(connect)")
        } catch {
            throw .failed("\(error)")
        }
    }

    private static func exchange(host: String, port: Int, head: HTTPRequestHead, body: [UInt8]?, tls: NIOSSLContext?) async throws -> Reply {
        let serverName = host.contains(":") || host.allSatisfy({ $0.isNumber || $0 == "." }) ? nil : host
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.seconds(10))
            .connect(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: tls, serverHostname: serverName))
                    }
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(wrappingChannelSynchronously: channel)
                }
            }
        return try await channel.executeThenClose { inbound, outbound in
            try await outbound.write(.head(head))
            if let body {
                try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: body))))
            }
            try await outbound.write(.end(nil))
            var responseHead: HTTPResponseHead?
            var collected: [UInt8] = []
            loop: for try await part in inbound {
                switch part {
                case .head(let received):
                    responseHead = received
                case .body(let buffer):
                    collected.append(contentsOf: buffer.readableBytesView)
                case .end:
                    break loop
                }
            }
            guard let responseHead else { throw Failure.noAnswer }
            return Reply(status: Int(responseHead.status.code), headers: responseHead.headers, body: collected)
        }
    }
}
