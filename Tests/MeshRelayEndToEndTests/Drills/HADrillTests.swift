import Foundation
import MeshRelayModel
import MeshRelayTesting
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The failover drills of docs/drills.md: real `meshrelay` replicas on a real PostgreSQL
/// started by the drill, real agents, a real Envoy where traffic is claimed. Each prints its
/// figures (`drill …:`) for the doc.
@Suite("Drills: high availability on PostgreSQL", .serialized)
struct HADrillTests {
    /// A python http.server standing in for the internet.
    static func upstream(_ directory: String) throws -> (ChildProcess, Int) {
        let port = try freePort()
        try FileManager.default.createDirectory(atPath: directory + "/www", withIntermediateDirectories: true)
        try "hello from upstream\n".write(toFile: directory + "/www/index.html", atomically: true, encoding: .utf8)
        let process = try ChildProcess(
            name: "upstream", executable: "/usr/bin/env",
            arguments: ["python3", "-m", "http.server", "\(port)", "--bind", "127.0.0.1", "--directory", directory + "/www"],
            logPath: directory + "/upstream.log"
        )
        return (process, port)
    }

    /// www.google.com through the ExternalEndpoint `google-www` to the upstream.
    static func routedGoogle(upstreamPort: Int) -> String {
        SeedManifests.stream([
            GuideManifests.pinned(SeedManifests.google, to: "www"),
            GuideManifests.endpoint("google-www", namespace: "global", label: "www", port: upstreamPort),
        ])
    }

    // MARK: - 1. Server SIGKILL during a stream of writes

    /// 1,000 API writes to replica A, which is SIGKILLed after 300 acknowledgements; the rest go
    /// to replica B. Every acknowledged write is stored and reaches both agents (one connected
    /// to A first, one to B); Envoy, whose agent was on A, keeps routing while A is down.
    @Test func aServerKilledDuringAStreamOfWritesLosesNoAcknowledgedWrite() async throws {
        let envoy = try envoyBinary()
        let ha = try await HAReplicas.start(clusters: ["cluster-1", "cluster-2"])
        defer { ha.stop() }
        let (upstream, upstreamPort) = try Self.upstream(ha.directory)
        defer { upstream.stop() }
        #expect(ha.post(0, Self.routedGoogle(upstreamPort: upstreamPort)) == 200)

        let gateway = try EgressGatewayTests.Gateway(cluster: "cluster-1", directory: ha.directory, envoy: envoy)
        let agent1 = try ha.agent("cluster-1", order: [0, 1], extraArguments: gateway.arguments)
        let agent2 = try ha.agent("cluster-2", order: [1, 0])
        defer {
            _ = agent1.terminate()
            _ = agent2.terminate()
        }
        #expect(await gateway.answers("200", host: "www.google.com"), "agent log:\n\(agent1.log.text)")
        #expect(await waitUntil { agent2.heldNames().contains("google") })

        let total = 1000
        let acknowledged = Mutex<[String]>([])
        let writer = Task.detached {
            var target = 0
            var failedOnA = 0
            for index in 0..<total {
                let name = "w\(index)"
                var code = ha.post(target, drillService(name))
                if code == nil && target == 0 {
                    // A is gone: this write's fate is unknown (not acknowledged); go on with B.
                    failedOnA += 1
                    target = 1
                    code = ha.post(target, drillService(name))
                }
                if code == 200 { acknowledged.withLock { $0.append(name) } }
            }
            return failedOnA
        }
        #expect(await waitUntil(timeout: .seconds(120)) { acknowledged.withLock { $0.count } >= 300 })
        let killedAt = Date()
        ha.replicas[0].kill9()
        // While A is down and before agent-1 moved, Envoy keeps routing what it has.
        var routedWhileDown = 0
        for _ in 0..<20 where EgressGatewayTests.request(gateway.egressPort, host: "www.google.com").hasPrefix("HTTP/1.1 200") {
            routedWhileDown += 1
        }
        #expect(routedWhileDown == 20, "Envoy must keep routing while its server is down")
        _ = await writer.value
        let lastWrite = Date()
        let acked = Set(acknowledged.withLock { $0 })
        #expect(acked.count >= total - 2, "almost every write is acknowledged (one in flight at the kill may not be)")

        let listed = try await ha.meshrelay(1, ["get", "externalservices", "-n", "global", "-o", "json"])
        let list = try JSONSerialization.jsonObject(with: Data(listed.stdout.utf8)) as? [String: Any]
        let stored = Set((list?["items"] as? [[String: Any]] ?? []).compactMap { ($0["metadata"] as? [String: Any])?["name"] as? String })
        #expect(stored.count > 0, "\(listed.stderr)")
        let lost = acked.subtracting(stored)
        #expect(lost.isEmpty, "acknowledged but not stored: \(lost.sorted().prefix(10))")
        let expected = acked.union(["google"])
        let converged = await waitUntil(timeout: .seconds(120)) { agent1.heldNames().isSuperset(of: expected) && agent2.heldNames().isSuperset(of: expected) }
        #expect(converged, "agents hold every acknowledged write")
        let convergedAfter = Date().timeIntervalSince(lastWrite)
        let writesAfterKill = lastWrite.timeIntervalSince(killedAt)
        #expect(EgressGatewayTests.request(gateway.egressPort, host: "www.google.com").hasPrefix("HTTP/1.1 200"))
        print("drill kill-during-writes: \(acked.count)/\(total) acknowledged, \(lost.count) lost, the \(total - 300)-odd writes after the kill took \(String(format: "%.1f", writesAfterKill)) s through replica-b, agents held all \(String(format: "%.1f", convergedAfter)) s after the last, Envoy routed \(routedWhileDown)/20 during the outage")
    }

