import Foundation
import Synchronization
public import Logging
import MeshRelayProtocol
import MeshRelayTransport
import NIOCore
import NIOPosix
import NIOSSL
public import ServiceLifecycle

/// Settings of the relay listener.
public struct RelayListenerConfiguration: Sendable {
    public var host: String
    public var port: Int
    /// `ca.crt`, `server.crt`, `server.key` (docs/protocol.md, "Transport").
    public var certificatesDirectory: String
    public var serverID: String
    public var heartbeatInterval: Duration
    public var handshakeTimeout: Duration
    public var drainTimeout: Duration
    public var maximumFramePayloadBytes: Int
    /// Open connections allowed from one source address (agents behind one NAT share it; a
    /// flood from one address cannot take every descriptor).
    public var maximumConnectionsPerSource: Int = 256

    public init(
        host: String, port: Int, certificatesDirectory: String, serverID: String,
        heartbeatInterval: Duration = .seconds(10), handshakeTimeout: Duration = .seconds(10), drainTimeout: Duration = .seconds(5),
        maximumFramePayloadBytes: Int = 16 << 20
    ) {
        self.host = host
        self.port = port
        self.certificatesDirectory = certificatesDirectory
        self.serverID = serverID
        self.heartbeatInterval = heartbeatInterval
        self.handshakeTimeout = handshakeTimeout
        self.drainTimeout = drainTimeout
        self.maximumFramePayloadBytes = maximumFramePayloadBytes
    }
}

/// Accepts agents over mutual TLS and runs a ``RelaySessionHandler`` per connection. On graceful
/// shutdown it sends DRAIN to every session, waits (bounded) for them to go, then closes.
public struct RelayListener: Service {
    let configuration: RelayListenerConfiguration
    let hub: RelayHub
    let logger: Logger
    let onListening: @Sendable (Int) async -> Void

    public init(configuration: RelayListenerConfiguration, hub: RelayHub, logger: Logger, onListening: @escaping @Sendable (Int) async -> Void = { _ in }) {
        self.configuration = configuration
        self.hub = hub
        self.logger = logger
        self.onListening = onListening
    }

    public func run() async throws {
        // The server certificate, its key and the trust bundle are reloaded for new connections
        // when they change on disk (renewal, CA rotation: docs/operations.md).
        let directory = configuration.certificatesDirectory
        let tls = try ReloadingTLSContext(files: ["ca.crt", "server.crt", "server.key"].map { directory + "/" + $0 }) {
            try NIOSSLContext(configuration: RelayTLS.serverConfiguration(certificatesDirectory: directory))
        }
        let sessionConfiguration = ServerSessionStateMachine.Configuration(
            serverVersion: MeshRelayServerVersion.current, serverID: configuration.serverID,
            heartbeatInterval: configuration.heartbeatInterval, handshakeTimeout: configuration.handshakeTimeout,
            drainTimeout: configuration.drainTimeout
        )
        let hub = self.hub
        let logger = self.logger
        let maximumPayload = configuration.maximumFramePayloadBytes
        let perSource = SourceConnectionCounter(limit: configuration.maximumConnectionsPerSource)
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(.backlog, value: 1024)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                let source = channel.remoteAddress?.ipAddress ?? "unknown"
                guard perSource.open(source) else {
                    logger.warning(
                        "relay connection refused: too many connections from one source",
                        metadata: ["relay.peer": "\(source)", "relay.limit": "\(perSource.limit)"]
                    )
                    return channel.close()
                }
                channel.closeFuture.whenComplete { _ in perSource.close(source) }
                return channel.eventLoop.makeCompletedFuture {
                    let operations = channel.pipeline.syncOperations
                    let snapshot = tls.current()
                    if snapshot.reloaded {
                        logger.notice("relay TLS certificates reloaded from disk", metadata: ["relay.certs_dir": "\(directory)"])
                    } else if let error = snapshot.reloadError {
                        logger.warning("changed relay TLS files cannot be loaded; keeping the previous ones", metadata: ["error": "\(error)"])
                    }
                    try operations.addHandler(NIOSSLServerHandler(context: snapshot.context))
                    try operations.addHandler(RelayFrameDecoder(maximumPayloadBytes: maximumPayload).makeHandler())
                    try operations.addHandler(RelayFrameWriter(maximumPayloadBytes: maximumPayload))
                    try operations.addHandler(RelaySessionHandler(hub: hub, configuration: sessionConfiguration, logger: logger))
                }
            }
            .bind(host: configuration.host, port: configuration.port).get()
        let port = channel.localAddress?.port ?? configuration.port
        logger.info("relay listening", metadata: ["relay.address": "\(configuration.host):\(port)", "relay.server_id": "\(configuration.serverID)"])
        await onListening(port)

        // Until shutdown (or cancellation).
        try? await gracefulShutdown()

        // Stop accepting first: a drained agent reconnects at once, and must reach another server
        // (or be refused and back off) rather than open a new session here that nobody drains.
        // Closing the listening socket leaves the accepted connections open.
        try? await channel.close()
        let draining = hub.drainAll()
        if draining > 0 {
            logger.info("draining agent sessions", metadata: ["relay.sessions": "\(draining)"])
            let deadline = ContinuousClock.now + configuration.drainTimeout + .seconds(1)
            while hub.sessionCount > 0 && ContinuousClock.now < deadline {
                try? await Task.sleep(for: .milliseconds(50))
            }
        }
        logger.info("relay stopped")
    }
}

/// The version the server reports in WELCOME.
enum MeshRelayServerVersion {
    static let current = "0.1.0"
}

/// Open connections per source address, bounded.
final class SourceConnectionCounter: Sendable {
    let limit: Int
    private let counts = Mutex<[String: Int]>([:])

    init(limit: Int) { self.limit = limit }

    /// Counts a new connection from `source`; false (not counted) when it already has `limit`.
    func open(_ source: String) -> Bool {
        counts.withLock { counts in
            guard counts[source, default: 0] < limit else { return false }
            counts[source, default: 0] += 1
            return true
        }
    }

    func close(_ source: String) {
        counts.withLock { counts in
            let left = counts[source, default: 1] - 1
            counts[source] = left > 0 ? left : nil
        }
    }
}
