import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// A small HTTP/1.1 client for the management server's API: one request per connection.
struct APIClient: Sendable {
    let host: String
    let port: Int
    let basePath: String
    let baseURL: String
    let token: String?
    let timeout: Duration

    /// - Parameters:
    ///   - url: `http://HOST:PORT[/prefix]`.
    ///   - token: Bearer token for mutations; `nil` to send none.
    init(url: String, token: String?, timeout: Duration = .seconds(300)) throws(CLIError) {
        guard let components = URLComponents(string: url), let host = components.host, !host.isEmpty else {
            throw .usage("--api \(url) is not a URL; expected http://HOST:PORT")
        }
        guard components.scheme == "http" else {
            throw .usage("--api \(url): only http:// is supported by this version")
        }
        self.host = host
        self.port = components.port ?? 80
        self.basePath = components.path.hasSuffix("/") ? String(components.path.dropLast()) : components.path
        self.baseURL = url
        self.token = token
        self.timeout = timeout
    }

    struct Reply: Sendable {
        var status: Int
        var body: [UInt8]
        var text: String { String(decoding: body, as: UTF8.self) }
    }

    /// Sends one request and collects the whole reply.
    /// - Throws: ``CLIError`` with exit code 3 when the server cannot be reached or does not answer.
    func send(
        _ method: HTTPMethod, _ path: String, body: [UInt8]? = nil, contentType: String = "application/yaml",
        accept: String = "application/json"
    ) async throws(CLIError) -> Reply {
        do {
            return try await withThrowingTaskGroup(of: Reply?.self) { group in
                group.addTask { try await exchange(method, path, body: body, contentType: contentType, accept: accept) }
                group.addTask {
                    try await Task.sleep(for: timeout)
                    return nil
                }
                defer { group.cancelAll() }
                guard let first = try await group.next(), let reply = first else {
                    throw CLIError.unreachable("the meshrelay server at \(baseURL) did not answer within \(timeout)")
                }
                return reply
            }
        } catch let error as CLIError {
            throw error
        } catch {
            throw .unreachable(
                "cannot reach the meshrelay server at \(baseURL): \(Self.describe(error)); is `meshrelay server` running? Point to it with --api or MESHRELAY_API"
            )
        }
    }

    private static func describe(_ error: any Error) -> String {
        if let connect = error as? NIOConnectionError {
            return connect.connectionErrors.first.map { "\($0.error)" } ?? "\(connect)"
        }
        return "\(error)"
    }

    private func exchange(_ method: HTTPMethod, _ path: String, body: [UInt8]?, contentType: String, accept: String) async throws -> Reply {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.seconds(10))
            .connect(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(wrappingChannelSynchronously: channel)
                }
            }
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: "\(host):\(port)")
        headers.add(name: "User-Agent", value: "meshrelay-cli/\(MeshRelayVersion.current)")
        headers.add(name: "Accept", value: accept)
        headers.add(name: "Connection", value: "close")
        if let token {
            headers.add(name: "Authorization", value: "Bearer \(token)")
        }
        if let body {
            headers.add(name: "Content-Type", value: contentType)
            headers.add(name: "Content-Length", value: String(body.count))
        }
        let head = HTTPRequestHead(version: .http1_1, method: method, uri: basePath + path, headers: headers)
        return try await channel.executeThenClose { inbound, outbound in
            try await outbound.write(.head(head))
            if let body {
                try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: body))))
            }
            try await outbound.write(.end(nil))
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
                throw CLIError.unreachable("the meshrelay server at \(baseURL) closed the connection without answering")
            }
            return Reply(status: status, body: collected)
        }
    }
}
