import Foundation
import MeshRelayModel
import MeshRelayTesting
import Testing

/// The Gloo guide's story with real processes: a server, two agents (cluster-1, cluster-2) each
/// supervising its own Envoy 1.40, and a local HTTP server standing in for the internet (reached
/// through ExternalEndpoints). Unregistered host → 502 from Envoy; the guide's ExternalServices
/// applied → 200 in both clusters; the server killed → traffic still flows, a restarted agent
/// routes from its state; the server back → status converges; deleted → 502 again.
@Suite("Egress gateway: the guide's story through real Envoys", .serialized)
struct EgressGatewayTests {
    static func request(_ port: Int, host: String, path: String = "/") -> String {
        exchange(port: port, "GET http://\(host)\(path) HTTP/1.1\r\nHost: \(host)\r\nConnection: close\r\n\r\n", until: hasResponseHead) ?? ""
    }

    static func endpoint(_ name: String, namespace: String, label: String, port: Int) -> String {
        GuideManifests.endpoint(name, namespace: namespace, label: label, port: port)
    }

    static func pinned(_ manifest: String, to label: String) -> String { GuideManifests.pinned(manifest, to: label) }

    /// One agent with its Envoy.
    struct Gateway {
        let cluster: String
        let egressPort: Int
        let adminPort: Int
        let arguments: [String]

        init(cluster: String, directory: String, envoy: String) throws {
            self.cluster = cluster
            egressPort = try freePort()
            adminPort = try freePort()
            arguments = [
                "--envoy-config-dir", directory + "/\(cluster)/envoy", "--envoy", envoy,
                "--egress-listen", "127.0.0.1:\(egressPort)", "--envoy-admin", "127.0.0.1:\(adminPort)",
                "--istio-dir", directory + "/\(cluster)/istio",
            ]
        }

        func start(relayPort: Int, certificates: String, directory: String) throws -> AgentProcess {
            try AgentProcess(
                cluster: cluster, servers: ["127.0.0.1:\(relayPort)"], certificates: certificates, stateDirectory: directory + "/\(cluster)/state",
                extraArguments: arguments
            )
        }

        func answers(_ status: String, host: String, path: String = "/") async -> Bool {
            await waitUntil(timeout: .seconds(60)) { EgressGatewayTests.request(egressPort, host: host, path: path).hasPrefix("HTTP/1.1 \(status)") }
        }
    }

