import Foundation
public import Logging
import MeshRelayModel
public import MeshRelayProtocol
import MeshRelayTransport
public import NIOCore
import NIOPosix
import NIOSSL
public import ServiceLifecycle
import Synchronization

/// The relay agent of one workload cluster: keeps one mutual-TLS connection to a relay server,
/// applies the updates it receives, persists what it applied (``AgentStateFile``) before it
/// acknowledges, and reconnects (next address, backoff) when the connection ends.
///
/// The protocol decisions are made by ``AgentSessionStateMachine``; this type only connects,
/// carries out the machine's actions and persists the state. Run it in a `ServiceGroup`:
/// cancellation or graceful shutdown sends GOODBYE `normal`, closes the connection and returns.
///
/// The last applied state is loaded from the state directory by ``init(configuration:logger:eventLoopGroup:onApplied:)``,
/// so ``currentState()`` answers before any connection.
public final class RelayAgent: Service, Sendable {
    /// The agent's parameters.
    public let configuration: AgentConfiguration

    private let logger: Logger
    private let eventLoop: any EventLoop
    private let tls: ReloadingTLSContext
    private let stateFile: AgentStateFile
    private let state: Mutex<AgentState>
    private let onApplied: (@Sendable (AgentState) -> Void)?
    private let dataPlane: (any DataPlane)?
    private let metrics: AgentMetrics?
    /// Whether a session is up and what the data plane last reported (`/readyz`).
    private let live: AgentLiveState
    private let session: AgentSession
    private let control = Mutex(Control())

    private struct Control: Sendable {
        var stopRequested = false
        var running = false
        var pause: Scheduled<Void>?
    }

    /// Loads the durable state and the TLS material; connects nothing (``run()`` does).
    ///
    /// - Parameters:
    ///   - configuration: The agent's parameters.
    ///   - logger: The logger (metadata `agent.cluster` is added; `relay.server` per connection).
    ///   - eventLoopGroup: Where the connections run (one event loop of it is used); NIO's
    ///     shared `MultiThreadedEventLoopGroup.singleton` when `nil`.
    ///   - dataPlane: Where the state takes effect (e.g. ``EnvoyDataPlane``); `nil` keeps it in
    ///     the state file only. It gets the last durable state before the first connection.
    ///   - onApplied: Called (off the event loop) with the new state after every update was
    ///     applied and persisted, before it is acknowledged.
    /// - Throws: ``AgentError`` `.configuration` (no server address, unusable certificates) or
    ///   `.stateFile` (the state file cannot be read or belongs to another cluster).
    public init(
        configuration: AgentConfiguration,
        logger: Logger,
        eventLoopGroup: (any EventLoopGroup)? = nil,
        dataPlane: (any DataPlane)? = nil,
        metrics: AgentMetrics? = nil,
        onApplied: (@Sendable (AgentState) -> Void)? = nil
    ) throws(AgentError) {
        self.metrics = metrics
        let live = AgentLiveState()
        self.live = live
        guard !configuration.servers.isEmpty else {
            throw AgentError(.configuration, "the agent has no relay server address; pass at least one --server HOST:PORT")
        }
        var logger = logger
        logger[metadataKey: "agent.cluster"] = "\(configuration.cluster)"
        self.configuration = configuration
        self.logger = logger
        self.eventLoop = (eventLoopGroup ?? MultiThreadedEventLoopGroup.singleton).next()
        self.onApplied = onApplied
        self.dataPlane = dataPlane

        do {
            let directory = configuration.certificatesDirectory
            let cluster = configuration.cluster
            // Reloaded for the next connection when the files change (renewal, CA rotation).
            self.tls = try ReloadingTLSContext(files: ["ca.crt", "\(cluster).crt", "\(cluster).key"].map { directory + "/" + $0 }) {
                try NIOSSLContext(configuration: try RelayTLS.clientConfiguration(certificatesDirectory: directory, cluster: cluster))
            }
        } catch let error as TransportError {
            throw AgentError(.configuration, error.message)
        } catch {
            throw AgentError(
                .configuration,
                "the TLS configuration of cluster \(configuration.cluster) in \(configuration.certificatesDirectory) is unusable: \(error)"
            )
        }

        let stateFile = AgentStateFile(directory: configuration.stateDirectory)
        let loaded = try stateFile.load(cluster: configuration.cluster) ?? AgentState(cluster: configuration.cluster)
        self.stateFile = stateFile
        self.state = Mutex(loaded)
        // A state applied before (restored from the state file) counts: static stability.
        live.state.withLock { $0.hasApplied = loaded.appliedRevision > 0 }

        let machine = AgentSessionStateMachine(
            configuration: configuration.sessionConfiguration,
            held: loaded.held,
            appliedRevision: loaded.appliedRevision
        )
        let apply = ApplyBox()
        self.session = AgentSession(
            eventLoop: self.eventLoop,
            machine: machine,
            maximumFramePayloadBytes: configuration.maximumFramePayloadBytes,
            logger: logger,
            apply: { update in await apply.agent?.applyUpdate(update) ?? [] },
            onConnected: { connected in
                live.state.withLock { $0.connected = connected }
                metrics?.connected.record(connected ? 1 : 0)
            }
        )
        apply.agent = self
    }

