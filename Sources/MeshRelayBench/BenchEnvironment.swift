import Foundation
import NIOCore
import NIOSSL

/// Everything a scenario runs against: the server (started by the harness, or an existing one
/// given with `--api`/`--relay`), its API client, the agents' TLS material, and the fleet. Always
/// end it with ``tearDown()``.
final class BenchEnvironment {
    let options: CommonOptions
    let client: BenchHTTPClient
    let relayHost: String
    let relayPort: Int
    /// The server the harness started (`nil` with `--api`).
    let server: ManagedServer?
    let certificates: BenchCertificates?
    let workDirectory: String?
    private var fleets: [AgentFleet] = []

    private init(
        options: CommonOptions,
        client: BenchHTTPClient,
        relayHost: String,
        relayPort: Int,
        server: ManagedServer?,
        certificates: BenchCertificates?,
        workDirectory: String?
    ) {
        self.options = options
        self.client = client
        self.relayHost = relayHost
        self.relayPort = relayPort
        self.server = server
        self.certificates = certificates
        self.workDirectory = workDirectory
    }

    var timeout: Duration { .milliseconds(Int64(self.options.timeout * 1000)) }

    /// Runs `body` in a fresh environment and always tears it down (server stopped, agents
    /// closed, temp files removed).
    static func with<Result>(
        _ options: CommonOptions,
        _ body: (BenchEnvironment) async throws -> Result
    ) async throws -> Result {
        let environment = try await Self.prepare(options)
        do {
            let result = try await body(environment)
            await environment.tearDown()
            return result
        } catch {
            await environment.tearDown()
            throw error
        }
    }

