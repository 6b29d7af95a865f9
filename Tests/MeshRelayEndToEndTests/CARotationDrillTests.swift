import Foundation
import MeshRelayPKI
import MeshRelayTesting
import Testing

/// The CA rotation of docs/operations.md ("Rotating the CA without a reconnect storm"), step by
/// step, with a real server, an enrolled agent and openssl as the outside client: the agent moves
/// to the new CA through its renewals alone, its session is never cut, and at the end only the new
/// CA is trusted.
@Suite("CA rotation drill", .serialized)
struct CARotationDrillTests {
    /// The SHA-256 fingerprints of the certificates in a PEM file.
    static func fingerprints(_ path: String) -> [String] {
        guard let pem = try? String(contentsOfFile: path, encoding: .utf8), let summaries = try? CertificateSummary.read(pem: pem) else { return [] }
        return summaries.map(\.sha256Fingerprint)
    }

    /// `openssl verify -CAfile ca certificate` succeeds.
    static func verifies(_ certificate: String, against ca: String) throws -> Bool {
        try RelaySecurityTests.openssl(["verify", "-CAfile", ca, certificate]).status == 0
    }

    /// Replaces `destination` by a copy of `source` the way the docs say: a temporary file, renamed.
    static func install(_ source: String, at destination: String) throws {
        try? FileManager.default.removeItem(atPath: destination + ".tmp")
        try FileManager.default.copyItem(atPath: source, toPath: destination + ".tmp")
        guard rename(destination + ".tmp", destination) == 0 else { throw ProcessFailure("rename \(destination).tmp failed") }
    }

    /// A new relay connection with `certificate`/`key`, trusting `caFile`: (the server's
    /// certificate verified, the fingerprint it served).
    static func relayHandshake(port: Int, certificate: String, key: String, caFile: String) throws -> (verified: Bool, served: String?) {
        let run = try RelaySecurityTests.openssl(
            ["s_client", "-connect", "127.0.0.1:\(port)", "-CAfile", caFile, "-cert", certificate, "-key", key, "-showcerts", "-verify_return_error"],
            timeout: 20
        )
        let text = String(decoding: run.stdout, as: UTF8.self)
        return (text.contains("Verify return code: 0 (ok)"), firstCertificateFingerprint(inOpenSSLOutput: run.stdout))
    }

    @Test func anEnrolledAgentMovesToANewCAWithoutItsSessionBeingCut() async throws {
        let setup = try await EnrollmentTests.Setup.start(agentCertificateDays: 1)
        defer { setup.stop() }
        let certs = setup.certs
        let token = try await setup.token("cluster-1")
        // Due at once (2 % of a day is less than the 1 h backdate), so it renews every 2 s: each
        // step below reaches the agent through a renewal, as it would within one renewal period.
        let agent = try setup.agent("cluster-1", token: token, name: "agent-ca", extra: ["--renew-at", "0.02", "--renew-min-interval", "2"])
        defer { _ = agent.terminate() }
        #expect(await waitUntil(timeout: .seconds(60)) { await setup.connected("cluster-1") }, "agent log:\n\(agent.log.text)")
        let held = setup.directory + "/agent-ca/certs"
        let oldCA = Self.fingerprints(certs + "/ca.crt")
        #expect(oldCA.count == 1)
        try FileManager.default.copyItem(atPath: certs + "/ca.key", toPath: setup.directory + "/old-ca.key")

        // 1. A new CA next to the old one.
        let fresh = setup.directory + "/certs-new"
        #expect(try await runMeshrelay(["certs", "init", "--dir", fresh]).exitCode == 0)
        let newCA = Self.fingerprints(fresh + "/ca.crt")

        // 2. Trust both: the agent gets the bundle with its next renewal.
        let bundle = try String(contentsOfFile: certs + "/ca.crt", encoding: .utf8) + String(contentsOfFile: fresh + "/ca.crt", encoding: .utf8)
        try bundle.write(toFile: certs + "/ca.crt.tmp", atomically: false, encoding: .utf8)
        #expect(rename(certs + "/ca.crt.tmp", certs + "/ca.crt") == 0)
        #expect(
            await waitUntil(timeout: .seconds(60)) { Self.fingerprints(held + "/ca.crt") == oldCA + newCA },
            "the agent's ca.crt: \(Self.fingerprints(held + "/ca.crt"))\n\(agent.log.text)"
        )

