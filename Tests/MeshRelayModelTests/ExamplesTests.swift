import Foundation
import Testing

@testable import MeshRelayModel

/// Every manifest under examples/ (which README applies) loads without violations.
@Suite struct ExamplesTests {
    static let examples = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("examples")

    @Test func everyExampleLoads() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.examples.path).filter { $0.hasSuffix(".yaml") }.sorted()
        #expect(files.contains("google.yaml"))
        for file in files {
            let text = try String(contentsOf: Self.examples.appendingPathComponent(file), encoding: .utf8)
            let resources = try Manifest.load(text)
            #expect(!resources.isEmpty, "\(file)")
        }
    }

    @Test func theGuideExampleHoldsBothExternalServices() throws {
        let text = try String(contentsOf: Self.examples.appendingPathComponent("google.yaml"), encoding: .utf8)
        let keys = try Manifest.load(text).map(\.key.description)
        #expect(keys == ["ExternalService global/google", "ExternalService bookinfo/google-wildcard"])
    }
}
