import Foundation
import MeshRelayPKI
import MeshRelayTesting
import Testing

/// The relay listener against outside clients (openssl s_client) that break the rules: every case
/// is refused, the server says why where the protocol lets it, and nothing changes in the store.
@Suite("Relay security: refusals by a real server to openssl", .serialized)
struct RelaySecurityTests {
    /// What a finished openssl run gave.
    struct OpenSSLRun {
        var status: Int32
        var stdout: [UInt8]
        var stderr: String
    }

    /// `openssl ARGS` with `input` on stdin (then closed), bounded by `timeout` (then killed).
    static func openssl(_ arguments: [String], input: [UInt8] = [], timeout: TimeInterval = 30) throws -> OpenSSLRun {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["openssl"] + arguments
        let out = Pipe()
        let err = Pipe()
        let stdin = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = stdin
        let collectedOut = OutputCollector(out.fileHandleForReading)
        let collectedErr = OutputCollector(err.fileHandleForReading)
        try process.run()
        stdin.fileHandleForWriting.write(Data(input))
        try? stdin.fileHandleForWriting.close()
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning, Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            return OpenSSLRun(status: -1, stdout: Array(collectedOut.waitForEnd().utf8), stderr: collectedErr.waitForEnd() + "\n(killed after \(timeout) s)")
        }
        return OpenSSLRun(status: process.terminationStatus, stdout: Array(collectedOut.waitForEnd().utf8), stderr: collectedErr.waitForEnd())
    }

    /// A server with a relay on a folder made by `meshrelay certs`, and cluster-1 registered.
    struct Setup {
        let base: CertifiedServer
        var certs: String { base.certs }
        var relayPort: Int { base.relayPort }
        var server: ServerProcess { base.server }

        static func start() async throws -> Setup {
            Setup(base: try await CertifiedServer.start(issued: ["cluster-1"], registered: ["cluster-1"]))
        }

        func client(_ arguments: [String], cluster: String = "cluster-1") -> [String] {
            ["s_client", "-connect", "127.0.0.1:\(relayPort)", "-CAfile", certs + "/ca.crt", "-cert", certs + "/\(cluster).crt", "-key", certs + "/\(cluster).key"]
                + arguments
        }

        /// The server's status: the revision and whether cluster-1 was ever seen.
        func storeState() async -> String {
            guard let status = try? await runMeshrelay(["status", "-o", "json", "--api", server.url]),
                let object = try? JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any],
                let clusters = object["clusters"] as? [[String: Any]]
            else { return "unreadable" }
            let cluster = clusters.first { $0["name"] as? String == "cluster-1" }
            return "revision \(object["revision"] ?? "?"), cluster-1 connected \(cluster?["connected"] ?? "?"), last seen \(cluster?["lastSeen"] ?? "never")"
        }

        func stop() { base.stop() }
    }

    /// The GOODBYE frame (type 8) the server sends before it closes, as text.
    static func goodbye(in bytes: [UInt8]) -> String? {
        guard bytes.count >= 8, bytes[4] == 8 else { return nil }
        return String(decoding: bytes.dropFirst(8), as: UTF8.self)
    }

    @Test func aTLS11ClientIsRefusedWithAProtocolVersionAlert() async throws {
        let setup = try await Setup.start()
        defer { setup.stop() }
        let before = await setup.storeState()
        // SECLEVEL=0 lets this openssl offer TLS 1.1 at all; the refusal must come from the server.
        let run = try Self.openssl(setup.client(["-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"]))
        #expect(run.status != 0)
        #expect(!run.stderr.contains("no protocols available"), "the client could not even offer TLS 1.1: \(run.stderr)")
        #expect(run.stderr.contains("alert protocol version"), "\(run.stderr)")
        #expect(await setup.storeState() == before)
    }

    @Test func expiredAndNotYetValidCertificatesAreRefused() async throws {
        let setup = try await Setup.start()
        defer { setup.stop() }
        let before = await setup.storeState()
        let authority = try CertificateDirectory(path: setup.certs).authority()
        let cases: [(name: String, issued: IssuedCertificate, alert: String)] = [
            ("expired", try authority.issue(.agent(cluster: "cluster-1"), days: 1, now: Date().addingTimeInterval(-3 * 86400)), "certificate expired"),
            // Issued "tomorrow": notBefore is one hour before that, still in the future.
            ("future", try authority.issue(.agent(cluster: "cluster-1"), days: 90, now: Date().addingTimeInterval(2 * 86400)), "certificate"),
        ]
        for (name, issued, alert) in cases {
            try issued.certificatePEM.write(toFile: setup.certs + "/\(name).crt", atomically: true, encoding: .utf8)
            try issued.privateKeyPEM.write(toFile: setup.certs + "/\(name).key", atomically: true, encoding: .utf8)
            // TLS 1.3: the client learns of the refusal when it reads after the handshake.
            let run = try Self.openssl(setup.client(["-quiet"], cluster: name), input: Array("x".utf8), timeout: 20)
            #expect(run.status != 0, "\(name): \(run.stderr)")
            #expect(run.stderr.contains("alert") && run.stderr.contains(alert), "\(name): \(run.stderr)")
            #expect(Self.goodbye(in: run.stdout) == nil, "\(name): no relay frame reaches a refused client")
        }
        #expect(await setup.storeState() == before)
        let refusals = logEntries(setup.server.log.text, message: "relay client TLS handshake failed")
        #expect(refusals.count >= 2, "the server logs each refusal: \(setup.server.log.text)")
        #expect(refusals.allSatisfy { ($0["error"] as? String ?? "").lowercased().contains("certificate") }, "\(refusals)")
    }

    @Test func aHundredMebibyteLengthPrefixGetsAGoodbyeAndTheConnectionCloses() async throws {
        let setup = try await Setup.start()
        defer { setup.stop() }
        let before = await setup.storeState()
        // A HELLO header announcing 100 MiB (0x06400000), then nothing.
        let run = try Self.openssl(setup.client(["-quiet"]), input: [0x06, 0x40, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00], timeout: 20)
        #expect(run.status == 0, "the server closed the connection (openssl did not have to be killed): \(run.stderr)")
        let reason = Self.goodbye(in: run.stdout) ?? ""
        #expect(reason.contains("frameTooLarge") && reason.contains("104857600"), "\(reason)")
        #expect(await setup.storeState() == before)
    }

    @Test func randomBytesAfterTheHandshakeGetAGoodbyeAndTheConnectionCloses() async throws {
        let setup = try await Setup.start()
        defer { setup.stop() }
        let before = await setup.storeState()
        var generator = SeededGenerator(seed: 0x5EC)
        for round in 0..<5 {
            let noise = (0..<512).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let run = try Self.openssl(setup.client(["-quiet"]), input: noise, timeout: 20)
            #expect(run.status == 0, "round \(round): the server closed the connection: \(run.stderr)")
            #expect(Self.goodbye(in: run.stdout) != nil, "round \(round): a GOODBYE says why: \(run.stdout.prefix(64))")
        }
        #expect(await setup.storeState() == before)
        // The server still serves a well-behaved client.
        let health = try await runMeshrelay(["status", "--api", setup.server.url])
        #expect(health.exitCode == 0)
    }

    /// One source cannot hold more than `--max-connections-per-source` relay connections; an HTTP
    /// connection that sends no request is closed after `--idle-timeout`.
    @Test func connectionsPerSourceAreCappedAndIdleHTTPConnectionsClosed() async throws {
        let base = try await CertifiedServer.start(
            registered: ["cluster-1"], extraArguments: ["--max-connections-per-source", "2", "--idle-timeout", "1"])
        defer { base.stop() }
        // Three connections from 127.0.0.1: the server counts them on several event loops, so
        // which one is refused is not fixed — exactly one is, at once.
        var connections = try (0..<3).map { _ in try #require(LoopbackConnection(port: base.relayPort)) }
        for connection in connections { connection.read(timeout: 3) }
        let closed = connections.filter(\.closedByPeer)
        #expect(closed.count == 1, "\(closed.count) of 3 were closed")
        #expect(!logEntries(base.server.log.text, message: "relay connection refused: too many connections from one source").isEmpty)
        // One of the open ones closed by the client: a new connection is accepted.
        connections.removeAll { $0.closedByPeer }
        connections.removeFirst()
        try await Task.sleep(for: .milliseconds(300))
        let another = try #require(LoopbackConnection(port: base.relayPort))
        another.read(timeout: 1)
        #expect(!another.closedByPeer, "a freed slot is used again")
        withExtendedLifetime(connections) {}

        // The API closes a connection that never sends a request.
        let idle = try #require(LoopbackConnection(port: base.server.port))
        let started = Date()
        idle.read(timeout: 10)
        #expect(idle.closedByPeer && Date().timeIntervalSince(started) < 8, "closed after \(Date().timeIntervalSince(started)) s")
    }
}
