import Foundation
import Logging
import MeshRelayStore
import Testing

@testable import MeshRelayServer

@Suite("LeftoverSessions: connected records of a server process that is gone")
struct LeftoverSessionsTests {
    static func record(_ cluster: String, server: String?, connected: Bool = true) -> ClusterStatusRecord {
        ClusterStatusRecord(cluster: cluster, connected: connected, lastSeen: nil, appliedRevision: 7, server: server, updatedAt: Date(timeIntervalSince1970: 0))
    }

    /// PIDs 100 and 200 run on "host-a"; everything else does not.
    static func running(_ pid: Int32) -> Bool { pid == 100 || pid == 200 }

    @Test func ownIDAndDeadLocalProcessesAreStaleLiveOnesOtherHostsAndDisconnectedRecordsAreNot() {
        let records = [
            Self.record("own", server: "replica-1"),
            Self.record("dead-local", server: "host-a/300"),
            Self.record("live-local", server: "host-a/100"),
            Self.record("other-host", server: "host-b/300"),
            Self.record("prefix-host", server: "host-ab/300"),
            Self.record("not-a-pid", server: "host-a/web-1"),
            Self.record("zero-pid", server: "host-a/0"),
            Self.record("already-disconnected", server: "host-a/300", connected: false),
            Self.record("no-server", server: nil),
        ]
        let stale = LeftoverSessions.stale(records, ownReplicaID: "replica-1", hostName: "host-a", isRunning: Self.running)
        #expect(stale.map(\.cluster) == ["own", "dead-local"])
    }

    @Test func withoutAHostNameOnlyTheOwnIDIsStale() {
        let records = [Self.record("own", server: "host-a/200"), Self.record("dead-local", server: "host-a/300")]
        let stale = LeftoverSessions.stale(records, ownReplicaID: "host-a/200", hostName: nil, isRunning: Self.running)
        #expect(stale.map(\.cluster) == ["own"])
    }

    @Test func theProcessCheckSeesThisProcessAndNotAnExitedOne() async throws {
        #expect(LeftoverSessions.processIsRunning(getpid()))
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/bin/true")
        try child.run()
        child.waitUntilExit()
        // Reaped: the PID names no process (unless reused within these microseconds, which a
        // 4-million PID space makes vanishingly rare).
        #expect(!LeftoverSessions.processIsRunning(child.processIdentifier))
    }

    @Test func markStaleChangesOnlyTheStaleRecordsOfARealSQLiteStore() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("meshrelay-leftover-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let store = try SQLiteStore(path: directory + "/meshrelay.db", logger: Logger(label: "test"))
        try await store.saveClusterStatuses([
            Self.record("c-dead", server: "host-a/300"), Self.record("c-live", server: "host-a/100"), Self.record("c-own", server: "me"),
        ])
        let now = Date(timeIntervalSince1970: 1_000)
        let marked = try await LeftoverSessions.markStale(in: store, ownReplicaID: "me", hostName: "host-a", now: now, isRunning: Self.running)
        #expect(marked == ["c-dead", "c-own"])
        let after = Dictionary(uniqueKeysWithValues: try await store.clusterStatuses().map { ($0.cluster, $0) })
        #expect(after["c-dead"]?.connected == false)
        #expect(after["c-dead"]?.lastSeen == now)
        #expect(after["c-own"]?.connected == false)
        #expect(after["c-live"]?.connected == true)
        // The applied revision is what the agent held: it stays.
        #expect(after["c-dead"]?.appliedRevision == 7)
        // A second start finds nothing left to mark.
        #expect(try await LeftoverSessions.markStale(in: store, ownReplicaID: "me", hostName: "host-a", now: now, isRunning: Self.running).isEmpty)
    }
}