    // MARK: - 2. Replica failover

    /// Five agents on replica A; A is SIGKILLed; every agent reaches B within the backoff bound,
    /// and writes through B reach them.
    @Test func agentsOfAKilledReplicaReachTheOtherWithinTheBackoffBound() async throws {
        let clusters = (1...5).map { "cluster-\($0)" }
        let ha = try await HAReplicas.start(clusters: clusters)
        defer { ha.stop() }
        let agents = try clusters.map { try ha.agent($0, order: [0, 1]) }
        defer { for agent in agents { _ = agent.terminate() } }
        #expect(await waitUntil(timeout: .seconds(60)) { agents.allSatisfy { $0.heldNames() == ["google"] } })
        #expect(await waitUntil { logEntries(ha.replicas[0].log.text, message: "agent connected").count == clusters.count })

        let killed = Date()
        ha.replicas[0].kill9()
        let moved = await waitUntil(timeout: .seconds(30)) { logEntries(ha.replicas[1].log.text, message: "agent connected").count == clusters.count }
        #expect(moved, "replica-b log:\n\(ha.replicas[1].log.text)")
        let times = loggedTimes(logEntries(ha.replicas[1].log.text, message: "agent connected")).map { $0.timeIntervalSince(killed) }.sorted()
        // Bound: the first reconnect is drawn from 0…0.2 s (full jitter), then TLS and HELLO.
        let worst = times.last ?? 99
        #expect(worst < 3, "every agent on replica-b within 3 s of the kill (\(times))")

        #expect(ha.post(1, drillService("after-failover")) == 200)
        #expect(await waitUntil(timeout: .seconds(30)) { agents.allSatisfy { $0.heldNames() == ["google", "after-failover"] } })
        let statuses = try await ha.meshrelay(1, ["status", "-o", "json"])
        let object = try JSONSerialization.jsonObject(with: Data(statuses.stdout.utf8)) as? [String: Any]
        let connected = (object?["clusters"] as? [[String: Any]] ?? []).filter { $0["connected"] as? Bool == true }.count
        #expect(connected == clusters.count)
        print("drill replica-failover: \(clusters.count) agents on replica-b \(times.map { String(format: "%.2f", $0) }.joined(separator: ", ")) s after the kill")
    }

    // MARK: - 3. PostgreSQL restart under load

