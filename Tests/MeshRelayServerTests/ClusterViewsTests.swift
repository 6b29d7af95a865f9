import Foundation
import MeshRelayModel
import MeshRelayServer
import MeshRelayStore
import Testing

@Suite struct ClusterViewsTests {
    static func stored(_ resource: Resource, version: Int64) throws -> StoredResource {
        StoredResource(
            resource: resource, uid: UUID().uuidString, generation: 1, resourceVersion: version, createdAt: Date(), updatedAt: Date(),
            specJSON: String(decoding: try resource.spec.canonicalJSON(), as: UTF8.self)
        )
    }

    static func cluster(_ name: String) -> Resource {
        Resource(metadata: ObjectMeta(name: name, namespace: "gloo-mesh"), spec: .kubernetesCluster(KubernetesClusterSpec()))
    }

    static func service(_ name: String, namespace: String) -> Resource {
        Resource(
            metadata: ObjectMeta(name: name, namespace: namespace),
            spec: .externalService(ExternalServiceSpec(hosts: ["\(name).example.com"], ports: [ExternalServicePort(number: 443, protocol: .https)]))
        )
    }

    @Test func clustersThatSeeTheSameNamespacesShareOneView() throws {
        let resources = try [
            Self.cluster("c1"), Self.cluster("c2"), Self.cluster("c3"),
            Self.service("a", namespace: "global"), Self.service("b", namespace: "team"),
        ].enumerated().map { try Self.stored($0.element, version: Int64($0.offset + 1)) }
        // No Workspace: every cluster gets everything, through one shared view.
        let views = ClusterViews(revision: 5, resources: resources)
        #expect(Set(views.viewGroup.values).count == 1)
        #expect(views.view(for: "c1")?.resources.count == 2)

        // Two Workspaces: "global" for every cluster, "team" only for c3 (a resource goes to every
        // cluster of every workspace that lists its namespace).
        func workspace(_ name: String, _ namespace: String, _ clusters: [String]) -> Resource {
            Resource(
                metadata: ObjectMeta(name: name, namespace: "gloo-mesh"),
                spec: .workspace(WorkspaceSpec(workloadClusters: clusters.map {
                    WorkspaceCluster(name: $0, namespaces: [WorkspaceNamespace(name: namespace)])
                }))
            )
        }
        let workspaces = try [workspace("ws-global", "global", ["c1", "c2", "c3"]), workspace("ws-team", "team", ["c3"])]
            .map { try Self.stored($0, version: 6) }
        let split = ClusterViews(revision: 6, resources: resources + workspaces)
        #expect(split.viewGroup["c1"] == split.viewGroup["c2"])
        #expect(split.viewGroup["c1"] != split.viewGroup["c3"])
        #expect(split.view(for: "c1")?.resources.count == 1)
        #expect(split.view(for: "c3")?.resources.count == 2)
    }

    @Test func aRelayResourceCarriesTheCreationTimestampTheAPIShows() throws {
        let stored = try Self.stored(Self.service("api", namespace: "global"), version: 3)
        let relayed = ClusterViews.relayResource(stored)
        #expect(relayed.creationTimestamp == RFC3339.string(from: stored.createdAt))
        #expect(relayed.version == 3)
    }
}
