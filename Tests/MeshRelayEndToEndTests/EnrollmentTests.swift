import Foundation
import MeshRelayPKI
import MeshRelayTesting
import Testing

/// Agents enrol with single-use bootstrap tokens (docs/security.md): real server, real agents,
/// curl as an outside client for the refusals.
@Suite("Enrolment with bootstrap tokens", .serialized)
struct EnrollmentTests {
    struct Setup {
        let base: CertifiedServer
        let enrollPort: Int
        var directory: String { base.directory }
        var certs: String { base.certs }
        var relayPort: Int { base.relayPort }
        var server: ServerProcess { base.server }

        static func start(agentCertificateDays: Int = 30) async throws -> Setup {
            let enrollPort = try freePort()
            let base = try await CertifiedServer.start(
                registered: ["cluster-1", "cluster-2"],
                extraArguments: ["--enroll-listen", "127.0.0.1:\(enrollPort)", "--agent-cert-days", "\(agentCertificateDays)"]
            )
            return Setup(base: base, enrollPort: enrollPort)
        }

        func token(_ cluster: String) async throws -> String {
            let created = try await runMeshrelay(["token", "create", "--cluster", cluster, "--api", server.url, "--token-file", server.tokenFile])
            guard created.exitCode == 0 else { throw ProcessFailure("token create: \(created.stderr)") }
            return created.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        }

        func agent(_ cluster: String, token: String, name: String, extra: [String] = []) throws -> AgentProcess {
            let tokenFile = directory + "/\(name).token"
            try token.write(toFile: tokenFile, atomically: true, encoding: .utf8)
            return try AgentProcess(
                cluster: cluster, servers: ["127.0.0.1:\(relayPort)"], certificates: nil, stateDirectory: directory + "/\(name)",
                extraArguments: [
                    "--bootstrap-token-file", tokenFile, "--ca-file", certs + "/ca.crt", "--enroll-server", "127.0.0.1:\(enrollPort)",
                ] + extra
            )
        }

        /// POST /enroll with curl (verifying the server against ca.crt): (HTTP status, body).
        func curlEnroll(cluster: String, token: String, csr: String) throws -> (Int, String) {
            let body = try JSONSerialization.data(withJSONObject: ["cluster": cluster, "token": token, "csr": csr])
            let file = directory + "/request-\(UUID().uuidString).json"
            try body.write(to: URL(fileURLWithPath: file))
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = [
                "curl", "-sS", "--max-time", "20", "--cacert", certs + "/ca.crt", "-H", "Content-Type: application/json", "--data-binary", "@\(file)",
                "-w", "\n%{http_code}", "https://127.0.0.1:\(enrollPort)/enroll",
            ]
            let out = Pipe()
            process.standardOutput = out
            process.standardError = out
            try process.run()
            let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
            return (Int(lines.last ?? "") ?? 0, lines.dropLast().joined(separator: "\n"))
        }

        func connected(_ cluster: String) async -> Bool {
            await clusterStatus(api: server.url, cluster: cluster)?["connected"] as? Bool == true
        }

        func stop() { base.stop() }
    }

    @Test func anAgentEnrolsWithItsTokenOnceAndThenUsesMutualTLS() async throws {
        let setup = try await Setup.start()
        defer { setup.stop() }
        let token = try await setup.token("cluster-1")
        #expect(token.hasPrefix("mrt.") && token.count == 47, "\(token)")

        let agent = try setup.agent("cluster-1", token: token, name: "agent-1")
        #expect(await waitUntil(timeout: .seconds(60)) { await setup.connected("cluster-1") }, "agent log:\n\(agent.log.text)")
        let folder = setup.directory + "/agent-1/certs"
        #expect(permissionBits(folder + "/cluster-1.key") == 0o600)
        let summary = try CertificateSummary.read(pem: try String(contentsOfFile: folder + "/cluster-1.crt", encoding: .utf8))[0]
        #expect(summary.role == .agent(cluster: "cluster-1"))
        #expect((29...30).contains(summary.daysLeft()), "--agent-cert-days 30: \(summary.notAfter)")
        #expect(!logEntries(setup.server.log.text, message: "agent enrolled", fields: ["agent.cluster": "cluster-1"]).isEmpty)

        // Restarted, it uses the stored certificate: no second enrolment (the token is spent).
        #expect(agent.terminate() == 0)
        let again = try setup.agent("cluster-1", token: token, name: "agent-1")
        #expect(await waitUntil(timeout: .seconds(60)) { await setup.connected("cluster-1") }, "agent log:\n\(again.log.text)")
        #expect(logEntries(again.log.text, message: "enrolment failed; retrying").isEmpty)
        #expect(again.terminate() == 0)

        // The same token cannot enrol anyone again.
        let reuse = try setup.agent("cluster-1", token: token, name: "agent-1b")
        #expect(
            await waitUntil(timeout: .seconds(30)) { !logEntries(reuse.log.text, message: "enrolment failed; retrying").isEmpty },
            "\(reuse.log.text)"
        )
        #expect(reuse.log.text.contains("enrolment refused: the bootstrap token is not valid"), "\(reuse.log.text)")
        _ = reuse.terminate()
        #expect(!FileManager.default.fileExists(atPath: setup.directory + "/agent-1b/certs/cluster-1.crt"))