    @Test func theGuidesStoryInTwoClusters() async throws {
        let envoy = try envoyBinary()
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let clusters = ["cluster-1", "cluster-2"]
        let certificates = try DevCertificates(clusters: clusters)
        defer { certificates.remove() }

        // A python http.server standing in for the internet.
        let (upstream, upstreamPort) = try HADrillTests.upstream(directory)
        defer { upstream.stop() }

        let relayPort = try freePort()
        var server = try await ServerProcess(dataDirectory: directory + "/data", relayPort: relayPort, certificates: certificates.directory)
        func apply(_ manifest: String) async throws {
            let result = try await runMeshrelay(["apply", "-f", "-", "--api", server.url, "--token-file", server.tokenFile], stdin: manifest)
            #expect(result.exitCode == 0, "\(result.stderr)")
        }
        try await apply(SeedManifests.stream(clusters.map { SeedManifests.cluster($0) }))

        let gateways = try clusters.map { try Gateway(cluster: $0, directory: directory, envoy: envoy) }
        var agents = try gateways.map { try $0.start(relayPort: relayPort, certificates: certificates.directory, directory: directory) }
        func logs() -> String { agents.map(\.log.text).joined(separator: "\n") }

        // 1. Nothing registered: Envoy answers 502 itself, in both clusters.
        for gateway in gateways {
            #expect(await gateway.answers("502", host: "www.google.com"), "agent logs:\n\(logs())")
            #expect(Self.request(gateway.egressPort, host: "www.google.com").lowercased().contains("server: envoy"))
        }

        // 2. The guide's `google` → 200 in both clusters; other hosts stay 502.
        try await apply(
            SeedManifests.stream([
                Self.pinned(SeedManifests.google, to: "www"), Self.endpoint("google-www", namespace: "global", label: "www", port: upstreamPort),
            ])
        )
        for gateway in gateways {
            #expect(await gateway.answers("200", host: "www.google.com"), "agent logs:\n\(logs())")
            #expect(Self.request(gateway.egressPort, host: "images.google.com").hasPrefix("HTTP/1.1 502"))
        }
        #expect(await waitUntil { await resourceState(api: server.url, name: "google") == "ACCEPTED" })

        // 3. The guide's `google-wildcard` verbatim: no endpoint, so the status warns that it can
        //    bypass REGISTRY_ONLY; pinned to an endpoint, images.google.com → 200 and no warning.
        try await apply(SeedManifests.googleWildcard)
        #expect(await waitUntil { await resourceState(api: server.url, name: "google-wildcard") == "WARNING" }, "agent logs:\n\(logs())")
        let described = try await runMeshrelay(["describe", "externalservice", "google-wildcard", "-n", "bookinfo", "--api", server.url])
        #expect(described.stdout.contains("bypass REGISTRY_ONLY"), "\(described.stdout)")
        try await apply(
            SeedManifests.stream([
                Self.pinned(SeedManifests.googleWildcard, to: "images"),
                Self.endpoint("google-images", namespace: "bookinfo", label: "images", port: upstreamPort),
            ])
        )
        for gateway in gateways {
            #expect(await gateway.answers("200", host: "images.google.com"), "agent logs:\n\(logs())")
        }
        #expect(await waitUntil { await resourceState(api: server.url, name: "google-wildcard") == "ACCEPTED" })

        // The Istio output of a cluster builds with kustomize.
        let kustomize = Process()
        kustomize.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        kustomize.arguments = ["kubectl", "kustomize", directory + "/cluster-1/istio"]
        let built = Pipe()
        kustomize.standardOutput = built
        kustomize.standardError = built
        try kustomize.run()
        let manifests = String(decoding: built.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        kustomize.waitUntilExit()
        #expect(kustomize.terminationStatus == 0, "\(manifests)")
        #expect(manifests.contains("kind: ServiceEntry") && manifests.contains("www.google.com") && manifests.contains("*.google.com"), "\(manifests)")

        // 4. Static stability: the server dies, traffic keeps flowing; a restarted agent routes
        //    from its state while the server is still down.
        server.kill9()
        for gateway in gateways {
            #expect(Self.request(gateway.egressPort, host: "www.google.com").hasPrefix("HTTP/1.1 200"))
        }
        #expect(agents[0].terminate() == 0, "the agent stops Envoy and exits cleanly")
        #expect(Self.request(gateways[0].egressPort, host: "www.google.com").isEmpty, "Envoy stopped with its agent")
        agents[0] = try gateways[0].start(relayPort: relayPort, certificates: certificates.directory, directory: directory)
        #expect(await gateways[0].answers("200", host: "www.google.com"), "agent log:\n\(agents[0].log.text)")
        #expect(await gateways[0].answers("200", host: "images.google.com"))

        // 5. The server comes back: both clusters reconnect and the status converges.
        server = try await ServerProcess(dataDirectory: directory + "/data", relayPort: relayPort, certificates: certificates.directory)
        for cluster in clusters {
            #expect(
                await waitUntil(timeout: .seconds(60)) {
                    let status = await clusterStatus(api: server.url, cluster: cluster)
                    return status?["connected"] as? Bool == true && status?["lag"] as? Int == 0
                },
                "agent logs:\n\(logs())"
            )
        }

        // 6. Both deleted: 502 again everywhere.
        let deleted = try await runMeshrelay(
            ["delete", "-f", "-", "--api", server.url, "--token-file", server.tokenFile],
            stdin: SeedManifests.stream([SeedManifests.google, SeedManifests.googleWildcard])
        )
        #expect(deleted.exitCode == 0, "\(deleted.stderr)")
        for gateway in gateways {
            #expect(await gateway.answers("502", host: "www.google.com"), "agent logs:\n\(logs())")
            #expect(await gateway.answers("502", host: "images.google.com"))
        }
        for agent in agents {
            #expect(agent.terminate() == 0)
        }
        #expect(server.terminate() == 0)
    }

    /// An HTTPS ExternalService whose gateway originates TLS, verifying with `caFile` (nil: the
    /// system bundle).
    static func billing(caFile: String?) -> String {
        """
        apiVersion: networking.gloo.solo.io/v2
        kind: ExternalService
        metadata:
          name: billing-api
          namespace: global
        spec:
          hosts:
          - api.billing.example
          ports:
          - name: https
            number: 443
            protocol: HTTPS
        """ + (caFile.map { "\n    clientsideTls:\n      mode: SIMPLE\n      caCertificates: \($0)" } ?? "")
    }

