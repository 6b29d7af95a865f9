import Foundation
import Logging
import MeshRelayModel
import MeshRelayProtocol
import MeshRelayStore
import Testing

@testable import MeshRelayServer

@Suite("StatusBatch, CommitTimes, EventLog, UPDATE frames")
struct StatusBatchTests {
    static func key(_ name: String) -> ResourceKey { ResourceKey(kind: .externalService, namespace: "ns", name: name) }

    static func row(_ cluster: String, _ name: String, generation: Int64, state: ClusterResourceState = .applied) -> ResourceStatusRecord {
        ResourceStatusRecord(
            cluster: cluster, key: key(name), state: state, message: "", observedGeneration: generation, revision: generation,
            updatedAt: Date(timeIntervalSince1970: Double(generation))
        )
    }

    static func record(_ cluster: String, revision: Int64, connected: Bool = true) -> ClusterStatusRecord {
        ClusterStatusRecord(cluster: cluster, connected: connected, lastSeen: nil, appliedRevision: revision, server: "s", updatedAt: Date(timeIntervalSince1970: 0))
    }

    // MARK: StatusBatch

    @Test func oneAckPerClusterIsPassedOnAsItIs() {
        var batch = StatusBatch()
        let first = [Self.row("c1", "b", generation: 1), Self.row("c1", "a", generation: 1)]
        let second = [Self.row("c2", "a", generation: 1)]
        batch.add(resources: first)
        batch.add(resources: second)
        guard case .resources(let rows) = batch.steps.first else {
            Issue.record("resource rows first")
            return
        }
        #expect(rows.count == 3)
        #expect(Set(rows) == Set(first + second))
        // The order within an ACK is kept.
        #expect(rows.filter { $0.cluster == "c1" } == first)
    }

    @Test func severalAcksOfAClusterArePassedOnInArrivalOrderSoTheLastWinsInTheStore() async throws {
        var batch = StatusBatch()
        batch.add(resources: [Self.row("c1", "a", generation: 1, state: .failed), Self.row("c1", "b", generation: 1)])
        batch.add(resources: [Self.row("c2", "a", generation: 1, state: .warning)])
        batch.add(resources: [Self.row("c1", "a", generation: 2)])
        batch.add(resources: [Self.row("c1", "c", generation: 3), Self.row("c1", "b", generation: 3, state: .failed)])
        guard case .resources(let rows) = batch.steps.first else {
            Issue.record("resource rows first")
            return
        }
        #expect(
            rows.filter { $0.cluster == "c1" } == [
                Self.row("c1", "a", generation: 1, state: .failed), Self.row("c1", "b", generation: 1), Self.row("c1", "a", generation: 2),
                Self.row("c1", "c", generation: 3), Self.row("c1", "b", generation: 3, state: .failed),
            ]
        )
        // Written to a real store, the last row per cluster and resource is what stays.
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("meshrelay-batch-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try SQLiteStore(path: directory + "/meshrelay.db", logger: Logger(label: "test"))
        _ = try await store.apply(["a", "b", "c"].map { name in
            Resource(
                metadata: ObjectMeta(name: name, namespace: "ns"),
                spec: .externalService(ExternalServiceSpec(hosts: ["\(name).example.com"], ports: [ExternalServicePort(name: "https", number: 443, protocol: .https)]))
            )
        })
        try await store.saveResourceStatuses(rows)
        #expect(try await store.resourceStatuses(cluster: nil) == [Self.row("c1", "b", generation: 3, state: .failed), Self.row("c2", "a", generation: 1, state: .warning)])
    }

    @Test func rowsGoInStepsOfBoundedSizeAndALargeAckAsItIs() {
        var batch = StatusBatch()
        let limit = StatusBatch.rowsPerStep
        let small = (0..<(limit / 2 + 1)).map { Self.row("c1", "s\($0)", generation: 1) }
        let large = (0..<(limit + 5)).map { Self.row("c2", "l\($0)", generation: 1) }
        batch.add(resources: small)
        batch.add(resources: Array(small.prefix(3)))
        batch.add(resources: small)
        batch.add(resources: large)
        let steps = batch.steps.compactMap { step -> [ResourceStatusRecord]? in
            guard case .resources(let rows) = step else { return nil }
            return rows
        }
        // Nothing lost or reordered within a cluster; no step over the limit unless it is the
        // large ACK alone.
        #expect(steps.flatMap { $0 }.filter { $0.cluster == "c1" } == small + small.prefix(3) + small)
        #expect(steps.flatMap { $0 }.filter { $0.cluster == "c2" } == large)
        #expect(steps.contains(large))
        #expect(steps.allSatisfy { $0.count <= limit || $0 == large })
        #expect(steps.count == 3)
    }

