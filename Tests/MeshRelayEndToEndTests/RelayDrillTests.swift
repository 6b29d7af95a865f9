import Foundation
import MeshRelayTesting
import Testing

/// Relay drills with real `meshrelay` processes on 127.0.0.1: drain on SIGTERM, blackholed peers
/// (SIGSTOP: the kernel keeps the connection up, the process answers nothing), a slowloris TLS
/// client, an unregistered cluster.
@Suite("Relay drills with real processes", .serialized)
struct RelayDrillTests {
    /// The heartbeat interval of these drills; a silent peer must be dropped within 3 of them.
    static let heartbeat = 1.0
    /// Scheduling slack allowed on top of 3 heartbeat intervals on this 2-core machine.
    static let slack: Duration = .seconds(3)

    /// How long after `start` the first of `entries` was logged (its `ts`); a day when none is.
    static func loggedAfter(_ start: Date, _ entries: [[String: Any]]) -> Duration {
        let format = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
        guard let text = entries.first?["ts"] as? String, let logged = try? Date(text, strategy: format) else { return .seconds(86400) }
        return .milliseconds(Int64(logged.timeIntervalSince(start) * 1000))
    }

    static func register(_ clusters: [String], on server: ServerProcess) async throws {
        let manifest = SeedManifests.stream(clusters.map { SeedManifests.cluster($0) } + [SeedManifests.google])
        let applied = try await runMeshrelay(["apply", "-f", "-", "--api", server.url, "--token-file", server.tokenFile], stdin: manifest)
        #expect(applied.exitCode == 0, "\(applied.stderr)")
    }

    /// A server on `port` sharing `directory/data` (so several servers share one store).
    static func server(_ directory: String, _ certificates: DevCertificates, port: Int, extra: [String] = []) async throws -> ServerProcess {
        try await ServerProcess(
            dataDirectory: directory + "/data", relayPort: port, certificates: certificates.directory,
            extraArguments: ["--heartbeat-interval", "\(heartbeat)"] + extra
        )
    }

    /// Two servers on one store, cluster-1 registered, and an agent given both addresses that has
    /// synchronised through the first.
    static func twoServersAndAnAgent(
        _ directory: String, _ certificates: DevCertificates, agentArguments: [String] = []
    ) async throws -> (a: ServerProcess, b: ServerProcess, portA: Int, portB: Int, agent: AgentProcess) {
        let portA = try freePort()
        let portB = try freePort()
        let serverA = try await server(directory, certificates, port: portA)
        let serverB = try await server(directory, certificates, port: portB)
        try await register(["cluster-1"], on: serverA)
        let agent = try AgentProcess(
            cluster: "cluster-1", servers: ["127.0.0.1:\(portA)", "127.0.0.1:\(portB)"], certificates: certificates.directory,
            stateDirectory: directory + "/agent", extraArguments: agentArguments
        )
        #expect(await waitUntil { agent.heldNames() == ["google"] && serverA.log.text.contains("agent connected") }, "agent log:\n\(agent.log.text)")
        return (serverA, serverB, portA, portB, agent)
    }

    /// On SIGTERM a server sends DRAIN: the agent goes to the next address at once, although its
    /// backoff would make it wait up to 30 s; the server exits 0 once its agents left.
    @Test func onSIGTERMTheAgentMovesToTheNextServerAtOnce() async throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let certificates = try DevCertificates(clusters: ["cluster-1"])
        defer { certificates.remove() }
        let (serverA, serverB, portA, portB, agent) = try await Self.twoServersAndAnAgent(
            directory, certificates, agentArguments: ["--reconnect-backoff-base", "30", "--reconnect-backoff-cap", "30", "--log-level", "debug"]
        )