    /// A configuration Envoy refuses (here: TLS origination naming a CA file that does not exist
    /// in this cluster, which the server cannot check) is a NACK carrying Envoy's own message; the
    /// gateway keeps what it ran, and the other resources stay ACCEPTED.
    @Test func anEnvoyRejectionIsANackWithEnvoysMessageAndThePreviousConfigStays() async throws {
        let envoy = try envoyBinary()
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let certificates = try DevCertificates(clusters: ["cluster-1"])
        defer { certificates.remove() }
        let relayPort = try freePort()
        let server = try await ServerProcess(dataDirectory: directory + "/data", relayPort: relayPort, certificates: certificates.directory)
        func apply(_ manifest: String) async throws {
            let result = try await runMeshrelay(["apply", "-f", "-", "--api", server.url, "--token-file", server.tokenFile], stdin: manifest)
            #expect(result.exitCode == 0, "\(result.stderr)")
        }
        // The upstream standing in for www.google.com is the server's own API (GET /healthz answers 200).
        try await apply(
            SeedManifests.stream([
                SeedManifests.cluster("cluster-1"), Self.pinned(SeedManifests.google, to: "www"),
                Self.endpoint("google-www", namespace: "global", label: "www", port: server.port),
            ])
        )
        let gateway = try Gateway(cluster: "cluster-1", directory: directory, envoy: envoy)
        let agent = try gateway.start(relayPort: relayPort, certificates: certificates.directory, directory: directory)
        #expect(await gateway.answers("200", host: "www.google.com", path: "/healthz"), "agent log:\n\(agent.log.text)")
        let configDump = { () -> String in adminGet(port: gateway.adminPort, "/config_dump?resource=dynamic_active_clusters") ?? "" }
        #expect(configDump().contains("outbound|80|www.google.com"))

        try await apply(Self.billing(caFile: "/etc/billing/ca-that-is-not-here.pem"))
        var failure = ""
        #expect(
            await waitUntil(timeout: .seconds(60)) {
                let status = try? await runMeshrelay(["status", "-o", "json", "--api", server.url])
                guard let object = try? JSONSerialization.jsonObject(with: Data((status?.stdout ?? "").utf8)) as? [String: Any],
                    let entry = (object["resources"] as? [[String: Any]])?.first(where: { $0["name"] as? String == "billing-api" }),
                    entry["state"] as? String == "FAILED"
                else { return false }
                failure = entry["message"] as? String ?? ""
                return true
            },
            "agent log:\n\(agent.log.text)"
        )
        // Envoy's own words, not ours: the file it could not load.
        #expect(failure.contains("Envoy rejected cds.json"), "\(failure)")
        #expect(failure.contains("/etc/billing/ca-that-is-not-here.pem"), "\(failure)")
        // The gateway still runs the previous configuration; google is untouched.
        #expect(EgressGatewayTests.request(gateway.egressPort, host: "www.google.com", path: "/healthz").hasPrefix("HTTP/1.1 200"))
        #expect(!configDump().contains("api.billing.example"))
        #expect(await resourceState(api: server.url, name: "google") == "ACCEPTED")
        let described = try await runMeshrelay(["describe", "externalservice", "billing-api", "-n", "global", "--api", server.url])
        #expect(described.stdout.contains("/etc/billing/ca-that-is-not-here.pem"), "\(described.stdout)")

        // Fixed (verification through the system CA bundle): applied, the gateway takes it.
        try await apply(Self.billing(caFile: nil))
        #expect(await waitUntil(timeout: .seconds(60)) { await resourceState(api: server.url, name: "billing-api") == "ACCEPTED" }, "agent log:\n\(agent.log.text)")
        #expect(await waitUntil(timeout: .seconds(30)) { configDump().contains("api.billing.example") })
        #expect(EgressGatewayTests.request(gateway.egressPort, host: "www.google.com", path: "/healthz").hasPrefix("HTTP/1.1 200"))
        // The listeners never changed after the first apply: later updates rewrote only clusters
        // and routes (Envoy spends 10–20 ms on every file it is given).
        #expect(!logEntries(agent.log.text, message: "Envoy accepted the configuration", fields: ["envoy.files": "cds.json,rds.json"]).isEmpty, "\(agent.log.text)")
        #expect(agent.terminate() == 0)
        #expect(server.terminate() == 0)
    }
}
