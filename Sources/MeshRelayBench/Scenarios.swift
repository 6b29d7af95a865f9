import Foundation

/// The scenarios of docs/benchmarks.md ("Relay"). Each runs in its own ``BenchEnvironment`` and
/// returns its result; every wait is bounded by `--timeout`.
enum Scenarios {
    // MARK: fanout

    /// One API write at a time, each acknowledged by every agent before the next: per write, the
    /// time from sending the request to the last agent's ACK, and every agent's own latency.
    static func fanout(agents: Int, writes: Int, options: CommonOptions) async throws -> BenchResult {
        try await BenchEnvironment.with(options) { environment in
            let clusters = try await environment.registerClusters(count: agents)
            let nonce = UUID().uuidString.prefix(8).lowercased()
            let (_, initial) = try await environment.client.apply(
                BenchManifests.externalService(name: "fanout", host: "fanout-initial-\(nonce).example.com")
            )
            let fleet = try environment.makeFleet(clusters: clusters, keepsAcks: true)
            _ = try await environment.startAndSync(fleet, revision: initial)

            var lastAgent: [Double] = []
            var perAgent: [Double] = []
            var apiLatency: [Double] = []
            let cpu = CPUWindow(serverPID: environment.server?.pid)
            lastAgent.reserveCapacity(writes)
            perAgent.reserveCapacity(writes * agents)
            for write in 0..<writes {
                let (reply, revision) = try await environment.client.apply(
                    BenchManifests.externalService(name: "fanout", host: "fanout-\(write)-\(nonce).example.com")
                )
                apiLatency.append(reply.sentAt.duration(to: reply.receivedAt).benchMilliseconds)
                guard await fleet.waitForAcks(revision: revision, timeout: environment.timeout) else {
                    throw BenchError(
                        "write \(write + 1): only \(fleet.recorder.agentsAcked(atLeast: revision)) of \(agents) agents "
                            + "acknowledged revision \(revision) within \(environment.timeout)\(environment.diagnostics(fleet))"
                    )
                }
                let latencies = fleet.recorder.latencies(revision: revision, sentAt: reply.sentAt).compactMap { $0?.benchMilliseconds }
                perAgent.append(contentsOf: latencies)
                lastAgent.append(latencies.max() ?? 0)
            }

            let last = LatencySummary(milliseconds: lastAgent)
            let each = LatencySummary(milliseconds: perAgent)
            let api = LatencySummary(milliseconds: apiLatency)
            var result = BenchResult(scenario: "fanout")
            result.setFanout(agents: agents, writes: writes, lastAgent: lastAgent, perAgent: perAgent, write: apiLatency)
            let cpuSeconds = cpu.elapsedSeconds()
            if let server = cpuSeconds.server { result.set("server_cpu_ms_per_write", server * 1000 / Double(writes)) }
            if let harness = cpuSeconds.harness { result.set("harness_cpu_ms_per_write", harness * 1000 / Double(writes)) }
            progress(
                "fanout: \(agents) agents, \(writes) writes; last agent ACKed p50 \(ms(last.p50)) p99 \(ms(last.p99)) "
                    + "max \(ms(last.max)); per agent p50 \(ms(each.p50)) p99 \(ms(each.p99)) max \(ms(each.max)); "
                    + "API apply p50 \(ms(api.p50)) p99 \(ms(api.p99))"
            )
            return result
        }
    }

    // MARK: reconnect