        let exitA = serverA.terminate()
        #expect(exitA == 0, "a draining server exits cleanly")
        #expect(serverA.log.text.contains("draining agent sessions"))
        #expect(await waitUntil(timeout: .seconds(20)) { serverB.log.text.contains("agent connected") }, "agent log:\n\(agent.log.text)")
        // The agent logs its side once it has processed WELCOME, which may be after server B's line.
        #expect(
            await waitUntil(timeout: .seconds(20)) {
                !logEntries(agent.log.text, message: "connected to the relay server", fields: ["relay.server": "127.0.0.1:\(portB)"]).isEmpty
            },
            "agent log:\n\(agent.log.text)"
        )
        let log = agent.log.text
        #expect(!logEntries(log, message: "the relay server is draining", fields: ["relay.server": "127.0.0.1:\(portA)"]).isEmpty, "\(log)")
        #expect(logEntries(log, message: "reconnecting after backoff").isEmpty, "a drained agent does not wait for its backoff:\n\(log)")
        #expect(agent.heldNames() == ["google"], "moving never removes anything")
        #expect(agent.terminate() == 0)
        #expect(serverB.terminate() == 0)
    }

    /// A draining server stops accepting before it drains: an agent with only this server's
    /// address cannot open a new session that nobody drains, so the server exits as soon as its
    /// agents left, not at the end of its drain timeout (30 s here).
    @Test func aDrainingServerDoesNotAcceptNewSessions() async throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let certificates = try DevCertificates(clusters: ["cluster-1"])
        defer { certificates.remove() }
        let port = try freePort()
        let server = try await Self.server(directory, certificates, port: port, extra: ["--drain-timeout", "30"])
        try await Self.register(["cluster-1"], on: server)
        let agent = try AgentProcess(cluster: "cluster-1", servers: ["127.0.0.1:\(port)"], certificates: certificates.directory, stateDirectory: directory + "/agent")
        #expect(await waitUntil { agent.heldNames() == ["google"] && server.log.text.contains("agent connected") }, "agent log:\n\(agent.log.text)")
        let started = ContinuousClock.now
        #expect(server.terminate() == 0)
        let elapsed = ContinuousClock.now - started
        #expect(elapsed < .seconds(15), "the server waited \(elapsed) for a session opened while it drained:\n\(server.log.text)")
        #expect(server.log.text.components(separatedBy: "agent connected").count == 2, "one session only:\n\(server.log.text)")
        #expect(agent.heldNames() == ["google"])
        #expect(agent.terminate() == 0)
    }

    /// An agent that stops answering (SIGSTOP) is dropped by the server for missed heartbeats,
    /// within 3 intervals, and shows as disconnected; resumed, it comes back.
    @Test func aSilentAgentIsDroppedWithinThreeHeartbeats() async throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let certificates = try DevCertificates(clusters: ["cluster-1"])
        defer { certificates.remove() }
        let port = try freePort()
        let server = try await Self.server(directory, certificates, port: port)
        try await Self.register(["cluster-1"], on: server)
        let agent = try AgentProcess(cluster: "cluster-1", servers: ["127.0.0.1:\(port)"], certificates: certificates.directory, stateDirectory: directory + "/agent")
        #expect(await waitUntil { agent.heldNames() == ["google"] && server.log.text.contains("agent connected") }, "agent log:\n\(agent.log.text)")

        agent.stop()
        let stopped = Date()
        let detected = await waitUntil(timeout: .seconds(30)) {
            !logEntries(server.log.text, message: "relay session closing", fields: ["relay.code": "heartbeatTimeout"]).isEmpty
        }
        // Measured by the server's own log timestamp, not by when this test's polling saw it.
        let elapsed = Self.loggedAfter(stopped, logEntries(server.log.text, message: "relay session closing", fields: ["relay.code": "heartbeatTimeout"]))
        // Still stopped, so it cannot have come back yet: the status shows it disconnected.
        let shownDisconnected = await waitUntil { await clusterStatus(api: server.url, cluster: "cluster-1")?["connected"] as? Bool == false }
        agent.resume()
        #expect(detected, "server log:\n\(server.log.text)")
        #expect(elapsed <= .seconds(3 * Self.heartbeat) + Self.slack, "detected after \(elapsed)")
        #expect(shownDisconnected)
        print("blackholed agent detected by the server after \(elapsed) (heartbeat \(Self.heartbeat) s)")

        // Resumed, the agent finds its connection closed and comes back.
        #expect(
            await waitUntil { await clusterStatus(api: server.url, cluster: "cluster-1")?["connected"] as? Bool == true },
            "agent log:\n\(agent.log.text)"
        )
        #expect(agent.terminate() == 0)
        #expect(server.terminate() == 0)
    }

    /// A server that stops answering (SIGSTOP) is dropped by the agent within 3 intervals, and the
    /// agent moves to the next server.
    @Test func aSilentServerIsDroppedWithinThreeHeartbeats() async throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let certificates = try DevCertificates(clusters: ["cluster-1"])
        defer { certificates.remove() }
        let (serverA, serverB, _, _, agent) = try await Self.twoServersAndAnAgent(directory, certificates)

        serverA.stop()
        defer {
            serverA.resume()
            _ = serverA.terminate()
        }
        let stopped = Date()
        let detected = await waitUntil(timeout: .seconds(30)) {
            !logEntries(agent.log.text, message: "closing the connection", fields: ["relay.code": "heartbeatTimeout"]).isEmpty
        }
        let elapsed = Self.loggedAfter(stopped, logEntries(agent.log.text, message: "closing the connection", fields: ["relay.code": "heartbeatTimeout"]))
        #expect(detected, "agent log:\n\(agent.log.text)")
        #expect(elapsed <= .seconds(3 * Self.heartbeat) + Self.slack, "detected after \(elapsed)")
        print("blackholed server detected by the agent after \(elapsed) (heartbeat \(Self.heartbeat) s)")
        #expect(await waitUntil { serverB.log.text.contains("agent connected") }, "agent log:\n\(agent.log.text)")
        #expect(agent.heldNames() == ["google"])
        #expect(agent.terminate() == 0)
        #expect(serverB.terminate() == 0)
    }

    /// A client that opens a TCP connection and dribbles a byte of TLS now and then never gets a
    /// session: the server drops it at the handshake deadline and keeps serving.
    @Test func aSlowlorisTLSClientIsDroppedAtTheHandshakeDeadline() async throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let certificates = try DevCertificates(clusters: ["cluster-1"])
        defer { certificates.remove() }
        let port = try freePort()
        let server = try await Self.server(directory, certificates, port: port, extra: ["--handshake-timeout", "1"])
        let connectedAt = Date()
        let descriptor = try connectLoopback(port: port)
        defer { close(descriptor) }
        let started = ContinuousClock.now
        var closed = false
        // A TLS handshake record header, one byte at a time, every 200 ms (bounded: 15 s).
        let dribble: [UInt8] = [0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03] + Array(repeating: 0, count: 64)
        for byte in dribble where ContinuousClock.now - started < .seconds(15) {
            var value = byte
            if send(descriptor, &value, 1, Int32(MSG_NOSIGNAL)) < 0 {
                closed = true
                break
            }
            var buffer = [UInt8](repeating: 0, count: 512)
            let received = recv(descriptor, &buffer, buffer.count, Int32(MSG_DONTWAIT))
            if received == 0 || (received < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
                closed = true
                break
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        #expect(closed, "the server kept a handshake open for \(ContinuousClock.now - started)")
        #expect(
            await waitUntil { !logEntries(server.log.text, message: "relay client did not complete TLS in time").isEmpty },
            "server log:\n\(server.log.text)"
        )
        // Measured by the server's own log line (the test's polling is slow on a loaded machine).
        let elapsed = Self.loggedAfter(connectedAt, logEntries(server.log.text, message: "relay client did not complete TLS in time"))
        #expect(elapsed >= .milliseconds(900) && elapsed <= .seconds(1) + Self.slack, "closed after \(elapsed)")
        // The server still serves agents.
        try await Self.register(["cluster-1"], on: server)
        let agent = try AgentProcess(cluster: "cluster-1", servers: ["127.0.0.1:\(port)"], certificates: certificates.directory, stateDirectory: directory + "/agent")
        #expect(await waitUntil { agent.heldNames() == ["google"] }, "agent log:\n\(agent.log.text)")
        #expect(agent.terminate() == 0)
        #expect(server.terminate() == 0)
    }

    /// An agent with a valid certificate for a cluster that has no KubernetesCluster is refused
    /// (REFUSE unknownCluster) with a reason it logs, receives nothing, and is not shown connected.
    @Test func anUnregisteredClusterIsRefusedWithAReasonTheAgentLogs() async throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let certificates = try DevCertificates(clusters: ["cluster-1", "cluster-2"])
        defer { certificates.remove() }
        let port = try freePort()
        let server = try await Self.server(directory, certificates, port: port)
        try await Self.register(["cluster-1"], on: server)
        let agent = try AgentProcess(cluster: "cluster-2", servers: ["127.0.0.1:\(port)"], certificates: certificates.directory, stateDirectory: directory + "/agent")
        #expect(
            await waitUntil { !logEntries(agent.log.text, message: "the relay server refused the session", fields: ["relay.code": "unknownCluster"]).isEmpty },
            "agent log:\n\(agent.log.text)"
        )
        let refusal = logEntries(agent.log.text, message: "the relay server refused the session").first
        #expect((refusal?["relay.message"] as? String)?.contains("apply a KubernetesCluster named \"cluster-2\"") == true, "\(refusal ?? [:])")
        #expect(agent.heldNames().isEmpty)
        #expect(await clusterStatus(api: server.url, cluster: "cluster-2")?["connected"] as? Bool != true)
        #expect(agent.terminate() == 0)
        #expect(server.terminate() == 0)
    }
}
