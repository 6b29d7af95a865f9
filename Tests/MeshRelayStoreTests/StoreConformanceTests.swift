/// The store contract (``ResourceStore``), run against both backends: a real SQLite file and a
/// real PostgreSQL server started for the test (MeshRelayTesting.PostgresServer).
import Foundation
import MeshRelayModel
import MeshRelayStore
import Testing

@Suite("Store conformance: revisions and generations")
struct RevisionTests {
    @Test(arguments: StoreBackend.allCases) func newStoreStartsAtRevisionZero(_ backend: StoreBackend) async throws {
        try await withStore(backend) { store in
            #expect(try await store.revision() == 0)
            #expect(try await store.compactedRevision() == 0)
            #expect(try await store.list(kind: nil, namespace: nil).isEmpty)
            let empty = try await store.apply([])
            #expect(empty == ApplyResult(revision: 0, outcomes: []))
            try await store.checkHealth()
        }
    }

    @Test(arguments: StoreBackend.allCases) func revisionIsMonotonicAcrossCloseAndReopen(_ backend: StoreBackend) async throws {
        try await withStoreSite(backend) { site in
            let uid: String
            do {
                let store = try await site.open()
                #expect(try await store.apply([externalService("a")]).revision == 1)
                #expect(try await store.apply([externalService("b")]).revision == 2)
                #expect(try await store.delete([esKey("a")]).revision == 3)
                #expect(try await store.compact(retaining: 0) == 3)
                uid = try #require(try await store.get(esKey("b"))).uid
            }
            // The first store is released: its connections are closed.
            do {
                let store = try await site.open()
                #expect(try await store.revision() == 3)
                #expect(try await store.compactedRevision() == 3)
                #expect(try await store.get(esKey("b"))?.uid == uid)
                // Every table is empty of `a` and the change log is empty: the revision still
                // comes from meta, not from the tables.
                #expect(try await store.apply([externalService("a")]).revision == 4)
                closeStore(store)
            }
            let store = try await site.open()
            #expect(try await store.revision() == 4)
            let changes = try #require(try await store.changes(since: 3).changeSet)
            #expect(changes.upserts.map(\.key) == [esKey("a")])
            #expect(changes.revision == 4)
        }
    }

    @Test(arguments: StoreBackend.allCases) func createSetsServerOwnedFields(_ backend: StoreBackend) async throws {
        let clock = TestClock()
        try await withStore(backend, clock: clock) { store in
            let result = try await store.apply([externalService("a", labels: ["team": "x"])])
            #expect(result.outcomes == [ApplyOutcome(key: esKey("a"), action: .created, generation: 1, resourceVersion: 1)])
            let stored = try #require(try await store.get(esKey("a")))
            #expect(stored.resource == externalService("a", labels: ["team": "x"]))
            #expect(stored.generation == 1)
            #expect(stored.resourceVersion == 1)
            #expect(stored.createdAt == clock.now)
            #expect(stored.updatedAt == clock.now)
            #expect(UUID(uuidString: stored.uid) != nil)
            #expect(stored.uid == stored.uid.lowercased())
            #expect(stored.object.metadata.resourceVersion == "1")
            #expect(stored.object.metadata.generation == 1)
            #expect(try await store.get(esKey("missing")) == nil)
        }
    }

    @Test(arguments: StoreBackend.allCases) func unchangedApplyKeepsGenerationAndRevision(_ backend: StoreBackend) async throws {
        let clock = TestClock()
        try await withStore(backend, clock: clock) { store in
            _ = try await store.apply([externalService("a", labels: ["team": "x"], annotations: ["note": "n"])])
            let before = try #require(try await store.get(esKey("a")))
            clock.advance()

            // Server-owned metadata in the input is ignored, so this is still identical.
            var again = externalService("a", labels: ["team": "x"], annotations: ["note": "n"])
            again.metadata.uid = "not-the-uid"
            again.metadata.generation = 42
            again.metadata.resourceVersion = "999"
            again.metadata.creationTimestamp = "2020-01-01T00:00:00Z"
            let result = try await store.apply([again])
            #expect(result.revision == 1)
            #expect(result.outcomes == [ApplyOutcome(key: esKey("a"), action: .unchanged, generation: 1, resourceVersion: 1)])
            #expect(try await store.revision() == 1)
            #expect(try await store.get(esKey("a")) == before)
            #expect(try await store.changes(since: 1).changeSet?.upserts.isEmpty == true)
        }
    }

