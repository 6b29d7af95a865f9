import Foundation
import MeshRelayTesting
import Testing

@Suite("Relay failover with real processes", .serialized)
struct FailoverTests {
    /// Two servers on one store, an agent configured with both: the first is SIGKILLed, the agent
    /// reaches the second and receives what is written there; its state never lost anything.
    @Test func theAgentReachesTheSecondServerWhenTheFirstIsKilled() async throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let certificates = try DevCertificates(clusters: ["cluster-1"])
        defer { certificates.remove() }
        let data = directory + "/data"
        let portA = try freePort()
        let portB = try freePort()
        let serverA = try await ServerProcess(dataDirectory: data, relayPort: portA, certificates: certificates.directory, extraArguments: ["--heartbeat-interval", "0.5"])
        let serverB = try await ServerProcess(dataDirectory: data, relayPort: portB, certificates: certificates.directory, extraArguments: ["--heartbeat-interval", "0.5"])

        let manifest = SeedManifests.stream([SeedManifests.cluster("cluster-1"), SeedManifests.google])
        let applied = try await runMeshrelay(["apply", "-f", "-", "--api", serverA.url, "--token-file", serverA.tokenFile], stdin: manifest)
        #expect(applied.exitCode == 0, "\(applied.stderr)")

        let agent = try AgentProcess(
            cluster: "cluster-1", servers: ["127.0.0.1:\(portA)", "127.0.0.1:\(portB)"], certificates: certificates.directory,
            stateDirectory: directory + "/agent"
        )
        #expect(await waitUntil { agent.heldNames() == ["google"] }, "agent log:\n\(agent.log.text)")

        // The agent took the first address.
        #expect(await waitUntil { serverA.log.text.contains("agent connected") })
        #expect(!serverB.log.text.contains("agent connected"))
        serverA.kill9()
        let more = SeedManifests.externalService(name: "payments", host: "api.payments.example.com")
        let second = try await runMeshrelay(["apply", "-f", "-", "--api", serverB.url, "--token-file", serverB.tokenFile], stdin: more)
        #expect(second.exitCode == 0, "\(second.stderr)")
        #expect(await waitUntil { agent.heldNames() == ["google", "payments"] }, "agent log:\n\(agent.log.text)")
        #expect(serverB.log.text.contains("agent connected"))

        // The status on B shows the agent connected and the resources applied.
        #expect(
            await waitUntil {
                let status = try? await runMeshrelay(["status", "-o", "json", "--api", serverB.url])
                guard let text = status?.stdout, let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else { return false }
                let cluster = (object["clusters"] as? [[String: Any]])?.first { $0["name"] as? String == "cluster-1" }
                let states = (object["resources"] as? [[String: Any]] ?? []).filter { $0["kind"] as? String == "ExternalService" }.map { $0["state"] as? String }
                return cluster?["connected"] as? Bool == true && states == ["ACCEPTED", "ACCEPTED"]
            }
        )
        #expect(agent.terminate() == 0, "the agent stops gracefully on SIGTERM")
        #expect(serverB.terminate() == 0)
    }

    /// The server is SIGKILLed while it holds an agent's session, then the agent: nothing marked the
    /// session ended. The restarted server does not report the cluster connected on the killed
    /// process's word (before the fix: "connected, lag 0" until the agent came back).
    @Test func aServerRestartedAfterKill9DoesNotReportTheSessionsOfTheKilledProcess() async throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let certificates = try DevCertificates(clusters: ["cluster-1"])
        defer { certificates.remove() }
        let data = directory + "/data"
        let port = try freePort()
        var server = try await ServerProcess(dataDirectory: data, relayPort: port, certificates: certificates.directory)
        let applied = try await runMeshrelay(
            ["apply", "-f", "-", "--api", server.url, "--token-file", server.tokenFile],
            stdin: SeedManifests.stream([SeedManifests.cluster("cluster-1"), SeedManifests.google])
        )
        #expect(applied.exitCode == 0, "\(applied.stderr)")
        let agent = try AgentProcess(cluster: "cluster-1", servers: ["127.0.0.1:\(port)"], certificates: certificates.directory, stateDirectory: directory + "/agent")
        #expect(await waitUntil { (try? await Self.clusterRecord(server.url))?["connected"] as? Bool == true }, "agent log:\n\(agent.log.text)")
        server.kill9()
        agent.kill9()

        server = try await ServerProcess(dataDirectory: data, relayPort: port, certificates: certificates.directory)
        let record = try #require(try await Self.clusterRecord(server.url))
        #expect(record["connected"] as? Bool == false, "\(record)")
        #expect(server.log.text.contains("clusters marked disconnected"), "\(server.log.text)")
        #expect(server.terminate() == 0)
    }

    /// cluster-1's entry of `status -o json`.
    static func clusterRecord(_ url: String) async throws -> [String: Any]? {
        let status = try await runMeshrelay(["status", "-o", "json", "--api", url])
        let object = try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any]
        return (object?["clusters"] as? [[String: Any]])?.first { $0["name"] as? String == "cluster-1" }
    }
}
