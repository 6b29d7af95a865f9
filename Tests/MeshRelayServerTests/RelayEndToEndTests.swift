import Foundation
import Logging
@testable import MeshRelayCLI
import MeshRelayAgent
import MeshRelayProtocol
import MeshRelayTesting
import Testing

/// A real server and real agents over mutual TLS on 127.0.0.1, certificates from openssl.
@Suite("Relay: server and agents converge", .serialized)
struct RelayEndToEndTests {
    static let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

    /// Starts an agent for `cluster`; returns it and the task running it.
    static func startAgent(cluster: String, certificates: String, relayPort: Int, stateDirectory: String) throws -> (RelayAgent, Task<Void, any Error>) {
        let agent = try RelayAgent(
            configuration: AgentConfiguration(
                cluster: cluster, servers: [RelayAddress(host: "127.0.0.1", port: relayPort)], certificatesDirectory: certificates,
                stateDirectory: stateDirectory, agentVersion: "test"
            ),
            logger: logger
        )
        let task = Task { try await agent.run() }
        return (agent, task)
    }

    /// Waits (bounded) until `condition` holds.
    static func eventually(_ what: String, timeout: Duration = .seconds(30), _ condition: () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        Issue.record("timed out waiting for: \(what)")
        throw CancellationError()
    }

    static func names(_ agent: RelayAgent) -> Set<String> {
        Set(agent.currentState().resources.keys.map(\.name))
    }