    @Test(arguments: StoreBackend.allCases) func specChangeBumpsGeneration(_ backend: StoreBackend) async throws {
        let clock = TestClock()
        try await withStore(backend, clock: clock) { store in
            _ = try await store.apply([externalService("a", hosts: ["a.example.com"])])
            let created = try #require(try await store.get(esKey("a")))
            clock.advance()
            let result = try await store.apply([externalService("a", hosts: ["b.example.com"])])
            #expect(result.revision == 2)
            #expect(result.outcomes == [ApplyOutcome(key: esKey("a"), action: .configured, generation: 2, resourceVersion: 2)])
            let updated = try #require(try await store.get(esKey("a")))
            #expect(updated.generation == 2)
            #expect(updated.resourceVersion == 2)
            #expect(updated.uid == created.uid)
            #expect(updated.createdAt == created.createdAt)
            #expect(updated.updatedAt == clock.now)
            #expect(updated.resource.spec == externalService("a", hosts: ["b.example.com"]).spec)
        }
    }

    @Test(arguments: StoreBackend.allCases) func labelOrAnnotationChangeBumpsRevisionNotGeneration(_ backend: StoreBackend) async throws {
        try await withStore(backend) { store in
            _ = try await store.apply([externalService("a", labels: ["team": "x"])])
            let labels = try await store.apply([externalService("a", labels: ["team": "y"])])
            #expect(labels.outcomes == [ApplyOutcome(key: esKey("a"), action: .configured, generation: 1, resourceVersion: 2)])
            let annotations = try await store.apply([externalService("a", labels: ["team": "y"], annotations: ["k": "v"])])
            #expect(annotations.outcomes == [ApplyOutcome(key: esKey("a"), action: .configured, generation: 1, resourceVersion: 3)])
            let removed = try await store.apply([externalService("a")])
            #expect(removed.outcomes == [ApplyOutcome(key: esKey("a"), action: .configured, generation: 1, resourceVersion: 4)])
            let stored = try #require(try await store.get(esKey("a")))
            #expect(stored.resource.metadata.labels == nil)
            #expect(stored.resource.metadata.annotations == nil)
            #expect(stored.generation == 1)
            #expect(stored.resourceVersion == 4)
        }
    }