    /// What the agent holds now: the last state applied and persisted (loaded from the state
    /// directory at start).
    ///
    /// - Returns: A copy of the state.
    public func currentState() -> AgentState {
        self.state.withLock { $0 }
    }

    /// Connects, synchronises and reconnects until cancelled or shut down gracefully; then says
    /// GOODBYE `normal`, closes and returns.
    ///
    /// - Throws: ``AgentError`` `.configuration` when the agent is already running.
    public func run() async throws {
        let alreadyRunning = self.control.withLock { control -> Bool in
            defer { control.running = true }
            return control.running
        }
        guard !alreadyRunning else {
            throw AgentError(.configuration, "this relay agent is already running")
        }
        guard var planner = ReconnectPlanner(addresses: self.configuration.servers, backoff: self.configuration.backoff)
        else {
            throw AgentError(.configuration, "the agent has no relay server address")
        }
        self.logger.info(
            "relay agent starting",
            metadata: [
                "agent.applied_revision": "\(self.currentState().appliedRevision)",
                "agent.held": "\(self.currentState().resources.count)",
            ]
        )
        // Static stability: the data plane gets the last durable state before any server is
        // reached, and keeps running it whatever happens to the connection.
        if let dataPlane = self.dataPlane {
            let state = self.currentState()
            await dataPlane.restore(Array(state.resources.values), revision: state.appliedRevision)
        }
        let dataPlaneTask: Task<Void, Never>? = self.dataPlane.map { dataPlane in
            Task { await dataPlane.run() }
        }
        // The data plane's health goes to the server in HELLO and HEARTBEATs; read every 2 s
        // (the first time now), a change is sent at once. HEALTHY is reported at once, UNHEALTHY
        // after two readings in a row: an Envoy still starting, or one slow answer on a loaded
        // machine, is not an outage.
        let healthTask = Task {
            var previous: DataPlaneHealth?
            var unhealthyReadings = 0
            while !Task.isCancelled && !self.isStopRequested {
                let health = await self.dataPlane?.health() ?? .none
                unhealthyReadings = health.isHealthy ? 0 : unhealthyReadings + 1
                if health.isHealthy || unhealthyReadings >= 2 {
                    previous = await self.reportHealth(health, previous: previous)
                }
                try? await Task.sleep(for: Self.healthInterval)
            }
        }
        await withTaskCancellationOrGracefulShutdownHandler {
            var address = planner.currentAddress
            var rng = SystemRandomNumberGenerator()
            var attempts = 0
            while !self.isStopRequested {
                if attempts > 0 { self.metrics?.reconnects.increment() }
                attempts += 1
                let outcome = await self.connect(to: address)
                if outcome.wasEstablished {
                    planner.sessionEstablished()
                }
                guard !self.isStopRequested, let next = planner.next(after: outcome.advice, using: &rng) else {
                    break
                }
                address = next.address
                if next.delay > .zero {
                    self.logger.debug(
                        "reconnecting after backoff",
                        metadata: ["relay.server": "\(address)", "relay.delay": "\(next.delay)"]
                    )
                    await self.pause(next.delay)
                }
            }
        } onCancelOrGracefulShutdown: {
            self.requestStop()
        }
        healthTask.cancel()
        self.dataPlane?.stop()
        await dataPlaneTask?.value
        self.logger.info("relay agent stopped")
    }

    /// A session with a relay server is established now.
    public var isConnected: Bool { live.state.withLock { $0.connected } }

    /// The agent holds a state from a relay server: restored from its state file, or applied
    /// since it started. A fresh agent has nothing yet, and its gateway would refuse everything.
    public var hasApplied: Bool { live.state.withLock { $0.hasApplied } }

    /// What the data plane last reported (nil before the first reading).
    public var dataPlaneHealth: DataPlaneHealth? { live.state.withLock { $0.health } }

    /// How often the data plane's health is read.
    static let healthInterval: Duration = .seconds(2)

    /// Hands a changed health reading to the session; returns what is reported now.
    private func reportHealth(_ health: DataPlaneHealth, previous: DataPlaneHealth?) async -> DataPlaneHealth {
        guard health != previous else { return health }
        live.state.withLock { $0.health = health }
        metrics?.dataPlaneHealthy.record(health.isHealthy ? 1 : 0)
        if let previous, previous.state != health.state {
            self.logger.notice(
                "data plane health changed", metadata: ["data_plane.state": "\(health.state)", "data_plane.message": "\(health.message)"]
            )
        }
        let session = self.session
        try? await self.session.eventLoop.submit { session.dataPlaneChanged(health) }.get()
        return health
    }

