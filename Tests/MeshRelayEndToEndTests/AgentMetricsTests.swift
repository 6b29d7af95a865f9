import Foundation
import MeshRelayTesting
import Testing

/// The agent's `--metrics-listen` endpoint and the server's `/metrics`, with a real agent and its
/// Envoy: what an operator scrapes and probes shows connection, apply, lag and data-plane health,
/// and readiness follows the data plane, not the relay server.
@Suite("Agent and server metrics", .serialized)
struct AgentMetricsTests {
    /// `(status line, body)` of `GET path` on 127.0.0.1:port.
    static func get(_ port: Int, _ path: String) -> (String, String) {
        let answer = exchange(port: port, "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", timeout: 10) ?? ""
        let status = answer.components(separatedBy: "\r\n").first ?? ""
        let body = answer.range(of: "\r\n\r\n").map { String(answer[$0.upperBound...]) } ?? ""
        return (status, body)
    }

    /// The value of the first sample of `metric` whose line starts with `prefix`.
    static func sample(_ text: String, _ prefix: String) -> Double? {
        text.split(separator: "\n").first { $0.hasPrefix(prefix + " ") }.flatMap { Double($0.split(separator: " ").last ?? "") }
    }

    @Test func scrapesAndProbesShowWhatTheAgentDoes() async throws {
        let envoy = try envoyBinary()
        let base = try await CertifiedServer.start(issued: ["cluster-1"], registered: ["cluster-1"])
        defer { base.stop() }
        let server = base.server
        let applied = try await runMeshrelay(["apply", "-f", "-", "--api", server.url, "--token-file", server.tokenFile], stdin: SeedManifests.google)
        #expect(applied.exitCode == 0, "\(applied.stderr)")
        let metricsPort = try freePort()
        let gateway = try EgressGatewayTests.Gateway(cluster: "cluster-1", directory: base.directory, envoy: envoy)
        let agent = try AgentProcess(
            cluster: "cluster-1", servers: ["127.0.0.1:\(base.relayPort)"], certificates: base.certs, stateDirectory: base.directory + "/state",
            extraArguments: gateway.arguments + ["--metrics-listen", "127.0.0.1:\(metricsPort)", "--reconnect-backoff-cap", "1"]
        )
        defer { _ = agent.terminate() }

        var metrics = ""
        #expect(
            await waitUntil(timeout: .seconds(60)) {
                metrics = Self.get(metricsPort, "/metrics").1
                return Self.sample(metrics, "meshrelay_agent_connected") == 1 && Self.sample(metrics, "meshrelay_agent_applied_revision") == 2
                    && Self.sample(metrics, "meshrelay_agent_data_plane_healthy") == 1
            },
            "\(metrics)\n\(agent.log.text)"
        )
        #expect(Self.sample(metrics, "meshrelay_agent_data_plane_confirmed_revision") == 2, "\(metrics)")
        #expect(Self.sample(metrics, "meshrelay_agent_resources") == 1, "\(metrics)")
        #expect(metrics.contains("meshrelay_agent_apply_seconds_count 1") || metrics.contains("meshrelay_agent_apply_seconds_count{"), "\(metrics)")
        #expect(Self.get(metricsPort, "/healthz") == ("HTTP/1.1 200 OK", "ok\n"))
        let ready = Self.get(metricsPort, "/readyz")
        #expect(ready.0 == "HTTP/1.1 200 OK" && ready.1.hasPrefix("ready: data plane HEALTHY (Envoy LIVE"), "\(ready)")

        // The server's side: connected agents, lag, convergence, frames.
        let serverMetrics = Self.get(server.port, "/metrics").1
        #expect(Self.sample(serverMetrics, #"meshrelay_agents_connected{cluster="cluster-1"}"#) == 1, "\(serverMetrics)")
        #expect(Self.sample(serverMetrics, #"meshrelay_cluster_lag_revisions{cluster="cluster-1"}"#) == 0, "\(serverMetrics)")
        #expect(serverMetrics.contains("meshrelay_convergence_seconds"), "\(serverMetrics)")
        #expect(serverMetrics.contains("meshrelay_relay_frames_total"), "\(serverMetrics)")