    @Test func threeClustersConvergeOnApplyUpdateAndDelete() async throws {
        let certificates = try DevCertificates(clusters: ["cluster-1", "cluster-2", "cluster-3"])
        defer { certificates.remove() }
        let states = FileManager.default.temporaryDirectory.appendingPathComponent("meshrelay-agents-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: states) }
        try await withTestServer(certificatesDirectory: certificates.directory, heartbeatInterval: .seconds(1)) { server in
            let relayPort = try #require(server.relayPort)
            let clusters = ["cluster-1", "cluster-2", "cluster-3"]
            let registration = SeedManifests.stream(clusters.map { SeedManifests.cluster($0) } + [SeedManifests.google])
            #expect(try await server.authorized.send(.POST, "/api/v1/apply", body: Array(registration.utf8)).status == 200)

            var agents: [(RelayAgent, Task<Void, any Error>)] = []
            for cluster in clusters {
                agents.append(try Self.startAgent(cluster: cluster, certificates: certificates.directory, relayPort: relayPort, stateDirectory: states + "/" + cluster))
            }
            defer { for (_, task) in agents { task.cancel() } }

            try await Self.eventually("every agent holds google") {
                agents.allSatisfy { Self.names($0.0) == ["google"] }
            }
            try await Self.eventually("status shows google applied in 3 clusters") {
                let status = try json(try await server.anonymous.send(.GET, "/api/v1/status"))
                let resources = status["resources"] as? [[String: Any]] ?? []
                let google = resources.first { $0["name"] as? String == "google" }
                let current = (status["clusters"] as? [[String: Any]] ?? []).filter {
                    $0["connected"] as? Bool == true && $0["lag"] as? Int == 0 && $0["appliedRevision"] as? Int == status["revision"] as? Int
                }.count
                return google?["state"] as? String == "ACCEPTED" && current == 3
            }

            // An update and a new resource propagate; a delete removes.
            let more = SeedManifests.stream([
                SeedManifests.externalService(name: "google", namespace: "global", host: "www.google.com", port: 8443),
                SeedManifests.externalService(name: "payments", host: "api.payments.example.com"),
            ])
            #expect(try await server.authorized.send(.POST, "/api/v1/apply", body: Array(more.utf8)).status == 200)
            try await Self.eventually("every agent holds the update") {
                agents.allSatisfy { agent in
                    let state = agent.0.currentState()
                    let google = state.resources.values.first { $0.key.name == "google" }
                    return Self.names(agent.0) == ["google", "payments"] && String(decoding: google?.specJSON ?? [], as: UTF8.self).contains("8443")
                }
            }
            #expect(try await server.authorized.send(.DELETE, "/apis/networking.gloo.solo.io/v2/namespaces/global/externalservices/payments").status == 200)
            try await Self.eventually("every agent dropped payments") {
                agents.allSatisfy { Self.names($0.0) == ["google"] }
            }

            // The relay's metrics.
            let metrics = try await server.anonymous.send(.GET, "/metrics").text
            for cluster in clusters {
                #expect(metrics.contains(#"meshrelay_agents_connected{cluster="\#(cluster)"} 1"#), "\(metrics)")
                #expect(metrics.contains(#"meshrelay_convergence_seconds_count{cluster="\#(cluster)"}"#))
            }
            #expect(metrics.contains(#"meshrelay_relay_frames_total{direction="in",type="HELLO"} 3"#))
            #expect(metrics.contains(#"meshrelay_relay_bytes_total{direction="out"}"#))
        }
    }

    @Test func anAgentWhoseHelloClaimsAnotherClusterIsRefused() async throws {
        let certificates = try DevCertificates(clusters: ["cluster-1", "cluster-2"])
        defer { certificates.remove() }
        // A folder where "cluster-2.crt" is in fact cluster-1's certificate.
        let impostor = FileManager.default.temporaryDirectory.appendingPathComponent("meshrelay-impostor-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: impostor, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: impostor) }
        try FileManager.default.copyItem(atPath: certificates.path("ca.crt"), toPath: impostor + "/ca.crt")
        try FileManager.default.copyItem(atPath: certificates.path("cluster-1.crt"), toPath: impostor + "/cluster-2.crt")
        try FileManager.default.copyItem(atPath: certificates.path("cluster-1.key"), toPath: impostor + "/cluster-2.key")
        let states = FileManager.default.temporaryDirectory.appendingPathComponent("meshrelay-agents-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: states) }

        try await withTestServer(certificatesDirectory: certificates.directory, heartbeatInterval: .seconds(1)) { server in
            let relayPort = try #require(server.relayPort)
            let registration = SeedManifests.stream([SeedManifests.cluster("cluster-1"), SeedManifests.cluster("cluster-2"), SeedManifests.google])
            #expect(try await server.authorized.send(.POST, "/api/v1/apply", body: Array(registration.utf8)).status == 200)
            let (agent, task) = try Self.startAgent(cluster: "cluster-2", certificates: impostor, relayPort: relayPort, stateDirectory: states)
            defer { task.cancel() }
            // Give it time to try (and be refused) several times.
            try await Task.sleep(for: .seconds(2))
            #expect(agent.currentState().resources.isEmpty, "an impostor must receive nothing")
            let status = try json(try await server.anonymous.send(.GET, "/api/v1/status"))
            let connected = (status["clusters"] as? [[String: Any]] ?? []).filter { $0["connected"] as? Bool == true }
            #expect(connected.isEmpty, "\(connected)")
        }
    }

    /// A server that dies between an agent's ACK and its status write (or a replica that never saw
    /// the ACK) must not leave the resource PENDING for ever: the agent's HELLO says what it holds,
    /// and the server records it without resending anything.
    @Test func aStatusWriteLostWithAServerIsRecoveredFromTheAgentsHello() async throws {
        let certificates = try DevCertificates(clusters: ["cluster-1"])
        defer { certificates.remove() }
        let states = FileManager.default.temporaryDirectory.appendingPathComponent("meshrelay-agents-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: states) }
        try await withTestServer(certificatesDirectory: certificates.directory, heartbeatInterval: .seconds(1)) { server in
            let relayPort = try #require(server.relayPort)
            let registration = SeedManifests.stream([SeedManifests.cluster("cluster-1"), SeedManifests.google])
            #expect(try await server.authorized.send(.POST, "/api/v1/apply", body: Array(registration.utf8)).status == 200)
            @Sendable func googleState() async throws -> String? {
                let status = try json(try await server.anonymous.send(.GET, "/api/v1/status"))
                return (status["resources"] as? [[String: Any]] ?? []).first { $0["name"] as? String == "google" }?["state"] as? String
            }
            @Sendable func clusterConnected() async throws -> Bool {
                let status = try json(try await server.anonymous.send(.GET, "/api/v1/status"))
                return (status["clusters"] as? [[String: Any]] ?? []).first { $0["name"] as? String == "cluster-1" }?["connected"] as? Bool == true
            }

            var (agent, task) = try Self.startAgent(cluster: "cluster-1", certificates: certificates.directory, relayPort: relayPort, stateDirectory: states)
            try await Self.eventually("the agent holds google and the status says so") {
                let state = try await googleState()
                return Self.names(agent) == ["google"] && state == "ACCEPTED"
            }
            task.cancel()
            _ = await task.result
            try await Self.eventually("the agent is recorded as disconnected") { !(try await clusterConnected()) }

            // What the cluster's agent acknowledged is lost, as if the server had died before
            // writing it: APPLIED, derived from the applied revision, is gone with it.
            let sqlite = Process()
            sqlite.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
            sqlite.arguments = [
                server.dataDirectory + "/meshrelay.db", "UPDATE cluster_status SET applied_revision = 0, applied_steps = NULL; DELETE FROM resource_status;",
            ]
            try sqlite.run()
            sqlite.waitUntilExit()
            #expect(sqlite.terminationStatus == 0)
            #expect(try await googleState() == "PENDING")

            let updatesBefore = try await Self.updatesSent(server)
            (agent, task) = try Self.startAgent(cluster: "cluster-1", certificates: certificates.directory, relayPort: relayPort, stateDirectory: states)
            defer { task.cancel() }
            try await Self.eventually("the reconnected agent's HELLO restores the status") {
                let connected = try await clusterConnected()
                let state = try await googleState()
                return connected && state == "ACCEPTED"
            }
            #expect(try await Self.updatesSent(server) == updatesBefore, "nothing was resent")
        }
    }

    /// The number of UPDATE frames the server sent, from its metrics.
    static func updatesSent(_ server: TestServer) async throws -> Int {
        let metrics = try await server.anonymous.send(.GET, "/metrics").text
        let prefix = #"meshrelay_relay_frames_total{direction="out",type="UPDATE"} "#
        let line = metrics.split(separator: "\n").first { $0.hasPrefix(prefix) }
        return line.flatMap { Int($0.dropFirst(prefix.count)) } ?? 0
    }
}