    /// Agents in sync with a few resources; the server restarts (SIGTERM → DRAIN, or SIGKILL) on
    /// the same ports and data; time until every agent has a session with the new server and the
    /// status shows every cluster connected with lag 0, and how many resources were sent again.
    static func reconnect(agents: Int, resources: Int, useKill: Bool, options: CommonOptions) async throws -> BenchResult {
        try await BenchEnvironment.with(options) { environment in
            guard let server = environment.server else {
                throw BenchError("reconnect restarts the server: it cannot run with --api")
            }
            let clusters = try await environment.registerClusters(count: agents)
            let nonce = UUID().uuidString.prefix(8).lowercased()
            let (_, revision) = try await environment.client.apply(
                BenchManifests.externalServices(prefix: "reconnect", count: resources, generation: nonce)
            )
            let fleet = try environment.makeFleet(clusters: clusters, keepsAcks: false)
            _ = try await environment.startAndSync(fleet, revision: revision)
            guard try await environment.waitForStatusInSync(clusters: clusters, timeout: environment.timeout) else {
                throw BenchError("the status did not show every cluster connected with lag 0 before the restart")
            }
            let oldServers = Set(fleet.recorder.read { records in records.compactMap(\.serverID) })
            let before = fleet.recorder.totals()

            let restartStarted = ContinuousClock.now
            await server.stop(kill: useKill)
            let stopped = ContinuousClock.now
            try await server.start(timeout: environment.timeout)
            let ready = ContinuousClock.now
            progress(
                "server \(useKill ? "killed" : "stopped") in \(formatSeconds(restartStarted.duration(to: stopped))), "
                    + "ready again \(formatSeconds(restartStarted.duration(to: ready))) after the restart began"
            )
            let welcomed = await fleet.waitUntil(timeout: environment.timeout, interval: .milliseconds(2)) { recorder in
                recorder.read { records in
                    records.allSatisfy { record in
                        record.established && record.serverID.map { !oldServers.contains($0) } == true
                    }
                }
            }
            guard welcomed else {
                let count = fleet.recorder.read { records in
                    records.count { $0.established && $0.serverID.map { !oldServers.contains($0) } == true }
                }
                throw BenchError(
                    "only \(count) of \(agents) agents had a session with the new server within \(environment.timeout)"
                        + environment.diagnostics(fleet)
                )
            }
            let allWelcomed = ContinuousClock.now
            guard try await environment.waitForStatusInSync(clusters: clusters, timeout: environment.timeout) else {
                throw BenchError("the status did not show every cluster connected with lag 0 after the restart")
            }
            let inSync = ContinuousClock.now
            let after = fleet.recorder.totals()

            var result = BenchResult(scenario: "reconnect")
            result.set("agents", agents)
            result.set("resources", resources)
            result.set("seconds", restartStarted.duration(to: inSync).benchSeconds)
            result.set("seconds_from_ready", ready.duration(to: inSync).benchSeconds)
            result.set("welcome_seconds", restartStarted.duration(to: allWelcomed).benchSeconds)
            result.set("restart_seconds", restartStarted.duration(to: ready).benchSeconds)
            result.set("resources_resent", after.upsertsReceived - before.upsertsReceived)
            result.set("removals_sent", after.removalsReceived - before.removalsReceived)
            result.set("updates_after_restart", after.updates - before.updates)
            result.set("kill", .bool(useKill))
            progress(
                "reconnect: \(agents) agents back in sync \(formatSeconds(restartStarted.duration(to: inSync))) after the restart "
                    + "began (\(formatSeconds(ready.duration(to: inSync))) after the new server was ready); "
                    + "resources resent: \(after.upsertsReceived - before.upsertsReceived)"
            )
            return result
        }
    }

    // MARK: memory

    /// The server's RSS idle without sessions, then with N idle sessions in sync.
    static func memory(agents: Int, resources: Int, settle: Duration, options: CommonOptions) async throws -> BenchResult {
        try await BenchEnvironment.with(options) { environment in
            guard let server = environment.server else {
                throw BenchError("memory measures the server's RSS: it cannot run with --api")
            }
            let clusters = try await environment.registerClusters(count: agents)
            let nonce = UUID().uuidString.prefix(8).lowercased()
            let (_, revision) = try await environment.client.apply(
                BenchManifests.externalServices(prefix: "memory", count: resources, generation: nonce)
            )
            _ = try await environment.status()
            try await Task.sleep(for: settle)
            let idle = try await Self.rss(server)

            let fleet = try environment.makeFleet(clusters: clusters, keepsAcks: false)
            _ = try await environment.startAndSync(fleet, revision: revision)
            _ = try await environment.waitForStatusInSync(clusters: clusters, timeout: environment.timeout)
            try await Task.sleep(for: settle)
            let withSessions = try await Self.rss(server)

            let perSession = Double(withSessions - idle) / Double(agents)
            var result = BenchResult(scenario: "memory")
            result.set("agents", agents)
            result.set("bytes_per_session", perSession.rounded())
            result.set("rss_idle_bytes", idle)
            result.set("rss_sessions_bytes", withSessions)
            result.set("resources", resources)
            progress(
                "memory: server RSS \(mib(idle)) idle, \(mib(withSessions)) with \(agents) idle sessions: "
                    + "\(BenchResult.format(perSession / 1024)) KiB per session"
            )
            return result
        }
    }

