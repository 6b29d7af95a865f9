import Foundation
import MeshRelayPKI
import MeshRelayTesting
import Testing

/// `meshrelay server --api-tls`: the API over TLS with the relay's server certificate.
@Suite("API over TLS", .serialized)
struct APITLSTests {
    @Test func theCLIAndCurlTalkHTTPSAndPlainHTTPGetsNothing() async throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let certs = directory + "/certs"
        #expect(try await runMeshrelay(["certs", "init", "--dir", certs]).exitCode == 0)
        let server = try await ServerProcess(dataDirectory: directory + "/data", relayPort: try freePort(), certificates: certs, extraArguments: ["--api-tls"])
        defer { _ = server.terminate() }
        let https = "https://127.0.0.1:\(server.port)"

        let applied = try await runMeshrelay(
            ["apply", "-f", "-", "--api", https, "--ca-file", certs + "/ca.crt", "--token-file", server.tokenFile], stdin: SeedManifests.cluster("cluster-1")
        )
        #expect(applied.exitCode == 0, "\(applied.stderr)")
        let status = try await runMeshrelay(["status", "--api", https], environment: ["MESHRELAY_CA_FILE": certs + "/ca.crt"])
        #expect(status.exitCode == 0 && status.stdout.contains("cluster-1"), "\(status.stderr)")

        // Without our CA the server is not trusted; plain HTTP gets no answer.
        let untrusted = try await runMeshrelay(["status", "--api", https])
        #expect(untrusted.exitCode == 3, "\(untrusted.stderr)")
        let plain = try await runMeshrelay(["status", "--api", "http://127.0.0.1:\(server.port)"])
        #expect(plain.exitCode == 3, "\(plain.stdout)\(plain.stderr)")

        // curl as an outside client, and TLS 1.1 refused.
        let curl = Process()
        curl.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        curl.arguments = ["curl", "-sS", "--max-time", "20", "--cacert", certs + "/ca.crt", "\(https)/healthz"]
        let out = Pipe()
        curl.standardOutput = out
        try curl.run()
        let body = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        curl.waitUntilExit()
        #expect(curl.terminationStatus == 0 && body == "ok\n", "\(body)")
        let old = try RelaySecurityTests.openssl(
            ["s_client", "-connect", "127.0.0.1:\(server.port)", "-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0", "-CAfile", certs + "/ca.crt"]
        )
        #expect(old.status != 0 && old.stderr.contains("alert protocol version"), "\(old.stderr)")
    }
}

/// The HTTPS listeners (API with `--api-tls`, enrolment) hold the relay listener's limits:
/// connections per source, a TLS handshake deadline, the server certificate reloaded from disk.
@Suite("HTTPS listener limits", .serialized)
struct HTTPSListenerLimitTests {
    /// The certificate an openssl client is served on `port`, as its SHA-256 fingerprint.
    static func servedFingerprint(port: Int, caFile: String) throws -> String? {
        let shown = try RelaySecurityTests.openssl(["s_client", "-connect", "127.0.0.1:\(port)", "-CAfile", caFile, "-showcerts"], timeout: 20)
        return firstCertificateFingerprint(inOpenSSLOutput: shown.stdout)
    }

    @Test func theAPIAndEnrolmentListenersCapSourcesCutSlowHandshakesAndReloadTheirCertificate() async throws {
        let enrollPort = try freePort()
        let base = try await CertifiedServer.start(
            registered: ["cluster-1"],
            extraArguments: [
                "--api-tls", "--enroll-listen", "127.0.0.1:\(enrollPort)", "--max-connections-per-source", "2", "--handshake-timeout", "4",
                "--idle-timeout", "120",
            ]
        )
        defer { base.stop() }
        let caFile = base.certs + "/ca.crt"
        for (name, port) in [("api", base.server.port), ("enrolment", enrollPort)] {
            // Three connections that never start TLS: one is refused at once (which one depends on
            // the event loops), the other two are cut at the handshake deadline.
            let opened = Date()
            let connections = try (0..<3).map { _ in try #require(LoopbackConnection(port: port)) }
            // Read in turn for 1.5 s in all, well inside the 4 s deadline.
            for connection in connections { connection.read(timeout: 0.5) }
            #expect(connections.filter(\.closedByPeer).count == 1, "\(name): \(connections.filter(\.closedByPeer).count) of 3 closed at once")
            // One of the two left dribbles a TLS record header a byte at a time: still cut.
            let dribbling = try #require(connections.first { !$0.closedByPeer })
            for byte in [0x16, 0x03, 0x01, 0x00] where !dribbling.closedByPeer {
                dribbling.send(String(UnicodeScalar(UInt8(byte))))
                dribbling.read(timeout: 0.3)
            }
            for connection in connections { connection.read(timeout: 20) }
            let elapsed = Date().timeIntervalSince(opened)
            #expect(connections.allSatisfy(\.closedByPeer) && elapsed >= 3.5, "\(name): all closed after \(elapsed) s")
            #expect(!logEntries(base.server.log.text, message: "\(name) connection refused: too many connections from one source").isEmpty)
            #expect(
                await waitUntil(timeout: .seconds(10)) {
                    logEntries(base.server.log.text, message: "\(name) client did not complete TLS in time").count >= 2
                }
            )
            // Slots freed: a real client is served.
            #expect(try Self.servedFingerprint(port: port, caFile: caFile) != nil, "\(name) serves TLS after the refusals")
        }

        // The server certificate replaced on disk (renewed, same CA): both listeners serve the new
        // one to the next client, without a restart.
        let expected = try replaceServerCertificate(in: base.certs)
        #expect(try Self.servedFingerprint(port: base.server.port, caFile: caFile) == expected)
        #expect(try Self.servedFingerprint(port: enrollPort, caFile: caFile) == expected)
        #expect(!logEntries(base.server.log.text, message: "api TLS certificate reloaded from disk").isEmpty)
        #expect(!logEntries(base.server.log.text, message: "enrolment TLS certificate reloaded from disk").isEmpty)
        let status = try await runMeshrelay(["status", "--api", "https://127.0.0.1:\(base.server.port)", "--ca-file", caFile])
        #expect(status.exitCode == 0, "\(status.stderr)")
    }
}
