import Foundation
import MeshRelayTesting
import Testing

/// `meshrelay describe externalservice` against a real server and agent (writing Istio output, so
/// that it translates and reports warnings): selected endpoints, who wins a shared host:port, and
/// the events with their times.
@Suite("meshrelay describe", .serialized)
struct DescribeTests {
    static func copy(named name: String) -> String {
        SeedManifests.google.replacingOccurrences(of: "name: google\n", with: "name: \(name)\n")
    }

    @Test func describeShowsEndpointsConflictsAndEvents() async throws {
        let base = try await CertifiedServer.start(issued: ["cluster-1"], registered: ["cluster-1"])
        defer { base.stop() }
        let server = base.server
        func apply(_ manifest: String) async throws {
            let result = try await runMeshrelay(["apply", "-f", "-", "--api", server.url, "--token-file", server.tokenFile], stdin: manifest)
            #expect(result.exitCode == 0, "\(result.stderr)")
        }
        try await apply(
            SeedManifests.stream([
                EgressGatewayTests.pinned(SeedManifests.google, to: "www"),
                EgressGatewayTests.endpoint("google-www", namespace: "global", label: "www", port: 8080),
            ])
        )
        let agent = try AgentProcess(
            cluster: "cluster-1", servers: ["127.0.0.1:\(base.relayPort)"], certificates: base.certs, stateDirectory: base.directory + "/agent",
            extraArguments: ["--istio-dir", base.directory + "/istio"]
        )
        defer { _ = agent.terminate() }
        // A newer service asking for the same host and port: the older one wins.
        try await Task.sleep(for: .milliseconds(1100))  // creation times have second precision
        try await apply(Self.copy(named: "google-copy"))

        func describe(_ name: String) async throws -> String {
            let result = try await runMeshrelay(["describe", "externalservice", name, "-n", "global", "--api", server.url])
            #expect(result.exitCode == 0, "\(result.stderr)")
            return result.stdout
        }
        var loser = ""
        #expect(
            await waitUntil(timeout: .seconds(60)) {
                loser = (try? await describe("google-copy")) ?? ""
                return loser.contains("conflict")
            },
            "\(loser)\n\(agent.log.text)"
        )
        #expect(loser.contains("WARNING"), "\(loser)")
        #expect(
            loser.contains("Conflict:         www.google.com:80 asked for by ExternalService global/google, ExternalService global/google-copy; ExternalService global/google wins"),
            "\(loser)"
        )
        #expect(loser.contains("Endpoints:        <none: hosts resolved by DNS>"), "\(loser)")

        let winner = try await describe("google")
        #expect(winner.contains("Endpoints:        global/google-www"), "\(winner)")
        #expect(winner.contains("; this service wins"), "\(winner)")
        #expect(winner.contains("APPLIED") && winner.contains(" s "), "the apply time is shown: \(winner)")
        // Events: committed, then applied by cluster-1, with RFC 3339 times.
        let events = winner.components(separatedBy: "Events:").last ?? ""
        #expect(events.contains("committed") && events.contains("applied by cluster-1"), "\(winner)")
        #expect(events.range(of: #"20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z\s+applied"#, options: .regularExpression) != nil, "\(events)")
    }
}
