import ArgumentParser
import Foundation
import MeshRelayTranslation

/// `translate --resources R`: the agent's side of applying a snapshot without Envoy: R
/// ExternalServices (every tenth with an ExternalEndpoint) translated to Envoy and Istio output, and
/// the three Envoy files written by atomic rename, as `EnvoyDataPlane` does before it asks Envoy.
struct TranslateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "translate",
        abstract: "Translate R ExternalServices to Envoy files and write them (the agent's apply without Envoy)."
    )

    @Option(help: "ExternalServices in the snapshot.") var resources = 10_000
    @Option(help: "Repetitions (the median and the worst are reported).") var runs = 5
    @Flag(help: "Print the result as one JSON object on the last line of standard output.") var json = false

    func validate() throws {
        guard (1...200_000).contains(resources) else { throw ValidationError("--resources must be between 1 and 200000") }
        guard (1...100).contains(runs) else { throw ValidationError("--runs must be between 1 and 100") }
    }

    func run() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("meshrelay-bench-translate-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let snapshot = Self.snapshot(resources)
        let gateway = GatewayConfiguration(configDirectory: directory, httpListener: SocketAddress(host: "127.0.0.1", port: 15001))
        var seconds: [Double] = []
        var bytes = 0
        for run in 0..<runs {
            let started = ContinuousClock.now
            var input = TranslationInput(resources: snapshot, policy: .registryOnly, gateway: gateway, versionInfo: "\(run + 1)")
            input.outputs = .envoy  // what EnvoyDataPlane asks for (IstioDataPlane asks for .istio)
            let output = try Translator.translate(input)
            bytes = 0
            for file in output.envoy.inWriteOrder {
                let temporary = directory + "/." + file.name + ".tmp"
                try Data(file.contents).write(to: URL(fileURLWithPath: temporary))
                guard rename(temporary, directory + "/" + file.name) == 0 else { throw ValidationError("cannot rename \(temporary)") }
                bytes += file.contents.count
            }
            let elapsed = ContinuousClock.now - started
            seconds.append(Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
        }
        seconds.sort()
        var result = BenchResult(scenario: "translate")
        result.set("resources", resources)
        result.set("runs", runs)
        result.set("median_seconds", seconds[seconds.count / 2])
        result.set("max_seconds", seconds[seconds.count - 1])
        result.set("envoy_bytes", bytes)
        if json {
            print(result.jsonLine)
        } else {
            for field in result.fields { print("\(field.key): \(BenchResult.encode(field.value))") }
        }
    }

    /// R ExternalServices in 20 namespaces, two ports each; every tenth selects an endpoint.
    static func snapshot(_ count: Int) -> [RawSnapshotResource] {
        var resources: [RawSnapshotResource] = []
        for index in 0..<count {
            let namespace = "ns-\(index % 20)"
            let selector = index % 10 == 0 ? #","selector":{"app":"svc-\#(index)"}"# : ""
            let spec = #"{"hosts":["svc-\#(index).example.com"],"ports":[{"name":"http","number":80,"protocol":"HTTP"},{"name":"https","number":443,"protocol":"HTTPS"}]\#(selector)}"#
            resources.append(RawSnapshotResource(kind: "ExternalService", namespace: namespace, name: "svc-\(index)", specJSON: Array(spec.utf8)))
            if index % 10 == 0 {
                let endpoint = #"{"address":"10.0.\#(index / 250 % 250).\#(index % 250 + 1)","ports":[{"name":"http","number":8080},{"name":"https","number":8443}]}"#
                resources.append(
                    RawSnapshotResource(
                        kind: "ExternalEndpoint", namespace: namespace, name: "ep-\(index)", labels: ["app": "svc-\(index)"], specJSON: Array(endpoint.utf8)
                    )
                )
            }
        }
        return resources
    }
}