    @Test func clusterRecordsKeepTheLastUntilADisconnectionThenStartAgain() {
        var batch = StatusBatch()
        batch.save(Self.record("c1", revision: 1))
        batch.save(Self.record("c2", revision: 1))
        batch.save(Self.record("c1", revision: 2))
        batch.markDisconnected(cluster: "c1", at: Date(timeIntervalSince1970: 5))
        batch.save(Self.record("c1", revision: 3))
        #expect(
            batch.steps == [
                .clusters([Self.record("c1", revision: 2), Self.record("c2", revision: 1)]),
                .markDisconnected(cluster: "c1", at: Date(timeIntervalSince1970: 5)),
                .clusters([Self.record("c1", revision: 3)]),
            ]
        )
        #expect(!batch.isEmpty)
        #expect(StatusBatch().isEmpty)
        #expect(StatusBatch().steps.isEmpty)
    }

    // MARK: CommitTimes

    @Test func commitTimesAnswerRangesAndForgetTheOldest() {
        let origin = ContinuousClock.now
        var times = CommitTimes()
        for revision in [1, 2, 3, 5, 4] as [Int64] {
            times.record(revision, at: origin + .seconds(revision), keeping: 4)
        }
        // 1 was forgotten (limit 4); 4 arrived late and is in order.
        #expect(times.count == 4)
        #expect(Array(times.times(after: 0, through: 5)) == [2, 3, 4, 5].map { origin + .seconds($0) })
        #expect(Array(times.times(after: 2, through: 4)) == [3, 4].map { origin + .seconds($0) })
        #expect(times.times(after: 4, through: 4).isEmpty)
        // The first announcement of a revision counts.
        times.record(3, at: origin + .seconds(100), keeping: 4)
        #expect(Array(times.times(after: 2, through: 3)) == [origin + .seconds(3)])
    }

    // MARK: EventLog

    @Test func appliedEventsMergeByGenerationAndNameAtMostFiftyClusters() {
        let log = EventLog()
        let key = Self.key("a")
        log.committed(key, generation: 1, at: Date(timeIntervalSince1970: 0))
        log.acknowledged((1...60).map { Self.row(String(format: "c%02d", $0), "a", generation: 1) })
        log.acknowledged([Self.row("c01", "a", generation: 1)])  // again: counted once
        log.acknowledged([Self.row("c01", "a", generation: 2, state: .failed)])
        let events = log.events(for: key)
        #expect(events.map(\.type) == ["committed", "applied", "nacked"])
        let applied = events[1]
        #expect(applied.clusters.count == 50)
        #expect(applied.message.hasPrefix("applied by c01, c02"))
        #expect(applied.message.hasSuffix("c50 and 10 more"))
        #expect(applied.time == RFC3339.string(from: Date(timeIntervalSince1970: 1)))
    }

    @Test func eventsAreBoundedPerResource() {
        let log = EventLog()
        for generation in 1...30 as ClosedRange<Int64> {
            log.acknowledged([Self.row("c1", "a", generation: generation)])
        }
        let events = log.events(for: Self.key("a"))
        #expect(events.count == EventLog.perResource)
        #expect(events.last?.generation == 30)
        #expect(events.last?.message == "applied by c1")
    }

    // MARK: UPDATE frames

    @Test func anUpdateIsEncodedOnceForEverySessionThatSendsIt() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("meshrelay-frames-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try SQLiteStore(path: directory + "/meshrelay.db", logger: .init(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        let hub = RelayHub(store: store, serverID: "test", logger: .init(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        let views = try await hub.views()
        let resource = RelayResource(key: RelayResourceKey(kind: "ExternalService", namespace: "ns", name: "a"), version: 3, generation: 1, labels: [:], specJSON: [])
        let update = Update(revision: views.revision, isSnapshot: false, upserts: [resource], removals: [])
        let first = try hub.updateFrame(update)
        let second = try hub.updateFrame(update)
        #expect(first == (try RelayMessageCoding.frame(for: .update(update))))
        // The same storage: encoded once.
        #expect(first.payload.withUnsafeReadableBytes { $0.baseAddress } == second.payload.withUnsafeReadableBytes { $0.baseAddress })
        // Another content is another frame.
        var other = update
        other.upserts[0].version = 4
        #expect(try hub.updateFrame(other) != first)
    }
}
