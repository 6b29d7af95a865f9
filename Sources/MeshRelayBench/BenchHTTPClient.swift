import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// A failure of the harness itself (setup, a timeout, an unexpected answer), with a message that
/// says what went wrong.
public struct BenchError: Error, Sendable, CustomStringConvertible {
    /// What went wrong.
    public var message: String

    /// - Parameter message: What went wrong.
    public init(_ message: String) {
        self.message = message
    }

    public var description: String { self.message }
}

/// A small HTTP/1.1 client for the server's API (one request per connection, loopback), like the
/// CLI's `APIClient`, that also says when the request was handed to the socket.
struct BenchHTTPClient: Sendable {
    let host: String
    let port: Int
    let baseURL: String
    let token: String?
    let timeout: Duration

    /// One answer.
    struct Reply: Sendable {
        var status: Int
        var body: [UInt8]
        /// Just before the request head was written.
        var sentAt: ContinuousClock.Instant
        /// When the end of the answer arrived.
        var receivedAt: ContinuousClock.Instant
        var text: String { String(decoding: self.body, as: UTF8.self) }
    }

    /// - Parameters:
    ///   - url: `http://HOST:PORT`.
    ///   - token: Bearer token for writes.
    ///   - timeout: Bound of one request.
    init(url: String, token: String?, timeout: Duration = .seconds(120)) throws(BenchError) {
        guard let components = URLComponents(string: url), let host = components.host, !host.isEmpty,
            components.scheme == "http"
        else {
            throw BenchError("--api \(url) is not a URL of the form http://HOST:PORT")
        }
        self.host = host
        self.port = components.port ?? 80
        self.baseURL = url
        self.token = token
        self.timeout = timeout
    }

    /// `GET path`.
    func get(_ path: String) async throws -> Reply {
        try await self.send(.GET, path, body: nil)
    }

    /// `POST /api/v1/apply` of a (multi-document) YAML body; throws unless the answer is 200.
    /// - Returns: The reply and the revision of the apply.
    func apply(_ yaml: String) async throws -> (reply: Reply, revision: Int64) {
        let reply = try await self.send(.POST, "/api/v1/apply", body: Array(yaml.utf8))
        guard reply.status == 200 else {
            throw BenchError("apply answered \(reply.status): \(reply.text.prefix(2000))")
        }
        struct ApplyResult: Decodable {
            var revision: Int64
        }
        do {
            let result = try JSONDecoder().decode(ApplyResult.self, from: Data(reply.body))
            return (reply, result.revision)
        } catch {
            throw BenchError("cannot read the apply result (\(error)): \(reply.text.prefix(500))")
        }
    }

    /// Sends one request and collects the whole answer, bounded by ``timeout``.
    ///
    /// - Parameter hostHeader: The `Host` header (default: the server's HOST:PORT); with an
    ///   absolute `path` (`http://NAME/…`) this is a request to a forward proxy.
    func send(_ method: HTTPMethod, _ path: String, body: [UInt8]?, hostHeader: String? = nil) async throws -> Reply {
        let timeout = self.timeout
        return try await withThrowingTaskGroup(of: Reply?.self) { group in
            group.addTask { try await self.exchange(method, path, body: body, hostHeader: hostHeader) }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let reply = first else {
                throw BenchError("\(method) \(self.baseURL)\(path) did not answer within \(timeout)")
            }
            return reply
        }
    }

    private func exchange(_ method: HTTPMethod, _ path: String, body: [UInt8]?, hostHeader: String?) async throws -> Reply {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.seconds(10))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connect(host: self.host, port: self.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(
                        wrappingChannelSynchronously: channel
                    )
                }
            }
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: hostHeader ?? "\(self.host):\(self.port)")
        headers.add(name: "User-Agent", value: "meshrelay-bench")
        headers.add(name: "Accept", value: "application/json")
        headers.add(name: "Connection", value: "close")
        if let token = self.token {
            headers.add(name: "Authorization", value: "Bearer \(token)")
        }
        if let body {
            headers.add(name: "Content-Type", value: "application/yaml")
            headers.add(name: "Content-Length", value: String(body.count))
        }
        let head = HTTPRequestHead(version: .http1_1, method: method, uri: path, headers: headers)
        let baseURL = self.baseURL
        return try await channel.executeThenClose { inbound, outbound in
            let sentAt = ContinuousClock.now
            if let body {
                try await outbound.write(contentsOf: [.head(head), .body(.byteBuffer(ByteBuffer(bytes: body))), .end(nil)])
            } else {
                try await outbound.write(contentsOf: [.head(head), .end(nil)])
            }
            var status = 0
            var collected: [UInt8] = []
            loop: for try await part in inbound {
                switch part {
                case .head(let responseHead):
                    status = Int(responseHead.status.code)
                case .body(let buffer):
                    collected.append(contentsOf: buffer.readableBytesView)
                case .end:
                    break loop
                }
            }
            guard status != 0 else {
                throw BenchError("\(baseURL)\(path): the server closed the connection without answering")
            }
            return Reply(status: status, body: collected, sentAt: sentAt, receivedAt: .now)
        }
    }
}
