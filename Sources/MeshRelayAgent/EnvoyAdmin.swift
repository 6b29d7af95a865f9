import MeshRelayTranslation
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// A minimal HTTP/1.1 GET client for Envoy's admin endpoint (loopback, plain HTTP).
struct EnvoyAdmin: Sendable {
    let address: MeshRelayTranslation.SocketAddress
    let group: any EventLoopGroup

    /// `GET path`; the body as text when the status is 200.
    /// - Throws: ``AgentError`` `.dataPlane` when Envoy cannot be reached, times out or answers
    ///   another status.
    func get(_ path: String, timeout: Duration = .seconds(2)) async throws(AgentError) -> String {
        let promise = group.next().makePromise(of: (HTTPResponseStatus, [UInt8]).self)
        do {
            let channel = try await ClientBootstrap(group: group)
                .connectTimeout(TimeAmount(timeout))
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                        try channel.pipeline.syncOperations.addHandler(ResponseCollector(promise: promise))
                    }
                }
                .connect(host: address.host, port: address.port).get()
            var head = HTTPRequestHead(version: .http1_1, method: .GET, uri: path)
            head.headers.add(name: "Host", value: "\(address)")
            head.headers.add(name: "Connection", value: "close")
            channel.write(HTTPClientRequestPart.head(head), promise: nil)
            channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
            let deadline = channel.eventLoop.scheduleTask(in: TimeAmount(timeout)) {
                promise.fail(AgentError(.dataPlane, "Envoy's admin endpoint \(address) did not answer GET \(path) within \(timeout)"))
                channel.close(promise: nil)
            }
            defer { deadline.cancel() }
            channel.closeFuture.whenComplete { _ in
                promise.fail(AgentError(.dataPlane, "Envoy's admin endpoint \(address) closed the connection during GET \(path)"))
            }
            let (status, body) = try await promise.futureResult.get()
            channel.close(promise: nil)
            guard status == .ok else {
                throw AgentError(.dataPlane, "Envoy's admin endpoint answered GET \(path) with \(status.code)")
            }
            return String(decoding: body, as: UTF8.self)
        } catch let error as AgentError {
            promise.fail(error)
            throw error
        } catch {
            promise.fail(error)
            throw AgentError(.dataPlane, "Envoy's admin endpoint \(address) is unreachable: \(error)")
        }
    }
}

/// Collects one response; completes the promise at its end.
private final class ResponseCollector: ChannelInboundHandler, Sendable {
    typealias InboundIn = HTTPClientResponsePart

    private let promise: EventLoopPromise<(HTTPResponseStatus, [UInt8])>
    private let state = Mutex<(status: HTTPResponseStatus, body: [UInt8])>((HTTPResponseStatus.ok, []))

    init(promise: EventLoopPromise<(HTTPResponseStatus, [UInt8])>) {
        self.promise = promise
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            state.withLock { $0.status = head.status }
        case .body(let buffer):
            state.withLock { $0.body.append(contentsOf: buffer.readableBytesView) }
        case .end:
            let response = state.withLock { $0 }
            promise.succeed((response.status, response.body))
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        promise.fail(error)
        context.close(promise: nil)
    }
}
