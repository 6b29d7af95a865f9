import Foundation
import MeshRelayModel
import MeshRelayStore
@testable import MeshRelayServer
import Testing

/// How a resource's per-cluster state is derived: kept exceptions, else the cluster's applied
/// revision against the resource's version and the view revision, with the applied steps saying
/// since when.
@Suite struct StatusContextTests {
    static let committed = Date(timeIntervalSince1970: 1_800_000_000)

    static func stored(_ name: String, generation: Int64, version: Int64) -> StoredResource {
        StoredResource(
            resource: Resource(
                metadata: ObjectMeta(name: name, namespace: "global"),
                spec: .externalService(ExternalServiceSpec(hosts: ["\(name).example.com"], ports: [ExternalServicePort(name: "https", number: 443, protocol: .https)]))
            ),
            uid: "uid-\(name)", generation: generation, resourceVersion: version, createdAt: committed, updatedAt: committed,
            specJSON: "{}"
        )
    }

    static func cluster(
        _ name: String, applied: Int64, connected: Bool = true, steps: [AppliedStep] = []
    ) -> ClusterStatusRecord {
        ClusterStatusRecord(
            cluster: name, connected: connected, lastSeen: committed, appliedRevision: applied, updatedAt: committed, appliedSteps: steps
        )
    }

    static func context(
        clusters: [ClusterStatusRecord], exceptions: [ResourceStatusRecord] = [], viewRevision: Int64 = 1
    ) -> StatusContext {
        StatusContext(
            revision: 20, registeredClusters: clusters.map(\.cluster), workspaces: [], clusterRecords: clusters,
            statusRecords: exceptions, viewRevision: viewRevision
        )
    }

    static func states(_ entry: StatusReport.ResourceEntry) -> [String: ClusterResourceState] {
        Dictionary(uniqueKeysWithValues: entry.clusters.map { ($0.name, $0.state) })
    }

    @Test func appliedIsDerivedFromTheClustersAppliedRevision() {
        let resource = Self.stored("a", generation: 2, version: 10)
        let context = Self.context(clusters: [
            Self.cluster("ahead", applied: 12), Self.cluster("exact", applied: 10), Self.cluster("behind", applied: 9),
            Self.cluster("away", applied: 3, connected: false),
        ])
        let entry = context.entry(for: resource)
        #expect(Self.states(entry) == ["ahead": .applied, "exact": .applied, "behind": .pending, "away": .pending])
        #expect(entry.state == .pending)
        #expect(entry.clusters.first { $0.name == "ahead" }?.observedGeneration == 2)
        #expect(entry.clusters.first { $0.name == "behind" }?.message == "waiting for the agent to apply generation 2")
        #expect(entry.clusters.first { $0.name == "away" }?.message.hasPrefix("agent disconnected since") == true)
    }

    @Test func aLaterViewChangeKeepsResourcesPendingUntilTheClusterHoldsIt() {
        // A Workspace change at revision 15 may have brought the resource (version 10) to the
        // cluster: holding revision 12 says nothing about it.
        let resource = Self.stored("a", generation: 1, version: 10)
        let context = Self.context(clusters: [Self.cluster("c1", applied: 12), Self.cluster("c2", applied: 15)], viewRevision: 15)
        #expect(Self.states(context.entry(for: resource)) == ["c1": .pending, "c2": .applied])
    }

