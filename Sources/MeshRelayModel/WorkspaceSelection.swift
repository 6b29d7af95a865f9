/// Which workload clusters receive a resource, from the Workspaces that claim its namespace.
public enum WorkspaceSelection {
    /// The clusters that should receive resources of `namespace`.
    ///
    /// With no Workspace at all, every registered cluster receives everything (Gloo's "simple
    /// workspace setup"). Otherwise a Workspace claims the namespace when any of its cluster entries
    /// lists a namespace entry equal to it or `*` (the cluster entry's own name does not matter:
    /// the management cluster's `global` namespace counts too); the resource goes to every
    /// cluster those Workspaces list, `*` meaning every registered cluster. A cluster entry without
    /// `namespaces` lists no namespace. Clusters that are not registered are left out.
    /// - Parameters:
    ///   - namespace: The resource's namespace.
    ///   - workspaces: Every Workspace's spec.
    ///   - registeredClusters: The names of the registered clusters (KubernetesClusters).
    /// - Returns: Cluster names, sorted and unique.
    public static func targetClusters(
        namespace: String, workspaces: [WorkspaceSpec], registeredClusters: [String]
    ) -> [String] {
        let registered = Set(registeredClusters)
        guard !workspaces.isEmpty else { return registered.sorted() }
        var selected: Set<String> = []
        for workspace in workspaces {
            let clusters = workspace.workloadClusters ?? []
            let claims = clusters.contains { cluster in
                (cluster.namespaces ?? []).contains { $0.name == namespace || $0.name == "*" }
            }
            guard claims else { continue }
            for cluster in clusters {
                if cluster.name == "*" {
                    selected.formUnion(registered)
                } else if registered.contains(cluster.name) {
                    selected.insert(cluster.name)
                }
            }
        }
        return selected.sorted()
    }
}