    @Test(arguments: StoreBackend.allCases) func mixedBatchBumpsRevisionOnce(_ backend: StoreBackend) async throws {
        try await withStore(backend) { store in
            _ = try await store.apply([externalService("a"), externalService("b")])
            let result = try await store.apply([
                externalService("c"), externalService("a"), externalService("b", hosts: ["other.example.com"]),
            ])
            #expect(result.revision == 2)
            #expect(
                result.outcomes == [
                    ApplyOutcome(key: esKey("c"), action: .created, generation: 1, resourceVersion: 2),
                    ApplyOutcome(key: esKey("a"), action: .unchanged, generation: 1, resourceVersion: 1),
                    ApplyOutcome(key: esKey("b"), action: .configured, generation: 2, resourceVersion: 2),
                ]
            )
            let changes = try #require(try await store.changes(since: 1).changeSet)
            #expect(changes.upserts.map(\.key) == [esKey("b"), esKey("c")])
        }
    }

    @Test(arguments: StoreBackend.allCases) func concurrentWritesGetOneRevisionEach(_ backend: StoreBackend) async throws {
        try await withStore(backend) { store in
            let revisions = try await withThrowingTaskGroup(of: Int64.self) { group in
                for index in 0..<20 {
                    group.addTask {
                        // Applies committed together (SQLite's group commit) each get their own result.
                        let result = try await store.apply([externalService("c\(index)")])
                        guard result.outcomes.map(\.key) == [esKey("c\(index)")], result.outcomes.first?.resourceVersion == result.revision else {
                            throw StoreError(.invalidInput, "apply c\(index) got the result \(result)")
                        }
                        return result.revision
                    }
                }
                for index in 0..<10 {
                    group.addTask {
                        _ = try await store.changes(since: 0)
                        return try await store.apply([externalService("d\(index)", labels: ["i": "\(index)"])]).revision
                    }
                }
                return try await group.reduce(into: [Int64]()) { $0.append($1) }
            }
            #expect(revisions.sorted() == Array(1...30))
            #expect(try await store.revision() == 30)
            let changes = try #require(try await store.changes(since: 0).changeSet)
            #expect(Set(changes.upserts.map(\.resourceVersion)) == Set(1...30))
        }
    }

    @Test(arguments: StoreBackend.allCases) func duplicateKeyInOneApplyIsRejectedAndNothingStored(_ backend: StoreBackend) async throws {
        try await withStore(backend) { store in
            _ = try await store.apply([externalService("stored")])
            let error = await #expect(throws: StoreError.self) {
                try await store.apply([
                    externalService("new"), externalService("stored", hosts: ["changed.example.com"]),
                    externalService("new", hosts: ["other.example.com"]),
                ])
            }
            #expect(error?.code == .invalidInput)
            #expect(error?.message.contains("ExternalService global/new") == true)
            #expect(try await store.revision() == 1)
            #expect(try await store.list(kind: nil, namespace: nil).map(\.key) == [esKey("stored")])
            #expect(try await store.get(esKey("stored"))?.generation == 1)
        }
    }

    @Test(arguments: StoreBackend.allCases) func sameNameInOtherNamespaceOrKindIsADifferentKey(_ backend: StoreBackend) async throws {
        try await withStore(backend) { store in
            let endpoint = Resource(
                metadata: ObjectMeta(name: "a", namespace: "global"),
                spec: .externalEndpoint(ExternalEndpointSpec(address: "10.0.0.1"))
            )
            let result = try await store.apply([externalService("a"), externalService("a", namespace: "other"), endpoint])
            #expect(result.outcomes.map(\.action) == [.created, .created, .created])
            #expect(try await store.list(kind: nil, namespace: nil).count == 3)
        }
    }
}