    /// PostgreSQL stops while a writer keeps writing through both replicas: both turn not-ready
    /// and answer every write 503 (never 500, never a hang); PostgreSQL back, they recover without
    /// a restart; every acknowledged write is stored and reaches the agent.
    @Test func aPostgreSQLRestartMakesReplicasNotReadyThenTheyRecoverWithoutRestart() async throws {
        let ha = try await HAReplicas.start(clusters: ["cluster-1"], extraArguments: ["--store-timeout", "2"])
        defer { ha.stop() }
        let agent = try ha.agent("cluster-1", order: [0, 1])
        defer { _ = agent.terminate() }
        #expect(await waitUntil { agent.heldNames() == ["google"] })
        #expect(ha.readyz(0) == 200 && ha.readyz(1) == 200)

        // Load: a writer alternating between the replicas for the whole drill, one write
        // every 50 ms; every answer is recorded.
        let stop = Mutex(false)
        let answers = Mutex<[(name: String, code: Int?)]>([])
        let writer = Task.detached {
            var index = 0
            while !stop.withLock({ $0 }) {
                let name = "load-\(index)"
                let code = ha.post(index % 2, drillService(name))
                answers.withLock { $0.append((name, code)) }
                index += 1
                try? await Task.sleep(for: .milliseconds(50))
            }
        }
        #expect(await waitUntil { answers.withLock { $0.count } >= 20 })

        ha.postgres.stop(mode: "fast")
        let stopped = Date()
        let beforeStop = answers.withLock { $0.count }
        #expect(await waitUntil(timeout: .seconds(30)) { ha.readyz(0) == 503 && ha.readyz(1) == 503 }, "not ready without the store")
        let notReadyAfter = Date().timeIntervalSince(stopped)
        // A few more writes while it is down, then PostgreSQL comes back.
        #expect(await waitUntil(timeout: .seconds(30)) { answers.withLock { $0.dropFirst(beforeStop).filter { $0.code == 503 }.count } >= 6 })

        try await ha.postgres.startProcess()
        let restarted = Date()
        #expect(await waitUntil(timeout: .seconds(60)) { ha.readyz(0) == 200 && ha.readyz(1) == 200 }, "ready again without a restart")
        let readyAfter = Date().timeIntervalSince(restarted)
        let afterReady = answers.withLock { $0.count }
        #expect(await waitUntil(timeout: .seconds(30)) { answers.withLock { $0.dropFirst(afterReady).contains { $0.code == 200 } } })
        stop.withLock { $0 = true }
        await writer.value

        let all = answers.withLock { $0 }
        let acknowledged = Set(all.filter { $0.code == 200 }.map(\.name))
        let refused = all.filter { $0.code == 503 }.count
        let other = all.filter { $0.code != 200 && $0.code != 503 }
        // Only 200 or 503: never a 500, a hang past the timeout or a dropped connection.
        #expect(other.isEmpty, "answers other than 200 and 503: \(other.prefix(5))")
        #expect(refused >= 6)
        let listed = try await ha.meshrelay(1, ["get", "externalservices", "-n", "global", "-o", "json"])
        let list = try JSONSerialization.jsonObject(with: Data(listed.stdout.utf8)) as? [String: Any]
        let stored = Set((list?["items"] as? [[String: Any]] ?? []).compactMap { ($0["metadata"] as? [String: Any])?["name"] as? String })
        #expect(acknowledged.isSubset(of: stored), "acknowledged but lost: \(acknowledged.subtracting(stored).sorted().prefix(5))")
        #expect(await waitUntil(timeout: .seconds(60)) { agent.heldNames().isSuperset(of: acknowledged) }, "agent log:\n\(agent.log.text)")
        #expect(ha.replicas.allSatisfy { $0.process.isRunning })
        print("drill postgres-restart: \(all.count) writes (one every 50 ms after each answer) across both replicas: \(acknowledged.count) acknowledged (all stored, all reached the agent), \(refused) refused with 503, \(other.count) other answers; not ready \(String(format: "%.1f", notReadyAfter)) s after the stop, ready \(String(format: "%.1f", readyAfter)) s after the start, no replica restarted")
    }

    // MARK: - 4. Partition

