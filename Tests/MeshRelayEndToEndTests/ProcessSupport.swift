import Foundation
import MeshRelayPKI
import MeshRelayTesting
import Synchronization
import Testing

/// The `meshrelay` binary SwiftPM built next to the test bundle (or `MESHRELAY_BIN`).
func meshrelayBinary() throws -> String {
    if let override = ProcessInfo.processInfo.environment["MESHRELAY_BIN"] {
        return override
    }
    let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
    var directory = executable.deletingLastPathComponent()
    // The test runner may live inside a .xctest bundle directory.
    for _ in 0..<3 {
        let candidate = directory.appendingPathComponent("meshrelay").path
        if FileManager.default.isExecutableFile(atPath: candidate) {
            return candidate
        }
        directory = directory.deletingLastPathComponent()
    }
    throw ProcessFailure("cannot find the meshrelay binary near \(executable.path); set MESHRELAY_BIN")
}

struct ProcessFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// The outcome of a finished CLI run.
struct CommandResult {
    var exitCode: Int32
    var stdout: String
    var stderr: String
}

/// Runs `meshrelay ARGS` to completion (bounded by `timeout`), collecting its output.
func runMeshrelay(_ arguments: [String], stdin: String? = nil, environment: [String: String] = [:], timeout: Duration = .seconds(120)) async throws -> CommandResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: try meshrelayBinary())
    process.arguments = arguments
    var env = ProcessInfo.processInfo.environment
    env["MESHRELAY_API"] = nil
    env["MESHRELAY_TOKEN"] = nil
    for (key, value) in environment { env[key] = value }
    process.environment = env
    let out = Pipe()
    let err = Pipe()
    let input = Pipe()
    process.standardOutput = out
    process.standardError = err
    process.standardInput = input
    let outBuffer = OutputCollector(out.fileHandleForReading)
    let errBuffer = OutputCollector(err.fileHandleForReading)
    try process.run()
    if let stdin {
        input.fileHandleForWriting.write(Data(stdin.utf8))
    }
    try? input.fileHandleForWriting.close()
    let deadline = ContinuousClock.now + timeout
    while process.isRunning {
        if ContinuousClock.now > deadline {
            process.terminate()
            process.waitUntilExit()
            throw ProcessFailure("meshrelay \(arguments.joined(separator: " ")) did not finish within \(timeout)")
        }
        try await Task.sleep(for: .milliseconds(10))
    }
    process.waitUntilExit()
    return CommandResult(exitCode: process.terminationStatus, stdout: outBuffer.waitForEnd(), stderr: errBuffer.waitForEnd())
}

/// Accumulates a pipe's output on a background thread.
final class OutputCollector: Sendable {
    private let state = Mutex<(text: String, done: Bool)>(("", false))

    init(_ handle: FileHandle) {
        Thread.detachNewThread { [self] in
            while true {
                let data = handle.availableData
                if data.isEmpty { break }
                let chunk = String(decoding: data, as: UTF8.self)
                state.withLock { $0.text += chunk }
            }
            state.withLock { $0.done = true }
        }
    }

    var text: String { state.withLock { $0.text } }

    /// The whole output once the writer closed the pipe (bounded wait).
    func waitForEnd() -> String {
        for _ in 0..<500 {
            if state.withLock({ $0.done }) { break }
            Thread.sleep(forTimeInterval: 0.01)
        }
        return text
    }
}

/// A `meshrelay server` child process on 127.0.0.1 with a kernel-picked API port.
final class ServerProcess: Sendable {
    let process: Process
    let log: OutputCollector
    let port: Int
    let dataDirectory: String

    var url: String { "http://127.0.0.1:\(port)" }
    var tokenFile: String { dataDirectory + "/admin.token" }

    /// Starts the server and waits (bounded) until it logs that it is ready.
    /// - Parameters:
    ///   - relayPort: The relay port (with `certificates`); 0 lets the kernel pick.
    ///   - certificates: A certificate folder: enables the relay.
    init(dataDirectory: String, relayPort: Int = 0, certificates: String? = nil, extraArguments: [String] = []) async throws {
        self.dataDirectory = dataDirectory
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try meshrelayBinary())
        process.arguments = [
            "server", "--data-dir", dataDirectory, "--api-listen", "127.0.0.1:0", "--relay-listen", "127.0.0.1:\(relayPort)", "--log-format", "json",
        ] + (certificates.map { ["--certs-dir", $0] } ?? []) + extraArguments
        let err = Pipe()
        process.standardError = err
        process.standardOutput = FileHandle.nullDevice
        let log = OutputCollector(err.fileHandleForReading)
        try process.run()
        var port: Int?
        let deadline = ContinuousClock.now + .seconds(60)
        // Ready: the API answers, and with certificates the relay listens too (they start side by side).
        func ready() -> Int? {
            guard let port = Self.readyPort(in: log.text) else { return nil }
            return certificates == nil || log.text.contains("relay listening") ? port : nil
        }
        while port == nil && ContinuousClock.now < deadline && process.isRunning {
            port = ready()
            if port == nil { try await Task.sleep(for: .milliseconds(20)) }
        }
        guard let port else {
            if process.isRunning { process.terminate() }
            throw ProcessFailure("meshrelay server did not become ready; its log:\n\(log.text)")
        }
        self.process = process
        self.log = log
        self.port = port
    }

    private static func readyPort(in log: String) -> Int? {
        for line in log.split(separator: "\n") where line.contains("meshrelay server ready") {
            guard let data = line.data(using: .utf8),
                let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                let address = object["api.address"] as? String,
                let colon = address.lastIndex(of: ":")
            else { continue }
            return Int(address[address.index(after: colon)...])
        }
        return nil
    }

    /// SIGKILL: no chance to flush or clean up.
    func kill9() {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
        }
        process.waitUntilExit()
    }

    /// SIGTERM and wait for the graceful exit status.
    func terminate() -> Int32 {
        if process.isRunning {
            process.terminate()
        }
        process.waitUntilExit()
        return process.terminationStatus
    }

    deinit {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }
}

