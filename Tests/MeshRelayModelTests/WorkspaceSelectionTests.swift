import Testing

@testable import MeshRelayModel

@Suite struct WorkspaceSelectionTests {
    private static let registered = ["cluster-2", "cluster-1", "mgmt"]

    private static func workspace(_ clusters: [(String, [String]?)]) -> WorkspaceSpec {
        WorkspaceSpec(
            workloadClusters: clusters.map { name, namespaces in
                WorkspaceCluster(name: name, namespaces: namespaces?.map(WorkspaceNamespace.init(name:)))
            }
        )
    }

    @Test func withoutWorkspacesEveryRegisteredClusterIsSelected() {
        #expect(
            WorkspaceSelection.targetClusters(namespace: "global", workspaces: [], registeredClusters: Self.registered)
                == ["cluster-1", "cluster-2", "mgmt"]
        )
        #expect(WorkspaceSelection.targetClusters(namespace: "global", workspaces: [], registeredClusters: []) == [])
    }

    @Test func theGuidesSimpleWorkspaceSelectsEverything() {
        let simple = Self.workspace([("*", ["*"])])
        #expect(
            WorkspaceSelection.targetClusters(namespace: "bookinfo", workspaces: [simple], registeredClusters: Self.registered)
                == ["cluster-1", "cluster-2", "mgmt"]
        )
    }

    @Test(arguments: [
        // A workspace listing `global` on the management cluster sends it to the workload clusters it lists.
        ("global", [[("mgmt", ["global"] as [String]?), ("cluster-1", ["bookinfo"])]], ["cluster-1", "mgmt"]),
        ("bookinfo", [[("mgmt", ["global"]), ("cluster-1", ["bookinfo"])]], ["cluster-1", "mgmt"]),
        ("other", [[("mgmt", ["global"]), ("cluster-1", ["bookinfo"])]], []),
        // `*` as a cluster expands to the registered clusters.
        ("global", [[("mgmt", ["global"]), ("*", ["apps"])]], ["cluster-1", "cluster-2", "mgmt"]),
        // `*` as a namespace claims every namespace.
        ("anything", [[("cluster-2", ["*"])]], ["cluster-2"]),
        // Unregistered clusters are left out.
        ("global", [[("cluster-9", ["global"]), ("cluster-1", nil)]], ["cluster-1"]),
        // A cluster entry without namespaces claims none.
        ("global", [[("cluster-1", nil)]], []),
        // The union over every workspace that claims the namespace.
        ("global", [[("cluster-1", ["global"])], [("cluster-2", ["global"])], [("mgmt", ["other"])]], ["cluster-1", "cluster-2"]),
    ] as [(String, [[(String, [String]?)]], [String])])
    func selection(namespace: String, workspaces: [[(String, [String]?)]], expected: [String]) {
        #expect(
            WorkspaceSelection.targetClusters(
                namespace: namespace, workspaces: workspaces.map(Self.workspace), registeredClusters: Self.registered
            ) == expected
        )
    }
}
