import Foundation
import Logging
import MeshRelayModel
import MeshRelayProtocol
@testable import MeshRelayServer
import MeshRelayStore
import MeshRelayTesting
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
        let id = hub.register(cluster: "cluster-1", push: { view in pushed.withLock { $0.append(view) } }, drain: {})
        defer { hub.unregister(id) }
        let received = pushed.withLock { $0 }
        #expect(received.map(\.revision) == [views.revision])
        #expect(Set(received.first?.resources.keys.map(\.name) ?? []) == ["google", "payments"])
    }
}
