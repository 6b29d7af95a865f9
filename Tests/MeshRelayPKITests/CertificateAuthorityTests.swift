import Foundation
import MeshRelayModel
import MeshRelayPKI
import MeshRelayTransport
import SwiftASN1
import Testing
import X509

/// The CA made in process, checked by an outside reader (openssl) and by the relay's own
/// identity reader.
@Suite("Certificate authority and folder")
struct CertificateAuthorityTests {
    static func folder() -> CertificateDirectory {
        CertificateDirectory(path: FileManager.default.temporaryDirectory.appendingPathComponent("meshrelay-pki-\(UUID().uuidString)").path)
    }

    /// Runs openssl; returns (status, stdout+stderr).
    static func openssl(_ arguments: [String]) throws -> (Int32, String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["openssl"] + arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    static func mode(_ path: String) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: path)[.posixPermissions]) as? NSNumber)?.intValue ?? -1
    }

    @Test func opensslVerifiesTheChainAndReadsTheNames() throws {
        let folder = Self.folder()
        defer { try? FileManager.default.removeItem(atPath: folder.path) }
        try folder.initialize(serverNames: ["relay.example.com", "localhost", "127.0.0.1", "::1"])
        try folder.issueAgent(cluster: "cluster-1")

        let (status, output) = try Self.openssl(["verify", "-CAfile", folder.file("ca.crt"), folder.file("server.crt"), folder.file("cluster-1.crt")])
        #expect(status == 0, "\(output)")
        let (_, purpose) = try Self.openssl(["verify", "-purpose", "sslserver", "-CAfile", folder.file("ca.crt"), folder.file("server.crt")])
        #expect(purpose.contains(": OK"), "\(purpose)")
        let (_, client) = try Self.openssl(["verify", "-purpose", "sslclient", "-CAfile", folder.file("ca.crt"), folder.file("cluster-1.crt")])
        #expect(client.contains(": OK"), "\(client)")

        let (_, text) = try Self.openssl(["x509", "-noout", "-text", "-in", folder.file("server.crt")])
        #expect(text.contains("DNS:relay.example.com") && text.contains("DNS:localhost") && text.contains("IP Address:127.0.0.1"), "\(text)")
        #expect(text.contains("IP Address:0:0:0:0:0:0:0:1") || text.contains("IP Address:::1"), "\(text)")
        #expect(text.contains("prime256v1") || text.contains("P-256"), "\(text)")
        let (_, agent) = try Self.openssl(["x509", "-noout", "-text", "-in", folder.file("cluster-1.crt")])
        #expect(agent.contains("URI:spiffe://meshrelay/cluster/cluster-1"), "\(agent)")
        #expect(agent.contains("TLS Web Client Authentication"))

        // Keys are private; openssl reads them and they match their certificates.
        #expect(Self.mode(folder.file("ca.key")) == 0o600)
        #expect(Self.mode(folder.file("server.key")) == 0o600)
        #expect(Self.mode(folder.file("cluster-1.key")) == 0o600)
        #expect(Self.mode(folder.file("ca.crt")) == 0o644)
        let (_, keyPublic) = try Self.openssl(["pkey", "-in", folder.file("cluster-1.key"), "-pubout"])
        let (_, certificatePublic) = try Self.openssl(["x509", "-in", folder.file("cluster-1.crt"), "-noout", "-pubkey"])
        #expect(!keyPublic.isEmpty && keyPublic == certificatePublic)
    }

    @Test func theRelayReadsTheAgentsIdentityAndTheValidityIsAsAsked() throws {
        let folder = Self.folder()
        defer { try? FileManager.default.removeItem(atPath: folder.path) }
        let now = Date()
        try folder.initialize(caDays: 365, serverDays: 30, now: now)
        let issued = try folder.issueAgent(cluster: "cluster-7", days: 10, now: now)
        let der = try PEMDocument(pemString: issued.certificatePEM).derBytes
        #expect(try ClusterIdentity.cluster(fromDER: der) == "cluster-7")
        #expect(abs(issued.certificate.notValidAfter.timeIntervalSince(now) - 10 * 86400) < 2)
        #expect(issued.certificate.notValidBefore < now, "backdated for clock skew")
        let ca = try folder.authority().certificate
        #expect(abs(ca.notValidAfter.timeIntervalSince(now) - 365 * 86400) < 2)
        // Serial numbers are random: two issues differ.
        let second = try folder.authority().issue(.agent(cluster: "cluster-7"), now: now)
        #expect(second.certificate.serialNumber != issued.certificate.serialNumber)
    }

    @Test func nothingIsOverwrittenWithoutForce() throws {
        let folder = Self.folder()
        defer { try? FileManager.default.removeItem(atPath: folder.path) }
        try folder.initialize()
        let before = try String(contentsOfFile: folder.file("ca.crt"), encoding: .utf8)
        #expect(throws: PKIError.self) { try folder.initialize() }
        do {
            try folder.initialize()
        } catch {
            #expect(error.code == .exists && error.message.contains("--force"), "\(error)")
        }
        #expect(try String(contentsOfFile: folder.file("ca.crt"), encoding: .utf8) == before)
        try folder.issueAgent(cluster: "a")
        #expect(throws: PKIError.self) { try folder.issueAgent(cluster: "a") }
        try folder.issueAgent(cluster: "a", force: true)
        try folder.initialize(force: true)
        #expect(try String(contentsOfFile: folder.file("ca.crt"), encoding: .utf8) != before)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasPrefix(".") }
        #expect(leftovers.isEmpty, "no temporary file left: \(leftovers)")
    }

    @Test(arguments: ["Cluster_1", "", "-a", String(repeating: "a", count: 64), "a.b"])
    func badClusterNamesAreRefused(_ name: String) throws {
        let authority = try CertificateAuthority.create()
        do {
            _ = try authority.issue(.agent(cluster: name))
            Issue.record("\(name) was accepted")
        } catch {
            #expect(error.code == .invalidName && error.message.contains("DNS-1123"), "\(error)")
        }
    }

    @Test(arguments: ["bad name", "a..b", "-x.example.com", "x_y.example"])
    func badServerNamesAreRefused(_ name: String) throws {
        let authority = try CertificateAuthority.create()
        #expect(throws: PKIError.self) { try authority.issue(.server(names: [name])) }
    }

    @Test func badValidityAndAForeignKeyAreRefused() throws {
        #expect(throws: PKIError.self) { try CertificateAuthority.create(days: 0) }
        let one = try CertificateAuthority.create()
        let other = try CertificateAuthority.create()
        do {
            _ = try CertificateAuthority(certificatePEM: try one.certificatePEM, privateKeyPEM: try other.privateKeyPEM)
            Issue.record("a key of another CA was accepted")
        } catch {
            #expect(error.code == .invalidPEM && error.message.contains("does not belong"))
        }
        let leaf = try one.issue(.server(names: []))
        do {
            _ = try CertificateAuthority(certificatePEM: leaf.certificatePEM, privateKeyPEM: leaf.privateKeyPEM)
            Issue.record("a leaf was accepted as a CA")
        } catch {
            #expect(error.message.contains("not a CA"))
        }
    }

    @Test func inspectSaysWhatACertificateIsFor() throws {
        let authority = try CertificateAuthority.create(days: 3650)
        let now = Date()
        let agent = try authority.issue(.agent(cluster: "cluster-1"), days: 20, now: now)
        let server = try authority.issue(.server(names: ["localhost", "127.0.0.1"]), now: now)
        let summaries = try CertificateSummary.read(pem: agent.certificatePEM + server.certificatePEM + (try authority.certificatePEM))
        #expect(summaries.map(\.role) == [.agent(cluster: "cluster-1"), .server, .authority])
        #expect(summaries[1].names == ["DNS:localhost", "IP:127.0.0.1"])
        #expect(summaries.allSatisfy { $0.keyAlgorithm == "ECDSA P-256" })
        // An hour later (the certificate keeps whole seconds only): 19 whole days are left.
        let text = summaries[0].render(now: now + 3600)
        #expect(text.contains("agent of cluster \"cluster-1\"") && text.contains("expires in 19 days (renew soon)"), "\(text)")
        #expect(summaries[0].render(now: now + 30 * 86400).contains("EXPIRED"))
        #expect(summaries[0].sha256Fingerprint.count == 95)
        #expect(throws: PKIError.self) { try CertificateSummary.read(pem: agent.privateKeyPEM) }
        #expect(throws: PKIError.self) { try CertificateSummary.read(pem: "not pem") }
    }
}