@Suite("Store conformance: delete, change log and compaction")
struct ChangeLogTests {
    @Test(arguments: StoreBackend.allCases) func deleteWritesTombstonesAndSkipsMissingKeys(_ backend: StoreBackend) async throws {
        try await withStore(backend) { store in
            _ = try await store.apply([externalService("a"), externalService("b")])
            let result = try await store.delete([esKey("a"), esKey("missing"), esKey("a")])
            #expect(result.revision == 2)
            #expect(
                result.outcomes == [
                    DeleteOutcome(key: esKey("a"), deleted: true),
                    DeleteOutcome(key: esKey("missing"), deleted: false),
                    DeleteOutcome(key: esKey("a"), deleted: false),
                ]
            )
            #expect(try await store.get(esKey("a")) == nil)

            // Nothing to delete: no revision bump.
            let none = try await store.delete([esKey("a"), esKey("missing")])
            #expect(none.revision == 2)
            #expect(none.outcomes.allSatisfy { !$0.deleted })
            #expect(try await store.revision() == 2)
            #expect(try await store.delete([]).revision == 2)

            let changes = try #require(try await store.changes(since: 1).changeSet)
            #expect(changes.upserts.isEmpty)
            #expect(changes.tombstones == [Tombstone(key: esKey("a"), revision: 2)])
        }
    }

    @Test(arguments: StoreBackend.allCases) func deleteRemovesStatusRowsOfEveryCluster(_ backend: StoreBackend) async throws {
        try await withStore(backend) { store in
            _ = try await store.apply([externalService("a"), externalService("b")])
            let now = Date(timeIntervalSince1970: 1_800_000_000)
            var records: [ResourceStatusRecord] = []
            for cluster in ["east", "west"] {
                for name in ["a", "b"] {
                    records.append(
                        ResourceStatusRecord(
                            cluster: cluster, key: esKey(name), state: .failed, message: "bad port", observedGeneration: 1,
                            revision: 1, updatedAt: now
                        )
                    )
                }
            }
            try await store.saveResourceStatuses(records)
            #expect(try await store.resourceStatuses(cluster: nil).count == 4)
            _ = try await store.delete([esKey("a")])
            let remaining = try await store.resourceStatuses(cluster: nil)
            #expect(remaining.map(\.cluster) == ["east", "west"])
            #expect(remaining.allSatisfy { $0.key == esKey("b") })
        }
    }

    /// r1 create a, b · r2 update a · r3 delete b · r4 create c · r5 delete c · r6 re-create b ·
    /// r7 label a · r8 delete a.
    @Test(arguments: StoreBackend.allCases) func changesSinceGivesTheLatestStatePerKey(_ backend: StoreBackend) async throws {
        try await withStore(backend) { store in
            _ = try await store.apply([externalService("a"), externalService("b")])
            let firstB = try #require(try await store.get(esKey("b")))
            _ = try await store.apply([externalService("a", hosts: ["new.example.com"])])
            _ = try await store.delete([esKey("b")])
            _ = try await store.apply([externalService("c")])
            _ = try await store.delete([esKey("c")])
            #expect(try await store.apply([externalService("b")]).revision == 6)
            let secondB = try #require(try await store.get(esKey("b")))
            #expect(secondB.uid != firstB.uid)
            #expect(secondB.generation == 1)

            let since0 = try #require(try await store.changes(since: 0).changeSet)
            #expect(since0.since == 0)
            #expect(since0.revision == 6)
            #expect(since0.upserts.map(\.key) == [esKey("a"), esKey("b")])
            #expect(since0.upserts.map(\.resourceVersion) == [2, 6])
            #expect(since0.upserts[0].generation == 2)
            #expect(since0.upserts[1] == secondB)
            #expect(since0.tombstones == [Tombstone(key: esKey("c"), revision: 5)])

            let since2 = try #require(try await store.changes(since: 2).changeSet)
            #expect(since2.upserts.map(\.key) == [esKey("b")])
            #expect(since2.tombstones == [Tombstone(key: esKey("c"), revision: 5)])

            let since5 = try #require(try await store.changes(since: 5).changeSet)
            #expect(since5.upserts.map(\.key) == [esKey("b")])
            #expect(since5.tombstones.isEmpty)

            let since6 = try #require(try await store.changes(since: 6).changeSet)
            #expect(since6 == ChangeSet(since: 6, revision: 6, upserts: [], tombstones: []))
            let ahead = try #require(try await store.changes(since: 100).changeSet)
            #expect(ahead == ChangeSet(since: 100, revision: 6, upserts: [], tombstones: []))

            _ = try await store.apply([externalService("a", hosts: ["new.example.com"], labels: ["x": "y"])])
            _ = try await store.delete([esKey("a")])
            let since6Again = try #require(try await store.changes(since: 6).changeSet)
            #expect(since6Again.revision == 8)
            #expect(since6Again.upserts.isEmpty)
            #expect(since6Again.tombstones == [Tombstone(key: esKey("a"), revision: 8)])
        }
    }

    @Test(arguments: StoreBackend.allCases) func compactionHorizonRequiresSnapshotsForOlderRevisions(_ backend: StoreBackend) async throws {
        try await withStore(backend) { store in
            for index in 1...5 {
                _ = try await store.apply([externalService("s\(index)")])
            }
            _ = try await store.delete([esKey("s1")])  // r6
            _ = try await store.delete([esKey("s2")])  // r7
            #expect(try await store.revision() == 7)

            #expect(try await store.compact(retaining: 2) == 5)
            #expect(try await store.compactedRevision() == 5)
            #expect(try await store.changes(since: 4) == .snapshotRequired(compactedRevision: 5, revision: 7))
            #expect(try await store.changes(since: 0) == .snapshotRequired(compactedRevision: 5, revision: 7))

            let since5 = try #require(try await store.changes(since: 5).changeSet)
            #expect(since5.upserts.isEmpty)
            #expect(since5.tombstones == [Tombstone(key: esKey("s1"), revision: 6), Tombstone(key: esKey("s2"), revision: 7)])
            let since6 = try #require(try await store.changes(since: 6).changeSet)
            #expect(since6.tombstones == [Tombstone(key: esKey("s2"), revision: 7)])

            // The horizon never moves back; the revision does not move.
            #expect(try await store.compact(retaining: 100) == 5)
            #expect(try await store.revision() == 7)
            let error = await #expect(throws: StoreError.self) { try await store.compact(retaining: -1) }
            #expect(error?.code == .invalidInput)

            // Resources outside the retained log are still listed, and later changes still flow.
            #expect(try await store.list(kind: .externalService, namespace: nil).map(\.key.name) == ["s3", "s4", "s5"])
            _ = try await store.apply([externalService("s3", labels: ["v": "2"])])
            let since7 = try #require(try await store.changes(since: 7).changeSet)
            #expect(since7.upserts.map(\.key) == [esKey("s3")])

            #expect(try await store.compact(retaining: 0) == 8)
            #expect(try await store.changes(since: 7) == .snapshotRequired(compactedRevision: 8, revision: 8))
            #expect(try await store.changes(since: 8).changeSet == ChangeSet(since: 8, revision: 8, upserts: [], tombstones: []))
        }
    }
}