    /// The agent↔replica connection is blackholed (iptables DROP both ways on the relay port):
    /// both sides detect it within 3 heartbeats, the agent keeps its configuration, and healing
    /// resyncs only the difference.
    @Test(.enabled(if: getuid() == 0, "needs root (CAP_NET_ADMIN) for iptables"))
    func aPartitionIsDetectedWithinThreeHeartbeatsAndHealingSendsOnlyTheDifference() async throws {
        try #require(Blackhole.available, "iptables is not installed (apt-get install iptables; .ci/run does)")
        let ha = try await HAReplicas.start(count: 1, clusters: ["cluster-1"])
        defer { ha.stop() }
        for index in 0..<20 { #expect(ha.post(0, drillService("base-\(index)")) == 200) }
        let agent = try ha.agent("cluster-1", order: [0])
        defer { _ = agent.terminate() }
        let base = Set((0..<20).map { "base-\($0)" } + ["google"])
        #expect(await waitUntil { agent.heldNames() == base })

        let blackhole = Blackhole(port: ha.relayPorts[0])
        try blackhole.start()
        defer { blackhole.heal() }
        let cut = Date()
        let agentDetected = await waitUntil(timeout: .seconds(20)) {
            !logEntries(agent.log.text, message: "closing the connection", fields: ["relay.code": "heartbeatTimeout"]).isEmpty
        }
        let serverDetected = await waitUntil(timeout: .seconds(20)) {
            !logEntries(ha.replicas[0].log.text, message: "relay session closing", fields: ["relay.code": "heartbeatTimeout"]).isEmpty
        }
        #expect(agentDetected && serverDetected, "agent log:\n\(agent.log.text)")
        let agentAfter = loggedTimes(logEntries(agent.log.text, message: "closing the connection", fields: ["relay.code": "heartbeatTimeout"])).first?.timeIntervalSince(cut) ?? 99
        let serverAfter = loggedTimes(logEntries(ha.replicas[0].log.text, message: "relay session closing", fields: ["relay.code": "heartbeatTimeout"])).first?.timeIntervalSince(cut) ?? 99
        let bound = 3 * HAReplicas.heartbeat + 1.5
        #expect(agentAfter <= bound && serverAfter <= bound, "detected after \(agentAfter) s (agent), \(serverAfter) s (server)")

        // While cut off: one change, one new resource; the agent keeps what it had.
        #expect(ha.post(0, drillService("during-partition")) == 200)
        #expect(ha.post(0, SeedManifests.externalService(name: "base-0", host: "changed.example.com")) == 200)
        try await Task.sleep(for: .seconds(2))
        #expect(agent.heldNames() == base, "the agent keeps its configuration during the partition")
        let appliedBefore = logEntries(agent.log.text, message: "update applied").count

        blackhole.heal()
        let healed = Date()
        #expect(await waitUntil(timeout: .seconds(30)) { agent.heldNames() == base.union(["during-partition"]) }, "agent log:\n\(agent.log.text)")
        let resynced = Date().timeIntervalSince(healed)
        #expect(await waitUntil { logEntries(agent.log.text, message: "update applied").count > appliedBefore })
        let after = logEntries(agent.log.text, message: "update applied").dropFirst(appliedBefore)
        let sent = after.compactMap { Int($0["agent.applied"] as? String ?? "") }.reduce(0, +)
        #expect(sent == 2, "only the difference (2 resources) is sent after healing, not \(sent)")
        print("drill partition: detected by the agent after \(String(format: "%.2f", agentAfter)) s and by the server after \(String(format: "%.2f", serverAfter)) s (heartbeat \(HAReplicas.heartbeat) s); resynced \(String(format: "%.1f", resynced)) s after healing with \(sent) resources sent of \(base.count + 1)")
    }
}

extension HADrillTests {
    // MARK: - 5. Agent SIGKILL during apply

    /// The distinct `nNNN.example.com` hosts in one of Envoy's config dumps.
    static func newHosts(adminPort: Int, resource: String) -> Set<String>? {
        guard let dump = adminGet(port: adminPort, "/config_dump?resource=\(resource)") else { return nil }
        let pattern = /n[0-9]+\.example\.com/
        return Set(dump.matches(of: pattern).map { String($0.output) })
    }

