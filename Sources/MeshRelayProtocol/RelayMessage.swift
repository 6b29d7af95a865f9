/// The relay protocol's messages as the session state machines see them: plain values,
/// independent of the wire encoding (protobuf payloads inside length-prefixed frames, see
/// docs/protocol.md and ``RelayMessageCoding``).
public enum RelayMessage: Sendable, Hashable {
    /// Agent → server, first frame: who I am (claimed, checked against the certificate), what I
    /// speak, what I hold.
    case hello(Hello)
    /// Server → agent: accepted; the session starts.
    case welcome(Welcome)
    /// Server → agent: not accepted; the server closes after sending it.
    case refuse(Refuse)
    /// Server → agent: resources to upsert and remove (a full snapshot or a delta).
    case update(Update)
    /// Agent → server: per-resource outcome of one update.
    case ack(Ack)
    /// Both ways, every heartbeat interval.
    case heartbeat(Heartbeat)
    /// Server → agent: this server is shutting down; reconnect elsewhere now.
    case drain(Drain)
    /// Both ways: orderly close with a reason.
    case goodbye(Goodbye)

    /// The frame type byte of this message (docs/protocol.md, "Message types").
    public var frameType: FrameType {
        switch self {
        case .hello: .hello
        case .welcome: .welcome
        case .refuse: .refuse
        case .update: .update
        case .ack: .ack
        case .heartbeat: .heartbeat
        case .drain: .drain
        case .goodbye: .goodbye
        }
    }
}

/// Frame type codes. Values are part of the wire format: never reuse one.
public struct FrameType: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let hello = FrameType(rawValue: 1)
    public static let welcome = FrameType(rawValue: 2)
    public static let refuse = FrameType(rawValue: 3)
    public static let update = FrameType(rawValue: 4)
    public static let ack = FrameType(rawValue: 5)
    public static let heartbeat = FrameType(rawValue: 6)
    public static let drain = FrameType(rawValue: 7)
    public static let goodbye = FrameType(rawValue: 8)

    public var description: String {
        switch self {
        case .hello: "HELLO"
        case .welcome: "WELCOME"
        case .refuse: "REFUSE"
        case .update: "UPDATE"
        case .ack: "ACK"
        case .heartbeat: "HEARTBEAT"
        case .drain: "DRAIN"
        case .goodbye: "GOODBYE"
        default: "TYPE(\(rawValue))"
        }
    }
}

/// The identity of a distributed resource: kind (e.g. `ExternalService`), namespace, name.
public struct RelayResourceKey: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var kind: String
    public var namespace: String
    public var name: String

    public init(kind: String, namespace: String, name: String) {
        self.kind = kind
        self.namespace = namespace
        self.name = name
    }

    public static func < (lhs: Self, rhs: Self) -> Bool {
        (lhs.kind, lhs.namespace, lhs.name) < (rhs.kind, rhs.namespace, rhs.name)
    }

    public var description: String { "\(kind) \(namespace)/\(name)" }
}

/// A resource an agent holds, at a version (the store's `resourceVersion`). An agent holds only
/// versions it accepted; `warning` is the warning it reported when it applied this version (empty:
/// applied cleanly), so a server that never recorded that ACK can still record the true outcome.
public struct HeldResource: Sendable, Hashable {
    public var key: RelayResourceKey
    public var version: Int64
    public var warning: String

    public init(key: RelayResourceKey, version: Int64, warning: String = "") {
        self.key = key
        self.version = version
        self.warning = warning
    }

    /// The outcome this held version stands for: applied, or warning with its message.
    public var result: ResourceResult {
        ResourceResult(key: key, version: version, state: warning.isEmpty ? .applied : .warning, message: warning)
    }
}

public struct Hello: Sendable, Hashable {
    /// Protocol versions the agent speaks, e.g. `[1]`.
    public var protocolVersions: [UInt32]
    /// The cluster the agent believes it serves. The server takes identity from the client
    /// certificate and refuses a hello that names another cluster.
    public var cluster: String
    public var agentVersion: String
    /// The highest revision the agent applied (0 when it holds nothing).
    public var appliedRevision: Int64
    /// Every resource the agent holds with its version: the server sends exactly the difference.
    public var held: [HeldResource]
    /// `REGISTRY_ONLY` or `ALLOW_ANY`.
    public var outboundPolicy: String
    /// The data plane's health when the session starts; nil = not reported.
    public var dataPlane: DataPlaneHealth?

