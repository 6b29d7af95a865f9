import Foundation
import MeshRelayTesting
import Testing

/// `meshrelay check` against a real server, a real agent and its Envoy: exit 0 when all is well,
/// and for each fault exactly the check that names it fails, with the reason on its line.
@Suite("meshrelay check", .serialized)
struct CheckCommandTests {
    struct Outcome {
        var exitCode: Int32
        var text: String
        /// The names of the failed checks (`-o json`).
        var failed: [String]
        var details: [String]
    }

    /// One `check -o json` run (its exit code agrees with its `passed`), and the text output of a
    /// run right after it (the same state, unless something changed in between).
    static func check(_ url: String) async throws -> Outcome {
        let json = try await runMeshrelay(["check", "--api", url, "-o", "json"])
        let object = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any] ?? [:]
        let checks = object["checks"] as? [[String: Any]] ?? []
        let failed = checks.filter { $0["passed"] as? Bool == false }
        #expect((object["passed"] as? Bool) == failed.isEmpty && (json.exitCode == 0) == failed.isEmpty, "\(json.stdout)")
        let text = try await runMeshrelay(["check", "--api", url])
        return Outcome(
            exitCode: json.exitCode, text: text.stdout + text.stderr, failed: failed.compactMap { $0["name"] as? String },
            details: failed.flatMap { $0["details"] as? [String] ?? [] }
        )
    }

    /// Waits (bounded) until exactly `names` fail; the last outcome either way.
    static func waitForFailures(_ names: [String], url: String) async throws -> Outcome {
        var last = try await check(url)
        let deadline = ContinuousClock.now + .seconds(60)
        while last.failed != names && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(250))
            last = try await check(url)
        }
        return last
    }

    /// The processes whose parent is `pid` (from /proc).
    static func children(of pid: Int32) -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap(Int32.init).filter { candidate in
            guard let stat = try? String(contentsOfFile: "/proc/\(candidate)/stat", encoding: .utf8),
                let afterName = stat.range(of: ") ", options: .backwards)
            else { return false }
            // "PID (comm) STATE PPID …": the parent is the second field after the name.
            let fields = stat[afterName.upperBound...].split(separator: " ")
            return fields.count > 1 && Int32(fields[1]) == pid
        }
    }

    @Test func checkPassesWhenAllIsWellAndOtherwiseNamesTheFault() async throws {
        let envoy = try envoyBinary()
        let base = try await CertifiedServer.start(issued: ["cluster-1"], registered: ["cluster-1"])
        defer { base.stop() }
        let server = base.server
        func apply(_ manifest: String, delete: Bool = false) async throws {
            let result = try await runMeshrelay([delete ? "delete" : "apply", "-f", "-", "--api", server.url, "--token-file", server.tokenFile], stdin: manifest)
            #expect(result.exitCode == 0, "\(result.stderr)")
        }
        // The upstream standing in for www.google.com is the server's own API (/healthz answers 200).
        try await apply(
            SeedManifests.stream([
                EgressGatewayTests.pinned(SeedManifests.google, to: "www"),
                EgressGatewayTests.endpoint("google-www", namespace: "global", label: "www", port: server.port),
            ])
        )
        let gateway = try EgressGatewayTests.Gateway(cluster: "cluster-1", directory: base.directory, envoy: envoy)
        var agent = try gateway.start(relayPort: base.relayPort, certificates: base.certs, directory: base.directory)
        defer { _ = agent.terminate() }
        #expect(await gateway.answers("200", host: "www.google.com", path: "/healthz"), "agent log:\n\(agent.log.text)")

        // All well: exit 0, every line passes; plain ASCII without a terminal.
        let good = try await Self.waitForFailures([], url: server.url)
        #expect(good.exitCode == 0 && good.failed.isEmpty, "\(good.text)")
        #expect(good.text.contains("[ok]   every registered cluster has a connected agent (1/1)") && !good.text.contains("✓"), "\(good.text)")
        // The agent reports HEALTHY once it has read Envoy LIVE (it reads every 2 s).
        var healthy: [String: Any]?
        #expect(
            await waitUntil(timeout: .seconds(30)) {
                healthy = await clusterStatus(api: server.url, cluster: "cluster-1")
                return healthy?["dataPlane"] as? String == "HEALTHY" && (healthy?["dataPlaneMessage"] as? String ?? "").contains("Envoy LIVE")
            },
            "\(healthy ?? [:])"
        )

        // Envoy wedged (stopped, its admin silent): the data-plane check fails; resumed, it passes.
        let envoys = Self.children(of: agent.process.processIdentifier)
        #expect(envoys.count == 1, "the agent supervises one Envoy: \(envoys)")
        for pid in envoys { kill(pid, SIGSTOP) }
        let wedged = try await Self.waitForFailures(["dataPlanes"], url: server.url)
        for pid in envoys { kill(pid, SIGCONT) }
        #expect(wedged.exitCode == 1 && wedged.failed == ["dataPlanes"], "\(wedged.text)")
        #expect(wedged.details.contains { $0.hasPrefix("cluster-1: Envoy's admin") && $0.contains("does not answer") }, "\(wedged.text)")
        let resumed = try await Self.waitForFailures([], url: server.url)
        #expect(resumed.exitCode == 0, "healthy again once Envoy runs: \(resumed.text)")

        // A wildcard host without endpoints: the warnings check fails and names it.
        try await apply(SeedManifests.googleWildcard)
        let warned = try await Self.waitForFailures(["warnings"], url: server.url)
        #expect(warned.exitCode == 1 && warned.failed == ["warnings"], "\(warned.text)")
        #expect(warned.text.contains("[FAIL] no warnings") && warned.details.contains { $0.contains("google-wildcard") && $0.contains("bypass") }, "\(warned.text)")
        try await apply(SeedManifests.googleWildcard, delete: true)

        // A resource Envoy rejects (NACK): the failed check names it with Envoy's reason.
        try await apply(EgressGatewayTests.billing(caFile: "/etc/billing/ca-that-is-not-here.pem"))
        let nacked = try await Self.waitForFailures(["failed"], url: server.url)
        #expect(nacked.exitCode == 1 && nacked.failed == ["failed"], "\(nacked.text)")
        #expect(nacked.details.contains { $0.contains("billing-api FAILED") && $0.contains("ca-that-is-not-here") }, "\(nacked.text)")
        try await apply(EgressGatewayTests.billing(caFile: "/etc/billing/ca-that-is-not-here.pem"), delete: true)
        let cleared = try await Self.waitForFailures([], url: server.url)
        #expect(cleared.exitCode == 0, "\(cleared.text)")

        // The agent's certificate expires in 10 days.
        let reissued = try await runMeshrelay(["certs", "issue", "--dir", base.certs, "--cluster", "cluster-1", "--days", "10", "--force"])
        #expect(reissued.exitCode == 0, "\(reissued.stderr)")
        #expect(agent.terminate() == 0)
        agent = try gateway.start(relayPort: base.relayPort, certificates: base.certs, directory: base.directory)
        let expiring = try await Self.waitForFailures(["certificates"], url: server.url)
        #expect(expiring.exitCode == 1 && expiring.failed == ["certificates"], "\(expiring.text)")
        #expect(expiring.details.contains { $0.hasPrefix("agent of cluster-1: expires in 9 days") }, "\(expiring.text)")

        // The agent stopped: the agents check fails and says since when.
        #expect(agent.terminate() == 0)
        let stopped = try await Self.waitForFailures(["agents"], url: server.url)
        #expect(stopped.exitCode == 1 && stopped.failed == ["agents"], "\(stopped.text)")
        #expect(stopped.text.contains("[FAIL] every registered cluster has a connected agent (0/1)"), "\(stopped.text)")
        #expect(stopped.details.contains { $0.hasPrefix("cluster-1: disconnected since ") }, "\(stopped.text)")

        // No server at all: one failing line, exit 1.
        let nobody = try await runMeshrelay(["check", "--api", "http://127.0.0.1:\(try freePort())"])
        #expect(nobody.exitCode == 1 && nobody.stdout.contains("[FAIL] server reachable"), "\(nobody.stdout)\(nobody.stderr)")
    }
}