    /// The agent is SIGKILLed while it applies 200 new ExternalServices (at three different
    /// moments). Restarted with its server down, its Envoy has the old or the new configuration
    /// — clusters and routes agree, all 200 or none — matching the agent's state file; with the
    /// server back it resyncs to the new one.
    @Test func anAgentKilledDuringAnApplyRestartsOnTheOldOrTheNewConfigurationNeverAMix() async throws {
        let envoy = try envoyBinary()
        let ha = try await HAReplicas.start(count: 1, clusters: ["cluster-1"])
        defer { ha.stop() }
        let gateway = try EgressGatewayTests.Gateway(cluster: "cluster-1", directory: ha.directory, envoy: envoy)
        var outcomes: [String] = []
        // The killed agent's Envoy outlives it until it next writes to its closed log pipe; a
        // restarted agent stops such a leftover before it starts its own.
        var replacedEnvoys = 0
        for (round, delay) in [0, 400, 3000].enumerated() {
            let agent = try ha.agent("cluster-1", order: [0], extraArguments: gateway.arguments)
            #expect(await waitUntil(timeout: .seconds(60)) { agent.heldNames().contains("google") && adminGet(port: gateway.adminPort, "/ready")?.contains("LIVE") == true })
            let held = agent.heldNames()
            // 200 new ExternalServices in one apply (one revision), then the kill.
            let batch = SeedManifests.stream((0..<200).map { drillService("n\(round * 1000 + $0)") })
            #expect(ha.post(0, batch) == 200)
            try await Task.sleep(for: .milliseconds(delay))
            kill(agent.process.processIdentifier, SIGKILL)
            agent.process.waitUntilExit()
            ha.replicas[0].kill9()

            // Restarted without a server: it restores its state file into a fresh Envoy.
            let restarted = try ha.agent("cluster-1", order: [0], extraArguments: gateway.arguments)
            #expect(await waitUntil(timeout: .seconds(60)) { restarted.log.text.contains("Envoy accepted the configuration") || restarted.log.text.contains("restored") })
            #expect(await gateway.answers("502", host: "unregistered.example.org"), "agent log:\n\(restarted.log.text)")
            if restarted.log.text.contains("stopping an Envoy left running by a previous agent process") { replacedEnvoys += 1 }
            let state = restarted.heldNames().filter { $0.hasPrefix("n") }
            var clusters: Set<String>?
            var routes: Set<String>?
            let settled = await waitUntil(timeout: .seconds(30)) {
                clusters = Self.newHosts(adminPort: gateway.adminPort, resource: "dynamic_active_clusters")
                routes = Self.newHosts(adminPort: gateway.adminPort, resource: "dynamic_route_configs")
                return clusters != nil && clusters == routes && clusters?.count == state.count
            }
            let thisRound = state.intersection((0..<200).map { "n\(round * 1000 + $0)" })
            #expect(settled, "Envoy clusters \(clusters?.count ?? -1), routes \(routes?.count ?? -1), state \(state.count)")
            #expect(thisRound.isEmpty || thisRound.count == 200, "the state file is old or new, never part of an update: \(thisRound.count)")
            outcomes.append(thisRound.isEmpty ? "old" : "new")

            // The server back: the agent resyncs to the new configuration.
            try await ha.restart(0)
            #expect(await waitUntil(timeout: .seconds(60)) { restarted.heldNames().count == held.count + 200 }, "agent log:\n\(restarted.log.text)")
            #expect(await waitUntil(timeout: .seconds(30)) { Self.newHosts(adminPort: gateway.adminPort, resource: "dynamic_route_configs")?.count == (round + 1) * 200 })
            #expect(restarted.terminate() == 0)
        }
        print("drill agent-kill-during-apply: restarted on \(outcomes.joined(separator: ", ")) configuration (kills 0, 400, 3000 ms after the write), Envoy's clusters and routes always agreed with the state file, resynced each time; \(replacedEnvoys) leftover Envoy(s) replaced")
    }
}

extension HADrillTests {
    // MARK: - 6. Rolling restart