    // MARK: Connecting

    private var isStopRequested: Bool {
        self.control.withLock { $0.stopRequested }
    }

    private func requestStop() {
        let pause = self.control.withLock { control -> Scheduled<Void>? in
            control.stopRequested = true
            return control.pause
        }
        pause?.cancel()
        let session = self.session
        self.eventLoop.execute {
            session.shutdown()
        }
    }

    /// Waits `delay`, or less when the agent stops.
    private func pause(_ delay: Duration) async {
        let scheduled = self.eventLoop.scheduleTask(in: TimeAmount(delay)) {}
        let stopped = self.control.withLock { control -> Bool in
            control.pause = scheduled
            return control.stopRequested
        }
        if stopped {
            scheduled.cancel()
        }
        _ = try? await scheduled.futureResult.get()
        self.control.withLock { $0.pause = nil }
    }

    /// Makes one connection and returns once it is over (or failed).
    private func connect(to address: RelayAddress) async -> ConnectionOutcome {
        let connection = AgentConnection(address: address, outcome: self.eventLoop.makePromise())
        let session = self.session
        let snapshot = self.tls.current()
        if snapshot.reloaded {
            self.logger.notice("TLS certificates reloaded from disk", metadata: ["agent.certs_dir": "\(self.configuration.certificatesDirectory)"])
        } else if let error = snapshot.reloadError {
            self.logger.warning("changed TLS files cannot be loaded; keeping the previous ones", metadata: ["error": "\(error)"])
        }
        let sslContext = snapshot.context
        let serverName = address.tlsServerName
        let timeout = TimeAmount(self.configuration.helloTimeout)
        let maximumPayloadBytes = self.configuration.maximumFramePayloadBytes
        self.logger.debug("connecting", metadata: ["relay.server": "\(address)"])

        ClientBootstrap(group: self.eventLoop)
            .connectTimeout(timeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    try pipeline.addHandler(NIOSSLClientHandler(context: sslContext, serverHostname: serverName))
                    try pipeline.addHandler(RelayFrameDecoder(maximumPayloadBytes: maximumPayloadBytes).makeHandler())
                    try pipeline.addHandler(
                        RelayFrameWriter(maximumPayloadBytes: maximumPayloadBytes)
                    )
                    try pipeline.addHandler(
                        AgentSessionHandler(session: session, connection: connection, handshakeTimeout: timeout)
                    )
                }
            }
            .connect(host: address.host, port: address.port)
            .whenFailure { [logger] error in
                logger.info(
                    "cannot connect to the relay server",
                    metadata: ["relay.server": "\(address)", "relay.error": "\(error)"]
                )
                session.channelClosed(connection)
            }