    public init(
        protocolVersions: [UInt32], cluster: String, agentVersion: String, appliedRevision: Int64, held: [HeldResource], outboundPolicy: String,
        dataPlane: DataPlaneHealth? = nil
    ) {
        self.protocolVersions = protocolVersions
        self.cluster = cluster
        self.agentVersion = agentVersion
        self.appliedRevision = appliedRevision
        self.held = held
        self.outboundPolicy = outboundPolicy
        self.dataPlane = dataPlane
    }
}

/// An agent's data plane as the agent sees it: reported in HELLO and in HEARTBEATs, shown by
/// `meshrelay status` and checked by `meshrelay check`.
public struct DataPlaneHealth: Sendable, Hashable, Codable {
    /// `HEALTHY`, `UNHEALTHY` or `NONE` (no data plane: the agent keeps the state file only).
    /// Kept as text: a newer agent may report a state this server does not know, shown as is.
    public var state: String
    /// Why, when unhealthy; what runs, when healthy.
    public var message: String

    public init(state: String, message: String = "") {
        self.state = state
        self.message = message
    }

    public static let healthyState = "HEALTHY"
    public static let unhealthyState = "UNHEALTHY"
    public static let noneState = "NONE"

    public static func healthy(_ message: String = "") -> DataPlaneHealth { DataPlaneHealth(state: healthyState, message: message) }
    public static func unhealthy(_ message: String) -> DataPlaneHealth { DataPlaneHealth(state: unhealthyState, message: message) }
    public static let none = DataPlaneHealth(state: noneState, message: "no data plane: the agent keeps its state file only")

    public var isHealthy: Bool { state != Self.unhealthyState }
}

public struct Welcome: Sendable, Hashable {
    /// The version both sides will speak.
    public var protocolVersion: UInt32
    public var serverVersion: String
    /// Identifies the server replica (for logs and status).
    public var serverID: String
    /// The cluster identity the server took from the certificate.
    public var cluster: String
    /// Both sides send a heartbeat this often; a peer silent for 3 intervals is dead.
    public var heartbeatIntervalMilliseconds: UInt32
    /// The server's revision when it accepted the session.
    public var revision: Int64

    public init(protocolVersion: UInt32, serverVersion: String, serverID: String, cluster: String, heartbeatIntervalMilliseconds: UInt32, revision: Int64) {
        self.protocolVersion = protocolVersion
        self.serverVersion = serverVersion
        self.serverID = serverID
        self.cluster = cluster
        self.heartbeatIntervalMilliseconds = heartbeatIntervalMilliseconds
        self.revision = revision
    }
}

/// Why a session is refused or closed. Values are part of the wire format.
public struct RelayErrorCode: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// No protocol version in common.
    public static let unsupportedVersion = RelayErrorCode(rawValue: 1)
    /// The certificate's cluster has no KubernetesCluster registration.
    public static let unknownCluster = RelayErrorCode(rawValue: 2)
    /// The hello names another cluster than the certificate.
    public static let identityMismatch = RelayErrorCode(rawValue: 3)
    /// A frame that the state does not allow (e.g. an UPDATE sent by an agent).
    public static let protocolViolation = RelayErrorCode(rawValue: 4)
    /// The server is draining: reconnect elsewhere.
    public static let draining = RelayErrorCode(rawValue: 5)
    /// Nothing heard for 3 heartbeat intervals.
    public static let heartbeatTimeout = RelayErrorCode(rawValue: 6)
    /// No hello within the handshake deadline.
    public static let handshakeTimeout = RelayErrorCode(rawValue: 7)
    /// A frame failed to decode or exceeded the size limit.
    public static let malformedFrame = RelayErrorCode(rawValue: 8)
    /// An orderly close (shutdown, restart).
    public static let normal = RelayErrorCode(rawValue: 9)
    /// The server failed internally (e.g. its store); retry later.
    public static let internalError = RelayErrorCode(rawValue: 10)
    /// A frame type the receiver does not know, without the ignorable flag.
    public static let unsupportedMessage = RelayErrorCode(rawValue: 11)

    public var description: String {
        switch self {
        case .unsupportedVersion: "unsupportedVersion"
        case .unknownCluster: "unknownCluster"
        case .identityMismatch: "identityMismatch"
        case .protocolViolation: "protocolViolation"
        case .draining: "draining"
        case .heartbeatTimeout: "heartbeatTimeout"
        case .handshakeTimeout: "handshakeTimeout"
        case .malformedFrame: "malformedFrame"
        case .normal: "normal"
        case .internalError: "internalError"
        case .unsupportedMessage: "unsupportedMessage"
        default: "code(\(rawValue))"
        }
    }
}