    /// Two replicas, 100 agents (real processes; half list replica-a first, half replica-b), one
    /// of them with Envoy under a steady stream of requests. Each replica in turn gets SIGTERM
    /// (DRAIN: its agents move to the other at once), exits, and starts again. Not one request
    /// through Envoy fails, and every agent converges on a write made after the roll.
    @Test func aRollingRestartOfEveryReplicaFailsNoRequestAndEveryAgentConverges() async throws {
        let envoy = try envoyBinary()
        let clusters = (0..<100).map { String(format: "roll-%03d", $0) }
        let ha = try await HAReplicas.start(clusters: clusters)
        defer { ha.stop() }
        let (upstream, upstreamPort) = try Self.upstream(ha.directory)
        defer { upstream.stop() }
        #expect(ha.post(0, Self.routedGoogle(upstreamPort: upstreamPort)) == 200)
        let gateway = try EgressGatewayTests.Gateway(cluster: clusters[0], directory: ha.directory, envoy: envoy)
        var agents: [AgentProcess] = [try ha.agent(clusters[0], order: [0, 1], extraArguments: gateway.arguments)]
        for (index, cluster) in clusters.enumerated().dropFirst() {
            agents.append(try ha.agent(cluster, order: index.isMultiple(of: 2) ? [0, 1] : [1, 0]))
        }
        defer { for agent in agents { _ = agent.terminate() } }
        #expect(await waitUntil(timeout: .seconds(120)) { agents.allSatisfy { $0.heldNames().contains("google") } })
        #expect(await gateway.answers("200", host: "www.google.com"), "agent log:\n\(agents[0].log.text)")

        // Requests through Envoy for the whole roll, each on a new connection.
        let stop = Mutex(false)
        let counts = Mutex((sent: 0, failed: 0))
        let traffic = Task.detached {
            while !stop.withLock({ $0 }) {
                let ok = EgressGatewayTests.request(gateway.egressPort, host: "www.google.com").hasPrefix("HTTP/1.1 200")
                counts.withLock {
                    $0.sent += 1
                    if !ok { $0.failed += 1 }
                }
                try? await Task.sleep(for: .milliseconds(20))
            }
        }
        let rollStarted = Date()
        for index in 0..<2 {
            let other = 1 - index
            let before = logEntries(ha.replicas[other].log.text, message: "agent connected").count
            #expect(ha.replicas[index].terminate() == 0, "replica \(index) exits 0 after draining")
            // Every agent of the stopped replica is on the other one.
            #expect(await waitUntil(timeout: .seconds(60)) { logEntries(ha.replicas[other].log.text, message: "agent connected").count - before >= 50 })
            try await ha.restart(index)
        }
        let rollSeconds = Date().timeIntervalSince(rollStarted)
        #expect(ha.post(0, drillService("after-roll")) == 200)
        let converged = await waitUntil(timeout: .seconds(120)) { agents.allSatisfy { $0.heldNames().contains("after-roll") } }
        let convergedSeconds = Date().timeIntervalSince(rollStarted) - rollSeconds
        stop.withLock { $0 = true }
        await traffic.value
        let (sent, failed) = counts.withLock { ($0.sent, $0.failed) }
        #expect(converged, "every agent holds the write made after the roll")
        #expect(sent > 50)
        #expect(failed == 0, "\(failed) of \(sent) requests through Envoy failed")
        print("drill rolling-restart: 2 replicas restarted one after the other with 100 agents in \(String(format: "%.1f", rollSeconds)) s; \(sent) requests through Envoy, \(failed) failed; all 100 agents held the next write \(String(format: "%.1f", convergedSeconds)) s after it")
    }
}

extension HADrillTests {
    // MARK: - 7. Clock: renewal across a partition

