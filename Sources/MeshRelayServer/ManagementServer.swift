import Foundation
import MeshRelayPKI
import Hummingbird
import HummingbirdCore
import MeshRelayTransport
public import Logging
import MeshRelayStore
import NIOCore
import NIOPosix
import Prometheus
import ServiceLifecycle

/// The management server: opens the store and the admin token, serves the HTTP API, compacts the
/// change log, and stops gracefully on SIGTERM or SIGINT.
public struct ManagementServer: Sendable {
    public let configuration: ServerConfiguration
    public let logger: Logger

    public init(configuration: ServerConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    /// Runs until SIGTERM/SIGINT (or cancellation).
    /// - Parameter onAPIListening: Called with the bound API port once the listener is up.
    /// - Throws: ``ServerError`` or ``StoreError`` when startup fails.
    /// - Parameter onRelayListening: Called with the bound relay port (only with a certificate
    ///   directory: without one the relay is off).
    public func run(
        onAPIListening: @escaping @Sendable (Int) async -> Void = { _ in },
        onRelayListening: @escaping @Sendable (Int) async -> Void = { _ in },
        onEnrollListening: @escaping @Sendable (Int) async -> Void = { _ in }
    ) async throws {
        MemoryTrimmer.limitArenas()
        do {
            try FileManager.default.createDirectory(atPath: configuration.dataDirectory, withIntermediateDirectories: true)
        } catch {
            throw ServerError(.configuration, "cannot create the data directory \(configuration.dataDirectory): \(error)")
        }
        let token = try AdminToken.load(path: configuration.effectiveTokenFile, createIfMissing: configuration.tokenFile == nil)
        let store: any ResourceStore
        var shared: (any SharedStore)?
        if let location = configuration.postgres {
            let postgres = try await PostgresStore.open(location, logger: logger, operationTimeout: configuration.storeTimeout)
            store = postgres
            shared = postgres
        } else {
            store = try SQLiteStore(path: configuration.databasePath, logger: logger)
        }
        let registry = PrometheusCollectorRegistry()
        let metrics = ServerMetrics(factory: PrometheusMetricsFactory(registry: registry))
        metrics.revision.record(try await store.revision())

        let serverID = configuration.effectiveReplicaID
        do {
            let marked = try await LeftoverSessions.markStale(
                in: store, ownReplicaID: serverID, hostName: shared == nil ? ProcessInfo.processInfo.hostName : nil
            )
            if !marked.isEmpty {
                logger.notice(
                    "clusters marked disconnected: the server process that held their sessions is gone",
                    metadata: ["clusters": "\(marked.joined(separator: ","))"]
                )
            }
        } catch {
            // Only the status is wrong until the agents reconnect; the server can still serve.
            logger.warning("cannot mark the sessions of a stopped server disconnected", metadata: ["error": "\(error)"])
        }
        if let shared {
            // Alive in the store before any session is accepted: expiry spares this replica's.
            try await shared.recordReplicaHeartbeat(id: serverID, at: Date())
        }
        let events = EventLog()
        let hub = RelayHub(store: store, serverID: serverID, logger: logger, metrics: metrics, events: events)
        var api = APIRouter(
            store: store, token: token, metrics: metrics, metricsText: { registry.emitToString() },
            maximumBodyBytes: configuration.maximumRequestBodyBytes, logger: logger, onChange: { revision in hub.storeChanged(revision: revision) }
        )
        api.events = events
        api.flushStatus = { await hub.flushStatus() }
        api.live = LiveStatus(certificatesDirectory: configuration.certificatesDirectory, agentCertificates: { hub.agentCertificates() })
        let router = api.makeRouter()
        let logger = self.logger
        let configuration = self.configuration
        let limits = HTTPListenerLimits(
            handshakeTimeout: configuration.handshakeTimeout, maximumConnectionsPerSource: configuration.maximumConnectionsPerSource,
            idleTimeout: configuration.idleTimeout
        )
        let apiServer: HTTPServerBuilder
        if configuration.apiTLS {
            guard let certificates = configuration.certificatesDirectory else {
                throw ServerError(.configuration, "--api-tls needs --certs-dir DIR with server.crt and server.key")
            }
            do {
                apiServer = try .guarded(tlsCertificatesDirectory: certificates, limits: limits, listener: "api", logger: logger)
            } catch {
                throw ServerError(.configuration, "cannot serve the API over TLS: \(error)")
            }
        } else {
            apiServer = try .guarded(tlsCertificatesDirectory: nil, limits: limits, listener: "api", logger: logger)
        }
        // The API gets an event loop of its own: on the relay's loops, an apply or a status read
        // waited behind the I/O of every agent session (under 500 agents and a stream of writes,
        // /healthz took 170-500 ms and applies 300 ms, most of the churn lag).
        let apiLoops = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { apiLoops.shutdownGracefully { _ in } }
        let app = Application(
            router: router,
            server: apiServer,
            configuration: .init(address: .hostname(configuration.apiHost, port: configuration.apiPort), serverName: "meshrelay"),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? configuration.apiPort
                logger.info(
                    "meshrelay server ready",
                    metadata: [
                        "api.address": "\(configuration.apiHost):\(port)", "api.tls": "\(configuration.apiTLS)",
                        "store": "\(configuration.postgres.map { "\($0)" } ?? configuration.databasePath)", "replica": "\(serverID)",
                        "token.file": "\(configuration.effectiveTokenFile)",
                    ]
                )
                await onAPIListening(port)
            },
            eventLoopGroupProvider: .shared(apiLoops),
            logger: logger
        )
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [.init(service: app)]
        if let shared {
            // Compaction is a singleton duty of one replica; the others hear of its writes.
            services.append(
                .init(
                    service: ReplicaService(
                        store: shared, hub: hub, replicaID: serverID, pollInterval: configuration.storePollInterval,
                        heartbeatInterval: configuration.replicaHeartbeatInterval, retention: configuration.changeLogRetention,
                        compactionInterval: configuration.compactionInterval, logger: logger
                    )
                )
            )
        } else {
            services.append(
                .init(
                    service: CompactionService(
                        store: store, retention: configuration.changeLogRetention, interval: configuration.compactionInterval, logger: logger
                    )
                )
            )
        }
        if let certificates = configuration.certificatesDirectory {
            var relayConfiguration = RelayListenerConfiguration(
                host: configuration.relayHost, port: configuration.relayPort, certificatesDirectory: certificates, serverID: serverID,
                heartbeatInterval: configuration.heartbeatInterval, handshakeTimeout: configuration.handshakeTimeout,
                drainTimeout: configuration.drainTimeout
            )
            relayConfiguration.maximumConnectionsPerSource = configuration.maximumConnectionsPerSource
            let relay = RelayListener(configuration: relayConfiguration, hub: hub, logger: logger, onListening: onRelayListening)
            // The hub before the relay: shutdown runs in reverse, so sessions drain first.
            services += [.init(service: hub), .init(service: relay)]
            let folder = CertificateDirectory(path: certificates)
            if let enrollPort = configuration.enrollPort {
                let enrollment: Enrollment
                do {
                    enrollment = try Enrollment(store: store, folder: folder, leafDays: configuration.agentCertificateDays, logger: logger)
                } catch {
                    throw ServerError(.configuration, "cannot load the CA for enrolment from \(certificates): \(error)")
                }
                let app = try Enrollment.application(
                    enrollment: enrollment, host: configuration.enrollHost, port: enrollPort, certificatesDirectory: certificates,
                    limits: limits, logger: logger,
                    onListening: onEnrollListening
                )
                services.append(.init(service: app))
            } else {
                logger.info("enrolment off: agents need certificates from `meshrelay certs issue` (start with --enroll-listen HOST:PORT and ca.key in --certs-dir to enrol and renew agents)")
            }
        } else {
            logger.notice("relay disabled: start with --certs-dir DIR (ca.crt, server.crt, server.key) to accept agents")
        }
        let group = ServiceGroup(
            configuration: .init(
                services: services,
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        try await group.run()
        logger.info("meshrelay server stopped")
    }
}
