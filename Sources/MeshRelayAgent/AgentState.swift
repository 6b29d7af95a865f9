public import MeshRelayProtocol

/// What an agent holds: the resources it applied (with their versions) and the highest revision
/// it applied. It survives disconnects and restarts (``AgentStateFile``): a disconnect never
/// removes anything, and a restarted agent applies it before it reaches a server.
public struct AgentState: Sendable, Hashable {
    public var cluster: String
    public var appliedRevision: Int64
    public var resources: [RelayResourceKey: RelayResource]
    /// The warning reported for a held resource applied with one (absent: applied cleanly).
    public var warnings: [RelayResourceKey: String]

    public init(
        cluster: String,
        appliedRevision: Int64 = 0,
        resources: [RelayResourceKey: RelayResource] = [:],
        warnings: [RelayResourceKey: String] = [:]
    ) {
        self.cluster = cluster
        self.appliedRevision = appliedRevision
        self.resources = resources
        self.warnings = warnings.filter { resources[$0.key] != nil }
    }

    /// The versions (and warnings) to announce in HELLO.
    public var held: [HeldResource] {
        resources.values.map { HeldResource(key: $0.key, version: $0.version, warning: warnings[$0.key] ?? "") }
            .sorted { $0.key < $1.key }
    }

    /// Applies an update's outcome: accepted (applied or warning) upserts replace what was held,
    /// rejected ones leave the previous version in place, removals remove; a snapshot drops
    /// everything it does not name.
    public mutating func apply(_ update: Update, results: [ResourceResult]) {
        let outcome = Dictionary(results.map { ($0.key, $0) }, uniquingKeysWith: { _, last in last })
        if update.isSnapshot {
            let named = Set(update.upserts.map(\.key))
            resources = resources.filter { named.contains($0.key) }
            warnings = warnings.filter { named.contains($0.key) }
        }
        for resource in update.upserts {
            guard let result = outcome[resource.key] else { continue }
            switch result.state {
            case .applied:
                resources[resource.key] = resource
                warnings[resource.key] = nil
            case .warning:
                resources[resource.key] = resource
                warnings[resource.key] = result.message
            case .failed:
                continue
            }
        }
        for key in update.removals {
            resources[key] = nil
            warnings[key] = nil
        }
        appliedRevision = max(appliedRevision, update.revision)
    }
}