        // 3. Sign with the new CA and serve the new server certificate (key first).
        try Self.install(fresh + "/ca.key", at: certs + "/ca.key")
        try Self.install(fresh + "/server.key", at: certs + "/server.key")
        try Self.install(fresh + "/server.crt", at: certs + "/server.crt")
        #expect(
            await waitUntil(timeout: .seconds(60)) { (try? Self.verifies(held + "/cluster-1.crt", against: fresh + "/ca.crt")) == true },
            "the agent's certificate is not from the new CA yet\n\(agent.log.text)"
        )
        // The agent's next connection: its new certificate is accepted, the new server certificate
        // verifies against the bundle it holds.
        let next = try Self.relayHandshake(
            port: setup.relayPort, certificate: held + "/cluster-1.crt", key: held + "/cluster-1.key", caFile: held + "/ca.crt"
        )
        #expect(next.verified && next.served == Self.fingerprints(fresh + "/server.crt").first, "\(next)")

        // 4. Drop the old CA once every agent holds a certificate of the new one.
        try Self.install(fresh + "/ca.crt", at: certs + "/ca.crt")
        #expect(
            await waitUntil(timeout: .seconds(60)) { Self.fingerprints(held + "/ca.crt") == newCA },
            "the agent's ca.crt: \(Self.fingerprints(held + "/ca.crt"))"
        )
        // A certificate of the old CA is refused now.
        let oldAuthority = try CertificateAuthority(
            certificatePEM: bundle, privateKeyPEM: try String(contentsOfFile: setup.directory + "/old-ca.key", encoding: .utf8)
        )
        let stale = try oldAuthority.issue(.agent(cluster: "cluster-1"))
        try stale.certificatePEM.write(toFile: setup.directory + "/stale.crt", atomically: true, encoding: .utf8)
        try stale.privateKeyPEM.write(toFile: setup.directory + "/stale.key", atomically: true, encoding: .utf8)
        let refusedBefore = logEntries(setup.server.log.text, message: "relay client TLS handshake failed").count
        // (openssl may see its own side of a TLS 1.3 handshake complete; the server's log is the proof.)
        _ = try Self.relayHandshake(port: setup.relayPort, certificate: setup.directory + "/stale.crt", key: setup.directory + "/stale.key", caFile: fresh + "/ca.crt")
        #expect(
            await waitUntil(timeout: .seconds(20)) {
                logEntries(setup.server.log.text, message: "relay client TLS handshake failed").count > refusedBefore
            },
            "an old-CA certificate was not refused"
        )

        // Through all four steps one session: no reconnect, no renewal failure.
        #expect(logEntries(setup.server.log.text, message: "agent connected").count == 1, "\(setup.server.log.text)")
        #expect(logEntries(agent.log.text, message: "closing the connection").isEmpty)
        #expect(logEntries(agent.log.text, message: "certificate renewal failed; retrying").isEmpty, "\(agent.log.text)")
        #expect(await setup.connected("cluster-1"))

        // A restarted agent connects with what it holds: the new CA end to end.
        #expect(agent.terminate() == 0)
        let restarted = try setup.agent("cluster-1", token: token, name: "agent-ca")
        defer { _ = restarted.terminate() }
        #expect(
            await waitUntil(timeout: .seconds(60)) { logEntries(setup.server.log.text, message: "agent connected").count == 2 },
            "\(restarted.log.text)"
        )
        #expect(logEntries(restarted.log.text, message: "enrolment failed; retrying").isEmpty, "no second enrolment")
    }
}
