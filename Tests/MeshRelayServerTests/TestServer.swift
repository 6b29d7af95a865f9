import Foundation
import Logging
@testable import MeshRelayCLI
import MeshRelayServer
import MeshRelayTesting
import Testing

/// A real management server on 127.0.0.1 (port picked by the kernel) over a real SQLite file in a
/// fresh temp directory; stopped and removed by `withTestServer`.
struct TestServer: Sendable {
    let port: Int
    /// The relay port, when the server was started with certificates.
    let relayPort: Int?
    let token: String
    let dataDirectory: String

    var url: String { "http://127.0.0.1:\(port)" }

    func client(token: String?) throws -> APIClient {
        try APIClient(url: url, token: token, timeout: .seconds(60))
    }

    var authorized: APIClient {
        get throws { try client(token: token) }
    }

    var anonymous: APIClient {
        get throws { try client(token: nil) }
    }
}

actor PortBox {
    var port: Int?
    var relayPort: Int?
    func set(_ value: Int) { port = value }
    func setRelay(_ value: Int) { relayPort = value }
}

func withTestServer(
    maximumBodyBytes: Int = 1 << 20,
    certificatesDirectory: String? = nil,
    heartbeatInterval: Duration = .seconds(10),
    _ body: @Sendable (TestServer) async throws -> Void
) async throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("meshrelay-test-\(UUID().uuidString)").path
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let configuration = ServerConfiguration(
        dataDirectory: directory, apiHost: "127.0.0.1", apiPort: 0, relayHost: "127.0.0.1", relayPort: 0,
        certificatesDirectory: certificatesDirectory, maximumRequestBodyBytes: maximumBodyBytes, heartbeatInterval: heartbeatInterval
    )
    let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
    let box = PortBox()
    let task = Task {
        try await ManagementServer(configuration: configuration, logger: logger).run(
            onAPIListening: { port in await box.set(port) },
            onRelayListening: { port in await box.setRelay(port) }
        )
    }
    defer { task.cancel() }
    // Wait (bounded) for the listener.
    var port: Int?
    for _ in 0..<600 {
        let relayBound = await box.relayPort
        if let bound = await box.port, certificatesDirectory == nil || relayBound != nil {
            port = bound
            break
        }
        try await Task.sleep(for: .milliseconds(50))
    }
    let boundPort = try #require(port, "the server did not start within 30 s")
    let token = try String(contentsOfFile: configuration.effectiveTokenFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
    try await body(TestServer(port: boundPort, relayPort: await box.relayPort, token: token, dataDirectory: directory))
    task.cancel()
    _ = await task.result
}

/// Decodes a JSON reply body into a dictionary for assertions.
func json(_ reply: APIClient.Reply) throws -> [String: Any] {
    let object = try JSONSerialization.jsonObject(with: Data(reply.body))
    return try #require(object as? [String: Any], "reply is not a JSON object: \(reply.text)")
}

let googleManifest = SeedManifests.google
