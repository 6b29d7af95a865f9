public import MeshRelayProtocol

/// Where an agent's state takes effect (an Envoy egress gateway, Istio manifests). The agent hands
/// it the whole set it would hold after an update; the data plane makes it effective, confirms it,
/// and says per resource how it went. It runs off the event loop and may take its time (bounded).
public protocol DataPlane: Sendable {
    /// Makes `resources` (everything the agent would hold at `revision`) effective.
    ///
    /// - Returns: `.accepted` with an outcome per resource it knows of (absent: applied), or
    ///   `.rejected` with the data plane's own message when it refused the whole configuration;
    ///   a rejecting data plane keeps (or restores) its previous configuration.
    func apply(_ resources: [RelayResource], revision: Int64) async -> DataPlaneOutcome

    /// Makes the agent's last durable state effective at start, before any server is reached
    /// (static stability: a restarted agent routes as before while the server is down).
    func restore(_ resources: [RelayResource], revision: Int64) async

    /// Runs what the data plane needs while the agent runs (e.g. a supervised Envoy process);
    /// returns when `stop()` was called.
    func run() async

    /// Asks ``run()`` to stop and clean up.
    func stop()

    /// Whether the data plane works now (the agent reports it to the server: `status`, `check`).
    /// Bounded in time (a few seconds at most).
    func health() async -> DataPlaneHealth
}

/// How a data plane took a configuration.
public enum DataPlaneOutcome: Sendable, Hashable {
    /// Effective (confirmed); per-resource outcomes: warning (with its message) or failed (the
    /// resource is left out). Resources not listed were applied cleanly.
    case accepted([RelayResourceKey: DataPlaneResourceOutcome])
    /// The data plane refused the configuration as a whole (e.g. Envoy rejected a file): nothing
    /// changed; the message is the data plane's own.
    case rejected(String)
}

/// A per-resource outcome that is not a clean apply.
public enum DataPlaneResourceOutcome: Sendable, Hashable {
    case warning(String)
    case failed(String)
}