        // No secret in any log: not the token, not a private key.
        for (name, text) in [("server", setup.server.log.text), ("agent", agent.log.text), ("reuse", reuse.log.text)] {
            #expect(!text.contains(token), "\(name) log holds the token")
            #expect(!text.contains(String(token.dropFirst(4).prefix(16))), "\(name) log holds part of the token")
            #expect(!text.contains("PRIVATE KEY"), "\(name) log holds a key")
        }
    }

    @Test func refusalsSayNothingAboutWhichClustersExistAndABadRequestDoesNotSpendTheToken() async throws {
        let setup = try await Setup.start()
        defer { setup.stop() }
        let token = try await setup.token("cluster-1")
        let good = try EnrollmentRequest.makeWithNewKey(cluster: "cluster-1")

        // A wrong token for a registered cluster and any token for an unknown cluster: one answer.
        let (wrongStatus, wrongBody) = try setup.curlEnroll(cluster: "cluster-1", token: "mrt.not-a-token", csr: good.csr)
        let unknownCSR = try EnrollmentRequest.makeWithNewKey(cluster: "no-such-cluster")
        let (unknownStatus, unknownBody) = try setup.curlEnroll(cluster: "no-such-cluster", token: token, csr: unknownCSR.csr)
        #expect(wrongStatus == 403 && unknownStatus == 403, "\(wrongBody) / \(unknownBody)")
        #expect(wrongBody == unknownBody, "the refusal must not tell which clusters exist")
        // A token of cluster-2 does not enrol cluster-1.
        let other = try await setup.token("cluster-2")
        #expect(try setup.curlEnroll(cluster: "cluster-1", token: other, csr: good.csr).0 == 403)

        // A CSR asking for another cluster's identity, or for an extra name: refused, token kept.
        let foreign = try EnrollmentRequest.makeWithNewKey(cluster: "cluster-2")
        let (foreignStatus, foreignBody) = try setup.curlEnroll(cluster: "cluster-1", token: token, csr: foreign.csr)
        #expect(foreignStatus == 422 && foreignBody.contains("spiffe://meshrelay/cluster/cluster-2"), "\(foreignBody)")
        let extra = try EnrollmentRequest.makeWithNewKey(cluster: "cluster-1", extraDNSNames: ["relay.example.com"])
        let (extraStatus, extraBody) = try setup.curlEnroll(cluster: "cluster-1", token: token, csr: extra.csr)
        #expect(extraStatus == 422 && extraBody.contains("relay.example.com"), "\(extraBody)")
        let (garbageStatus, _) = try setup.curlEnroll(cluster: "cluster-1", token: token, csr: "not a csr")
        #expect(garbageStatus == 422)

        // The token still works once, then never again.
        let (okStatus, okBody) = try setup.curlEnroll(cluster: "cluster-1", token: token, csr: good.csr)
        #expect(okStatus == 200, "\(okBody)")
        let reply = try JSONSerialization.jsonObject(with: Data(okBody.utf8)) as? [String: String]
        let issued = try CertificateSummary.read(pem: reply?["certificate"] ?? "")
        #expect(issued.first?.role == .agent(cluster: "cluster-1"))
        #expect(try setup.curlEnroll(cluster: "cluster-1", token: token, csr: good.csr).0 == 403)
        #expect(logEntries(setup.server.log.text, message: "enrolment refused: invalid bootstrap token").count >= 3)

        // Tokens only for registered clusters; only with the admin token.
        let unregistered = try await runMeshrelay(["token", "create", "--cluster", "cluster-9", "--api", setup.server.url, "--token-file", setup.server.tokenFile])
        #expect(unregistered.exitCode == 1 && unregistered.stderr.contains("not registered"), "\(unregistered.stderr)")
        let anonymous = try await runMeshrelay(["token", "create", "--cluster", "cluster-1", "--api", setup.server.url], environment: ["MESHRELAY_TOKEN": "wrong"])
        #expect(anonymous.exitCode == 1 && anonymous.stderr.contains("Unauthorized"), "\(anonymous.stderr)")
    }

    /// One-day certificates and `--renew-at 0.02`: due 30 minutes after notBefore, which is an hour
    /// back, so due at once: the agent renews it through the enrolment listener while its session stays up, and a
    /// restarted agent connects with the new one. The server, given a new certificate on disk,
    /// serves it to the next connection without a restart.
    @Test func anAgentRenewsWithoutDroppingItsSessionAndTheServerReloadsItsCertificate() async throws {
        let setup = try await Setup.start(agentCertificateDays: 1)
        defer { setup.stop() }
        let token = try await setup.token("cluster-1")
        let agent = try setup.agent("cluster-1", token: token, name: "agent-r", extra: ["--renew-at", "0.02"])
        #expect(await waitUntil(timeout: .seconds(60)) { await setup.connected("cluster-1") }, "agent log:\n\(agent.log.text)")
        #expect(
            await waitUntil(timeout: .seconds(60)) { !logEntries(agent.log.text, message: "certificate renewed").isEmpty },
            "agent log:\n\(agent.log.text)"
        )
        #expect(!logEntries(setup.server.log.text, message: "agent certificate renewed", fields: ["agent.cluster": "cluster-1"]).isEmpty)
        let folder = setup.directory + "/agent-r/certs"
        let renewed = try CertificateSummary.read(pem: try String(contentsOfFile: folder + "/cluster-1.crt", encoding: .utf8))[0]
        #expect(renewed.role == .agent(cluster: "cluster-1"))
        #expect(permissionBits(folder + "/cluster-1.key") == 0o600)
        #expect(!FileManager.default.fileExists(atPath: folder + "/cluster-1.crt.next"))
        // The session was not dropped: one connection so far, still connected.
        try await Task.sleep(for: .seconds(1))
        #expect(logEntries(setup.server.log.text, message: "agent connected").count == 1, "\(setup.server.log.text)")
        #expect(await setup.connected("cluster-1"))
        // Within the minimum spacing (60 s) it does not renew again.
        #expect(logEntries(agent.log.text, message: "certificate renewed").count == 1)
        #expect(agent.terminate() == 0)

        // A restart uses the renewed certificate (the server logs the new serial's session).
        let restarted = try setup.agent("cluster-1", token: token, name: "agent-r")
        #expect(await waitUntil(timeout: .seconds(60)) { logEntries(setup.server.log.text, message: "agent connected").count == 2 }, "\(restarted.log.text)")
        #expect(logEntries(restarted.log.text, message: "enrolment failed; retrying").isEmpty, "no second enrolment")
        #expect(restarted.terminate() == 0)

        // The server's own certificate replaced on disk: the next TLS client sees the new one.
        let expected = try replaceServerCertificate(in: setup.certs)
        let agent2 = try setup.agent("cluster-1", token: token, name: "agent-r")
        #expect(await waitUntil(timeout: .seconds(60)) { logEntries(setup.server.log.text, message: "agent connected").count == 3 }, "\(agent2.log.text)")
        #expect(!logEntries(setup.server.log.text, message: "relay TLS certificates reloaded from disk").isEmpty)
        let shown = try RelaySecurityTests.openssl(
            ["s_client", "-connect", "127.0.0.1:\(setup.relayPort)", "-CAfile", setup.certs + "/ca.crt",
             "-cert", folder + "/cluster-1.crt", "-key", folder + "/cluster-1.key", "-showcerts"], input: [], timeout: 20)
        #expect(firstCertificateFingerprint(inOpenSSLOutput: shown.stdout) == expected, "served:\n\(String(decoding: shown.stdout, as: UTF8.self).prefix(3000))")
        #expect(agent2.terminate() == 0)
    }
}


/// A file's permission bits.
func permissionBits(_ path: String) -> Int {
    ((try? FileManager.default.attributesOfItem(atPath: path)[.posixPermissions]) as? NSNumber)?.intValue ?? -1
}