/// Renewal requests: the current certificate vouches for a new key.
@Suite("Renewal")
struct RenewalTests {
    @Test func aValidRenewalIsSignedAndEveryForgeryIsRefused() async throws {
        let authority = try CertificateAuthority.create()
        let other = try CertificateAuthority.create()
        let now = Date()
        let current = try authority.issue(.agent(cluster: "cluster-1"), days: 90, now: now)
        let trusted = [authority.certificate]

        let (request, newKey) = try RenewalRequest.make(cluster: "cluster-1", certificatePEM: current.certificatePEM, currentKeyPEM: current.privateKeyPEM)
        let renewed = try await authority.signRenewal(request, trusted: trusted, days: 30, now: now)
        #expect(renewed.serialNumber != current.certificate.serialNumber)
        #expect(newKey.contains("PRIVATE KEY") && !newKey.contains(current.privateKeyPEM))
        let summary = CertificateSummary(renewed, der: try PEMDocument(pemString: try renewed.serializeAsPEM().pemString).derBytes)
        #expect(summary.role == .agent(cluster: "cluster-1"))

        func refused(_ request: RenewalRequest, trusted: [Certificate] = trusted, at time: Date = now, _ expected: String) async {
            do {
                _ = try await authority.signRenewal(request, trusted: trusted, now: time)
                Issue.record("accepted: \(expected)")
            } catch {
                #expect(error.message.contains(expected), "\(error.message)")
            }
        }
        // Another cluster's name in the request.
        var renamed = request
        renamed.cluster = "cluster-2"
        await refused(renamed, "is for cluster cluster-1, not cluster-2")
        // Signed by some other key.
        let stranger = try authority.issue(.agent(cluster: "cluster-1"), now: now)
        let (foreign, _) = try RenewalRequest.make(cluster: "cluster-1", certificatePEM: current.certificatePEM, currentKeyPEM: stranger.privateKeyPEM)
        await refused(foreign, "not signed by the current certificate's key")
        // A certificate of another CA, and an expired one.
        await refused(request, trusted: [other.certificate], "not valid now or not issued by a trusted CA")
        await refused(request, at: now.addingTimeInterval(91 * 86400), "not valid now")
        // During a CA rotation the bundle trusts both: a certificate of the old CA still renews.
        #expect(try await authority.signRenewal(request, trusted: [other.certificate, authority.certificate], now: now).serialNumber != renewed.serialNumber)
    }
}