func temporaryDirectory() -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("meshrelay-e2e-\(UUID().uuidString)").path
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

func externalServiceManifest(name: String, namespace: String = "global", host: String, port: Int = 443) -> String {
    SeedManifests.externalService(name: name, namespace: namespace, host: host, port: port)
}

/// A `meshrelay agent` child process.
final class AgentProcess: Sendable {
    let process: Process
    let log: OutputCollector
    let stateDirectory: String

    /// - Parameter certificates: The `--certs-dir`; nil for an agent that enrols (its extra
    ///   arguments carry the bootstrap token).
    /// - Parameter launcher: A command that runs the agent (its path and arguments follow), e.g.
    ///   `unshare -m …` for a private /etc/hosts; empty: the agent is started directly.
    init(cluster: String, servers: [String], certificates: String?, stateDirectory: String, extraArguments: [String] = [], launcher: [String] = []) throws {
        self.stateDirectory = stateDirectory
        let process = Process()
        let binary = try meshrelayBinary()
        let arguments = [
            "agent", "--cluster", cluster, "--server", servers.joined(separator: ","),
            "--state-dir", stateDirectory, "--log-format", "json",
        ] + (certificates.map { ["--certs-dir", $0] } ?? []) + extraArguments
        if let executable = launcher.first {
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = Array(launcher.dropFirst()) + [binary] + arguments
        } else {
            process.executableURL = URL(fileURLWithPath: binary)
            process.arguments = arguments
        }
        let err = Pipe()
        process.standardError = err
        process.standardOutput = FileHandle.nullDevice
        log = OutputCollector(err.fileHandleForReading)
        try process.run()
        self.process = process
    }

    /// The names of the resources in the agent's durable state file.
    func heldNames() -> Set<String> {
        guard let data = FileManager.default.contents(atPath: stateDirectory + "/state.json"),
            let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let resources = object["resources"] as? [[String: Any]]
        else { return [] }
        return Set(resources.compactMap { $0["name"] as? String })
    }

    func terminate() -> Int32 {
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// SIGKILL, and waits for the exit.
    func kill9() {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    deinit {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }
}

/// A TCP port that was free a moment ago on 127.0.0.1.
func freePort() throws -> Int {
    try freeLoopbackPort()
}

/// Waits (bounded) until `condition` holds; false when it never did.
func waitUntil(timeout: Duration = .seconds(30), _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: .milliseconds(50))
    }
    return false
}

/// The JSON log lines (`--log-format json`) in `text` whose message is `message` and whose fields
/// include every pair of `fields`.
func logEntries(_ text: String, message: String, fields: [String: String] = [:]) -> [[String: Any]] {
    text.split(separator: "\n").compactMap { line -> [String: Any]? in
        guard line.contains(message), let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { return nil }
        guard object["msg"] as? String == message else { return nil }
        for (key, value) in fields where object[key] as? String != value { return nil }
        return object
    }
}

extension ServerProcess {
    /// SIGSTOP: the process keeps its sockets (the kernel still ACKs) but answers nothing.
    func stop() { kill(process.processIdentifier, SIGSTOP) }
    /// SIGCONT after ``stop()``.
    func resume() { kill(process.processIdentifier, SIGCONT) }
}

extension AgentProcess {
    /// SIGSTOP: the process keeps its sockets (the kernel still ACKs) but answers nothing.
    func stop() { kill(process.processIdentifier, SIGSTOP) }
    /// SIGCONT after ``stop()``.
    func resume() { kill(process.processIdentifier, SIGCONT) }
}

/// The entry of `cluster` in `meshrelay status -o json` of the server at `api`, if any.
func clusterStatus(api: String, cluster: String) async -> [String: Any]? {
    guard let status = try? await runMeshrelay(["status", "-o", "json", "--api", api]),
        let object = try? JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any]
    else { return nil }
    return (object["clusters"] as? [[String: Any]])?.first { $0["name"] as? String == cluster }
}

