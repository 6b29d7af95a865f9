import Foundation
import MeshRelayTesting
import Testing

/// `meshrelay certs` as an operator runs it; the folder it makes serves a real server and agent.
@Suite("meshrelay certs", .serialized)
struct CertsCommandTests {
    @Test func initIssueInspectAndARelaySessionOnTheFolder() async throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let certs = directory + "/certs"

        let initialized = try await runMeshrelay(["certs", "init", "--dir", certs, "--server-san", "localhost", "--server-san", "127.0.0.1"])
        #expect(initialized.exitCode == 0, "\(initialized.stderr)")
        #expect(initialized.stdout.contains("server.key (0600)"))
        let again = try await runMeshrelay(["certs", "init", "--dir", certs])
        #expect(again.exitCode == 2 && again.stderr.contains("--force"), "\(again.stderr)")
        let issued = try await runMeshrelay(["certs", "issue", "--dir", certs, "--cluster", "cluster-1", "--days", "30"])
        #expect(issued.exitCode == 0, "\(issued.stderr)")
        let bad = try await runMeshrelay(["certs", "issue", "--dir", certs, "--cluster", "Cluster_1"])
        #expect(bad.exitCode == 2 && bad.stderr.contains("DNS-1123"), "\(bad.stderr)")
        let missing = try await runMeshrelay(["certs", "issue", "--dir", directory + "/nowhere", "--cluster", "c"])
        #expect(missing.exitCode == 1 && missing.stderr.contains("certs init"), "\(missing.stderr)")

        let inspected = try await runMeshrelay(["certs", "inspect", certs + "/cluster-1.crt"])
        #expect(inspected.exitCode == 0)
        #expect(inspected.stdout.contains("agent of cluster \"cluster-1\""), "\(inspected.stdout)")
        #expect(inspected.stdout.contains("URI:spiffe://meshrelay/cluster/cluster-1"))
        let json = try await runMeshrelay(["certs", "inspect", certs + "/server.crt", "-o", "json"])
        let object = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        #expect(object?["role"] as? String == "server")
        #expect(object?["names"] as? [String] == ["DNS:localhost", "IP:127.0.0.1"])
        let key = try await runMeshrelay(["certs", "inspect", certs + "/server.key"])
        #expect(key.exitCode == 1 && key.stderr.contains("BEGIN CERTIFICATE"), "\(key.stderr)")

        // The folder serves `meshrelay server --certs-dir` and `meshrelay agent --certs-dir`.
        let relayPort = try freePort()
        let server = try await ServerProcess(dataDirectory: directory + "/data", relayPort: relayPort, certificates: certs)
        let registered = try await runMeshrelay(
            ["apply", "-f", "-", "--api", server.url, "--token-file", server.tokenFile], stdin: SeedManifests.cluster("cluster-1")
        )
        #expect(registered.exitCode == 0, "\(registered.stderr)")
        let agent = try AgentProcess(cluster: "cluster-1", servers: ["127.0.0.1:\(relayPort)"], certificates: certs, stateDirectory: directory + "/state")
        #expect(
            await waitUntil(timeout: .seconds(60)) { await clusterStatus(api: server.url, cluster: "cluster-1")?["connected"] as? Bool == true },
            "agent log:\n\(agent.log.text)"
        )
        #expect(agent.terminate() == 0)
        #expect(server.terminate() == 0)
    }
}