    /// notAfter of a PEM certificate file (openssl).
    static func notAfter(_ path: String) -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = ["x509", "-noout", "-enddate", "-in", path]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return "" }
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// An agent whose one-day certificate falls due for renewal while its relay and enrolment
    /// connections are blackholed: the renewal fails while cut off, succeeds once the partition
    /// heals (a later notAfter on disk), and the agent is back in sync with what was written meanwhile.
    @Test(.enabled(if: getuid() == 0, "needs root (CAP_NET_ADMIN) for iptables"))
    func aCertificateFallingDueDuringAPartitionIsRenewedOnceItHeals() async throws {
        try #require(Blackhole.available, "iptables is not installed (apt-get install iptables; .ci/run does)")
        let postgres = try await PostgresServer.start()
        defer { postgres.remove() }
        let enrollPort = try freePort()
        let setup = try await CertifiedServer.start(
            registered: ["cluster-1"],
            extraArguments: ["--store", postgres.url(), "--enroll-listen", "127.0.0.1:\(enrollPort)", "--heartbeat-interval", "\(HAReplicas.heartbeat)"]
        )
        defer { setup.stop() }
        let issued = try await runMeshrelay(["certs", "issue", "--dir", setup.certs, "--cluster", "cluster-1", "--days", "1"])
        #expect(issued.exitCode == 0, "\(issued.stderr)")
        let certificate = setup.certs + "/cluster-1.crt"
        let before = Self.notAfter(certificate)
        // Lifetime: 1 day + the 1 h backdate; due 8 s from now.
        let fraction = (3600.0 + 8) / 90_000
        let agent = try AgentProcess(
            cluster: "cluster-1", servers: ["127.0.0.1:\(setup.relayPort)"], certificates: setup.certs, stateDirectory: setup.directory + "/agent",
            extraArguments: [
                "--enroll-server", "127.0.0.1:\(enrollPort)", "--renew-at", String(format: "%.6f", fraction), "--renew-min-interval", "1",
                "--reconnect-backoff-cap", "2",
            ]
        )
        defer { _ = agent.terminate() }
        #expect(await waitUntil { setup.server.log.text.contains("agent connected") }, "agent log:\n\(agent.log.text)")

        let relayCut = Blackhole(port: setup.relayPort)
        let enrolCut = Blackhole(port: enrollPort)
        try relayCut.start()
        try enrolCut.start()
        defer {
            relayCut.heal()
            enrolCut.heal()
        }
        let apply = try await runMeshrelay(["apply", "-f", "-", "--api", setup.server.url, "--token-file", setup.server.tokenFile], stdin: drillService("during-partition"))
        #expect(apply.exitCode == 0, "\(apply.stderr)")
        #expect(
            await waitUntil(timeout: .seconds(60)) { !logEntries(agent.log.text, message: "certificate renewal failed; retrying").isEmpty },
            "the renewal falls due and fails while cut off:\n\(agent.log.text)"
        )
        #expect(Self.notAfter(certificate) == before)
        #expect(!agent.heldNames().contains("during-partition"))
        relayCut.heal()
        enrolCut.heal()
        let healed = Date()
        #expect(await waitUntil(timeout: .seconds(90)) { !logEntries(agent.log.text, message: "certificate renewed").isEmpty }, "agent log:\n\(agent.log.text)")
        let renewedAfter = Date().timeIntervalSince(healed)
        let after = Self.notAfter(certificate)
        #expect(after != before, "a new certificate on disk (\(before) → \(after))")
        #expect(await waitUntil(timeout: .seconds(30)) { agent.heldNames().contains("during-partition") }, "agent log:\n\(agent.log.text)")
        let failures = logEntries(agent.log.text, message: "certificate renewal failed; retrying").count
        print("drill renewal-across-partition: \(failures) renewal attempt(s) failed while cut off; renewed \(String(format: "%.1f", renewedAfter)) s after healing (\(before) → \(after)); the write made meanwhile reached the agent")
    }
}

extension HADrillTests {
    // MARK: - Reconnect spread

    /// How many agents the reconnect-spread drill runs: 100 in CI, more with
    /// `MESHRELAY_DRILL_SPREAD_AGENTS` (docs/drills.md has the figures for 500).
    static var spreadAgents: Int {
        ProcessInfo.processInfo.environment["MESHRELAY_DRILL_SPREAD_AGENTS"].flatMap(Int.init) ?? 100
    }

    /// N agents (real processes) on replica A, which is SIGKILLed: every agent is on replica B
    /// within the bound, on its first attempt (no failed handshake, no retry wave), and the
    /// reconnections are spread by the agents' jittered backoff rather than arriving at once.
    @Test func aReplicaWithManyAgentsDiesWithoutAReconnectStorm() async throws {
        let count = Self.spreadAgents
        let clusters = (0..<count).map { String(format: "spread-%03d", $0) }
        let ha = try await HAReplicas.start(clusters: clusters, extraArguments: ["--heartbeat-interval", "5", "--max-connections-per-source", "2000"])
        defer { ha.stop() }
        var agents: [AgentProcess] = []
        for cluster in clusters { agents.append(try ha.agent(cluster, order: [0, 1])) }
        defer { for agent in agents { _ = agent.terminate() } }
        #expect(await waitUntil(timeout: .seconds(180)) { logEntries(ha.replicas[0].log.text, message: "agent connected").count >= count })

        let killed = Date()
        ha.replicas[0].kill9()
        let moved = await waitUntil(timeout: .seconds(60)) { logEntries(ha.replicas[1].log.text, message: "agent connected").count >= count }
        #expect(moved, "\(logEntries(ha.replicas[1].log.text, message: "agent connected").count) of \(count) agents on replica-b")
        let delays = loggedTimes(logEntries(ha.replicas[1].log.text, message: "agent connected")).map { $0.timeIntervalSince(killed) }.sorted()
        let failedAttempts = agents.map { logEntries($0.log.text, message: "cannot connect to the relay server").count }.reduce(0, +)
        var perWindow: [Int: Int] = [:]
        for delay in delays { perWindow[Int(delay * 10), default: 0] += 1 }
        let peak = perWindow.values.max() ?? 0
        func percentile(_ p: Double) -> Double { delays.isEmpty ? 0 : delays[min(delays.count - 1, Int(Double(delays.count - 1) * p))] }
        #expect((delays.last ?? 99) < 10, "every agent back within 10 s")
        #expect(failedAttempts == 0, "no agent needed a second attempt")
        print(
            "drill reconnect-spread: \(count) agents on replica-b after the kill: p50 \(String(format: "%.2f", percentile(0.5))) s, p99 \(String(format: "%.2f", percentile(0.99))) s, last \(String(format: "%.2f", delays.last ?? 0)) s; busiest 100 ms took \(peak); \(failedAttempts) failed attempts"
        )
    }
}

