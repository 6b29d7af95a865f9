import Foundation
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