/// The overall state of the resource named `name` in `meshrelay status -o json`, if listed.
func resourceState(api: String, name: String) async -> String? {
    guard let status = try? await runMeshrelay(["status", "-o", "json", "--api", api]),
        let object = try? JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any]
    else { return nil }
    return (object["resources"] as? [[String: Any]])?.first { $0["name"] as? String == name }?["state"] as? String
}

/// A server whose relay runs on a folder made by `meshrelay certs init` (and `certs issue` for
/// `issued` clusters), with `registered` clusters applied: the start of the security suites.
struct CertifiedServer {
    let directory: String
    let certs: String
    let relayPort: Int
    let server: ServerProcess

    static func start(issued: [String] = [], registered: [String], extraArguments: [String] = []) async throws -> CertifiedServer {
        let directory = temporaryDirectory()
        let certs = directory + "/certs"
        let initialized = try await runMeshrelay(["certs", "init", "--dir", certs])
        guard initialized.exitCode == 0 else { throw ProcessFailure("certs init: \(initialized.stderr)") }
        for cluster in issued {
            let result = try await runMeshrelay(["certs", "issue", "--dir", certs, "--cluster", cluster])
            guard result.exitCode == 0 else { throw ProcessFailure("certs issue: \(result.stderr)") }
        }
        let relayPort = try freePort()
        let server = try await ServerProcess(dataDirectory: directory + "/data", relayPort: relayPort, certificates: certs, extraArguments: extraArguments)
        let api = extraArguments.contains("--api-tls") ? ["--api", "https://127.0.0.1:\(server.port)", "--ca-file", certs + "/ca.crt"] : ["--api", server.url]
        let result = try await runMeshrelay(
            ["apply", "-f", "-", "--token-file", server.tokenFile] + api, stdin: SeedManifests.stream(registered.map { SeedManifests.cluster($0) })
        )
        guard result.exitCode == 0 else { throw ProcessFailure("register: \(result.stderr)") }
        return CertifiedServer(directory: directory, certs: certs, relayPort: relayPort, server: server)
    }

    /// Stops the server and removes the folder.
    func stop() {
        _ = server.terminate()
        try? FileManager.default.removeItem(atPath: directory)
    }
}

/// The SHA-256 fingerprint of the first certificate in `openssl s_client -showcerts` output.
func firstCertificateFingerprint(inOpenSSLOutput output: [UInt8]) -> String? {
    let text = String(decoding: output, as: UTF8.self)
    guard let body = text.components(separatedBy: "-----BEGIN CERTIFICATE-----").dropFirst().first else { return nil }
    let pem = "-----BEGIN CERTIFICATE-----" + body.components(separatedBy: "-----END CERTIFICATE-----")[0] + "-----END CERTIFICATE-----\n"
    return try? CertificateSummary.read(pem: pem).first?.sha256Fingerprint
}

/// Renews the server certificate in `certs` the way an operator does (same CA, key first, each
/// by rename); the new certificate's SHA-256 fingerprint.
func replaceServerCertificate(in certs: String) throws -> String {
    let replacement = try CertificateDirectory(path: certs).authority().issue(.server(names: ["localhost", "127.0.0.1"]))
    try replacement.privateKeyPEM.write(toFile: certs + "/server.key.tmp", atomically: false, encoding: .utf8)
    try replacement.certificatePEM.write(toFile: certs + "/server.crt.tmp", atomically: false, encoding: .utf8)
    guard rename(certs + "/server.key.tmp", certs + "/server.key") == 0, rename(certs + "/server.crt.tmp", certs + "/server.crt") == 0 else {
        throw ProcessFailure("cannot rename the new server certificate into \(certs)")
    }
    return try CertificateSummary.read(pem: replacement.certificatePEM)[0].sha256Fingerprint
}

/// A server with cluster-1 (an agent connected, state file only) and cluster-2 (no agent), and the
/// guide's two ExternalServices: APPLIED in one cluster, PENDING in the other.
struct TwoClusterStatus {
    let base: CertifiedServer
    let agent: AgentProcess
    var server: ServerProcess { base.server }

    static func start() async throws -> TwoClusterStatus {
        let base = try await CertifiedServer.start(issued: ["cluster-1"], registered: ["cluster-1", "cluster-2"])
        let applied = try await runMeshrelay(
            ["apply", "-f", "-", "--api", base.server.url, "--token-file", base.server.tokenFile],
            stdin: SeedManifests.stream([SeedManifests.google, SeedManifests.googleWildcard])
        )
        guard applied.exitCode == 0 else {
            base.stop()
            throw ProcessFailure("apply: \(applied.stderr)")
        }
        let agent = try AgentProcess(
            cluster: "cluster-1", servers: ["127.0.0.1:\(base.relayPort)"], certificates: base.certs, stateDirectory: base.directory + "/agent-1"
        )
        return TwoClusterStatus(base: base, agent: agent)
    }

    func stop() {
        _ = agent.terminate()
        base.stop()
    }
}
