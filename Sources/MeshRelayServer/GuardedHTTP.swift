import HummingbirdCore
import Logging
import MeshRelayTransport
import NIOCore
import NIOSSL
import NIOTLS

/// What the HTTP listeners (the API, over TLS with `--api-tls`, and the enrolment listener)
/// enforce beyond HTTP: the same limits as the relay listener.
struct HTTPListenerLimits: Sendable {
    /// A client that has not completed TLS by then is closed (slowloris handshakes); TLS only.
    var handshakeTimeout: Duration
    /// Connections open at once from one source address; more are closed at once.
    var maximumConnectionsPerSource: Int
    /// A connection without a request for this long is closed.
    var idleTimeout: Duration
}

extension HTTPServerBuilder {
    /// HTTP/1.1 with an idle limit and a cap on connections per source address; with
    /// `tlsCertificatesDirectory`, over TLS with the server certificate (`server.crt`, `server.key`,
    /// reloaded for new connections when they change on disk, as the relay listener does) and a
    /// TLS handshake deadline.
    /// - Parameter listener: How log lines name the listener (`api`, `enrolment`).
    /// - Throws: ``TransportError`` or an NIOSSL error when the certificate or key does not load.
    static func guarded(tlsCertificatesDirectory directory: String?, limits: HTTPListenerLimits, listener: String, logger: Logger) throws
        -> HTTPServerBuilder
    {
        let tls = try directory.map { directory in
            try ReloadingTLSContext(files: ["server.crt", "server.key"].map { directory + "/" + $0 }) {
                try NIOSSLContext(configuration: RelayTLS.enrollmentServerConfiguration(certificatesDirectory: directory))
            }
        }
        let guardrails = HTTPGuardrails(
            tls: tls, perSource: SourceConnectionCounter(limit: limits.maximumConnectionsPerSource),
            handshakeTimeout: limits.handshakeTimeout, listener: listener, directory: directory ?? "", logger: logger
        )
        return HTTPServerBuilder { responder in
            GuardedChannel(
                base: HTTP1Channel(responder: responder, configuration: .init(idleTimeout: TimeAmount(limits.idleTimeout))), guardrails: guardrails
            )
        }
    }
}

/// What every connection of one listener shares.
struct HTTPGuardrails: Sendable {
    let tls: ReloadingTLSContext?
    let perSource: SourceConnectionCounter
    let handshakeTimeout: Duration
    let listener: String
    let directory: String
    let logger: Logger
}

/// A child channel that counts its source, then (when the listener has TLS) adds TLS from the
/// current files and a handshake deadline in front of `base`.
struct GuardedChannel<Base: ServerChildChannel>: ServerChildChannel {
    typealias Value = Base.Value

    let base: Base
    let guardrails: HTTPGuardrails

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        let guardrails = self.guardrails
        let source = channel.remoteAddress?.ipAddress ?? "unknown"
        guard guardrails.perSource.open(source) else {
            guardrails.logger.warning(
                "\(guardrails.listener) connection refused: too many connections from one source",
                metadata: ["peer": "\(source)", "limit": "\(guardrails.perSource.limit)"]
            )
            // Set up and closed at once: a failed setup would be reported on the listening
            // channel instead of this connection.
            return base.setup(channel: channel, logger: logger).map { value in
                channel.close(promise: nil)
                return value
            }
        }
        channel.closeFuture.whenComplete { _ in guardrails.perSource.close(source) }
        guard let tls = guardrails.tls else { return base.setup(channel: channel, logger: logger) }
        return channel.eventLoop.makeCompletedFuture {
            let snapshot = tls.current()
            if snapshot.reloaded {
                guardrails.logger.notice(
                    "\(guardrails.listener) TLS certificate reloaded from disk", metadata: ["certs_dir": "\(guardrails.directory)"]
                )
            } else if let error = snapshot.reloadError {
                guardrails.logger.warning(
                    "changed \(guardrails.listener) TLS files cannot be loaded; keeping the previous ones", metadata: ["error": "\(error)"]
                )
            }
            let operations = channel.pipeline.syncOperations
            try operations.addHandler(NIOSSLServerHandler(context: snapshot.context))
            try operations.addHandler(
                TLSHandshakeDeadlineHandler(timeout: guardrails.handshakeTimeout) { peer in
                    guardrails.logger.info("\(guardrails.listener) client did not complete TLS in time", metadata: ["peer": "\(peer)"])
                }
            )
        }.flatMap {
            base.setup(channel: channel, logger: logger)
        }
    }

    func handle(value: Value, logger: Logger) async {
        await base.handle(value: value, logger: logger)
    }
}

extension GuardedChannel: HTTPChannelHandler where Base: HTTPChannelHandler {
    var responder: HTTPChannelHandler.Responder { base.responder }
}

/// Closes the connection when TLS has not completed `timeout` after it opened.
final class TLSHandshakeDeadlineHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny

    private let timeout: Duration
    private let onExpiry: @Sendable (String) -> Void
    private var timer: Scheduled<Void>?

    init(timeout: Duration, onExpiry: @escaping @Sendable (String) -> Void) {
        self.timeout = timeout
        self.onExpiry = onExpiry
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let channel = context.channel
        let onExpiry = self.onExpiry
        timer = context.eventLoop.scheduleTask(in: TimeAmount(timeout)) {
            onExpiry(channel.remoteAddress.map { "\($0)" } ?? "unknown")
            channel.close(promise: nil)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case TLSUserEvent.handshakeCompleted = event {
            timer?.cancel()
            timer = nil
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        context.fireChannelInactive()
    }
}
