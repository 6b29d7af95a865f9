import Foundation
import MeshRelayAgent
import MeshRelayProtocol
import Testing

@Suite("Agent state: what it holds, durably")
struct AgentStateTests {
    static func resource(_ name: String, version: Int64) -> RelayResource {
        RelayResource(
            key: RelayResourceKey(kind: "ExternalService", namespace: "global", name: name), version: version, generation: 1,
            labels: ["team": "a"], specJSON: Array(#"{"hosts":["\#(name).example.com"]}"#.utf8)
        )
    }

    @Test func acceptedUpsertsReplaceRejectedOnesKeepTheOldVersionRemovalsRemove() {
        var state = AgentState(cluster: "cluster-1")
        let first = Update(revision: 3, isSnapshot: true, upserts: [Self.resource("a", version: 1), Self.resource("b", version: 2)], removals: [])
        state.apply(first, results: first.upserts.map { ResourceResult(key: $0.key, version: $0.version, state: .applied) })
        #expect(state.held.map(\.version) == [1, 2])
        let second = Update(revision: 5, isSnapshot: false, upserts: [Self.resource("a", version: 4), Self.resource("c", version: 5)], removals: [Self.resource("b", version: 0).key])
        state.apply(second, results: [
            ResourceResult(key: Self.resource("a", version: 4).key, version: 4, state: .failed, message: "bad"),
            ResourceResult(key: Self.resource("c", version: 5).key, version: 5, state: .warning, message: "careful"),
        ])
        #expect(state.held.map { "\($0.key.name)@\($0.version)" } == ["a@1", "c@5"])
        #expect(state.held.map(\.warning) == ["", "careful"], "a version applied with a warning keeps it")
        #expect(state.appliedRevision == 5)
        let third = Update(revision: 6, isSnapshot: false, upserts: [Self.resource("c", version: 6)], removals: [])
        state.apply(third, results: [ResourceResult(key: Self.resource("c", version: 6).key, version: 6, state: .applied)])
        #expect(state.warnings.isEmpty, "a clean apply clears the warning")
    }

    @Test func theStateFileRoundTripsAndRefusesAnotherCluster() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("meshrelay-agent-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let file = AgentStateFile(directory: directory)
        #expect(try file.load(cluster: "cluster-1") == nil)
        var state = AgentState(cluster: "cluster-1", appliedRevision: 7)
        for resource in [Self.resource("a", version: 1), Self.resource("b", version: 7)] {
            state.resources[resource.key] = resource
        }
        state.warnings[Self.resource("b", version: 7).key] = "wildcard host without endpoints"
        state.resources[Self.resource("b", version: 7).key]?.creationTimestamp = "2026-11-30T18:05:00Z"
        try file.save(state)
        #expect(try file.load(cluster: "cluster-1") == state)
        #expect(!FileManager.default.fileExists(atPath: directory + "/.state.json.tmp"))
        #expect(throws: AgentError.self) { try file.load(cluster: "cluster-2") }
        try "{not json".write(toFile: file.path, atomically: true, encoding: .utf8)
        #expect(throws: AgentError.self) { try file.load(cluster: "cluster-1") }
    }
}
