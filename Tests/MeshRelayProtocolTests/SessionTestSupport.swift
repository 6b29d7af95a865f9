import MeshRelayTesting
import MeshRelayProtocol

/// Fixtures shared by the session state machine tests: a fixed time origin, resources, views,
/// hellos and machines brought to a given phase.
enum SessionFixtures {
    /// The fixed origin every test time is an offset of (read once; the machines never read a clock).
    static let origin = ContinuousClock.now

    static func at(_ offset: Duration) -> ContinuousClock.Instant {
        origin + offset
    }

    static let cluster = "cluster-1"
    static let interval: Duration = .seconds(10)

    static let serverConfiguration = ServerSessionStateMachine.Configuration(
        supportedVersions: [1],
        serverVersion: "1.0.0-test",
        serverID: "server-a",
        heartbeatInterval: interval,
        handshakeTimeout: .seconds(5),
        drainTimeout: .seconds(3),
        refusalRetryAfter: .seconds(30)
    )

    static let agentConfiguration = AgentSessionStateMachine.Configuration(
        cluster: cluster,
        agentVersion: "0.9.0-test",
        supportedVersions: [1],
        outboundPolicy: "REGISTRY_ONLY",
        helloTimeout: .seconds(7)
    )

    static func key(_ name: String, kind: String = "ExternalService", namespace: String = "default") -> RelayResourceKey {
        RelayResourceKey(kind: kind, namespace: namespace, name: name)
    }

    static func resource(_ name: String, _ version: Int64, kind: String = "ExternalService") -> RelayResource {
        RelayResource(
            key: key(name, kind: kind),
            version: version,
            generation: 1,
            labels: ["app": name],
            specJSON: Array("{\"hosts\":[\"\(name).example.com\"]}".utf8)
        )
    }

    static func view(_ revision: Int64, _ resources: RelayResource...) -> ClusterView {
        ClusterView(revision: revision, resources: resources)
    }

    static func held(_ pairs: KeyValuePairs<String, Int64>) -> [HeldResource] {
        pairs.map { HeldResource(key: key($0.key), version: $0.value) }
    }

    static func versions(_ pairs: KeyValuePairs<String, Int64>) -> [RelayResourceKey: Int64] {
        var versions: [RelayResourceKey: Int64] = [:]
        for (name, version) in pairs {
            versions[key(name)] = version
        }
        return versions
    }

    static func hello(
        cluster: String = cluster,
        protocolVersions: [UInt32] = [1],
        appliedRevision: Int64 = 0,
        held: [HeldResource] = []
    ) -> Hello {
        Hello(
            protocolVersions: protocolVersions,
            cluster: cluster,
            agentVersion: "0.9.0-test",
            appliedRevision: appliedRevision,
            held: held,
            outboundPolicy: "REGISTRY_ONLY"
        )
    }

    static func welcome(revision: Int64, protocolVersion: UInt32 = 1) -> Welcome {
        Welcome(
            protocolVersion: protocolVersion,
            serverVersion: "1.0.0-test",
            serverID: "server-a",
            cluster: cluster,
            heartbeatIntervalMilliseconds: 10_000,
            revision: revision
        )
    }

    static func ack(_ revision: Int64, _ results: ResourceResult...) -> RelayMessage {
        .ack(Ack(revision: revision, results: results))
    }

    static func applied(_ name: String, _ version: Int64) -> ResourceResult {
        ResourceResult(key: key(name), version: version, state: .applied)
    }

    static func failed(_ name: String, _ version: Int64, _ message: String = "rejected") -> ResourceResult {
        ResourceResult(key: key(name), version: version, state: .failed, message: message)
    }

    static func warning(_ name: String, _ version: Int64, _ message: String = "careful") -> ResourceResult {
        ResourceResult(key: key(name), version: version, state: .warning, message: message)
    }

    /// A server session that received `hello` at the origin and whose lookup answered `view`.
    static func server(
        hello: Hello = hello(),
        view: ClusterView,
        configuration: ServerSessionStateMachine.Configuration = serverConfiguration
    ) -> (machine: ServerSessionStateMachine, actions: [ServerSessionStateMachine.Action]) {
        var machine = ServerSessionStateMachine(configuration: configuration, identity: cluster, now: origin)
        _ = machine.messageReceived(.hello(hello), now: origin)
        let actions = machine.clusterLookedUp(.registered(view), now: origin)
        return (machine, actions)
    }

    /// An established agent (WELCOME at the origin).
    static func agent(
        held: [HeldResource] = [],
        appliedRevision: Int64 = 0
    ) -> AgentSessionStateMachine {
        var machine = AgentSessionStateMachine(
            configuration: agentConfiguration,
            held: held,
            appliedRevision: appliedRevision
        )
        _ = machine.connected(now: origin)
        _ = machine.messageReceived(.welcome(welcome(revision: 1)), now: origin)
        return machine
    }
}

/// The close code among server actions, if any.
func closeCode(_ actions: [ServerSessionStateMachine.Action]) -> RelayErrorCode? {
    for case .close(let code, _) in actions {
        return code
    }
    return nil
}

/// The close code among agent actions, if any.
func closeCode(_ actions: [AgentSessionStateMachine.Action]) -> RelayErrorCode? {
    for case .close(let code, _) in actions {
        return code
    }
    return nil
}

/// The messages sent among server actions (a snapshot counts as its UPDATE).
func sentMessages(_ actions: [ServerSessionStateMachine.Action]) -> [RelayMessage] {
    actions.compactMap { action in
        switch action {
        case .send(let message): message
        case .sendSnapshot(let view): .update(view.snapshotUpdate)
        case .lookUpCluster, .established, .recordAck, .recordHeld, .synchronized, .close, .disconnected, .recordDataPlane: nil
        }
    }
}

/// The messages sent among agent actions.
func sentMessages(_ actions: [AgentSessionStateMachine.Action]) -> [RelayMessage] {
    actions.compactMap { action in
        switch action {
        case .send(let message): message
        case .established, .apply, .close, .reconnect: nil
        }
    }
}

/// The frame types of the messages sent, for compact expectations.
func sentTypes(_ actions: [ServerSessionStateMachine.Action]) -> [FrameType] {
    sentMessages(actions).map(\.frameType)
}

/// The frame types of the messages sent, for compact expectations.
func sentTypes(_ actions: [AgentSessionStateMachine.Action]) -> [FrameType] {
    sentMessages(actions).map(\.frameType)
}

/// The backoff tests draw from the shared deterministic generator.
typealias SessionTestRandom = SeededGenerator
