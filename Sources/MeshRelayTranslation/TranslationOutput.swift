public import MeshRelayModel

/// The outcome of one resource in a translation.
public struct ResourceOutcome: Sendable, Hashable, CustomStringConvertible {
    public enum State: String, Sendable, Hashable {
        /// Translated as written.
        case applied = "APPLIED"
        /// Translated, but not entirely as written, or with a risk the user should know about;
        /// ``ResourceOutcome/message`` says what and what to do.
        case warning = "WARNING"
        /// Not translated at all; the rest of the snapshot is.
        case failed = "FAILED"
    }

    public var key: ResourceKey
    public var state: State
    /// Empty when applied; otherwise every warning (or the failure), joined by "; ".
    public var message: String

    public init(key: ResourceKey, state: State, message: String = "") {
        self.key = key
        self.state = state
        self.message = message
    }

    public var description: String {
        message.isEmpty ? "\(key): \(state.rawValue)" : "\(key): \(state.rawValue): \(message)"
    }
}

/// The Envoy dynamic resources of one translation: one DiscoveryResponse-shaped JSON document per
/// file (`{"version_info": …, "resources": […]}`).
public struct EnvoyFiles: Sendable, Hashable {
    public static let clustersFileName = "cds.json"
    public static let routesFileName = "rds.json"
    public static let listenersFileName = "lds.json"

    public var clusters: [UInt8]
    public var routes: [UInt8]
    public var listeners: [UInt8]

    public init(clusters: [UInt8], routes: [UInt8], listeners: [UInt8]) {
        self.clusters = clusters
        self.routes = routes
        self.listeners = listeners
    }

    /// The files in the order they must be replaced (each by writing a temporary file in the same
    /// directory and renaming it onto the name): clusters, then routes, then listeners, so that
    /// nothing Envoy reads names a cluster it does not have yet.
    public var inWriteOrder: [(name: String, contents: [UInt8])] {
        [(Self.clustersFileName, clusters), (Self.routesFileName, routes), (Self.listenersFileName, listeners)]
    }
}

/// Everything one translation produces.
public struct TranslationOutput: Sendable, Hashable {
    /// Stamped as `version_info` in every Envoy file.
    public var versionInfo: String
    public var envoy: EnvoyFiles
    /// Istio manifests by file name (`serviceentry.NAMESPACE.NAME.yaml`, …,
    /// `kustomization.yaml`), for a directory swapped as a whole.
    public var istio: [String: String]
    /// One outcome per ExternalService and ExternalEndpoint of the input (and per undecodable
    /// resource), sorted by key.
    public var outcomes: [ResourceOutcome]

    public init(versionInfo: String, envoy: EnvoyFiles, istio: [String: String], outcomes: [ResourceOutcome]) {
        self.versionInfo = versionInfo
        self.envoy = envoy
        self.istio = istio
        self.outcomes = outcomes
    }

    /// The outcome of one resource.
    public func outcome(for key: ResourceKey) -> ResourceOutcome? {
        outcomes.first { $0.key == key }
    }
}