@Suite("Store conformance: listing and status")
struct ListAndStatusTests {
    @Test(arguments: StoreBackend.allCases) func listIsInResourceKeyOrderAndFilters(_ backend: StoreBackend) async throws {
        try await withStore(backend) { store in
            let cluster = Resource(
                metadata: ObjectMeta(name: "east", namespace: "gloo-mesh"),
                spec: .kubernetesCluster(KubernetesClusterSpec(clusterDomain: "cluster.local"))
            )
            let workspace = Resource(
                metadata: ObjectMeta(name: "global", namespace: "gloo-mesh"),
                spec: .workspace(WorkspaceSpec(workloadClusters: [WorkspaceCluster(name: "*")]))
            )
            let endpoint = Resource(
                metadata: ObjectMeta(name: "db", namespace: "global"),
                spec: .externalEndpoint(ExternalEndpointSpec(address: "10.0.0.1", ports: [EndpointPort(number: 5432)]))
            )
            _ = try await store.apply([
                externalService("z", namespace: "b"), externalService("y", namespace: "a"), endpoint, workspace, cluster,
                externalService("x", namespace: "b"),
            ])
            let all = try await store.list(kind: nil, namespace: nil)
            #expect(all.map(\.key) == all.map(\.key).sorted())
            #expect(
                all.map(\.key) == [
                    cluster.key, workspace.key, endpoint.key, esKey("y", namespace: "a"), esKey("x", namespace: "b"),
                    esKey("z", namespace: "b"),
                ]
            )
            #expect(all[0].resource == cluster)
            #expect(all[1].resource == workspace)
            #expect(all[2].resource == endpoint)
            #expect(try await store.list(kind: .externalService, namespace: "b").map(\.key.name) == ["x", "z"])
            #expect(try await store.list(kind: nil, namespace: "gloo-mesh").map(\.key) == [cluster.key, workspace.key])
            #expect(try await store.list(kind: .externalEndpoint, namespace: nil).map(\.key) == [endpoint.key])
            #expect(try await store.list(kind: .workspace, namespace: "nowhere").isEmpty)
        }
    }

    @Test(arguments: StoreBackend.allCases) func aReplicaMarksDisconnectedOnlyTheSessionsItHolds(_ backend: StoreBackend) async throws {
        try await withStore(backend) { store in
            let at = Date(timeIntervalSince1970: 1_800_000_100)
            try await store.saveClusterStatus(ClusterStatusRecord(cluster: "c1", connected: true, server: "replica-b", updatedAt: at))
            // replica-a noticed its old session of c1 ended after the agent had moved to replica-b.
            #expect(try await store.markDisconnected(cluster: "c1", server: "replica-a", at: at + 5) == false)
            #expect(try await store.clusterStatuses().first?.connected == true)
            #expect(try await store.markDisconnected(cluster: "c1", server: "replica-b", at: at + 5))
            let record = try #require(try await store.clusterStatuses().first)
            #expect(!record.connected)
            #expect(record.lastSeen == at + 5)
            #expect(try await store.markDisconnected(cluster: "nobody", server: "replica-b", at: at) == false)
        }
    }

    @Test(arguments: StoreBackend.allCases) func clusterStatusIsReplacedAndListedByName(_ backend: StoreBackend) async throws {
        try await withStore(backend) { store in
            let seen = Date(timeIntervalSince1970: 1_800_000_100)
            let west = ClusterStatusRecord(cluster: "west", connected: false, updatedAt: seen)
            var east = ClusterStatusRecord(
                cluster: "east", connected: true, lastSeen: seen, appliedRevision: 3, agentVersion: "1.0.0",
                outboundPolicy: "REGISTRY_ONLY", server: "meshrelay-0", updatedAt: seen
            )
            try await store.saveClusterStatus(west)
            try await store.saveClusterStatus(east)
            #expect(try await store.clusterStatuses() == [east, west])
            east.connected = false
            east.appliedRevision = 4
            east.server = nil
            east.updatedAt = seen.addingTimeInterval(0.5)
            try await store.saveClusterStatus(east)
            #expect(try await store.clusterStatuses() == [east, west])
        }
    }

    @Test(arguments: StoreBackend.allCases) func onlyExceptionsAreKeptAndAppliedClearsThem(_ backend: StoreBackend) async throws {
        try await withStore(backend) { store in
            _ = try await store.apply([externalService("b"), externalService("a")])
            let now = Date(timeIntervalSince1970: 1_800_000_000)
            func record(_ cluster: String, _ name: String, _ state: ClusterResourceState, _ message: String = "") -> ResourceStatusRecord {
                ResourceStatusRecord(
                    cluster: cluster, key: esKey(name), state: state, message: message, observedGeneration: 1,
                    revision: 1, updatedAt: now
                )
            }
            try await store.saveResourceStatuses([
                record("west", "a", .warning, "slow"), record("east", "b", .applied), record("east", "a", .failed, "bad port"),
                record("east", "gone", .failed, "bad port"),
            ])
            #expect(
                try await store.resourceStatuses(cluster: nil) == [
                    record("east", "a", .failed, "bad port"), record("west", "a", .warning, "slow"),
                ]
            )
            // APPLIED clears the row of its own cluster and resource only; the last record of a
            // batch wins.
            try await store.saveResourceStatuses([
                record("east", "a", .applied), record("west", "b", .applied), record("north", "a", .applied),
                record("west", "b", .failed, "no route"),
            ])
            #expect(
                try await store.resourceStatuses(cluster: nil) == [
                    record("west", "a", .warning, "slow"), record("west", "b", .failed, "no route"),
                ]
            )
            #expect(try await store.resourceStatuses(cluster: "west").map(\.key) == [esKey("a"), esKey("b")])
            #expect(try await store.resourceStatuses(cluster: "east").isEmpty)
            // An unchanged exception keeps when it was first recorded.
            var later = record("west", "a", .warning, "slow")
            later.updatedAt = now.addingTimeInterval(60)
            later.revision = 9
            try await store.saveResourceStatuses([later])
            #expect(try await store.resourceStatuses(cluster: "west").first == record("west", "a", .warning, "slow"))
            try await store.saveResourceStatuses([])
        }
    }

    @Test(arguments: StoreBackend.allCases) func viewRevisionMovesWithWorkspacesAndClustersOnly(_ backend: StoreBackend) async throws {
        try await withStore(backend) { store in
            #expect(try await store.viewRevision() == 0)
            let cluster = Resource(metadata: ObjectMeta(name: "east", namespace: "gloo-mesh"), spec: .kubernetesCluster(KubernetesClusterSpec()))
            let workspace = Resource(metadata: ObjectMeta(name: "all", namespace: "gloo-mesh"), spec: .workspace(WorkspaceSpec()))
            #expect(try await store.apply([externalService("a")]).revision == 1)
            #expect(try await store.viewRevision() == 0)
            #expect(try await store.apply([cluster, externalService("b")]).revision == 2)
            #expect(try await store.viewRevision() == 2)
            _ = try await store.apply([cluster])  // unchanged: no revision
            _ = try await store.apply([externalService("a", hosts: ["other.example.com"])])
            #expect(try await store.viewRevision() == 2)
            #expect(try await store.apply([workspace]).revision == 4)
            #expect(try await store.viewRevision() == 4)
            _ = try await store.delete([esKey("b")])
            #expect(try await store.viewRevision() == 4)
            // Deleting the last Workspace sends every resource to every cluster: a view change.
            #expect(try await store.delete([workspace.key]).revision == 6)
            #expect(try await store.viewRevision() == 6)
        }
    }

    @Test(arguments: StoreBackend.allCases) func appliedStepsRoundTripWithTheClusterRecord(_ backend: StoreBackend) async throws {
        try await withStore(backend) { store in
            let at = Date(timeIntervalSince1970: 1_800_000_000.125)
            let steps = [
                AppliedStep(from: 0, to: 3, at: at), AppliedStep(from: 3, to: 7, at: at.addingTimeInterval(0.5)),
            ]
            var east = ClusterStatusRecord(cluster: "east", connected: true, appliedRevision: 7, updatedAt: at, appliedSteps: steps)
            try await store.saveClusterStatus(east)
            #expect(try await store.clusterStatuses() == [east])
            east.appliedSteps = []
            try await store.saveClusterStatus(east)
            #expect(try await store.clusterStatuses().first?.appliedSteps == [])
        }
    }
}

