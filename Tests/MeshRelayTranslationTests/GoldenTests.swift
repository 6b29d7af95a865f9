import Foundation
import MeshRelayModel
import MeshRelayTranslation
import Testing

/// The seed guide's manifests under both policies, against files in Golden/. Set
/// `MESHRELAY_UPDATE_GOLDEN=1` to rewrite them (then review the diff).
@Suite struct GoldenTests {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden")

    @Test(arguments: OutboundPolicy.allCases)
    func seedGuide(_ policy: OutboundPolicy) throws {
        let input = TranslationInput(
            resources: try F.seedResources(), policy: policy, gateway: F.gateway, versionInfo: "42")
        let output = try Translator.translate(input)
        let stem = "seeds-\(policy.rawValue.lowercased().replacingOccurrences(of: "_", with: "-"))"
        try check("\(stem).cds.json", output.envoy.clusters)
        try check("\(stem).rds.json", output.envoy.routes)
        try check("\(stem).lds.json", output.envoy.listeners)
        let istio = output.istio.keys.sorted().map { "# \($0)\n\(output.istio[$0] ?? "")" }.joined(separator: "---\n")
        try check("\(stem).istio.yaml", Array(istio.utf8))
        let outcomes = output.outcomes.map(\.description).joined(separator: "\n") + "\n"
        try check("\(stem).outcomes.txt", Array(outcomes.utf8))
    }

    @Test func bootstrap() throws {
        let bootstrap = EnvoyBootstrap(
            configDirectory: "/etc/meshrelay/envoy", admin: SocketAddress(host: "127.0.0.1", port: 15000),
            nodeID: "meshrelay-egress-cluster-1", nodeCluster: "cluster-1")
        try check("bootstrap.json", try bootstrap.json())
    }

    private func check(_ name: String, _ actual: [UInt8]) throws {
        let url = Self.directory.appendingPathComponent(name)
        if ProcessInfo.processInfo.environment["MESHRELAY_UPDATE_GOLDEN"] == "1" {
            try FileManager.default.createDirectory(at: Self.directory, withIntermediateDirectories: true)
            try Data(actual).write(to: url)
            return
        }
        guard let expected = FileManager.default.contents(atPath: url.path) else {
            Issue.record("missing golden file \(url.path); run with MESHRELAY_UPDATE_GOLDEN=1 to create it")
            return
        }
        #expect(
            Array(expected) == actual,
            "\(name) differs from the golden file; if the change is intended, rerun with MESHRELAY_UPDATE_GOLDEN=1 and review the diff:\n\(String(decoding: actual, as: UTF8.self))"
        )
    }
}