    /// The median of 5 RSS samples 100 ms apart.
    private static func rss(_ server: ManagedServer) async throws -> Int {
        var samples: [Int] = []
        for _ in 0..<5 {
            guard let pid = server.pid, let bytes = ProcessStats.residentBytes(pid: pid) else {
                throw BenchError("cannot read the server's RSS from /proc")
            }
            samples.append(bytes)
            try await Task.sleep(for: .milliseconds(100))
        }
        return samples.sorted()[samples.count / 2]
    }

    // MARK: initial-sync

    /// R ExternalServices stored first, then N agents connect at once: time until every agent
    /// acknowledged its snapshot, and the relay bytes the agents received.
    static func initialSync(agents: Int, resources: Int, options: CommonOptions) async throws -> BenchResult {
        try await BenchEnvironment.with(options) { environment in
            let clusters = try await environment.registerClusters(count: agents)
            let nonce = UUID().uuidString.prefix(8).lowercased()
            let applyStarted = ContinuousClock.now
            let (_, revision) = try await environment.client.apply(
                BenchManifests.externalServices(prefix: "sync", count: resources, generation: nonce)
            )
            progress("applied \(resources) ExternalServices in \(formatSeconds(applyStarted.duration(to: .now)))")
            let fleet = try environment.makeFleet(clusters: clusters, keepsAcks: true)
            let cpu = CPUWindow(serverPID: environment.server?.pid)
            let started = ContinuousClock.now
            let elapsed = try await environment.startAndSync(fleet, revision: revision)
            let cpuSeconds = cpu.elapsedSeconds()
            let totals = fleet.recorder.totals()
            // When each agent acknowledged its snapshot: the spread says whether agents are served
            // together or one after another.
            let syncTimes = fleet.recorder.latencies(revision: revision, sentAt: started).compactMap { $0?.benchSeconds }.sorted()

            var result = BenchResult(scenario: "initial-sync")
            result.set("agents", agents)
            result.set("resources", resources)
            result.set("seconds", elapsed.benchSeconds)
            result.set("first_agent_seconds", syncTimes.first ?? 0)
            result.set("median_agent_seconds", LatencySummary.percentile(50, ofSorted: syncTimes))
            result.set("bytes_sent", totals.bytesReceived)
            result.set("resources_sent", totals.upsertsReceived)
            if let server = cpuSeconds.server { result.set("server_cpu_seconds", server) }
            if let harness = cpuSeconds.harness { result.set("harness_cpu_seconds", harness) }
            progress(
                "initial-sync: \(agents) agents × \(resources) resources in sync in \(formatSeconds(elapsed)); "
                    + "\(mib(totals.bytesReceived)) of relay frames"
            )
            return result
        }
    }

    // MARK: churn