@Suite("Store conformance: scale")
struct ScaleTests {
    @Test(arguments: StoreBackend.allCases) func tenThousandResourcesApplyListAndDiff(_ backend: StoreBackend) async throws {
        try await withStore(backend) { store in
            let resources = (0..<10_000).map { index in
                externalService(
                    String(format: "svc-%05d", index), namespace: "ns-\(index % 10)",
                    hosts: ["svc-\(index).example.com"], labels: index.isMultiple(of: 2) ? ["tier": "even"] : nil
                )
            }
            let clock = ContinuousClock()
            let applyStart = clock.now
            let result = try await store.apply(resources)
            let applyTime = clock.now - applyStart
            #expect(result.revision == 1)
            #expect(result.outcomes.count == 10_000)
            #expect(result.outcomes.allSatisfy { $0.action == .created && $0.resourceVersion == 1 && $0.generation == 1 })
            #expect(result.outcomes.map(\.key) == resources.map(\.key))

            let listStart = clock.now
            let listed = try await store.list(kind: .externalService, namespace: nil)
            let listTime = clock.now - listStart
            #expect(listed.count == 10_000)
            #expect(listed.map(\.key) == resources.map(\.key).sorted())
            #expect(Set(listed.map(\.resource)) == Set(resources))
            #expect(Set(listed.map(\.uid)).count == 10_000)
            #expect(try await store.list(kind: nil, namespace: "ns-3").count == 1_000)

            let again = try await store.apply(resources)
            #expect(again.revision == 1)
            #expect(again.outcomes.allSatisfy { $0.action == .unchanged })

            var changed = resources
            changed[1234].metadata.labels = ["tier": "changed"]
            let third = try await store.apply(changed)
            #expect(third.revision == 2)
            #expect(third.outcomes.count { $0.action == .configured } == 1)

            #expect(try await store.changes(since: 0).changeSet?.upserts.count == 10_000)
            #expect(try await store.changes(since: 1).changeSet?.upserts.map(\.key) == [changed[1234].key])
            print("10,000 resources (debug build): apply \(applyTime), list \(listTime)")
        }
    }
}
