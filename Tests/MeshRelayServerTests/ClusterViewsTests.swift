import Foundation
import MeshRelayModel
import MeshRelayServer
import MeshRelayStore
import MeshRelayTesting
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

    /// Views updated by a change set hold, for every cluster, exactly what views computed from a
    /// full listing hold; a change to a Workspace or cluster, or a resource in a namespace never
    /// placed, asks for the full computation.
    @Test func viewsUpdatedByChangesEqualViewsComputedFromEverything() throws {
        var random = SeededGenerator(seed: 21)
        let clusters = try ["c1", "c2", "c3"].map { try Self.stored(Self.cluster($0), version: 1) }
        let workspace = try Self.stored(
            Resource(
                metadata: ObjectMeta(name: "ws", namespace: "gloo-mesh"),
                spec: .workspace(WorkspaceSpec(workloadClusters: [
                    WorkspaceCluster(name: "c1", namespaces: [WorkspaceNamespace(name: "global"), WorkspaceNamespace(name: "team")]),
                    WorkspaceCluster(name: "c2", namespaces: [WorkspaceNamespace(name: "global")]),
                    WorkspaceCluster(name: "c3", namespaces: [WorkspaceNamespace(name: "team")]),
                ]))
            ),
            version: 1
        )
        let namespaces = ["global", "team"]
        var updated = 0
        for _ in 0..<100 {
            var revision: Int64 = 2
            var live: [ResourceKey: StoredResource] = [:]
            for index in 0..<Int.random(in: 1...8, using: &random) {
                let stored = try Self.stored(Self.service("s\(index)", namespace: namespaces[index % 2]), version: revision)
                live[stored.key] = stored
            }
            var views = ClusterViews(revision: revision, resources: clusters + [workspace] + Array(live.values))
            for _ in 0..<10 {
                let since = revision
                revision += 1
                var upserts: [StoredResource] = []
                var tombstones: [Tombstone] = []
                for _ in 0..<Int.random(in: 1...3, using: &random) {
                    let name = "s\(Int.random(in: 0..<10, using: &random))"
                    let namespace = namespaces[Int.random(in: 0..<2, using: &random)]
                    let key = ResourceKey(kind: .externalService, namespace: namespace, name: name)
                    if Bool.random(using: &random), live[key] != nil {
                        live[key] = nil
                        upserts.removeAll { $0.key == key }
                        tombstones.append(Tombstone(key: key, revision: revision))
                    } else {
                        let stored = try Self.stored(Self.service(name, namespace: namespace), version: revision)
                        live[key] = stored
                        tombstones.removeAll { $0.key == key }
                        upserts.removeAll { $0.key == key }
                        upserts.append(stored)
                    }
                }
                let full = ClusterViews(revision: revision, resources: clusters + [workspace] + Array(live.values))
                let changes = ChangeSet(since: since, revision: revision, upserts: upserts, tombstones: tombstones)
                guard let next = views.applying(changes) else {
                    views = full
                    continue
                }
                updated += 1
                for cluster in ["c1", "c2", "c3"] {
                    #expect(next.view(for: cluster)?.resources == full.view(for: cluster)?.resources, "\(cluster) at \(revision)")
                    #expect(next.view(for: cluster)?.revision == revision)
                }
                views = next
            }
        }
        #expect(updated > 500)

        // What moves resources between clusters is never applied incrementally.
        let base = ClusterViews(revision: 2, resources: clusters + [workspace] + [try Self.stored(Self.service("a", namespace: "global"), version: 2)])
        let newCluster = try Self.stored(Self.cluster("c4"), version: 3)
        #expect(base.applying(ChangeSet(since: 2, revision: 3, upserts: [newCluster], tombstones: [])) == nil)
        #expect(base.applying(ChangeSet(since: 2, revision: 3, upserts: [], tombstones: [Tombstone(key: workspace.key, revision: 3)])) == nil)
        let elsewhere = try Self.stored(Self.service("b", namespace: "other"), version: 3)
        #expect(base.applying(ChangeSet(since: 2, revision: 3, upserts: [elsewhere], tombstones: [])) == nil)
        #expect(base.applying(ChangeSet(since: 1, revision: 3, upserts: [], tombstones: [])) == nil)
    }

    @Test func aRelayResourceCarriesTheCreationTimestampTheAPIShows() throws {
        let stored = try Self.stored(Self.service("api", namespace: "global"), version: 3)
        let relayed = ClusterViews.relayResource(stored)
        #expect(relayed.creationTimestamp == RFC3339.string(from: stored.createdAt))
        #expect(relayed.version == 3)
    }
}