    private static func prepare(_ options: CommonOptions) async throws -> BenchEnvironment {
        let limit = ProcessStats.raiseOpenFileLimit()
        progress("open file limit: \(limit)")
        let timeout = Duration.milliseconds(Int64(options.timeout * 1000))
        if let api = options.api {
            guard let relay = options.relay, let tokenFile = options.tokenFile else {
                throw BenchError("--api needs --relay, --certs-dir and --token-file")
            }
            let (host, port) = try CommonOptions.hostAndPort(relay)
            let token = try String(contentsOfFile: tokenFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            let client = try BenchHTTPClient(url: api, token: token, timeout: timeout)
            return BenchEnvironment(
                options: options, client: client, relayHost: host, relayPort: port, server: nil, certificates: nil,
                workDirectory: nil
            )
        }

        let binary = try options.meshrelayBinary()
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("meshrelay-bench-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        ServerCleanup.workDirectories.withLock { $0.insert(work) }
        do {
            let certificates = try BenchCertificates(directory: work + "/certs")
            let server = ManagedServer(
                binary: binary,
                dataDirectory: work + "/data",
                certificatesDirectory: certificates.directory,
                apiPort: try freeLoopbackPort(),
                relayPort: try freeLoopbackPort(),
                logLevel: options.serverLogLevel,
                heartbeatInterval: options.heartbeatInterval,
                logPath: work + "/server.log"
            )
            progress("starting \(binary) server (api \(server.apiURL), relay 127.0.0.1:\(server.relayPort), work \(work))")
            try await server.start(timeout: timeout)
            let token: String
            do {
                token = try String(contentsOfFile: server.tokenFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            } catch {
                await server.stop(kill: true)
                throw BenchError("cannot read the admin token \(server.tokenFile): \(error)")
            }
            let client = try BenchHTTPClient(url: server.apiURL, token: token, timeout: timeout)
            return BenchEnvironment(
                options: options, client: client, relayHost: "127.0.0.1", relayPort: server.relayPort, server: server,
                certificates: certificates, workDirectory: work
            )
        } catch {
            try? FileManager.default.removeItem(atPath: work)
            ServerCleanup.workDirectories.withLock { $0.remove(work) }
            throw error
        }
    }

    /// Stops the agents and the server and removes the temp folder (kept with `--keep-work`).
    func tearDown() async {
        for fleet in self.fleets {
            await fleet.shutdown()
        }
        self.fleets = []
        await self.server?.stop(kill: false)
        if let work = self.workDirectory {
            ServerCleanup.workDirectories.withLock { $0.remove(work) }
            if self.options.keepWork {
                progress("kept \(work)")
            } else {
                try? FileManager.default.removeItem(atPath: work)
            }
        }
    }

    // MARK: Setup helpers

    /// Registers `count` clusters and the bench Workspace; returns their names.
    func registerClusters(count: Int) async throws -> [String] {
        let names = BenchManifests.clusterNames(count: count)
        _ = try await self.client.apply(BenchManifests.registration(clusters: names))
        return names
    }

    /// Creates (does not start) one simulated agent per cluster.
    func makeFleet(clusters: [String], keepsAcks: Bool) throws -> AgentFleet {
        let started = ContinuousClock.now
        let contexts = try clusters.map { cluster in
            if let certificates = self.certificates {
                return try certificates.clientContext(cluster: cluster)
            }
            guard let directory = self.options.certsDir else {
                throw BenchError("--api needs --certs-dir with ca.crt and NAME.crt/NAME.key per cluster")
            }
            return try BenchCertificates.existingClientContext(directory: directory, cluster: cluster)
        }
        progress("\(clusters.count) agent identities ready in \(formatSeconds(started.duration(to: .now)))")
        let fleet = AgentFleet(
            clusters: clusters,
            contexts: contexts,
            relayHost: self.relayHost,
            relayPort: self.relayPort,
            threads: self.options.threads ?? System.coreCount,
            keepsAcks: keepsAcks
        )
        self.fleets.append(fleet)
        return fleet
    }

    /// Starts the fleet and waits (bounded) until every agent acknowledged `revision`.
    func startAndSync(_ fleet: AgentFleet, revision: Int64) async throws -> Duration {
        let started = ContinuousClock.now
        fleet.start()
        guard await fleet.waitForAcks(revision: revision, timeout: self.timeout) else {
            throw BenchError(
                "only \(fleet.recorder.agentsAcked(atLeast: revision)) of \(fleet.agents.count) agents acknowledged revision "
                    + "\(revision) within \(self.timeout)\(self.diagnostics(fleet))"
            )
        }
        let elapsed = started.duration(to: .now)
        progress("\(fleet.agents.count) agents connected and in sync at revision \(revision) in \(formatSeconds(elapsed))")
        return elapsed
    }

    /// What went wrong with the agents, for error messages.
    func diagnostics(_ fleet: AgentFleet) -> String {
        let closes = fleet.recorder.read { records in
            records.compactMap(\.lastClose).prefix(3)
        }
        var text = closes.isEmpty ? "" : "; agents closed with: " + closes.joined(separator: " | ")
        if let server = self.server {
            text += "\nserver log (\(server.logPath)):\n" + server.logTail()
        }
        return text
    }

    // MARK: Status

    /// The parts of `GET /api/v1/status` the harness reads.
    struct Status: Decodable {
        struct Cluster: Decodable {
            var name: String
            var connected: Bool
            var lag: Int64
        }
        var revision: Int64
        var clusters: [Cluster]
    }

    func status() async throws -> Status {
        let reply = try await self.client.get("/api/v1/status")
        guard reply.status == 200 else {
            throw BenchError("GET /api/v1/status answered \(reply.status)")
        }
        return try JSONDecoder().decode(Status.self, from: Data(reply.body))
    }

    /// Polls the status (bounded) until every cluster of `clusters` is connected with lag 0.
    func waitForStatusInSync(clusters: [String], timeout: Duration) async throws -> Bool {
        let wanted = Set(clusters)
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let status = try await self.status()
            let inSync = status.clusters.filter { wanted.contains($0.name) && $0.connected && $0.lag == 0 }.count
            if inSync == wanted.count {
                return true
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        return false
    }
}

/// A progress line on standard error.
func progress(_ line: String) {
    FileHandle.standardError.write(Data(("meshrelay-bench: " + line + "\n").utf8))
}

func formatSeconds(_ duration: Duration) -> String {
    BenchResult.format(duration.benchSeconds) + " s"
}