    @Test func exceptionsOfTheCurrentGenerationWinAndOlderOnesAreIgnored() {
        let resource = Self.stored("a", generation: 3, version: 10)
        func exception(_ cluster: String, _ state: ClusterResourceState, generation: Int64) -> ResourceStatusRecord {
            ResourceStatusRecord(
                cluster: cluster, key: resource.key, state: state, message: "port 99999 is out of range", observedGeneration: generation,
                revision: 10, updatedAt: Self.committed.addingTimeInterval(0.25)
            )
        }
        let context = Self.context(
            clusters: [Self.cluster("failing", applied: 10), Self.cluster("healed", applied: 10), Self.cluster("stuck", applied: 8)],
            exceptions: [exception("failing", .failed, generation: 3), exception("healed", .failed, generation: 2), exception("stuck", .warning, generation: 2)]
        )
        let entry = context.entry(for: resource)
        #expect(Self.states(entry) == ["failing": .failed, "healed": .applied, "stuck": .pending])
        #expect(entry.state == .failed)
        let failing = entry.clusters.first { $0.name == "failing" }
        #expect(failing?.message == "port 99999 is out of range")
        #expect(failing?.appliedAfterSeconds == 0.25)
        #expect(entry.clusters.first { $0.name == "stuck" }?.observedGeneration == 2)
    }

    @Test func sinceAndAppliedAfterComeFromTheStepThatBroughtTheVersion() {
        let resource = Self.stored("a", generation: 1, version: 10)
        let steps = [
            AppliedStep(from: 0, to: 7, at: Self.committed.addingTimeInterval(-60)),
            AppliedStep(from: 7, to: 11, at: Self.committed.addingTimeInterval(0.042)),
            AppliedStep(from: 11, to: 12, at: Self.committed.addingTimeInterval(5)),
        ]
        let context = Self.context(clusters: [Self.cluster("known", applied: 12, steps: steps), Self.cluster("forgotten", applied: 12, steps: [steps[2]])])
        let entry = context.entry(for: resource)
        let known = entry.clusters.first { $0.name == "known" }
        #expect(known?.since == RFC3339.string(from: Self.committed.addingTimeInterval(0.042)))
        #expect(known?.appliedAfterSeconds == 0.042)
        // No kept step covers revision 10: APPLIED without a time.
        let forgotten = entry.clusters.first { $0.name == "forgotten" }
        #expect(forgotten?.state == .applied)
        #expect(forgotten?.since == nil)
        #expect(forgotten?.appliedAfterSeconds == nil)
        // When the view revision is what the cluster waited for, no "applied after" the commit.
        let afterWorkspace = Self.context(clusters: [Self.cluster("known", applied: 12, steps: steps)], viewRevision: 11)
        #expect(afterWorkspace.entry(for: resource).clusters.first?.appliedAfterSeconds == nil)
        #expect(afterWorkspace.entry(for: resource).clusters.first?.since != nil)
    }

    @Test func mergingStepsKeepsTheEarliestPerRevisionInOrderAndBounded() {
        let start = Self.committed
        var kept: [AppliedStep] = []
        for revision in Int64(1)...100 {
            ClusterStatusRecord.merge([AppliedStep(from: revision - 1, to: revision, at: start.addingTimeInterval(Double(revision)))], into: &kept)
        }
        #expect(kept.count == ClusterStatusRecord.appliedStepLimit)
        #expect(kept.first?.to == 100 - Int64(ClusterStatusRecord.appliedStepLimit) + 1)
        #expect(kept.last?.to == 100)
        // From another source: older facts slot in by revision, an earlier time for the same
        // revision wins, a later one does not.
        var merged = [AppliedStep(from: 4, to: 9, at: start.addingTimeInterval(9))]
        ClusterStatusRecord.merge(
            [AppliedStep(from: 2, to: 4, at: start.addingTimeInterval(4)), AppliedStep(from: 5, to: 9, at: start.addingTimeInterval(8)),
             AppliedStep(from: 9, to: 12, at: start.addingTimeInterval(12))],
            into: &merged
        )
        #expect(merged.map(\.to) == [4, 9, 12])
        #expect(merged[1].at == start.addingTimeInterval(8))
        #expect(ClusterStatusRecord(cluster: "c", connected: true, updatedAt: start, appliedSteps: merged).appliedTime(of: 6) == start.addingTimeInterval(8))
        #expect(ClusterStatusRecord(cluster: "c", connected: true, updatedAt: start, appliedSteps: merged).appliedTime(of: 2) == nil)
    }
}
