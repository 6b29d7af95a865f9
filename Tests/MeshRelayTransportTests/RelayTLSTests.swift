import Foundation
import MeshRelayTesting
import MeshRelayTransport
import NIOSSL
import Testing

@Suite("Relay mutual TLS and cluster identity on real sockets", .serialized)
struct RelayTLSTests {
    @Test func theClusterIdentityComesFromTheClientCertificate() async throws {
        let certificates = try DevCertificates(clusters: ["cluster-1", "cluster-2"])
        defer { certificates.remove() }
        let server = try await IdentityServer.start(certificates: certificates.directory)
        for cluster in ["cluster-1", "cluster-2"] {
            let configuration = try RelayTLS.clientConfiguration(certificatesDirectory: certificates.directory, cluster: cluster)
            let answer = try await exchange(port: server.port, configuration: configuration).get()
            #expect(answer == "\(cluster)\n")
        }
        await server.stop()
    }

    @Test func aClientWithoutCertificateOrFromAnotherCAGetsNothing() async throws {
        let certificates = try DevCertificates(clusters: ["cluster-1"])
        let rogue = try DevCertificates(clusters: ["cluster-1"])
        defer {
            certificates.remove()
            rogue.remove()
        }
        let server = try await IdentityServer.start(certificates: certificates.directory)

        var noCertificate = TLSConfiguration.makeClientConfiguration()
        noCertificate.trustRoots = .file(certificates.path("ca.crt"))
        let anonymous = await exchange(port: server.port, configuration: noCertificate)
        #expect((try? anonymous.get()) == nil || (try? anonymous.get()) == "", "a client without certificate must get no identity: \(anonymous)")

        var otherCA = TLSConfiguration.makeClientConfiguration()
        otherCA.trustRoots = .file(certificates.path("ca.crt"))
        otherCA.certificateChain = try NIOSSLCertificate.fromPEMFile(rogue.path("cluster-1.crt")).map { .certificate($0) }
        otherCA.privateKey = .privateKey(try NIOSSLPrivateKey(file: rogue.path("cluster-1.key"), format: .pem))
        let impostor = await exchange(port: server.port, configuration: otherCA)
        #expect((try? impostor.get()) == nil || (try? impostor.get()) == "", "a certificate from another CA must be refused: \(impostor)")
        await server.stop()
    }

    @Test func openSSLAsAnOutsideClient() async throws {
        let certificates = try DevCertificates(clusters: ["cluster-2"])
        defer { certificates.remove() }
        let server = try await IdentityServer.start(certificates: certificates.directory)
        let ok = try openSSLClient(port: server.port, arguments: [
            "-CAfile", certificates.path("ca.crt"), "-cert", certificates.path("cluster-2.crt"), "-key", certificates.path("cluster-2.key"),
            "-servername", "localhost",
        ])
        #expect(ok.output.contains("cluster-2"), "openssl with the agent certificate: \(ok)")
        let refused = try openSSLClient(port: server.port, arguments: ["-CAfile", certificates.path("ca.crt")])
        #expect(!refused.output.contains("cluster-2"))
        // TLS 1.1 is below the relay's minimum.
        let old = try openSSLClient(port: server.port, arguments: [
            "-CAfile", certificates.path("ca.crt"), "-cert", certificates.path("cluster-2.crt"), "-key", certificates.path("cluster-2.key"),
            "-tls1_1",
        ])
        #expect(!old.output.contains("cluster-2"))
        await server.stop()
    }

    @Test func aCertificateWithoutClusterURIHasNoIdentity() throws {
        let certificates = try DevCertificates(clusters: [])
        defer { certificates.remove() }
        let server = try NIOSSLCertificate.fromPEMFile(certificates.path("server.crt"))
        let der = try #require(server.first).toDERBytes()
        #expect(throws: TransportError.self) { try ClusterIdentity.cluster(fromDER: der) }
        #expect(throws: TransportError.self) { try ClusterIdentity.cluster(fromDER: [0x30, 0x03, 0x02, 0x01, 0x01]) }
    }

    @Test func missingFilesSayWhatToDo() {
        do {
            _ = try RelayTLS.serverConfiguration(certificatesDirectory: "/nonexistent-meshrelay")
            Issue.record("expected an error")
        } catch {
            #expect(error.code == .missingFile)
            #expect(error.message.contains("ca.crt"))
            #expect(error.message.contains("meshrelay certs init"))
        }
    }
}