        do {
            return try await connection.outcome.futureResult.get()
        } catch {
            return ConnectionOutcome(advice: .afterBackoff(minimum: .zero), wasEstablished: false)
        }
    }

    // MARK: Applying

    /// Decodes every upsert's spec (decodable → applied, else failed with the decoder's message),
    /// persists the new state durably, publishes it, and returns the results for the ACK. When
    /// the state cannot be persisted, nothing changes and every upsert is reported failed.
    private func applyUpdate(_ update: Update) async -> [ResourceResult] {
        let started = ContinuousClock.now
        var results: [ResourceResult] = []
        results.reserveCapacity(update.upserts.count)
        for resource in update.upserts {
            results.append(Self.check(resource))
        }
        let current = self.currentState()
        var next = current
        next.apply(update, results: results)
        if let dataPlane = self.dataPlane {
            (next, results) = await self.takeEffect(update, results: results, current: current, proposed: next, dataPlane: dataPlane)
        }
        do {
            try self.stateFile.save(next)
        } catch {
            self.logger.error(
                "cannot persist the agent state; the update is reported failed",
                metadata: ["relay.revision": "\(update.revision)", "agent.error": "\(error)"]
            )
            return update.upserts.map {
                ResourceResult(
                    key: $0.key,
                    version: $0.version,
                    state: .failed,
                    message: "the agent cannot persist its state: \(error.message)"
                )
            }
        }
        self.state.withLock { $0 = next }
        self.live.state.withLock { $0.hasApplied = true }
        let failed = results.filter { $0.state == .failed }
        if !failed.isEmpty {
            self.logger.warning(
                "resources rejected",
                metadata: [
                    "relay.revision": "\(update.revision)",
                    "agent.rejected": "\(failed.map { "\($0.key): \($0.message)" })",
                ]
            )
        }
        self.logger.info(
            "update applied",
            metadata: [
                "relay.revision": "\(update.revision)", "agent.applied": "\(results.count - failed.count)",
                "agent.failed": "\(failed.count)", "agent.removed": "\(update.removals.count)",
            ]
        )
        if let metrics {
            let elapsed = ContinuousClock.now - started
            metrics.applySeconds.recordNanoseconds(elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000)
            metrics.appliedRevision.record(next.appliedRevision)
            metrics.resources.record(next.resources.count)
            if !failed.isEmpty { metrics.nacks.increment(by: failed.count) }
            if self.dataPlane != nil && (failed.count < results.count || results.isEmpty) {
                // The data plane confirmed this revision (all or part of it).
                metrics.confirmedRevision.record(next.appliedRevision)
            }
        }
        self.onApplied?(next)
        return results
    }

    /// Hands the proposed state to the data plane and folds its verdict into the results: a
    /// rejected configuration fails every upsert with the data plane's message (removals still
    /// apply), a resource the data plane could not use fails, a warning is reported as such. When
    /// anything failed, the data plane gets the state the agent will really hold (failed upserts
    /// at their previous versions), so what runs is what HELLO will announce.
    private func takeEffect(
        _ update: Update,
        results: [ResourceResult],
        current: AgentState,
        proposed: AgentState,
        dataPlane: any DataPlane
    ) async -> (AgentState, [ResourceResult]) {
        var results = results
        switch await dataPlane.apply(Array(proposed.resources.values), revision: update.revision) {
        case .accepted(let outcomes):
            var anyFailed = false
            for index in results.indices where results[index].state == .applied {
                switch outcomes[results[index].key] {
                case .warning(let message)?:
                    results[index].state = .warning
                    results[index].message = message
                case .failed(let message)?:
                    results[index].state = .failed
                    results[index].message = message
                    anyFailed = true
                case nil:
                    break
                }
            }
            guard anyFailed else { return (proposed, results) }
        case .rejected(let message):
            self.logger.warning(
                "the data plane rejected the configuration; the previous versions stay",
                metadata: ["relay.revision": "\(update.revision)", "agent.error": "\(message)"]
            )
            for index in results.indices where results[index].state != .failed {
                results[index].state = .failed
                results[index].message = "the data plane rejected the configuration of revision \(update.revision): \(message)"
            }
        }
        var held = current
        held.apply(update, results: results)
        if case .rejected(let message) = await dataPlane.apply(Array(held.resources.values), revision: update.revision) {
            self.logger.error(
                "the data plane also rejected the configuration without the failed resources; it keeps what it ran before",
                metadata: ["relay.revision": "\(update.revision)", "agent.error": "\(message)"]
            )
        }
        return (held, results)
    }

    /// Whether the agent can use a resource: its kind is known and its spec decodes.
    static func check(_ resource: RelayResource) -> ResourceResult {
        guard let kind = ResourceKind(rawValue: resource.key.kind) else {
            return ResourceResult(
                key: resource.key,
                version: resource.version,
                state: .failed,
                message: "unknown kind \(resource.key.kind); known: "
                    + ResourceKind.allCases.map(\.rawValue).joined(separator: ", ")
            )
        }
        do {
            _ = try ResourceSpec.decode(kind: kind, json: Data(resource.specJSON))
            return ResourceResult(key: resource.key, version: resource.version, state: .applied)
        } catch {
            return ResourceResult(
                key: resource.key,
                version: resource.version,
                state: .failed,
                message: "the spec cannot be decoded: \(Self.describe(error))"
            )
        }
    }

    private static func describe(_ error: any Error) -> String {
        guard let error = error as? DecodingError else {
            return "\(error)"
        }
        func path(_ context: DecodingError.Context) -> String {
            let path = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
            return path.isEmpty ? "" : " at \(path)"
        }
        switch error {
        case .typeMismatch(let type, let context):
            return "expected \(type)\(path(context)): \(context.debugDescription)"
        case .valueNotFound(let type, let context):
            return "missing \(type) value\(path(context)): \(context.debugDescription)"
        case .keyNotFound(let key, let context):
            return "missing key \(key.stringValue)\(path(context))"
        case .dataCorrupted(let context):
            return "invalid data\(path(context)): \(context.debugDescription)"
        @unknown default:
            return "\(error)"
        }
    }
}

/// Breaks the reference cycle between the agent and its session's apply closure.
private final class ApplyBox: @unchecked Sendable {
    // Written once in `RelayAgent.init` before the session can call it.
    weak var agent: RelayAgent?
}

/// What `/readyz` and `/healthz` read while the agent runs.
final class AgentLiveState: Sendable {
    struct State {
        var connected = false
        var health: DataPlaneHealth?
        var hasApplied = false
    }

    let state = Mutex(State())
}