    /// Writes at a fixed rate for S seconds (up to 32 requests in flight; a tick that finds them
    /// all busy is skipped and counted) with N agents: per write and agent, the time from sending
    /// the write to the agent's first ACK covering it; the server's CPU and RSS over the run.
    static func churn(agents: Int, rate: Double, seconds: Double, options: CommonOptions) async throws -> BenchResult {
        try await BenchEnvironment.with(options) { environment in
            let clusters = try await environment.registerClusters(count: agents)
            let pool = 100
            let nonce = UUID().uuidString.prefix(8).lowercased()
            let (_, initial) = try await environment.client.apply(
                BenchManifests.externalServices(prefix: "churn", count: pool, generation: nonce)
            )
            let fleet = try environment.makeFleet(clusters: clusters, keepsAcks: true)
            _ = try await environment.startAndSync(fleet, revision: initial)

            let pid = environment.server?.pid
            let cpuBefore = pid.flatMap { ProcessStats.cpuTicks(pid: $0) }
            let rssSamples = Locked<[Int]>([])
            let sample: @Sendable () -> Void = {
                if let pid, let bytes = ProcessStats.residentBytes(pid: pid) {
                    rssSamples.withLock { $0.append(bytes) }
                }
            }
            sample()

            struct Write: Sendable {
                var sentAt: ContinuousClock.Instant
                var committedAt: ContinuousClock.Instant
                var revision: Int64
            }
            let client = environment.client
            let interval = Duration.microseconds(Int64(1_000_000 / rate))
            let total = Int(rate * seconds)
            let maximumInFlight = 32
            let started = ContinuousClock.now
            struct Progress: Sendable {
                var inFlight = 0
                var failures = 0
                var writes: [Write] = []
            }
            let state = Locked(Progress())
            var skipped = 0
            await withDiscardingTaskGroup { group in
                var lastSample = started
                for tick in 0..<total {
                    let due = started + interval * tick
                    if ContinuousClock.now < due {
                        try? await Task.sleep(until: due, clock: .continuous)
                    }
                    let admitted = state.withLock { progress in
                        guard progress.inFlight < maximumInFlight else {
                            return false
                        }
                        progress.inFlight += 1
                        return true
                    }
                    guard admitted else {
                        skipped += 1
                        continue
                    }
                    let yaml = BenchManifests.externalService(
                        name: "churn-\(tick % pool)",
                        host: "churn-\(tick % pool)-\(tick)-\(nonce).example.com"
                    )
                    group.addTask {
                        let outcome = try? await client.apply(yaml)
                        state.withLock { progress in
                            progress.inFlight -= 1
                            if let outcome {
                                progress.writes.append(Write(sentAt: outcome.reply.sentAt, committedAt: outcome.reply.receivedAt, revision: outcome.revision))
                            } else {
                                progress.failures += 1
                            }
                        }
                    }
                    if lastSample.duration(to: .now) >= .seconds(1) {
                        lastSample = .now
                        sample()
                    }
                }
            }
            let (writes, failures) = state.withLock { ($0.writes, $0.failures) }
            let writing = started.duration(to: .now)
            let newest = writes.map(\.revision).max() ?? initial
            let drained = await fleet.waitForAcks(revision: newest, timeout: environment.timeout)
            sample()
            let cpuAfter = pid.flatMap { ProcessStats.cpuTicks(pid: $0) }
            guard drained else {
                throw BenchError(
                    "only \(fleet.recorder.agentsAcked(atLeast: newest)) of \(agents) agents acknowledged the last write "
                        + "within \(environment.timeout)\(environment.diagnostics(fleet))"
                )
            }

            let lags = fleet.recorder.read { records in
                Self.lags(writes: writes.map { ($0.sentAt, $0.revision) }, records: records)
            }
            let lag = LatencySummary(milliseconds: lags)
            let samples = rssSamples.value
            var result = BenchResult(scenario: "churn")
            result.set("agents", agents)
            result.set("rate", rate)
            result.set("seconds", seconds)
            result.set("writes", writes.count)
            result.set("writes_skipped", skipped)
            result.set("writes_failed", failures)
            result.set("achieved_rate", Double(writes.count) / writing.benchSeconds)
            result.set(prefix: "", lag)
            // The API's share of the lag: from sending a write to its answer (committed).
            result.set(prefix: "api_", LatencySummary(milliseconds: writes.map { $0.sentAt.duration(to: $0.committedAt).benchMilliseconds }))
            if let cpuBefore, let cpuAfter {
                let cpuSeconds = Double(cpuAfter - cpuBefore) / Double(ProcessStats.ticksPerSecond)
                result.set("server_cpu_percent", 100 * cpuSeconds / writing.benchSeconds)
            } else {
                result.set("server_cpu_percent", .null)
            }
            if let first = samples.first, let last = samples.last, let peak = samples.max() {
                // One sample per second of writing (and one after the agents drained): where
                // the RSS grew, not only by how much.
                result.set("rss_samples_bytes", .numbers(samples.map(Double.init)))
                result.set("rss_start_bytes", first)
                result.set("rss_max_bytes", peak)
                result.set("rss_end_bytes", last)
            }
            progress(
                "churn: \(writes.count) writes in \(formatSeconds(writing)) to \(agents) agents; lag p50 \(ms(lag.p50)) "
                    + "p99 \(ms(lag.p99)) max \(ms(lag.max))"
            )
            return result
        }
    }

    /// For every write (sent at, revision) and every agent, the time to the agent's first ACK of
    /// that revision or later (writes an agent never acknowledged are left out).
    static func lags(writes: [(sentAt: ContinuousClock.Instant, revision: Int64)], records: [FleetRecorder.AgentRecord]) -> [Double] {
        var lags: [Double] = []
        lags.reserveCapacity(writes.count * records.count)
        for record in records {
            for write in writes {
                if let at = FleetRecorder.firstAck(in: record.acks, atLeast: write.revision) {
                    lags.append(write.sentAt.duration(to: at).benchMilliseconds)
                }
            }
        }
        return lags
    }
}

func ms(_ value: Double) -> String {
    BenchResult.format(value) + " ms"
}

private func mib(_ bytes: Int) -> String {
    BenchResult.format(Double(bytes) / 1_048_576) + " MiB"
}