public struct Refuse: Sendable, Hashable {
    public var code: RelayErrorCode
    /// What is wrong and what to do, for the agent's log.
    public var message: String
    /// Do not reconnect to this server before this delay (0: use your backoff).
    public var retryAfterMilliseconds: UInt32

    public init(code: RelayErrorCode, message: String, retryAfterMilliseconds: UInt32 = 0) {
        self.code = code
        self.message = message
        self.retryAfterMilliseconds = retryAfterMilliseconds
    }
}

/// One resource in an update: its identity, version, generation and the spec as canonical JSON.
public struct RelayResource: Sendable, Hashable {
    public var key: RelayResourceKey
    /// The store's `resourceVersion` of this content.
    public var version: Int64
    public var generation: Int64
    /// `metadata.labels` (ExternalEndpoints are selected by them).
    public var labels: [String: String]
    /// The spec's canonical JSON (UTF-8), as the store keeps it.
    public var specJSON: [UInt8]
    /// `metadata.creationTimestamp` (RFC 3339, UTC), empty when unknown. Two ExternalServices
    /// claiming the same host and port are resolved by it (the older wins), identically in every
    /// cluster.
    public var creationTimestamp: String

    public init(
        key: RelayResourceKey, version: Int64, generation: Int64, labels: [String: String], specJSON: [UInt8],
        creationTimestamp: String = ""
    ) {
        self.key = key
        self.version = version
        self.generation = generation
        self.labels = labels
        self.specJSON = specJSON
        self.creationTimestamp = creationTimestamp
    }
}

public struct Update: Sendable, Hashable {
    /// The store revision this update brings the agent to; the ACK names it.
    public var revision: Int64
    /// `true`: the agent's set becomes exactly `upserts` (first sync without held versions);
    /// `false`: a delta applied on top of what the agent holds.
    public var isSnapshot: Bool
    public var upserts: [RelayResource]
    /// Explicit removals. A disconnect never removes anything.
    public var removals: [RelayResourceKey]

    public init(revision: Int64, isSnapshot: Bool, upserts: [RelayResource], removals: [RelayResourceKey]) {
        self.revision = revision
        self.isSnapshot = isSnapshot
        self.upserts = upserts
        self.removals = removals
    }
}

/// The outcome of one resource of an update on the agent.
public struct ResourceResult: Sendable, Hashable {
    public enum State: UInt32, Sendable, Hashable {
        /// Applied (and, with a data plane, confirmed by it).
        case applied = 1
        /// Rejected: the previous version (if any) stays applied; `message` says why.
        case failed = 2
        /// Applied with a warning in `message`.
        case warning = 3
    }

    public var key: RelayResourceKey
    public var version: Int64
    public var state: State
    public var message: String

    public init(key: RelayResourceKey, version: Int64, state: State, message: String = "") {
        self.key = key
        self.version = version
        self.state = state
        self.message = message
    }
}

public struct Ack: Sendable, Hashable {
    /// The revision of the update acknowledged.
    public var revision: Int64
    /// One result per upserted resource of that update (removals need none).
    public var results: [ResourceResult]

    public init(revision: Int64, results: [ResourceResult]) {
        self.revision = revision
        self.results = results
    }
}

public struct Heartbeat: Sendable, Hashable {
    public var sequence: UInt64
    /// Agent → server: the data plane's health (nil = not reported); the server ignores it from
    /// nobody else and never sends it.
    public var dataPlane: DataPlaneHealth?

    public init(sequence: UInt64, dataPlane: DataPlaneHealth? = nil) {
        self.sequence = sequence
        self.dataPlane = dataPlane
    }
}

public struct Drain: Sendable, Hashable {
    public var message: String
    /// The server closes the connection after this delay.
    public var closeAfterMilliseconds: UInt32

    public init(message: String, closeAfterMilliseconds: UInt32) {
        self.message = message
        self.closeAfterMilliseconds = closeAfterMilliseconds
    }
}

public struct Goodbye: Sendable, Hashable {
    public var code: RelayErrorCode
    public var message: String

    public init(code: RelayErrorCode, message: String) {
        self.code = code
        self.message = message
    }
}
