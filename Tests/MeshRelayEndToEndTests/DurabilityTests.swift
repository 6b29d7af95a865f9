import Foundation
import MeshRelayTesting
import Testing

@Suite("meshrelay server and CLI as real processes", .serialized)
struct DurabilityTests {
    /// Applies through the CLI, SIGKILLs the server the moment the CLI returned, restarts it on the
    /// same data directory, and finds every acknowledged resource.
    @Test func everyAcknowledgedApplySurvivesKill9() async throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let dataDirectory = directory + "/data"
        var server = try await ServerProcess(dataDirectory: dataDirectory)
        let common = ["--api", server.url, "--token-file", server.tokenFile]

        // One multi-document apply of 50, then 10 single applies; the server is killed right after the last.
        let batch = (0..<50).map { externalServiceManifest(name: "batch-\($0)", host: "api\($0).example.com") }.joined(separator: "\n---\n")
        let batchFile = directory + "/batch.yaml"
        try batch.write(toFile: batchFile, atomically: true, encoding: .utf8)
        let first = try await runMeshrelay(["apply", "-f", batchFile] + common)
        #expect(first.exitCode == 0, "\(first.stderr)")
        #expect(first.stdout.contains("externalservice.networking.gloo.solo.io/batch-0 created"))
        var acknowledged = Set((0..<50).map { "batch-\($0)" })
        for index in 0..<10 {
            let result = try await runMeshrelay(
                ["apply", "-f", "-"] + common, stdin: externalServiceManifest(name: "single-\(index)", host: "s\(index).example.com"))
            #expect(result.exitCode == 0, "\(result.stderr)")
            acknowledged.insert("single-\(index)")
        }
        server.kill9()

        // With the server gone the CLI says it cannot reach it: exit code 3.
        let unreachable = try await runMeshrelay(["get", "es", "-A"] + common)
        #expect(unreachable.exitCode == 3, "\(unreachable.stderr)")
        #expect(unreachable.stderr.contains("cannot reach the meshrelay server"))

        server = try await ServerProcess(dataDirectory: dataDirectory)
        let listed = try await runMeshrelay(["get", "externalservices", "-A", "-o", "json", "--api", server.url])
        #expect(listed.exitCode == 0, "\(listed.stderr)")
        let object = try JSONSerialization.jsonObject(with: Data(listed.stdout.utf8)) as? [String: Any]
        let items = try #require(object?["items"] as? [[String: Any]])
        let names = Set(items.compactMap { ($0["metadata"] as? [String: Any])?["name"] as? String })
        #expect(names == acknowledged)

        // The revision kept counting: 1 batch + 10 singles = revision 11, and it goes on from there.
        let status = try await runMeshrelay(["status", "-o", "json", "--api", server.url])
        let report = try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any]
        #expect(report?["revision"] as? Int == 11)
        #expect(server.terminate() == 0)
    }

    @Test func cliExitCodesAndOutputs() async throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let server = try await ServerProcess(dataDirectory: directory + "/data")
        let common = ["--api", server.url, "--token-file", server.tokenFile]

        // Usage errors: exit 2.
        #expect(try await runMeshrelay(["get"] + common).exitCode == 2)
        #expect(try await runMeshrelay(["get", "frobnicators"] + common).exitCode == 2)
        #expect(try await runMeshrelay(["apply"] + common).exitCode == 2)
        #expect(try await runMeshrelay(["--help"]).exitCode == 0)

        // The server says no: exit 1, with the violation.
        let invalid = try await runMeshrelay(["apply", "-f", "-"] + common, stdin: externalServiceManifest(name: "bad", host: "*"))
        #expect(invalid.exitCode == 1)
        #expect(invalid.stderr.contains("spec.hosts[0]"), "\(invalid.stderr)")
        let wrongTokenFile = directory + "/wrong.token"
        try "not-the-token\n".write(toFile: wrongTokenFile, atomically: true, encoding: .utf8)
        let noToken = try await runMeshrelay(
            ["apply", "-f", "-", "--api", server.url, "--token-file", wrongTokenFile], stdin: externalServiceManifest(name: "x", host: "x.example.com"))
        #expect(noToken.exitCode == 1)
        #expect(noToken.stderr.contains("Unauthorized"))

        // Broken YAML: the error points at the file and line.
        let brokenFile = directory + "/broken.yaml"
        try "apiVersion: v1\nkind: [\n".write(toFile: brokenFile, atomically: true, encoding: .utf8)
        let broken = try await runMeshrelay(["apply", "-f", brokenFile] + common)
        #expect(broken.exitCode == 1)
        #expect(broken.stderr.contains("broken.yaml:"), "\(broken.stderr)")

        // The guide's manifest, then get/describe/status/delete in kubectl's habits.
        let seed = SeedManifests.google
        let applied = try await runMeshrelay(["apply", "-f", "-"] + common, stdin: seed)
        #expect(applied.exitCode == 0)
        #expect(applied.stdout == "externalservice.networking.gloo.solo.io/google created\n")
        let again = try await runMeshrelay(["apply", "-f", "-"] + common, stdin: seed)
        #expect(again.stdout == "externalservice.networking.gloo.solo.io/google unchanged\n")

        let table = try await runMeshrelay(["get", "es", "-n", "global"] + common)
        #expect(table.exitCode == 0)
        #expect(table.stdout.contains("NAME"))
        #expect(table.stdout.contains("www.google.com"))
        #expect(table.stdout.contains("80/HTTP"))

        let yaml = try await runMeshrelay(["get", "externalservice", "google", "-n", "global", "-o", "yaml"] + common)
        #expect(yaml.exitCode == 0)
        #expect(yaml.stdout.hasPrefix("apiVersion: networking.gloo.solo.io/v2\nkind: ExternalService\n"), "\(yaml.stdout)")
        #expect(yaml.stdout.contains("generation: 1"))

        let described = try await runMeshrelay(["describe", "es", "google", "-n", "global"] + common)
        #expect(described.exitCode == 0)
        #expect(described.stdout.contains("www.google.com"))
        #expect(described.stdout.contains("State:"))

        let missing = try await runMeshrelay(["describe", "es", "nope", "-n", "global"] + common)
        #expect(missing.exitCode == 1)
        #expect(missing.stderr.contains("NotFound"))

        let status = try await runMeshrelay(["status"] + common)
        #expect(status.exitCode == 0)
        #expect(status.stdout.contains("Revision: 1"))

        let deleted = try await runMeshrelay(["delete", "es", "google", "-n", "global"] + common)
        #expect(deleted.exitCode == 0, "\(deleted.stderr)")
        #expect(try await runMeshrelay(["delete", "es", "google", "-n", "global"] + common).exitCode == 1)
        #expect(server.terminate() == 0, "graceful shutdown on SIGTERM exits 0")
    }
}