        // The server goes away: the agent is not connected and counts its reconnects, but stays
        // ready — Envoy keeps serving what it has.
        _ = server.terminate()
        #expect(
            await waitUntil(timeout: .seconds(30)) {
                metrics = Self.get(metricsPort, "/metrics").1
                return Self.sample(metrics, "meshrelay_agent_connected") == 0 && (Self.sample(metrics, "meshrelay_agent_reconnects_total") ?? 0) >= 1
            },
            "\(metrics)"
        )
        let stillReady = Self.get(metricsPort, "/readyz")
        #expect(stillReady.0 == "HTTP/1.1 200 OK" && stillReady.1.contains("relay not connected"), "\(stillReady)")

        // Envoy wedged: not ready.
        let envoys = CheckCommandTests.children(of: agent.process.processIdentifier)
        for pid in envoys { kill(pid, SIGSTOP) }
        defer { for pid in envoys { kill(pid, SIGCONT) } }
        var notReady = ("", "")
        #expect(
            await waitUntil(timeout: .seconds(60)) {
                notReady = Self.get(metricsPort, "/readyz")
                return notReady.0 == "HTTP/1.1 503 Service Unavailable"
            },
            "\(notReady)"
        )
        #expect(notReady.1.hasPrefix("not ready: data plane UNHEALTHY"), "\(notReady)")
        #expect(Self.sample(Self.get(metricsPort, "/metrics").1, "meshrelay_agent_data_plane_healthy") == 0)
    }

    /// Readiness of a fresh agent waits for its first synchronisation; an agent restarted with a
    /// state file is ready without a server (static stability).
    @Test func aFreshAgentIsReadyOnlyAfterItsFirstSyncARestartedOneAtOnce() async throws {
        let base = try await CertifiedServer.start(issued: ["cluster-1"], registered: ["cluster-1"])
        defer { base.stop() }
        let state = base.directory + "/state"
        func agent(port: Int, metrics: Int) throws -> AgentProcess {
            try AgentProcess(
                cluster: "cluster-1", servers: ["127.0.0.1:\(port)"], certificates: base.certs, stateDirectory: state,
                extraArguments: ["--metrics-listen", "127.0.0.1:\(metrics)", "--reconnect-backoff-cap", "1"]
            )
        }
        // No server at that address: alive, not ready.
        let deadPort = try freePort()
        var metrics = try freePort()
        let fresh = try agent(port: deadPort, metrics: metrics)
        #expect(await waitUntil(timeout: .seconds(30)) { Self.get(metrics, "/healthz").0 == "HTTP/1.1 200 OK" }, "\(fresh.log.text)")
        let waiting = Self.get(metrics, "/readyz")
        #expect(waiting.0 == "HTTP/1.1 503 Service Unavailable" && waiting.1.contains("nothing applied yet"), "\(waiting)")
        #expect(fresh.terminate() == 0)

        // The first synchronisation makes it ready.
        metrics = try freePort()
        let synced = try agent(port: base.relayPort, metrics: metrics)
        #expect(
            await waitUntil(timeout: .seconds(60)) { Self.get(metrics, "/readyz").0 == "HTTP/1.1 200 OK" },
            "\(Self.get(metrics, "/readyz"))\n\(synced.log.text)"
        )
        #expect(synced.terminate() == 0)

        // Restarted with its state file and no server: ready at once.
        metrics = try freePort()
        let restarted = try agent(port: deadPort, metrics: metrics)
        defer { _ = restarted.terminate() }
        var ready = ("", "")
        #expect(
            await waitUntil(timeout: .seconds(30)) {
                ready = Self.get(metrics, "/readyz")
                return ready.0 == "HTTP/1.1 200 OK"
            },
            "\(ready)"
        )
        #expect(ready.1.contains("relay not connected"), "\(ready)")
    }
}