extension HADrillTests {
    // MARK: - One DNS name, several addresses

    /// The agent is given one name, `relay.drill.test`, that resolves (its private /etc/hosts, in
    /// a mount namespace of its own) to two replicas, 127.0.0.2 and 127.0.0.3 on one port. It
    /// connects to the first; that one SIGKILLed, the next resolution's second address takes it.
    @Test(.enabled(if: getuid() == 0, "needs root (a mount namespace for a private /etc/hosts)"))
    func anAgentGivenOneNameWithTwoAddressesFailsOverBetweenThem() async throws {
        let postgres = try await PostgresServer.start()
        defer { postgres.remove() }
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let certificates = try DevCertificates(clusters: ["cluster-1", "--server-san", "DNS:relay.drill.test"])
        defer { certificates.remove() }
        let port = try freePort()
        let token = (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
        var replicas: [ServerProcess] = []
        for (index, address) in ["127.0.0.2", "127.0.0.3"].enumerated() {
            let data = directory + "/\(HAReplicas.name(index))"
            try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
            _ = FileManager.default.createFile(atPath: data + "/admin.token", contents: Data((token + "\n").utf8), attributes: [.posixPermissions: 0o600])
            replicas.append(
                try await ServerProcess(
                    dataDirectory: data, relayPort: port, certificates: certificates.directory,
                    extraArguments: ["--store", postgres.url(), "--replica-id", HAReplicas.name(index), "--relay-listen", "\(address):\(port)"]
                        + HAReplicas.serverArguments
                )
            )
        }
        defer { for replica in replicas { replica.kill9() } }
        let registered = try await runMeshrelay(
            ["apply", "-f", "-", "--api", replicas[0].url, "--token-file", replicas[0].tokenFile],
            stdin: SeedManifests.stream([SeedManifests.cluster("cluster-1"), SeedManifests.google])
        )
        #expect(registered.exitCode == 0, "\(registered.stderr)")

        let hosts = directory + "/hosts"
        try "127.0.0.1 localhost\n127.0.0.2 relay.drill.test\n127.0.0.3 relay.drill.test\n".write(toFile: hosts, atomically: true, encoding: .utf8)
        let agent = try AgentProcess(
            cluster: "cluster-1", servers: ["relay.drill.test:\(port)"], certificates: certificates.directory, stateDirectory: directory + "/agent",
            extraArguments: ["--reconnect-backoff-cap", "2"],
            launcher: ["/usr/bin/unshare", "-m", "/bin/bash", "-c", "mount --bind \"$0\" /etc/hosts && exec \"$@\"", hosts]
        )
        defer { _ = agent.terminate() }
        #expect(await waitUntil { agent.heldNames() == ["google"] }, "agent log:\n\(agent.log.text)")
        let first = replicas.firstIndex { $0.log.text.contains("agent connected") } ?? 0
        let other = 1 - first
        let killed = Date()
        replicas[first].kill9()
        #expect(await waitUntil(timeout: .seconds(30)) { replicas[other].log.text.contains("agent connected") }, "agent log:\n\(agent.log.text)")
        let movedAfter = loggedTimes(logEntries(replicas[other].log.text, message: "agent connected")).first?.timeIntervalSince(killed) ?? 99
        let written = try await runMeshrelay(["apply", "-f", "-", "--api", replicas[other].url, "--token-file", replicas[other].tokenFile], stdin: drillService("via-dns"))
        #expect(written.exitCode == 0, "\(written.stderr)")
        #expect(await waitUntil { agent.heldNames() == ["google", "via-dns"] }, "agent log:\n\(agent.log.text)")
        print("drill one-name-two-addresses: connected to \(HAReplicas.name(first)) first; on \(HAReplicas.name(other)) \(String(format: "%.2f", movedAfter)) s after its SIGKILL")
    }
}
