import Foundation
import MeshRelayTesting
import Testing

/// The Gloo guide's story through a real Envoy 1.40 that the agent supervises: a request to an
/// unregistered host gets 502 from Envoy; once the guide's `google` ExternalService is applied
/// (with an ExternalEndpoint standing in for the internet) it gets 200; the server going away
/// changes nothing; deleting it brings the 502 back.
@Suite("Egress gateway: the guide's story through a real Envoy", .serialized)
struct EgressGatewayTests {
    static func request(_ port: Int, host: String) -> String {
        exchange(port: port, "GET http://\(host)/ HTTP/1.1\r\nHost: \(host)\r\nConnection: close\r\n\r\n", until: hasResponseHead) ?? ""
    }

    static func endpoint(port: Int) -> String {
        """
        apiVersion: networking.gloo.solo.io/v2
        kind: ExternalEndpoint
        metadata:
          name: google-local
          namespace: global
          labels:
            host: www.google.com
        spec:
          address: 127.0.0.1
          ports:
          - name: http
            number: \(port)
        """
    }

    @Test func unregisteredHostGets502AndTheAppliedServiceGets200() async throws {
        let envoy = try envoyBinary()
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let certificates = try DevCertificates(clusters: ["cluster-1"])
        defer { certificates.remove() }

        let upstreamPort = try freePort()
        try FileManager.default.createDirectory(atPath: directory + "/www", withIntermediateDirectories: true)
        try "hello from the stand-in for www.google.com\n".write(toFile: directory + "/www/index.html", atomically: true, encoding: .utf8)
        let upstream = try ChildProcess(
            name: "upstream", executable: "/usr/bin/env",
            arguments: ["python3", "-m", "http.server", "\(upstreamPort)", "--bind", "127.0.0.1", "--directory", directory + "/www"],
            logPath: directory + "/upstream.log"
        )
        defer { upstream.stop() }

        let relayPort = try freePort()
        let server = try await ServerProcess(dataDirectory: directory + "/data", relayPort: relayPort, certificates: certificates.directory)
        let register = try await runMeshrelay(
            ["apply", "-f", "-", "--api", server.url, "--token-file", server.tokenFile], stdin: SeedManifests.cluster("cluster-1")
        )
        #expect(register.exitCode == 0, "\(register.stderr)")

        let egressPort = try freePort()
        let adminPort = try freePort()
        let agent = try AgentProcess(
            cluster: "cluster-1", servers: ["127.0.0.1:\(relayPort)"], certificates: certificates.directory, stateDirectory: directory + "/agent",
            extraArguments: [
                "--envoy-config-dir", directory + "/envoy", "--envoy", envoy,
                "--egress-listen", "127.0.0.1:\(egressPort)", "--envoy-admin", "127.0.0.1:\(adminPort)",
                "--istio-dir", directory + "/istio",
            ]
        )

        // Nothing registered: Envoy answers 502 itself.
        #expect(
            await waitUntil(timeout: .seconds(60)) { Self.request(egressPort, host: "www.google.com").hasPrefix("HTTP/1.1 502") },
            "agent log:\n\(agent.log.text)"
        )
        let refused = Self.request(egressPort, host: "www.google.com")
        #expect(refused.lowercased().contains("server: envoy"), "\(refused)")

        // The guide's ExternalService, selecting an ExternalEndpoint that stands in for the
        // internet (`selector: {}` selects none: its hosts would be resolved by DNS).
        let google = SeedManifests.google.replacingOccurrences(of: "selector: {}", with: "selector:\n    host: www.google.com")
        #expect(google != SeedManifests.google)
        let apply = try await runMeshrelay(
            ["apply", "-f", "-", "--api", server.url, "--token-file", server.tokenFile],
            stdin: SeedManifests.stream([google, Self.endpoint(port: upstreamPort)])
        )
        #expect(apply.exitCode == 0, "\(apply.stderr)")
        #expect(
            await waitUntil(timeout: .seconds(60)) { Self.request(egressPort, host: "www.google.com").hasPrefix("HTTP/1.1 200") },
            "agent log:\n\(agent.log.text)\nupstream log:\n\(upstream.log)\nclusters:\n\((try? String(contentsOfFile: directory + "/envoy/cds.json", encoding: .utf8)) ?? "")"
        )
        #expect(Self.request(egressPort, host: "images.google.com").hasPrefix("HTTP/1.1 502"), "only the registered host passes")
        // Applied means confirmed by Envoy: the status says ACCEPTED.
        #expect(
            await waitUntil { await resourceState(api: server.url, name: "google") == "ACCEPTED" }
        )

        // The Istio output: a ServiceEntry per ExternalService that kustomize builds.
        let kustomize = Process()
        kustomize.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        kustomize.arguments = ["kubectl", "kustomize", directory + "/istio"]
        let built = Pipe()
        kustomize.standardOutput = built
        kustomize.standardError = built
        try kustomize.run()
        let manifests = String(decoding: built.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        kustomize.waitUntilExit()
        #expect(kustomize.terminationStatus == 0, "\(manifests)")
        #expect(manifests.contains("kind: ServiceEntry") && manifests.contains("www.google.com") && manifests.contains("MESH_EXTERNAL"), "\(manifests)")

        // Static stability: the server dies, traffic keeps flowing.
        server.kill9()
        #expect(Self.request(egressPort, host: "www.google.com").hasPrefix("HTTP/1.1 200"))
        #expect(agent.terminate() == 0, "the agent stops Envoy and exits cleanly")
        #expect(Self.request(egressPort, host: "www.google.com").isEmpty, "Envoy stopped with its agent")

        // A restarted agent, with its server still down, routes exactly as before from its state.
        let restarted = try AgentProcess(
            cluster: "cluster-1", servers: ["127.0.0.1:\(relayPort)"], certificates: certificates.directory, stateDirectory: directory + "/agent",
            extraArguments: [
                "--envoy-config-dir", directory + "/envoy", "--envoy", envoy,
                "--egress-listen", "127.0.0.1:\(egressPort)", "--envoy-admin", "127.0.0.1:\(adminPort)",
            ]
        )
        #expect(
            await waitUntil(timeout: .seconds(60)) { Self.request(egressPort, host: "www.google.com").hasPrefix("HTTP/1.1 200") },
            "agent log:\n\(restarted.log.text)"
        )
        #expect(Self.request(egressPort, host: "images.google.com").hasPrefix("HTTP/1.1 502"))
        #expect(restarted.terminate() == 0)
    }
}
