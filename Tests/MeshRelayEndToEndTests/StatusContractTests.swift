import Foundation
import MeshRelayTesting
import Testing

/// `status -o json` and `check -o json` against the committed JSON Schemas (docs/status.schema.json,
/// docs/check.schema.json), validated by Python's jsonschema (an outside validator).
@Suite("Status JSON contract", .serialized)
struct StatusContractTests {
    static let docs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("docs")

    /// nil when `document` is valid against the schema, else the validator's message.
    static func violation(of document: String, schema: String, directory: String) throws -> String? {
        let file = directory + "/document-\(UUID().uuidString).json"
        try document.write(toFile: file, atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            "python3", "-c",
            "import json, sys, jsonschema; jsonschema.Draft202012Validator(json.load(open(sys.argv[2]))).validate(json.load(open(sys.argv[1])))",
            file, docs.appendingPathComponent(schema).path,
        ]
        let err = Pipe()
        process.standardError = err
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return process.terminationStatus == 0 ? nil : String(text.suffix(1500))
    }

    @Test func statusAndCheckOutputMatchTheirSchemas() async throws {
        let setup = try await TwoClusterStatus.start()
        defer { setup.stop() }
        let (base, server, agent) = (setup.base, setup.server, setup.agent)
        // Every optional field present somewhere: a connected cluster with a certificate and an
        // applied resource, a cluster never seen, PENDING entries, the server's certificates.
        var status = ""
        #expect(
            await waitUntil(timeout: .seconds(60)) {
                status = (try? await runMeshrelay(["status", "-o", "json", "--api", server.url]))?.stdout ?? ""
                return status.contains("\"appliedAfterSeconds\"") && status.contains("\"certificateExpires\"")
            },
            "\(status)\n\(agent.log.text)"
        )
        #expect(try Self.violation(of: status, schema: "status.schema.json", directory: base.directory) == nil)
        let check = try await runMeshrelay(["check", "-o", "json", "--api", server.url])
        #expect(check.exitCode == 1, "cluster-2 has no agent")
        #expect(try Self.violation(of: check.stdout, schema: "check.schema.json", directory: base.directory) == nil)

        // The validator does refuse what breaks the contract.
        let broken = status.replacingOccurrences(of: "\"revision\"", with: "\"revisionNumber\"")
        #expect(try Self.violation(of: broken, schema: "status.schema.json", directory: base.directory)?.contains("revision") == true)
        let retyped = status.replacingOccurrences(of: "\"connected\": true", with: "\"connected\": \"yes\"")
        #expect(retyped != status)
        #expect(try Self.violation(of: retyped, schema: "status.schema.json", directory: base.directory) != nil)
    }

    /// `status -w` redraws until interrupted; `-w -o json` is a usage error.
    @Test func watchRefreshesUntilInterrupted() async throws {
        let base = try await CertifiedServer.start(registered: ["cluster-1"])
        defer { base.stop() }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try meshrelayBinary())
        process.arguments = ["status", "-w", "--interval", "0.3", "--api", base.server.url]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        let collected = OutputCollector(out.fileHandleForReading)
        try process.run()
        #expect(await waitUntil(timeout: .seconds(30)) { collected.text.components(separatedBy: "Every 0.3 s: meshrelay status").count > 3 })
        process.interrupt()
        #expect(await waitUntil(timeout: .seconds(10)) { !process.isRunning })
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
        let shown = collected.waitForEnd()
        #expect(shown.contains("cluster-1") && shown.hasPrefix("---\n"), "not a terminal: a separator, no escape codes\n\(shown.prefix(500))")
        let both = try await runMeshrelay(["status", "-w", "-o", "json", "--api", base.server.url])
        #expect(both.exitCode == 2 && both.stderr.contains("--watch"), "\(both.stderr)")
    }
}
