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
    /// The distinct views, by group number.
    let groups: [ClusterView]
    /// The namespaces whose receiving clusters were computed (those that held resources).
    let placedNamespaces: Set<String>

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
        var groups: [ClusterView] = []
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
            viewGroup[cluster] = groups.count
            shared[namespaces] = (view, groups.count)
            groups.append(view)
            byCluster[cluster] = view
        }
        self.byCluster = byCluster
        self.viewGroup = viewGroup
        self.groups = groups
        self.placedNamespaces = Set(targetsByNamespace.keys)
    }

    private init(revision: Int64, byCluster: [String: ClusterView], viewGroup: [String: Int], groups: [ClusterView], placedNamespaces: Set<String>) {
        self.revision = revision
        self.byCluster = byCluster
        self.viewGroup = viewGroup
        self.groups = groups
        self.placedNamespaces = placedNamespaces
    }

    /// The views after `changes` (which must start at this revision), reusing which clusters
    /// receive which namespaces; `nil` when a change can move resources between clusters — a
    /// Workspace or KubernetesCluster changed, or a resource is in a namespace no cluster was
    /// placed for — and the views must be computed from a full listing.
    ///
    /// Under a stream of writes the views were computed from a listing of every resource per
    /// revision (a tenth of the server's CPU at 200 writes/s); this touches what changed.
    public func applying(_ changes: ChangeSet) -> ClusterViews? {
        guard changes.since == revision, changes.revision >= revision else { return nil }
        var upserts: [String: [RelayResource]] = [:]
        for stored in changes.upserts {
            guard stored.key.kind.isDistributed, placedNamespaces.contains(stored.key.namespace) else { return nil }
            upserts[stored.key.namespace, default: []].append(Self.relayResource(stored))
        }
        var removals: [String: [RelayResourceKey]] = [:]
        for tombstone in changes.tombstones {
            guard tombstone.key.kind.isDistributed else { return nil }
            removals[tombstone.key.namespace, default: []].append(
                RelayResourceKey(kind: tombstone.key.kind.rawValue, namespace: tombstone.key.namespace, name: tombstone.key.name)
            )
        }
        let groups = self.groups.map { group -> ClusterView in
            var view = group
            view.revision = changes.revision
            for namespace in group.membership ?? [] {
                for resource in upserts[namespace] ?? [] { view.resources[resource.key] = resource }
                for key in removals[namespace] ?? [] { view.resources[key] = nil }
            }
            return view
        }
        let byCluster = viewGroup.mapValues { groups[$0] }
        return ClusterViews(revision: changes.revision, byCluster: byCluster, viewGroup: viewGroup, groups: groups, placedNamespaces: placedNamespaces)
    }

    /// The view of one cluster; a registered cluster that receives nothing gets an empty view.
    public func view(for cluster: String) -> ClusterView? {
        byCluster[cluster]
    }

    /// What a session of `cluster` is handed: its view, or an empty one at this revision (a
    /// cluster removed since the session looked it up holds nothing now).
    func sessionView(for cluster: String) -> ClusterView {
        byCluster[cluster] ?? ClusterView(revision: revision, resources: [:])
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
