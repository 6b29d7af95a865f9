import MeshRelayModel
public import MeshRelayProtocol
public import MeshRelayStore

/// Desired state per cluster: which ExternalServices and ExternalEndpoints each registered
/// cluster receives, computed once per revision and shared between clusters that see the same
/// namespaces (with no Workspace, every cluster shares one view).
public struct ClusterViews: Sendable {
    /// The store revision the views were computed at.
    public let revision: Int64
    /// The view of every registered cluster.
    public let byCluster: [String: ClusterView]
    /// Which distinct view each cluster has: clusters with the same number share one view (and so
    /// one encoded snapshot).
    public let viewGroup: [String: Int]

    /// - Parameters:
    ///   - revision: The store revision of `resources`.
    ///   - resources: Every stored resource at that revision.
    public init(revision: Int64, resources: [StoredResource]) {
        self.revision = revision
        var registered: [String] = []
        var workspaces: [WorkspaceSpec] = []
        var distributed: [StoredResource] = []
        for stored in resources {
            switch stored.resource.spec {
            case .kubernetesCluster: registered.append(stored.key.name)
            case .workspace(let spec): workspaces.append(spec)
            case .externalService, .externalEndpoint: distributed.append(stored)
            }
        }
        registered = Array(Set(registered)).sorted()

        // Namespaces each cluster receives; clusters with the same set share one view.
        var namespacesByCluster: [String: Set<String>] = Dictionary(uniqueKeysWithValues: registered.map { ($0, []) })
        var targetsByNamespace: [String: [String]] = [:]
        for stored in distributed where targetsByNamespace[stored.key.namespace] == nil {
            let namespace = stored.key.namespace
            let targets = WorkspaceSelection.targetClusters(namespace: namespace, workspaces: workspaces, registeredClusters: registered)
            targetsByNamespace[namespace] = targets
            for cluster in targets { namespacesByCluster[cluster, default: []].insert(namespace) }
        }
        var byNamespace: [String: [RelayResourceKey: RelayResource]] = [:]
        for stored in distributed {
            let relay = Self.relayResource(stored)
            byNamespace[stored.key.namespace, default: [:]][relay.key] = relay
        }
        var shared: [Set<String>: (view: ClusterView, group: Int)] = [:]
        var byCluster: [String: ClusterView] = [:]
        var viewGroup: [String: Int] = [:]
        for (cluster, namespaces) in namespacesByCluster {
            if let existing = shared[namespaces] {
                byCluster[cluster] = existing.view
                viewGroup[cluster] = existing.group
                continue
            }
            var merged: [RelayResourceKey: RelayResource] = [:]
            for namespace in namespaces {
                merged.merge(byNamespace[namespace] ?? [:]) { _, new in new }
            }
            let view = ClusterView(revision: revision, resources: merged, membership: namespaces.sorted())
            viewGroup[cluster] = shared.count
            shared[namespaces] = (view, shared.count)
            byCluster[cluster] = view
        }
        self.byCluster = byCluster
        self.viewGroup = viewGroup
    }

    /// The view of one cluster; a registered cluster that receives nothing gets an empty view.
    public func view(for cluster: String) -> ClusterView? {
        byCluster[cluster]
    }

    /// A stored resource as the relay sends it.
    public static func relayResource(_ stored: StoredResource) -> RelayResource {
        RelayResource(
            key: RelayResourceKey(kind: stored.key.kind.rawValue, namespace: stored.key.namespace, name: stored.key.name),
            version: stored.resourceVersion, generation: stored.generation, labels: stored.resource.metadata.labels ?? [:],
            specJSON: Array(stored.specJSON.utf8), creationTimestamp: RFC3339.string(from: stored.createdAt)
        )
    }
}
