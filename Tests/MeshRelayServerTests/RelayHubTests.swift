import Foundation
import Logging
import MeshRelayModel
import MeshRelayProtocol
@testable import MeshRelayServer
import MeshRelayStore
import MeshRelayTesting
import NIOCore
import NIOPosix
import Synchronization
import Testing

@Suite("RelayHub: sessions and views")
struct RelayHubTests {
    /// A write that commits while a session looks its cluster up is pushed before the session is
    /// registered; registering hands it the current view, so it does not wait for the next write.
    @Test func aSessionRegisteredAfterAPushReceivesTheCurrentView() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("meshrelay-hub-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        let store = try SQLiteStore(path: directory + "/meshrelay.db", logger: logger)
        let hub = RelayHub(store: store, serverID: "test", logger: logger)

        _ = try await store.apply(try Manifest.load(SeedManifests.stream([SeedManifests.cluster("cluster-1"), SeedManifests.google])))
        // The session's lookup sees this view ...
        guard case .registered(let looked) = await hub.lookUp(cluster: "cluster-1") else {
            Issue.record("cluster-1 is registered")
            return
        }
        // ... then a write commits and its views are computed (and pushed to the sessions then
        // registered: none).
        let more = try Manifest.load(SeedManifests.externalService(name: "payments", host: "api.payments.example.com"))
        _ = try await store.apply(more)
        let views = try await hub.views()
        #expect(views.revision > looked.revision)

        let pushed = Mutex<[ClusterView]>([])
        let eventLoop = MultiThreadedEventLoopGroup.singleton.next()
        let id = try await eventLoop.submit {
            hub.register(cluster: "cluster-1", on: eventLoop, deliver: { view in pushed.withLock { $0.append(view) } }, drain: {})
        }.get()
        // Handed over in a task on the loop, which runs after the one that registered.
        try await eventLoop.submit {}.get()
        let received = pushed.withLock { $0 }
        #expect(received.map(\.revision) == [views.revision])
        #expect(Set(received.first?.resources.keys.map(\.name) ?? []) == ["google", "payments"])
        try await eventLoop.submit { hub.unregister(id) }.get()
    }

    /// A push hands every session of a loop its cluster's view in one task; pushes that arrive
    /// before it runs coalesce to the newest; an unregistered session gets nothing more.
    @Test func aLoopsSessionsGetTheNewestViewOfTheirCluster() async throws {
        let eventLoop = MultiThreadedEventLoopGroup.singleton.next()
        let loop = LoopSessions(eventLoop: eventLoop)
        let received = Mutex<[String: [Int64]]>([:])
        @Sendable func views(_ revision: Int64) -> ClusterViews {
            ClusterViews(revision: revision, resources: [])
        }
        try await eventLoop.submit {
            for (id, cluster) in [(UInt64(1), "a"), (2, "b")] {
                loop.add(id, LoopSessions.Member(cluster: cluster) { view in received.withLock { $0[cluster, default: []].append(view.revision) } })
            }
        }.get()
        // Both posts land while the loop is busy: one delivery, of the newest views; an older
        // post after them does not replace them.
        try await eventLoop.submit {
            loop.post(views(2))
            loop.post(views(3))
            loop.post(views(1))
        }.get()
        try await eventLoop.submit {}.get()
        #expect(received.withLock { $0 } == ["a": [3], "b": [3]])

        try await eventLoop.submit { loop.remove(1) }.get()
        loop.post(views(4))
        try await eventLoop.submit {}.get()
        #expect(received.withLock { $0 } == ["a": [3], "b": [3, 4]])
    }
}
