import Foundation
import MeshRelayTesting
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Server replicas on one real PostgreSQL (started for the drill), with fast heartbeats so that
/// drills measure in seconds (docs/drills.md).
final class HAReplicas: @unchecked Sendable {
    let directory: String
    let postgres: PostgresServer
    let certificates: DevCertificates
    let relayPorts: [Int]
    let token: String
    /// The running replicas, by index (replaced by ``restart(_:)``).
    private(set) var replicas: [ServerProcess]
    let extraArguments: [String]

    static let heartbeat = 0.5
    static let serverArguments = [
        "--heartbeat-interval", "\(heartbeat)", "--replica-heartbeat-interval", "\(heartbeat)", "--store-poll-interval", "0.5",
        "--drain-timeout", "5",
    ]

    private init(directory: String, postgres: PostgresServer, certificates: DevCertificates, relayPorts: [Int], token: String, extraArguments: [String]) {
        self.directory = directory
        self.postgres = postgres
        self.certificates = certificates
        self.relayPorts = relayPorts
        self.token = token
        self.replicas = []
        self.extraArguments = extraArguments
    }

    /// PostgreSQL, `count` replicas (replica-a, replica-b, …) sharing it and one admin token, and
    /// `clusters` registered with the guide's google ExternalService.
    static func start(count: Int = 2, clusters: [String], extraArguments: [String] = []) async throws -> HAReplicas {
        let directory = temporaryDirectory()
        let postgres = try await PostgresServer.start()
        let certificates = try DevCertificates(clusters: clusters)
        let ports = try (0..<count).map { _ in try freePort() }
        let token = (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
        let setup = HAReplicas(directory: directory, postgres: postgres, certificates: certificates, relayPorts: ports, token: token, extraArguments: extraArguments)
        do {
            for index in 0..<count {
                setup.replicas.append(try await setup.launch(index))
            }
            let manifest = SeedManifests.stream(clusters.map { SeedManifests.cluster($0) } + [SeedManifests.google])
            let applied = try await runMeshrelay(["apply", "-f", "-", "--api", setup.replicas[0].url, "--token-file", setup.replicas[0].tokenFile], stdin: manifest)
            guard applied.exitCode == 0 else { throw ProcessFailure("register: \(applied.stderr)") }
        } catch {
            setup.stop()
            throw error
        }
        return setup
    }

    static func name(_ index: Int) -> String { "replica-" + String(UnicodeScalar(UInt8(97 + index))) }

    /// The relay address of replica `index`.
    func relay(_ index: Int) -> String { "127.0.0.1:\(relayPorts[index])" }

    private func launch(_ index: Int) async throws -> ServerProcess {
        let data = directory + "/\(Self.name(index))"
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
        // The same admin token for every replica, where ServerProcess expects it.
        _ = FileManager.default.createFile(atPath: data + "/admin.token", contents: Data((token + "\n").utf8), attributes: [.posixPermissions: 0o600])
        return try await ServerProcess(
            dataDirectory: data, relayPort: relayPorts[index], certificates: certificates.directory,
            extraArguments: ["--store", postgres.url(), "--replica-id", Self.name(index)] + Self.serverArguments + extraArguments
        )
    }

    /// Starts replica `index` again (same ports, id and folder) after it was killed or stopped.
    func restart(_ index: Int) async throws {
        replicas[index] = try await launch(index)
    }

    /// A CLI call against replica `index`'s API.
    func meshrelay(_ index: Int, _ arguments: [String], stdin: String? = nil) async throws -> CommandResult {
        try await runMeshrelay(arguments + ["--api", replicas[index].url, "--token-file", replicas[index].tokenFile], stdin: stdin)
    }

    /// One apply over a fresh HTTP connection to replica `index`: the status code, or nil when
    /// the replica could not be reached.
    func post(_ index: Int, _ manifest: String, timeout: TimeInterval = 15) -> Int? {
        let body = Array(manifest.utf8)
        let request =
            "POST /api/v1/apply HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(token)\r\nContent-Type: application/yaml\r\n"
            + "Content-Length: \(body.count)\r\nConnection: close\r\n\r\n" + manifest
        guard let response = exchange(port: replicas[index].port, request, timeout: timeout, until: hasResponseHead),
            response.hasPrefix("HTTP/1.1 "), let code = Int(response.dropFirst(9).prefix(3))
        else { return nil }
        return code
    }

    /// `GET /readyz` of replica `index`: the status code, or nil.
    func readyz(_ index: Int) -> Int? {
        guard let response = exchange(port: replicas[index].port, "GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", timeout: 15, until: hasResponseHead),
            let code = Int(response.dropFirst(9).prefix(3))
        else { return nil }
        return code
    }

    /// An agent of `cluster` given the replicas' addresses in `order`.
    func agent(_ cluster: String, order: [Int], extraArguments: [String] = []) throws -> AgentProcess {
        try AgentProcess(
            cluster: cluster, servers: order.map(relay), certificates: certificates.directory, stateDirectory: directory + "/agents/\(cluster)",
            extraArguments: ["--reconnect-backoff-cap", "2"] + extraArguments
        )
    }

    /// Stops every replica, PostgreSQL, and removes the folders.
    func stop() {
        for replica in replicas { replica.kill9() }
        postgres.remove()
        certificates.remove()
        try? FileManager.default.removeItem(atPath: directory)
    }
}

/// An ExternalService manifest named `name` for host `name.example.com`.
func drillService(_ name: String) -> String {
    SeedManifests.externalService(name: name, host: "\(name).example.com")
}

/// Drops every TCP segment to or from `port` on loopback (iptables, nf_tables backend) until
/// ``heal()``: the blackhole of docs/drills.md "partition". Needs CAP_NET_ADMIN.
final class Blackhole {
    let port: Int
    private var active = false

    init(port: Int) {
        self.port = port
    }

    static var available: Bool { FileManager.default.isExecutableFile(atPath: iptables) }
    static let iptables = ["/usr/sbin/iptables", "/sbin/iptables"].first { FileManager.default.isExecutableFile(atPath: $0) } ?? "/usr/sbin/iptables"

    private func rules(_ action: String) -> [[String]] {
        [
            [action, "INPUT", "-i", "lo", "-p", "tcp", "--dport", "\(port)", "-j", "DROP"],
            [action, "INPUT", "-i", "lo", "-p", "tcp", "--sport", "\(port)", "-j", "DROP"],
        ]
    }

    func start() throws {
        for rule in rules("-I") { try Self.iptables(rule) }
        active = true
    }

    func heal() {
        guard active else { return }
        for rule in rules("-D") { try? Self.iptables(rule) }
        active = false
    }

    deinit { heal() }

    private static func iptables(_ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: iptables)
        process.arguments = ["-w", "5"] + arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw ProcessFailure("iptables \(arguments.joined(separator: " ")) exited \(process.terminationStatus); the drill needs iptables and CAP_NET_ADMIN")
        }
    }
}

/// The JSON log lines' timestamps (`ts`) of `entries`.
func loggedTimes(_ entries: [[String: Any]]) -> [Date] {
    let format = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
    return entries.compactMap { ($0["ts"] as? String).flatMap { try? Date($0, strategy: format) } }
}
